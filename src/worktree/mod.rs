//! One worktree and its index: what the user has there ([`snapshot`], [`entry`]), and the one
//! safe move from tree A to tree B ([`transition`]) that never overwrites a byte the user has
//! not committed, recorded in a [`journal`] and run inside one locked [`operation`].
//!
//! This layer knows git primitives ([`crate::git`]) and nothing of plans or lanes.

pub mod diff;
pub mod entry;
pub mod journal;
pub mod obstacles;
pub mod operation;
pub mod snapshot;
pub mod transition;
pub mod validate;
