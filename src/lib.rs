//! wtc: coordinate several agents working on one git repository, each in its own worktree on a
//! scratch branch, and fold their work into ONE integration commit.
//!
//! The crate is layered; each folder only imports the ones listed before it (see
//! `ARCHITECTURE.md` at the repository root for the map):
//!
//! 1. [`git`]: git primitives (refs by compare-and-swap, the locked index, the one commit
//!    writer, remotes, locks, worktree discovery). Knows nothing of plans or lanes.
//! 2. [`worktree`]: moving one worktree and its index from tree A to tree B without losing a
//!    byte, and taking snapshots of it.
//! 3. [`plan`]: the plan model, names, every ref name and trailer key, lane tips.
//! 4. [`ops`]: the operations (save, sync, squash, lanes, publishing, status).
//! 5. [`live`]: long-running work (watch, run).
//! 6. [`commands`]: one file per command: its `--help` and a thin `run`.
//! 7. [`cli`]: parsing, dispatch, rendering, exit codes.
//!
//! [`error`] and [`faults`] sit below all of them. The library returns data and typed errors
//! and never prints; only [`cli`] and [`commands`] talk to the terminal.

pub mod dirfd;
pub mod error;
pub mod faults;
pub mod helpers;
pub mod progress;
pub mod trace;

pub mod git;
pub mod worktree;

pub mod plan;

pub mod ops;

pub mod live;

pub mod commands;

pub mod cli;

/// The hermetic-git helper shared with the e2e tests and the benches.
#[cfg(test)]
#[path = "../tests/support/hermetic.rs"]
pub(crate) mod hermetic;
