//! Git primitives: everything wtc asks of git that is not about plans or lanes.
//!
//! This layer knows refs, the index, commits, remotes and worktrees, and nothing of wtc's
//! concepts: it never spells a `refs/wtc/` name (those live in [`crate::plan::refnames`]).

pub mod commit;
pub mod index;
pub mod locks;
pub mod refs;
pub mod remote;
pub mod worktrees;
