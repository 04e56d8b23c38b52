//! wtc: coordinate several agents working on one git repository, each in its own worktree on a
//! scratch branch, and fold their work into ONE integration commit.
//!
//! The library holds the domain: it returns data and never prints. The binary (`src/main.rs`
//! and [`cli`]) parses arguments, calls [`commands`], and renders the result.

pub mod checkout;
pub mod cli;
pub mod commands;
pub mod error;
pub mod faults;
pub mod guard;
pub mod journal;
pub mod lane;
pub mod merge;
pub mod names;
pub mod plan;
pub mod refs;
pub mod remote;
pub mod run;
pub mod snapshot;
pub mod squash;
pub mod sync;
pub mod ui;
pub mod watch;
pub mod workspace;
