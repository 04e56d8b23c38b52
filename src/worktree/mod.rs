//! One worktree and its index: snapshots of what the user has, and the safe move from tree A
//! to tree B that never overwrites a byte the user has not committed.

pub mod checkout;
pub mod journal;
pub mod snapshot;
