//! One locked operation per mutating command and worktree.
//!
//! [`Operation::begin`] takes `<git-dir>/wtc.lock` (one wtc at a time per worktree; the locks
//! of a wtc that died are recovered, [`crate::git::locks`]) and then, exactly once, finishes a
//! transition a killed wtc left half-done there ([`super::journal::recover`]), so nothing
//! after it ever builds on a half-updated worktree. The operation then takes `index.lock`
//! only for its read-modify-write phases ([`Operation::lock_index`]); between phases (a
//! `--verify` run, a hook, a signing prompt, a fetch) the index is free for git, and the
//! compare-and-swap of the ref catches anything that moved meanwhile.

use anyhow::Result;

use super::journal::{self, Finished};
use crate::git::index::LockedIndex;
use crate::git::locks::{OpLock, Recovered};

/// A mutating command's hold on one worktree.
pub struct Operation {
    _lock: OpLock,
    /// A dead wtc's `wtc.lock` (and the git locks it held) that were removed.
    pub dead_owner: Option<Recovered>,
    /// A transition a killed wtc left half-done, finished (or found complete).
    pub finished: Option<Finished>,
}

impl Operation {
    /// Hold `repo`'s worktree for `command` and finish what a killed wtc left there.
    pub fn begin(repo: &gix::Repository, command: &str) -> Result<Operation> {
        let (lock, dead_owner) = OpLock::acquire(repo.git_dir(), command)?;
        let finished = journal::recover(repo)?;
        Ok(Operation {
            _lock: lock,
            dead_owner,
            finished,
        })
    }

    /// Take `index.lock` and read the index for one read-modify-write phase.
    pub fn lock_index(&self, repo: &gix::Repository) -> Result<LockedIndex> {
        LockedIndex::acquire(repo)
    }

    /// [`Operation::lock_index`], reusing the index read `earlier` in this operation when
    /// the file has not changed since ([`LockedIndex::acquire_reusing`]).
    pub fn lock_index_reusing(
        &self,
        repo: &gix::Repository,
        earlier: Option<gix::index::File>,
    ) -> Result<LockedIndex> {
        LockedIndex::acquire_reusing(repo, earlier)
    }

    /// What was recovered, as lines for the user.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = &self.dead_owner {
            let removed: Vec<String> = r.removed.iter().map(|p| p.display().to_string()).collect();
            out.push(format!(
                "note: recovered after an interrupted `wtc {}` (pid {}){}",
                r.command,
                r.pid,
                if removed.is_empty() {
                    String::new()
                } else {
                    format!(": removed its stale {}", removed.join(", "))
                }
            ));
        }
        if let Some(f) = &self.finished {
            out.push(format!(
                "note: {} the worktree update of an interrupted `wtc {}` ({} is consistent again)",
                if f.completed_now {
                    "finished"
                } else {
                    "found complete"
                },
                f.command,
                f.branch
            ));
            if !f.raced.is_empty() {
                out.push(format!(
                    "note: kept your version of {} (edited while that update ran; the incoming version is in the index)",
                    f.raced.join(", ")
                ));
            }
            if !f.kept.is_empty() {
                out.push(format!(
                    "note: kept older versions of your edits beside them: {}",
                    f.kept.join(", ")
                ));
            }
        }
        out
    }
}
