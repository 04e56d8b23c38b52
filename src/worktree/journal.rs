//! The worktree updater's intent record: how the next wtc finishes an update a killed wtc began.
//!
//! Moving a worktree from tree A to tree B takes many steps (each file, the branch, the index,
//! for a conflicted sync the stages and MERGE_HEAD), and a process can die between any two. A
//! half-applied update must never be mistaken for the user's own edits: the next `sync` would
//! autosave it as a WIP commit (conflict markers included), and an index left at A under a
//! branch already at B makes a plain `git commit` revert the update.
//!
//! So, before its first write, the updater records its intent in `<git-dir>/wtc-update`: both
//! trees, the branch move, the conflict stages and the git-dir files to write. It then carries
//! the intent out with [`Update::execute`] and removes the record once the index is committed.
//! Whoever next locks that worktree's index ([`crate::worktree::checkout::LockedIndex::acquire`]) finds
//! a leftover record and runs the very same [`Update::execute`]: every step is idempotent (a
//! path already at B is no obstacle and is rewritten with the same bytes), so finishing yields
//! exactly the state the dead process would have left (DESIGN.md invariant 3).

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use gix::bstr::{BString, ByteSlice};
use gix::index::entry::{Flags, Mode, Stage};
use gix::refs::transaction::PreviousValue;
use gix::ObjectId;
use serde::{Deserialize, Serialize};

use crate::error::user;
use crate::git::refs;
use crate::worktree::checkout::{self, Obstacle, PathChange};

/// One worktree update, as recorded before its first write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Update {
    /// The command that started it (`sync`, `squash`), for messages.
    pub command: String,
    /// The tree the worktree and index were at.
    pub from: String,
    /// The tree they are moving to.
    pub to: String,
    /// The branch checked out in the worktree (full name).
    pub branch: String,
    /// Its value before the update.
    pub old: String,
    /// Its value afterwards; `None` when it stays (a sync that stopped on conflicts).
    pub new: Option<String>,
    /// Conflict stages replacing the stage-0 entries of their paths.
    #[serde(default)]
    pub stages: Vec<StagedEntry>,
    /// Files written into the git dir last, in order (MERGE_MSG, MERGE_MODE, MERGE_HEAD).
    #[serde(default)]
    pub files: Vec<(String, String)>,
}

/// An index entry at stage 1, 2 or 3.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StagedEntry {
    /// Path bytes (tree paths need not be UTF-8).
    pub path: Vec<u8>,
    pub stage: u32,
    pub mode: u32,
    pub id: String,
}

impl StagedEntry {
    pub fn new(path: &[u8], stage: Stage, mode: Mode, id: ObjectId) -> Self {
        StagedEntry {
            path: path.to_vec(),
            stage: stage as u32,
            mode: mode.bits(),
            id: id.to_string(),
        }
    }
}

/// `<git-dir>/wtc-update` of the worktree `repo` is opened at.
pub fn record_path(repo: &gix::Repository) -> PathBuf {
    repo.git_dir().join("wtc-update")
}

fn oid(hex: &str) -> Result<ObjectId> {
    ObjectId::from_hex(hex.as_bytes()).with_context(|| format!("{hex:?} is not an object id"))
}

impl Update {
    /// Record the intent (atomically: temp file + rename) before the first write.
    pub fn begin(&self, repo: &gix::Repository) -> Result<()> {
        let path = record_path(repo);
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_vec_pretty(self).expect("an update record serializes");
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        crate::faults::point();
        Ok(())
    }

    /// The update is complete (index committed): forget it.
    pub fn end(repo: &gix::Repository) -> Result<()> {
        match std::fs::remove_file(record_path(repo)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).context("removing the worktree update record")
            }
            _ => Ok(()),
        }
    }

    /// Carry the update out on the worktree of `repo` and on `index` (held under
    /// `index.lock`; the caller commits it): write B's files, replace the index entries of
    /// changed paths (then the conflict stages), write the git-dir files, move the branch.
    /// Idempotent: running it again over a partly or fully done update gives the same result.
    pub fn execute(
        &self,
        repo: &gix::Repository,
        changes: &[PathChange],
        index: &mut gix::index::State,
    ) -> Result<()> {
        checkout::Worktree::new(repo)?.apply(changes, index)?;
        apply_stages(index, &self.stages)?;
        for (name, content) in &self.files {
            let path = repo.git_dir().join(name);
            std::fs::write(&path, content)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let old = oid(&self.old)?;
        if let Some(new) = self.new.as_deref().map(oid).transpose()? {
            if refs::peel(repo, &self.branch)? != Some(new) {
                refs::cas(
                    repo,
                    &self.branch,
                    PreviousValue::MustExistAndMatch(old.into()),
                    new,
                    &self.command,
                )?;
            }
        }
        Ok(())
    }

    /// Does `index` already hold B for every changed path (and the stages)? Then the dead
    /// process committed the index and only the record was left.
    fn index_is_final(&self, changes: &[PathChange], index: &gix::index::State) -> bool {
        let staged: std::collections::BTreeSet<&[u8]> =
            self.stages.iter().map(|s| s.path.as_slice()).collect();
        let leaves_final = changes
            .iter()
            .filter(|c| !staged.contains(c.path.as_bytes()))
            .all(|c| {
                let entry = index.entry_by_path_and_stage(c.path.as_bstr(), Stage::Unconflicted);
                match (entry, c.new) {
                    (None, None) => true,
                    (Some(e), Some(n)) => e.id == n.id && e.mode == checkout::index_mode(n.kind),
                    _ => false,
                }
            });
        let stages_final = self.stages.iter().all(|s| {
            let stage = match s.stage {
                1 => Stage::Base,
                2 => Stage::Ours,
                _ => Stage::Theirs,
            };
            index
                .entry_by_path_and_stage(s.path.as_bstr(), stage)
                .is_some_and(|e| oid(&s.id).is_ok_and(|id| e.id == id))
        });
        leaves_final && stages_final
    }
}

