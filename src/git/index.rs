//! The index: read once under `index.lock`, edited row by row, written at most once.
//!
//! [`LockedIndex`] takes `index.lock` for one read-modify-write phase and decodes the index
//! under it; [`Rows`] is the one editor of its entries (save, the worktree transition and
//! conflict stages all go through it), so the rules git relies on (one stage-0 entry or
//! stages 1-3 per path, no entries below a path that is a file, sorted order) live here.
//! [`LockedIndex::commit`] writes it back through the lock.

use std::collections::BTreeSet;

use anyhow::{Context as _, Result};
use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::{Flags, Mode, Stage, Stat};
use gix::object::tree::EntryKind;
use gix::ObjectId;

/// `index.lock` held for one read-modify-write phase, and the index read under it.
pub struct LockedIndex {
    lock: gix::lock::File,
    pub file: gix::index::File,
}

impl LockedIndex {
    /// Take `index.lock` (waiting briefly if git holds it), then read the index.
    pub fn acquire(repo: &gix::Repository) -> Result<Self> {
        let path = repo.index_path();
        let lock = gix::lock::File::acquire_to_update_resource(
            &path,
            gix::lock::acquire::Fail::AfterDurationWithBackoff(std::time::Duration::from_secs(3)),
            None,
            0o666,
        )
        .map_err(|_| crate::git::Error::IndexLocked {
            index: path.clone(),
        })?;
        crate::git::locks::record(lock.lock_path());
        crate::faults::point();
        // Like git, don't verify the index's trailing checksum on every read: hashing a 10 MB
        // index with collision-detecting SHA-1 was a third of a sync at 100k files.
        let file = gix::index::File::at_or_default(
            &path,
            repo.object_hash(),
            true,
            gix::index::decode::Options::default(),
        )
        .with_context(|| format!("reading the index {}", path.display()))?;
        if file.is_sparse() {
            return Err(crate::git::Error::SparseIndex { index: path }.into());
        }
        Ok(LockedIndex { lock, file })
    }

    pub fn state(&self) -> &gix::index::State {
        &self.file
    }

    /// The one editor of this index's entries.
    pub fn rows(&mut self) -> Rows<'_> {
        Rows {
            state: &mut self.file,
        }
    }

    /// Paths with conflict stages (1, 2 or 3).
    pub fn conflicted_paths(&self) -> Vec<String> {
        conflicted_paths(&self.file)
    }

    /// Write the index through the lock and release it.
    pub fn commit(mut self) -> Result<()> {
        // The tree-cache extension is not recomputed by gix; a stale one would make git's next
        // commit capture old subtrees, so it is dropped whenever entries change.
        self.file.remove_tree();
        self.file.remove_resolve_undo();
        let mut buf = Vec::new();
        self.file
            .write_to(&mut buf, gix::index::write::Options::default())
            .context("encoding the index")?;
        use std::io::Write;
        crate::faults::point();
        self.lock.write_all(&buf).context("writing index.lock")?;
        crate::faults::point();
        self.lock
            .commit()
            .map_err(|e| anyhow::anyhow!("committing index.lock: {}", e.error))?;
        crate::faults::point();
        Ok(())
    }
}

/// The row editor for an index that is not locked (a temporary index for a hook).
pub fn edit(state: &mut gix::index::State) -> Rows<'_> {
    Rows { state }
}

/// Paths of `state` with conflict stages (1, 2 or 3), sorted.
pub fn conflicted_paths(state: &gix::index::State) -> Vec<String> {
    let set: BTreeSet<String> = state
        .entries()
        .iter()
        .filter(|e| e.stage() != Stage::Unconflicted)
        .map(|e| e.path(state).to_str_lossy().into_owned())
        .collect();
    set.into_iter().collect()
}

