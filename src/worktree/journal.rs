//! The transition's intent record: how the next wtc finishes a transition a killed wtc began.
//!
//! Moving a worktree from tree A to tree B takes many steps (each file, the ref, the index,
//! for a conflicted sync the stages and MERGE_HEAD), and a process can die between any two. A
//! half-applied transition must never be mistaken for the user's own edits: the next `sync`
//! would autosave it as a WIP commit (conflict markers included), and an index left at A under
//! a branch already at B makes a plain `git commit` revert the update.
//!
//! So, before its first write, [`super::transition::Transition::apply`] records the whole
//! transition in `<git-dir>/wtc-update` ([`begin`]) and removes the record once the index is
//! committed ([`end`]). The next locked operation in that worktree
//! ([`super::operation::Operation::begin`]) finds a leftover record and runs the very same
//! idempotent `execute` ([`recover`]), so finishing yields exactly the state the dead process
//! would have left (ARCHITECTURE.md, invariant 3).

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::diff;
use super::entry::Files;
use super::obstacles::Obstacle;
use super::transition::{head_target, oid, HeadMove, Transition};
use crate::git::index::LockedIndex;
use crate::git::refs;

/// `<git-dir>/wtc-update` of the worktree `repo` is opened at.
pub fn record_path(repo: &gix::Repository) -> PathBuf {
    repo.git_dir().join("wtc-update")
}

/// Record the intent (atomically: temp file + rename) before the first write.
pub fn begin(repo: &gix::Repository, transition: &Transition) -> Result<()> {
    let path = record_path(repo);
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_vec_pretty(transition).expect("a transition record serializes");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    crate::faults::point();
    Ok(())
}

/// The transition is complete (index committed): forget it.
pub fn end(repo: &gix::Repository) -> Result<()> {
    match std::fs::remove_file(record_path(repo)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).context("removing the worktree update record")
        }
        _ => Ok(()),
    }
}

/// What finishing a leftover transition did, for the user to read.
#[derive(Debug, Clone)]
pub struct Finished {
    pub command: String,
    pub branch: String,
    /// `false` when the dead process had already committed everything but the record.
    pub completed_now: bool,
    /// Paths that held the user's bytes instead of what the update wrote: kept, reported.
    pub raced: Vec<String>,
    /// Older versions of raced files, kept beside them (see `Applied::kept`).
    pub kept: Vec<String>,
}

/// Does the ref still stand where the transition left it (before or after its move)?
fn head_is_consistent(repo: &gix::Repository, t: &Transition) -> Result<(bool, String)> {
    Ok(match &t.head {
        HeadMove::Branch { branch, old, new } => {
            let now = refs::peel(repo, branch)?;
            let ok = now == Some(oid(old)?)
                || new
                    .as_deref()
                    .map(oid)
                    .transpose()?
                    .is_some_and(|n| now == Some(n));
            (ok, now.map_or("deleted".into(), refs::short))
        }
        HeadMove::Attach { branch, previous } => {
            let now = head_target(repo).unwrap_or_default();
            (now == *branch || now == *previous, now)
        }
    })
}

/// Has the ref already made its move?
fn head_moved(repo: &gix::Repository, t: &Transition) -> Result<bool> {
    Ok(match &t.head {
        HeadMove::Branch { branch, new, .. } => match new.as_deref().map(oid).transpose()? {
            Some(n) => refs::peel(repo, branch)? == Some(n),
            None => true,
        },
        HeadMove::Attach { branch, .. } => head_target(repo).as_deref() == Some(branch.as_str()),
    })
}

/// Finish the transition a killed wtc left in `repo`'s worktree, if any, holding `locked`
/// (the caller commits it, then calls [`end`]).
///
/// Refuses, keeping the record, when files changed since in a way that is neither A nor B
/// (the user's bytes: never overwritten). When the ref moved elsewhere since (the user
/// committed or reset with git meanwhile), the transition cannot be finished: the record is
/// dropped and the error says so, so the next command starts from what is there.
fn finish(repo: &gix::Repository, locked: &mut LockedIndex) -> Result<Option<Finished>> {
    let path = record_path(repo);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let t: Transition = match serde_json::from_slice(&text) {
        Ok(t) => t,
        Err(e) => {
            end(repo)?;
            return Err(super::Error::JournalUnreadable {
                record: path,
                reason: e.to_string(),
            }
            .into());
        }
    };
    let short = |id: &str| id.get(..9).unwrap_or(id).to_string();
    let (consistent, now) = head_is_consistent(repo, &t)?;
    if !consistent {
        end(repo)?;
        return Err(super::Error::JournalStale {
            command: t.command.clone(),
            from: short(&t.from),
            to: short(&t.to),
            branch: t.branch().to_string(),
            now,
        }
        .into());
    }
    let changes = diff::diff_trees(repo, t.from_tree()?, t.to_tree()?)?;
    if t.index_is_final(&changes, locked.state()) && head_moved(repo, &t)? {
        return Ok(Some(Finished {
            command: t.command.clone(),
            branch: t.branch().to_string(),
            completed_now: false,
            raced: Vec::new(),
            kept: Vec::new(),
        }));
    }
    // A path the dead process already deleted (to replace it) holds no bytes of the user's,
    // nor does a file it was writing when it died (B's start over A's rest): only content
    // that is neither A's nor B's stands in the way.
    let mut files = Files::new(repo)?;
    let seen = super::transition::seen(&files.root, &changes)?;
    let mut obstacles = Vec::new();
    for o in files.obstacles(&changes, locked.state())? {
        let change = changes.iter().find(|c| c.path == o.path().as_bytes());
        let ours = match (&o, change) {
            (Obstacle::Deleted(_), _) => true,
            (_, Some(c)) => {
                index_row_is_ours(locked.state(), c) && files.partly_written(c.path.as_ref(), c)?
            }
            (_, None) => false,
        };
        if !ours {
            obstacles.push(o);
        }
    }
    if !obstacles.is_empty() {
        return Err(super::Error::JournalBlocked {
            command: t.command.clone(),
            record: path,
            paths: obstacles.iter().map(|o| o.path().to_string()).collect(),
        }
        .into());
    }
    let applied = t.execute(repo, &changes, &seen, locked)?;
    Ok(Some(Finished {
        command: t.command.clone(),
        branch: t.branch().to_string(),
        completed_now: true,
        raced: applied.raced,
        kept: applied.kept,
    }))
}

