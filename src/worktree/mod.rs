//! One worktree and its index: what the user has there ([`snapshot`], [`entry`]), and the one
//! safe move from tree A to tree B ([`transition`]) that never overwrites a byte the user has
//! not committed, recorded in a [`journal`] and run inside one locked [`operation`].
//!
//! This layer knows git primitives ([`crate::git`]) and nothing of plans or lanes.

pub mod diff;
pub mod entry;
pub mod include;
pub mod journal;
pub mod obstacles;
pub mod operation;
pub mod prefetch;
pub mod prejudge;
pub mod snapshot;
pub mod sparse;
pub mod submodules;
pub mod tracked;
pub mod transition;
pub mod untracked;
pub mod validate;

use std::path::PathBuf;

use gix::bstr::{BStr, ByteSlice};

use crate::error::{Diagnostic, Kind};

/// The directory and the name of a worktree-relative path (`""` for the top directory).
pub(crate) fn dir_and_name(path: &BStr) -> (&BStr, &BStr) {
    match path.rfind_byte(b'/') {
        Some(i) => (path[..i].as_bstr(), path[i + 1..].as_bstr()),
        None => (path[..0].as_bstr(), path),
    }
}

/// What the worktree layer refuses: hostile incoming trees, paths it must not write through,
/// and half-done transitions it cannot finish safely.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("refusing unsafe path {path} from an incoming tree: {why}")]
    UnsafePath { path: String, why: String },
    #[error("refusing a corrupt incoming tree: {path} appears twice")]
    DuplicateEntry { path: String },
    #[error("refusing a corrupt incoming tree: {file} is both a file and a directory of {path}")]
    FileAndDirectory { file: String, path: String },
    #[error("refusing to write {path}: {} is not a directory (a symlink or a file)", dir.display())]
    NotADirectory { path: String, dir: PathBuf },
    #[error("an interrupted wtc update of this worktree cannot be finished: the {driver} filter failed on {path}: {reason}")]
    FinishBlockedByFilter {
        record: PathBuf,
        path: String,
        driver: String,
        reason: String,
    },
    #[error("the {driver} filter failed on {path}: {reason}")]
    FilterFailed {
        path: String,
        driver: String,
        reason: String,
    },
    #[error("{} is unreadable ({reason}); it was removed", record.display())]
    JournalUnreadable { record: PathBuf, reason: String },
    #[error("an interrupted `wtc {command}` was updating this worktree from {from} to {to}, but {branch} has moved since (now {now}); wtc left the files as they are")]
    JournalStale {
        command: String,
        from: String,
        to: String,
        branch: String,
        now: String,
    },
    #[error("{} is in progress in {}", operation.what(), worktree.display())]
    OperationInProgress {
        operation: snapshot::InProgress,
        worktree: PathBuf,
    },
    #[error("git config {key} is {value:?}: not a boolean (true or false)")]
    InvalidSetting { key: &'static str, value: String },
    #[error("an interrupted `wtc {command}` left this worktree half-updated, and {} of its path(s) changed since; nothing was touched", paths.len())]
    JournalBlocked {
        command: String,
        record: PathBuf,
        paths: Vec<String>,
    },
}

impl Diagnostic for Error {
    fn kind(&self) -> Kind {
        Kind::User
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            Error::UnsafePath { .. } => "the upstream commit contains a path git itself would never check out; fix it there".into(),
            Error::DuplicateEntry { .. } | Error::FileAndDirectory { .. } => {
                "the upstream commit was not made by git; fix it there".into()
            }
            Error::JournalUnreadable { .. } => {
                "check `git status` in this worktree, then run the command again".into()
            }
            Error::JournalStale { .. } => "check `git status` (files of the interrupted update may show as changes), then run the command again".into(),
            Error::JournalBlocked { record, .. } => format!(
                "move those files aside and run the command again to finish the update (or remove {} to give it up)",
                record.display()
            ),
            Error::OperationInProgress { operation, .. } => {
                format!("{}, then run wtc again", operation.how_to_finish())
            }
            Error::NotADirectory { .. } => return None,
            Error::InvalidSetting { key, .. } => format!(
                "set it with `git config {key} true` (or false) or remove it with `git config --unset {key}` (in the scope that sets it: `git config --show-origin {key}`)"
            ),
            Error::FinishBlockedByFilter { record, driver, .. } => format!(
                "the update is recorded in {}; fix the {driver} filter (`git config --get-regexp filter.{driver}`; for git-lfs: is `git lfs` installed, can it reach the LFS server?) and run any wtc command to finish it; files it already wrote stay",
                record.display()
            ),
            Error::FilterFailed { driver, .. } => format!(
                "check the filter (`git config --get-regexp filter.{driver}`; for git-lfs: is `git lfs` installed, can it reach the LFS server?), then run the command again; nothing was written"
            ),
        })
    }
    fn paths(&self) -> Vec<String> {
        match self {
            Error::JournalBlocked { paths, .. } => paths.clone(),
            _ => Vec::new(),
        }
    }
}

/// The typed error `cause` is, if it is one of this layer's (or a lower one's).
pub fn diagnostic<'a>(
    cause: &'a (dyn std::error::Error + 'static),
) -> Option<&'a dyn crate::error::Diagnostic> {
    crate::error::diagnostic_of!(cause, crate::git::diagnostic; Error, include::IncludeError)
}
