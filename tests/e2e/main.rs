//! End-to-end tests of the `wtc` binary: the one integration test binary (see STYLE.md).
//!
//! Every test builds its repositories with real git (`fixtures/make_*.sh`) inside a
//! private temporary root (`env::TestEnv`), drives the real `wtc` binary, and asserts
//! mostly on git's view of the result (refs, trees, `git status`, `git fsck`) rather than
//! on wording. Modules follow the acceptance list of issue 2 ("Core"):
//! 1 `scenario`, 2 `conflict`, 3 `dirty`, 4 `squash_vs_git`, 5 `bad_input`; `safety` covers
//! the worktree updater end to end (every kind of change, hostile trees: invariant 4).

/// Print a count line that CI shows even for passing tests: libtest captures `println!`,
/// but not writes to the process's stderr handle.
macro_rules! tally {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

#[path = "../support/hermetic.rs"]
mod hermetic;

mod env;
mod servers;
mod setups;

mod agent_lanes;
mod architecture;
mod bad_input;
mod bisect;
mod commits;
mod concurrency;
mod conflict;
mod crash;
mod dirty;
mod filters;
mod fuzz;
mod git_like;
mod help;
mod hostile;
mod in_progress;
mod json_docs;
mod landed;
mod lane_diff;
mod merge_props;
mod props;
mod races;
mod remote;
mod removal;
mod run;
mod safety;
mod scenario;
mod shallow;
mod signals;
mod squash_vs_git;
mod submodules;
mod watch;