/// Does the index row at `c.path` hold A's or B's leaf (or none, where A had none)? Only
/// then can the file there be wtc's unfinished write: a staged change is the user's.
fn index_row_is_ours(index: &gix::index::State, c: &diff::PathChange) -> bool {
    use gix::bstr::ByteSlice as _;
    let row =
        index.entry_by_path_and_stage(c.path.as_bstr(), gix::index::entry::Stage::Unconflicted);
    let is = |leaf: Option<diff::Leaf>| match (row, leaf) {
        (None, None) => true,
        (Some(e), Some(l)) => e.id == l.id && e.mode == crate::git::index::index_mode(l.kind),
        _ => false,
    };
    is(c.old) || is(c.new)
}

/// Finish a leftover transition in `repo`'s worktree, if there is one: lock the index, roll
/// the transition forward ([`finish`]), commit the index and drop the record.
pub fn recover(repo: &gix::Repository) -> Result<Option<Finished>> {
    if repo.workdir().is_none() || !record_path(repo).exists() {
        return Ok(None);
    }
    let mut locked = LockedIndex::acquire(repo)?;
    let finished = finish(repo, &mut locked).map_err(|e| {
        // A filter that fails while the update is finished must not leave the user stuck
        // without knowing why every command fails: say what is half-done and how to go on.
        match e.downcast_ref::<super::Error>() {
            Some(super::Error::FilterFailed {
                path,
                driver,
                reason,
            }) => super::Error::FinishBlockedByFilter {
                record: record_path(repo),
                path: path.clone(),
                driver: driver.clone(),
                reason: reason.clone(),
            }
            .into(),
            _ => e,
        }
    })?;
    if finished.is_some() {
        locked.commit(repo)?;
        end(repo)?;
    }
    Ok(finished)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gix::object::tree::EntryKind;
    use gix::ObjectId;

    /// Recovery takes a file for its own unfinished write only when it is one (B's start
    /// over A's rest) AND the index row is still A's or B's: A itself, a staged change or a
    /// file of the user's never pass, whatever a kill left.
    #[test]
    fn only_a_half_written_file_under_an_untouched_row_is_wtcs_own() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let git = |args: &[&str]| crate::hermetic::shared().git(d, args);
        git(&["init", "-q"]);
        let (a, b) = ("A's first line\nA's second line\n", "B, shorter\n");
        std::fs::write(d.join("f"), b).unwrap();
        let b_id = git(&["hash-object", "-w", "f"]);
        std::fs::write(d.join("f"), a).unwrap();
        git(&["add", "f"]);
        git(&["commit", "-qm", "a"]);
        let a_id = git(&["rev-parse", "HEAD:f"]);
        let leaf = |hex: &str| diff::Leaf {
            id: ObjectId::from_hex(hex.as_bytes()).unwrap(),
            kind: EntryKind::Blob,
        };
        let change = diff::PathChange {
            path: "f".into(),
            old: Some(leaf(&a_id)),
            new: Some(leaf(&b_id)),
        };
        let repo = crate::hermetic::open(d);
        let index = repo.index_or_empty().unwrap();
        let mut files = Files::new(&repo).unwrap();
        let half = format!("{}{}", &b[..4], &a[4..]);
        std::fs::write(d.join("f"), &half).unwrap();
        assert!(index_row_is_ours(&index, &change));
        assert!(files.partly_written("f".into(), &change).unwrap());
        // A itself is no half-done write (k = 0 would say it is).
        std::fs::write(d.join("f"), a).unwrap();
        assert!(!files.partly_written("f".into(), &change).unwrap());
        // The user's own bytes.
        std::fs::write(d.join("f"), "mine\n").unwrap();
        assert!(!files.partly_written("f".into(), &change).unwrap());
        // A staged change of the user's: the row is theirs, whatever the file holds.
        std::fs::write(d.join("f"), "staged\n").unwrap();
        git(&["add", "f"]);
        std::fs::write(d.join("f"), &half).unwrap();
        let repo = crate::hermetic::open(d);
        assert!(!index_row_is_ours(&repo.index_or_empty().unwrap(), &change));
    }
}