/// Replace the entries of every staged path by its stages.
fn apply_stages(index: &mut gix::index::State, stages: &[StagedEntry]) -> Result<()> {
    if stages.is_empty() {
        return Ok(());
    }
    let paths: std::collections::BTreeSet<&[u8]> =
        stages.iter().map(|s| s.path.as_slice()).collect();
    index.remove_entries(|_, path, _| paths.contains(path.as_bytes()));
    for s in stages {
        let stage = match s.stage {
            1 => Stage::Base,
            2 => Stage::Ours,
            3 => Stage::Theirs,
            n => anyhow::bail!("the update record holds an invalid stage {n}"),
        };
        let mode = Mode::from_bits(s.mode)
            .with_context(|| format!("the update record holds an invalid mode {:o}", s.mode))?;
        let path = BString::from(s.path.clone());
        index.dangerously_push_entry(
            Default::default(),
            oid(&s.id)?,
            Flags::from_stage(stage),
            mode,
            path.as_bstr(),
        );
    }
    index.sort_entries();
    Ok(())
}

/// What finishing a leftover update did, for the user to read.
#[derive(Debug, Clone)]
pub struct Finished {
    pub command: String,
    pub branch: String,
    /// `false` when the dead process had already committed everything but the record.
    pub completed_now: bool,
}

/// Finish the update a killed wtc left in `repo`'s worktree, if any, holding `index` (read
/// under `index.lock`; the caller commits it, then calls [`Update::end`]).
///
/// Refuses, keeping the record, when files changed since in a way that is neither A nor B
/// (the user's bytes: never overwritten). When the branch moved elsewhere since (the user
/// committed or reset with git meanwhile), the update cannot be finished: the record is
/// dropped and the error says so, so the next command starts from what is there.
pub fn finish(repo: &gix::Repository, index: &mut gix::index::State) -> Result<Option<Finished>> {
    let path = record_path(repo);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let update: Update = match serde_json::from_slice(&text) {
        Ok(u) => u,
        Err(e) => {
            Update::end(repo)?;
            return Err(user(format!(
                "{} is unreadable ({e}); it was removed",
                path.display()
            ))
            .hint("check `git status` in this worktree, then run the command again")
            .into());
        }
    };
    let (old, new) = (
        oid(&update.old)?,
        update.new.as_deref().map(oid).transpose()?,
    );
    let head = refs::peel(repo, &update.branch)?;
    let short = |id: &str| id.get(..9).unwrap_or(id).to_string();
    if head != Some(old) && (new.is_none() || head != new) {
        Update::end(repo)?;
        return Err(user(format!(
            "an interrupted `wtc {}` was updating this worktree from {} to {}, but {} has moved since (now {}); wtc left the files as they are",
            update.command,
            short(&update.old),
            short(update.new.as_deref().unwrap_or(&update.to)),
            update.branch,
            head.map_or("deleted".into(), refs::short),
        ))
        .hint("check `git status` (files of the interrupted update may show as changes), then run the command again")
        .into());
    }
    let changes = checkout::diff_trees(repo, oid(&update.from)?, oid(&update.to)?)?;
    if update.index_is_final(&changes, index) && (new.is_none() || head == new) {
        return Ok(Some(Finished {
            command: update.command,
            branch: update.branch,
            completed_now: false,
        }));
    }
    // A path the dead process already deleted (to replace it) holds no bytes of the user's:
    // only content that is neither A's nor B's stands in the way.
    let obstacles: Vec<Obstacle> = checkout::Worktree::new(repo)?
        .obstacles(&changes, index)?
        .into_iter()
        .filter(|o| !matches!(o, Obstacle::Deleted(_)))
        .collect();
    if !obstacles.is_empty() {
        return Err(user(format!(
            "an interrupted `wtc {}` left this worktree half-updated, and {} of its path(s) changed since; nothing was touched",
            update.command,
            obstacles.len()
        ))
        .hint(format!(
            "move those files aside and run the command again to finish the update (or remove {} to give it up)",
            path.display()
        ))
        .paths(obstacles.iter().map(|o| o.path().to_string()).collect())
        .into());
    }
    update.execute(repo, &changes, index)?;
    Ok(Some(Finished {
        command: update.command,
        branch: update.branch,
        completed_now: true,
    }))
}

/// Finish a leftover update in `repo`'s worktree, if there is one: lock the index, roll the
/// update forward ([`finish`]), commit the index and drop the record.
pub fn recover(repo: &gix::Repository) -> Result<Option<Finished>> {
    if repo.workdir().is_none() || !record_path(repo).exists() {
        return Ok(None);
    }
    let mut locked = checkout::LockedIndex::lock(repo)?;
    let finished = finish(repo, &mut locked.file)?;
    if finished.is_some() {
        locked.commit()?;
        Update::end(repo)?;
    }
    Ok(finished)
}