/// One stage-0 row: what a path holds once the edit is done (`None`: the path is gone).
#[derive(Debug, Clone)]
pub struct Row {
    pub path: BString,
    pub entry: Option<(ObjectId, EntryKind, Stat)>,
    /// The path stays out of the worktree (sparse checkout): the entry keeps
    /// `SKIP_WORKTREE`.
    pub skip_worktree: bool,
}

/// One conflict stage of a path.
#[derive(Debug, Clone)]
pub struct StageRow {
    pub path: BString,
    pub stage: Stage,
    pub mode: Mode,
    pub id: ObjectId,
}

/// The editor of an index's entries. Every change wtc makes to an index goes through it.
pub struct Rows<'a> {
    state: &'a mut gix::index::State,
}

impl Rows<'_> {
    /// Replace every entry (all stages) of each row's path by the row: an entry with fresh
    /// stat data, or nothing. A path that becomes a file also loses the entries below it
    /// (it was a directory), so the index never holds a file and a directory at one path.
    pub fn set(&mut self, rows: &[Row]) {
        if rows.is_empty() {
            return;
        }
        let touched: BTreeSet<&[u8]> = rows.iter().map(|r| r.path.as_slice()).collect();
        let files: BTreeSet<&[u8]> = rows
            .iter()
            .filter(|r| r.entry.is_some())
            .map(|r| r.path.as_slice())
            .collect();
        self.state.remove_entries(|_, path, _| {
            let path = path.as_bytes();
            touched.contains(path) || has_file_ancestor(path, &files)
        });
        for row in rows {
            let Some((id, kind, stat)) = row.entry else {
                continue;
            };
            // SKIP_WORKTREE lives in the extended flags, which gix writes only when EXTENDED
            // says they are there.
            let flags = match row.skip_worktree {
                true => Flags::SKIP_WORKTREE | Flags::EXTENDED,
                false => Flags::empty(),
            };
            self.state.dangerously_push_entry(
                stat,
                id,
                flags,
                index_mode(kind),
                row.path.as_bstr(),
            );
        }
        self.state.sort_entries();
    }

    /// Replace the entries of every staged path by its conflict stages.
    pub fn set_stages(&mut self, stages: &[StageRow]) {
        if stages.is_empty() {
            return;
        }
        let paths: BTreeSet<&[u8]> = stages.iter().map(|s| s.path.as_slice()).collect();
        self.state
            .remove_entries(|_, path, _| paths.contains(path.as_bytes()));
        for s in stages {
            self.state.dangerously_push_entry(
                Stat::default(),
                s.id,
                Flags::from_stage(s.stage),
                s.mode,
                s.path.as_bstr(),
            );
        }
        self.state.sort_entries();
    }
}

/// Is any proper ancestor directory of `path` in `files`?
fn has_file_ancestor(path: &[u8], files: &BTreeSet<&[u8]>) -> bool {
    path.iter()
        .enumerate()
        .any(|(i, b)| *b == b'/' && files.contains(&path[..i]))
}

/// The index mode git uses for a tree entry kind.
pub fn index_mode(kind: EntryKind) -> Mode {
    match kind {
        EntryKind::Blob => Mode::FILE,
        EntryKind::BlobExecutable => Mode::FILE_EXECUTABLE,
        EntryKind::Link => Mode::SYMLINK,
        EntryKind::Commit => Mode::COMMIT,
        EntryKind::Tree => Mode::DIR,
    }
}

/// The tree entry kind of an index mode (`None` for sparse directory entries).
pub fn kind_of_mode(mode: Mode) -> Option<EntryKind> {
    mode.to_tree_entry_mode().map(|m| m.kind())
}

/// The stage-0 entry of `path` as `(id, kind)`, if any.
pub fn stage0(state: &gix::index::State, path: &BStr) -> Option<(ObjectId, Option<EntryKind>)> {
    state
        .entry_by_path_and_stage(path, Stage::Unconflicted)
        .map(|e| (e.id, kind_of_mode(e.mode)))
}
