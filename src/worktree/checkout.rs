//! The safe tree A -> tree B update of a non-empty worktree and its index.
//!
//! gix 0.90 can check out a tree into an empty directory, but it has no "move this worktree from
//! A to B" (git's `read-tree -m -u`): its checkout overwrites blindly and never deletes. So this
//! module is ours, built on gix primitives:
//!
//! 1. diff tree A -> B (leaves only);
//! 2. for exactly those paths, compare index and worktree against A; any local change there is
//!    an [`Obstacle`] and nothing is touched (the caller autosaves or refuses);
//! 3. with `index.lock` held for the whole read-modify-write, delete removed files, write
//!    changed ones (temp file + rename, never through a symlinked directory), then rebuild only
//!    the changed index entries, keeping every other entry and its stat data as it was.
//!
//! Paths from B are validated first (no `..`, no `.git` in any spelling, no absolute paths): B
//! may come from another machine (DESIGN.md invariant 4).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::{Flags, Mode, Stage, Stat};
use gix::object::tree::EntryKind;
use gix::ObjectId;
use serde::Serialize;

use crate::error::user;

/// A leaf of a tree: a file, an executable, a symlink or a submodule commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub id: ObjectId,
    pub kind: EntryKind,
}

/// One path that differs between tree A and tree B.
#[derive(Debug, Clone)]
pub struct PathChange {
    pub path: BString,
    pub old: Option<Leaf>,
    pub new: Option<Leaf>,
}

/// A local change that stands where the update would write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "kebab-case")]
pub enum Obstacle {
    /// A tracked file was edited (in the worktree or the index).
    Modified(String),
    /// A tracked file was deleted locally.
    Deleted(String),
    /// An untracked or ignored file or directory is where B puts something.
    Untracked(String),
}

impl Obstacle {
    pub fn path(&self) -> &str {
        match self {
            Obstacle::Modified(p) | Obstacle::Deleted(p) | Obstacle::Untracked(p) => p,
        }
    }
}

/// Leaf-level differences between two trees, sorted by path. Rename tracking is off: an update
/// is a set of deletions and writes.
pub fn diff_trees(repo: &gix::Repository, a: ObjectId, b: ObjectId) -> Result<Vec<PathChange>> {
    let mut out: BTreeMap<BString, PathChange> = BTreeMap::new();
    if a == b {
        return Ok(Vec::new());
    }
    let ta = repo.find_tree(a)?;
    let tb = repo.find_tree(b)?;
    let opts = gix::diff::Options::default().with_rewrites(None);
    let changes = repo.diff_tree_to_tree(&ta, &tb, opts)?;
    use gix::object::tree::diff::ChangeDetached as C;
    let mut duplicate = None;
    let mut record = |path: &BStr, old: Option<Leaf>, new: Option<Leaf>| {
        let e = out.entry(path.to_owned()).or_insert_with(|| PathChange {
            path: path.to_owned(),
            old: None,
            new: None,
        });
        if old.is_some() {
            e.old = old;
        }
        if new.is_some() {
            // Two leaves at one path: a tree git would never write (fsck: duplicateEntries).
            if e.new.is_some() {
                duplicate = Some(path.to_owned());
            }
            e.new = new;
        }
    };
    let leaf = |mode: gix::object::tree::EntryMode, id: ObjectId| {
        (!mode.is_tree()).then(|| Leaf {
            id,
            kind: mode.kind(),
        })
    };
    for c in changes {
        match c {
            C::Addition {
                location,
                entry_mode,
                id,
                ..
            } => {
                if let Some(l) = leaf(entry_mode, id) {
                    record(location.as_ref(), None, Some(l));
                }
            }
            C::Deletion {
                location,
                entry_mode,
                id,
                ..
            } => {
                if let Some(l) = leaf(entry_mode, id) {
                    record(location.as_ref(), Some(l), None);
                }
            }
            C::Modification {
                location,
                previous_entry_mode,
                previous_id,
                entry_mode,
                id,
                ..
            } => {
                record(
                    location.as_ref(),
                    leaf(previous_entry_mode, previous_id),
                    leaf(entry_mode, id),
                );
            }
            C::Rewrite { .. } => {
                bail!("internal error: rewrite tracking was disabled but a rewrite was reported")
            }
        }
    }
    if let Some(path) = duplicate {
        return Err(user(format!(
            "refusing a corrupt incoming tree: {} appears twice",
            shown_path(path.as_bstr())
        ))
        .hint("the upstream commit was not made by git; fix it there")
        .into());
    }
    Ok(out.into_values().filter(|c| c.old != c.new).collect())
}

/// A path for a message: escaped, and cut short when it is very long (a hostile tree can
/// hold a path of megabytes).
fn shown_path(path: &BStr) -> String {
    const MAX: usize = 200;
    if path.len() > MAX {
        format!("{:?}... ({} bytes)", path[..MAX].as_bstr(), path.len())
    } else {
        format!("{:?}", path)
    }
}

/// Refuse any path that could write outside the worktree or into `.git` (invariant 4).
pub fn validate_path(path: &BStr, kind: Option<EntryKind>) -> Result<()> {
    let opts = gix::validate::path::component::Options {
        protect_windows: true,
        protect_hfs: true,
        protect_ntfs: true,
    };
    let bad = |why: &str| -> anyhow::Error {
        user(format!(
            "refusing unsafe path {} from an incoming tree: {why}",
            shown_path(path)
        ))
        .hint("the upstream commit contains a path git itself would never check out; fix it there")
        .into()
    };
    if path.is_empty() || path.starts_with(b"/") {
        return Err(bad("absolute or empty"));
    }
    // Linux's PATH_MAX and NAME_MAX: longer paths cannot be written, and refusing them here
    // keeps a hostile 10,000-level path from leaving half its directories behind.
    if path.len() >= 4096 {
        return Err(bad("longer than 4095 bytes"));
    }
    let comps: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
    for (i, comp) in comps.iter().enumerate() {
        let is_last = i + 1 == comps.len();
        let mode = match (is_last, kind) {
            (true, Some(EntryKind::Link)) => Some(gix::validate::path::component::Mode::Symlink),
            _ => None,
        };
        if comp.is_empty() || *comp == b"." || *comp == b".." {
            return Err(bad("empty, '.' or '..' component"));
        }
        if comp.contains(&0) || comp.contains(&b'\\') {
            return Err(bad("NUL or backslash in a component"));
        }
        if comp.len() > 255 {
            return Err(bad("a component longer than 255 bytes"));
        }
        gix::validate::path::component(comp.as_bstr(), mode, opts)
            .map_err(|e| bad(&e.to_string()))?;
    }
    Ok(())
}

/// Check every incoming path before anything is written: each must be safe on its own
/// ([`validate_path`]), and no incoming leaf may also be a directory of another incoming leaf
/// (a corrupt tree could otherwise create a symlink `e` and then be refused at `e/x`, leaving
/// half an update behind).
pub fn validate_new_paths(changes: &[PathChange]) -> Result<()> {
    let leaves: BTreeSet<&BStr> = changes
        .iter()
        .filter(|c| c.new.is_some())
        .map(|c| c.path.as_bstr())
        .collect();
    for c in changes {
        let Some(new) = c.new else { continue };
        validate_path(c.path.as_bstr(), Some(new.kind))?;
        for (i, b) in c.path.iter().enumerate() {
            if *b == b'/' && leaves.contains(c.path[..i].as_bstr()) {
                return Err(user(format!(
                    "refusing a corrupt incoming tree: {:?} is both a file and a directory of {:?}",
                    c.path[..i].as_bstr(),
                    c.path
                ))
                .hint("the upstream commit was not made by git; fix it there")
                .into());
            }
        }
    }
    Ok(())
}

/// An `index.lock` held for a whole read-modify-write, and the index read under it.
pub struct LockedIndex {
    lock: gix::lock::File,
    pub file: gix::index::File,
}

impl LockedIndex {
    /// Take `index.lock` (waiting briefly if git holds it), then read the index. An update
    /// that a killed wtc left half-done in this worktree is finished first
    /// ([`crate::worktree::journal`]), so nobody ever builds on a half-updated worktree.
    pub fn acquire(repo: &gix::Repository) -> Result<Self> {
        crate::worktree::journal::recover(repo)?;
        Self::lock(repo)
    }

    /// Take `index.lock` and read the index, without looking for a leftover update.
    pub fn lock(repo: &gix::Repository) -> Result<Self> {
        let path = repo.index_path();
        let lock = gix::lock::File::acquire_to_update_resource(
            &path,
            gix::lock::acquire::Fail::AfterDurationWithBackoff(std::time::Duration::from_secs(3)),
            None,
            0o666,
        )
        .map_err(|_| {
            user(format!(
                "{}.lock exists: another git command is running in this worktree",
                path.display()
            ))
            .hint(format!(
                "wait for it to finish; if no git process is running, remove {}.lock",
                path.display()
            ))
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
        Ok(LockedIndex { lock, file })
    }

    pub fn state(&self) -> &gix::index::State {
        &self.file
    }

    /// Paths with conflict stages (1, 2 or 3).
    pub fn conflicted_paths(&self) -> Vec<String> {
        let st: &gix::index::State = &self.file;
        let set: BTreeSet<String> = st
            .entries()
            .iter()
            .filter(|e| e.stage() != Stage::Unconflicted)
            .map(|e| e.path(st).to_str_lossy().into_owned())
            .collect();
        set.into_iter().collect()
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

/// Convert a tree entry kind to the index mode git uses for it.
pub fn index_mode(kind: EntryKind) -> Mode {
    match kind {
        EntryKind::Blob => Mode::FILE,
        EntryKind::BlobExecutable => Mode::FILE_EXECUTABLE,
        EntryKind::Link => Mode::SYMLINK,
        EntryKind::Commit => Mode::COMMIT,
        EntryKind::Tree => Mode::DIR,
    }
}

fn kind_of_mode(mode: Mode) -> Option<EntryKind> {
    mode.to_tree_entry_mode().map(|m| m.kind())
}

/// Everything needed to look at one worktree.
pub struct Worktree<'r> {
    pub repo: &'r gix::Repository,
    pub root: PathBuf,
    pipeline: gix::filter::Pipeline<'r>,
    stat_opts: gix::index::entry::stat::Options,
}

impl<'r> Worktree<'r> {
    pub fn new(repo: &'r gix::Repository) -> Result<Self> {
        let root = repo.workdir().context("a worktree is needed")?.to_owned();
        let (pipeline, _) = repo.filter_pipeline(None)?;
        Ok(Worktree {
            repo,
            root,
            pipeline,
            stat_opts: repo.stat_options()?,
        })
    }

    fn abs(&self, path: &BStr) -> Result<PathBuf> {
        Ok(self.root.join(gix::path::from_bstr(path)?))
    }

    /// The blob id and kind of what is on disk at `path`, as `git add` would store it, without
    /// writing anything. `None` when nothing (or a directory) is there.
    pub fn hash_worktree_file(
        &mut self,
        path: &BStr,
        index: &gix::index::State,
    ) -> Result<Option<Leaf>> {
        let abs = self.abs(path)?;
        let md = match std::fs::symlink_metadata(&abs) {
            Ok(md) => md,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", abs.display())),
        };
        let hash_kind = self.repo.object_hash();
        if md.file_type().is_symlink() {
            let target = std::fs::read_link(&abs)?;
            let bytes = gix::path::into_bstr(target)?.into_owned();
            let id = gix::objs::compute_hash(hash_kind, gix::object::Kind::Blob, &bytes)?;
            return Ok(Some(Leaf {
                id,
                kind: EntryKind::Link,
            }));
        }
        if !md.is_file() {
            return Ok(None);
        }
        let file = std::fs::File::open(&abs)?;
        let rela = gix::path::from_bstr(path)?;
        let mut data = Vec::new();
        {
            use gix::filter::plumbing::pipeline::convert::ToGitOutcome;
            match self.pipeline.convert_to_git(file, &rela, index)? {
                ToGitOutcome::Unchanged(mut f) => {
                    f.read_to_end(&mut data)?;
                }
                ToGitOutcome::Buffer(buf) => data.extend_from_slice(buf),
                ToGitOutcome::Process(mut r) => {
                    r.read_to_end(&mut data)?;
                }
            }
        }
        let id = gix::objs::compute_hash(hash_kind, gix::object::Kind::Blob, &data)?;
        let kind = if gix::fs::is_executable(&md) {
            EntryKind::BlobExecutable
        } else {
            EntryKind::Blob
        };
        Ok(Some(Leaf { id, kind }))
    }

    /// Does the worktree file at `path` still hold exactly `expected`? Uses the index stat
    /// data when it proves nothing changed, and hashes the file otherwise.
    fn holds(&mut self, path: &BStr, expected: Leaf, index: &gix::index::State) -> Result<bool> {
        if expected.kind == EntryKind::Commit {
            return Ok(true); // submodules are never written or judged by wtc
        }
        if let Some(entry) = index.entry_by_path_and_stage(path, Stage::Unconflicted) {
            if entry.id == expected.id && kind_of_mode(entry.mode) == Some(expected.kind) {
                let abs = self.abs(path)?;
                if let Ok(md) = gix::index::fs::Metadata::from_path_no_follow(&abs) {
                    if let Ok(stat) = Stat::from_fs(&md) {
                        // Stat data does not record the mode: a `chmod +x` keeps mtime and
                        // size, so the kind on disk is checked too (a local chmod is work).
                        if entry.stat.matches(&stat, self.stat_opts)
                            && !entry.stat.is_racy(index.timestamp(), self.stat_opts)
                            && disk_kind(&abs) == Some(expected.kind)
                        {
                            return Ok(true);
                        }
                    }
                }
            }
        }
        Ok(self.hash_worktree_file(path, index)? == Some(expected))
    }

    /// Find every local change that stands in the way of `changes`. An empty list means the
    /// update can proceed without touching anything the user has not committed.
    pub fn obstacles(
        &mut self,
        changes: &[PathChange],
        index: &gix::index::State,
    ) -> Result<Vec<Obstacle>> {
        let deleted: BTreeSet<&BStr> = changes
            .iter()
            .filter(|c| c.old.is_some() && c.new.is_none())
            .map(|c| c.path.as_bstr())
            .collect();
        validate_new_paths(changes)?;
        let mut out = Vec::new();
        for c in changes {
            let p = c.path.to_str_lossy().into_owned();
            let staged = index.entry_by_path_and_stage(c.path.as_bstr(), Stage::Unconflicted);
            match c.old {
                Some(old) => {
                    let index_ok = staged
                        .is_some_and(|e| e.id == old.id && kind_of_mode(e.mode) == Some(old.kind));
                    if !index_ok {
                        // Staged edits count as local work too; unless the index already holds B.
                        let index_is_new = match (staged, c.new) {
                            (Some(e), Some(n)) => {
                                e.id == n.id && kind_of_mode(e.mode) == Some(n.kind)
                            }
                            (None, None) => true,
                            _ => false,
                        };
                        let disk = self.hash_worktree_file(c.path.as_bstr(), index)?;
                        if !(index_is_new && disk == c.new) {
                            out.push(Obstacle::Modified(p));
                        }
                        continue;
                    }
                    if self.holds(c.path.as_bstr(), old, index)? {
                        continue;
                    }
                    let disk = self.hash_worktree_file(c.path.as_bstr(), index)?;
                    let abs = self.abs(c.path.as_bstr())?;
                    match disk {
                        // Already what B wants, or deleted where B deletes too: no conflict.
                        d if d == c.new => {}
                        None if std::fs::symlink_metadata(&abs).is_err() => {
                            out.push(Obstacle::Deleted(p))
                        }
                        _ => out.push(Obstacle::Modified(p)),
                    }
                }
                None => {
                    if let Some(e) = staged {
                        if c.new
                            .is_some_and(|n| n.id == e.id && Some(n.kind) == kind_of_mode(e.mode))
                        {
                            continue;
                        }
                    }
                    let abs = self.abs(c.path.as_bstr())?;
                    match std::fs::symlink_metadata(&abs) {
                        Err(_) => {}
                        Ok(md) if md.is_dir() => {
                            if !self.dir_only_holds(&abs, c.path.as_bstr(), &deleted)? {
                                out.push(Obstacle::Untracked(p));
                            }
                        }
                        Ok(_) => {
                            if self.hash_worktree_file(c.path.as_bstr(), index)? != c.new {
                                out.push(Obstacle::Untracked(p));
                            }
                        }
                    }
                }
            }
            if c.new.is_some() {
                self.check_ancestors(c.path.as_bstr(), &deleted, &mut out)?;
            }
        }
        out.sort_by(|a, b| a.path().cmp(b.path()));
        out.dedup();
        Ok(out)
    }

    /// Every file under the directory `abs` is a tracked file that the update deletes.
    fn dir_only_holds(&self, abs: &Path, rela: &BStr, deleted: &BTreeSet<&BStr>) -> Result<bool> {
        for entry in std::fs::read_dir(abs)? {
            let entry = entry?;
            let name = gix::path::into_bstr(PathBuf::from(entry.file_name()))?.into_owned();
            let mut child = rela.to_owned();
            child.push(b'/');
            child.extend_from_slice(&name);
            let ft = entry.file_type()?;
            if ft.is_dir() {
                if !self.dir_only_holds(&entry.path(), child.as_bstr(), deleted)? {
                    return Ok(false);
                }
            } else if !deleted.contains(child.as_bstr()) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The directories above `path` must be real directories (or files the update deletes).
    fn check_ancestors(
        &self,
        path: &BStr,
        deleted: &BTreeSet<&BStr>,
        out: &mut Vec<Obstacle>,
    ) -> Result<()> {
        let mut prefix = BString::default();
        let comps: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
        for comp in &comps[..comps.len() - 1] {
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(comp);
            let abs = self.abs(prefix.as_bstr())?;
            match std::fs::symlink_metadata(&abs) {
                Err(_) => return Ok(()),
                Ok(md) if md.is_dir() => {}
                Ok(_) if deleted.contains(prefix.as_bstr()) => return Ok(()),
                Ok(_) => {
                    out.push(Obstacle::Untracked(prefix.to_str_lossy().into_owned()));
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Apply `changes` to the worktree files and to `index`. The caller has checked that there
    /// are no obstacles and holds `index.lock`.
    pub fn apply(&mut self, changes: &[PathChange], index: &mut gix::index::State) -> Result<()> {
        // 1. Deletions first (deepest first), so files can become directories and back.
        let mut dirs_to_prune = BTreeSet::new();
        for c in changes.iter().rev().filter(|c| c.old.is_some()) {
            let abs = self.abs(c.path.as_bstr())?;
            if c.new.is_some() && c.old.map(|o| o.kind) != Some(EntryKind::Link) {
                continue; // overwritten in place below (by rename), not deleted
            }
            match std::fs::symlink_metadata(&abs) {
                Ok(md) if md.is_dir() => {} // submodule dirs or dirs now holding other files stay
                Ok(_) => {
                    std::fs::remove_file(&abs)
                        .with_context(|| format!("deleting {}", abs.display()))?;
                    crate::faults::point();
                }
                Err(_) => {}
            }
            if let Some(parent) = abs.parent() {
                dirs_to_prune.insert(parent.to_owned());
            }
        }
        for dir in dirs_to_prune.iter().rev() {
            let mut d = dir.clone();
            while d != self.root && d.starts_with(&self.root) {
                if std::fs::remove_dir(&d).is_err() {
                    break;
                }
                d.pop();
            }
        }
        // 2. Writes.
        let mut written: Vec<(BString, Leaf, Stat)> = Vec::new();
        for c in changes {
            let Some(new) = c.new else { continue };
            let stat = self.write_leaf(c.path.as_bstr(), new)?;
            crate::faults::point();
            written.push((c.path.clone(), new, stat));
        }
        // 3. The index: drop every entry of a changed path, add B's entries.
        let changed: BTreeSet<&BStr> = changes.iter().map(|c| c.path.as_bstr()).collect();
        index.remove_entries(|_, path, _| changed.contains(path));
        for (path, leaf, stat) in written {
            index.dangerously_push_entry(
                stat,
                leaf.id,
                Flags::empty(),
                index_mode(leaf.kind),
                path.as_bstr(),
            );
        }
        index.sort_entries();
        Ok(())
    }

    /// Write one leaf through the filter pipeline and return its fresh stat data.
    fn write_leaf(&mut self, path: &BStr, leaf: Leaf) -> Result<Stat> {
        let abs = self.abs(path)?;
        self.ensure_parent_dirs(path)?;
        match leaf.kind {
            EntryKind::Commit => {
                std::fs::create_dir_all(&abs).ok();
                return Ok(Stat::default());
            }
            EntryKind::Link => {
                let blob = self.repo.find_blob(leaf.id)?;
                let target = gix::path::from_byte_slice(&blob.data)?.to_owned();
                if let Ok(md) = std::fs::symlink_metadata(&abs) {
                    if md.is_dir() {
                        remove_empty_dir_tree(&abs)
                            .with_context(|| format!("{} is in the way", abs.display()))?;
                    } else {
                        std::fs::remove_file(&abs)?;
                    }
                }
                std::os::unix::fs::symlink(&target, &abs)
                    .with_context(|| format!("creating symlink {}", abs.display()))?;
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {
                let blob = self.repo.find_blob(leaf.id)?;
                let data = blob.data.clone();
                let mut bytes = Vec::new();
                {
                    let out = self
                        .pipeline
                        .convert_to_worktree(&data, path, Default::default())?;
                    match out.as_bytes() {
                        Some(b) => bytes.extend_from_slice(b),
                        None => bail!(
                            "the filter for {path} delayed its output, which wtc does not support"
                        ),
                    }
                }
                if let Ok(md) = std::fs::symlink_metadata(&abs) {
                    if md.is_dir() {
                        remove_empty_dir_tree(&abs).with_context(|| {
                            format!("{} is a directory in the way", abs.display())
                        })?;
                    }
                }
                let parent = abs.parent().expect("inside the worktree");
                let mut tmp = tempfile::Builder::new()
                    .prefix(".wtc-tmp-")
                    .tempfile_in(parent)
                    .with_context(|| format!("creating a file in {}", parent.display()))?;
                use std::io::Write;
                tmp.write_all(&bytes)?;
                use std::os::unix::fs::PermissionsExt;
                let mode = if leaf.kind == EntryKind::BlobExecutable {
                    0o755
                } else {
                    0o644
                };
                tmp.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(mode))?;
                tmp.persist(&abs)
                    .with_context(|| format!("writing {}", abs.display()))?;
            }
            EntryKind::Tree => unreachable!("trees are never leaves"),
        }
        let md = gix::index::fs::Metadata::from_path_no_follow(&abs)?;
        Ok(Stat::from_fs(&md)?)
    }

    /// Create the directories above `path`, refusing to go through a symlink or a file.
    fn ensure_parent_dirs(&self, path: &BStr) -> Result<()> {
        let comps: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
        let mut dir = self.root.clone();
        for comp in &comps[..comps.len() - 1] {
            dir.push(gix::path::from_byte_slice(comp)?);
            match std::fs::symlink_metadata(&dir) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => {
                    return Err(user(format!(
                        "refusing to write {path}: {} is not a directory (a symlink or a file)",
                        dir.display()
                    ))
                    .into())
                }
                Err(_) => std::fs::create_dir(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?,
            }
        }
        Ok(())
    }
}

/// Remove a directory that holds nothing but (possibly nested) empty directories: what is
/// left where tracked files were deleted. Anything else in it is an error, never deleted
/// (the obstacle check already proved that every file in there was deleted by the update).
fn remove_empty_dir_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_empty_dir_tree(&entry.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

/// What kind of leaf is on disk at `abs`, judged by its metadata alone.
fn disk_kind(abs: &Path) -> Option<EntryKind> {
    let md = std::fs::symlink_metadata(abs).ok()?;
    if md.file_type().is_symlink() {
        Some(EntryKind::Link)
    } else if md.is_file() {
        Some(if gix::fs::is_executable(&md) {
            EntryKind::BlobExecutable
        } else {
            EntryKind::Blob
        })
    } else {
        None
    }
}

fn not_found(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// Write every file of `tree` into the empty directory `dir` (used by `squash --verify`, on a
/// tree that may exist only in memory).
pub fn export_tree(repo: &gix::Repository, tree: ObjectId, dir: &Path) -> Result<()> {
    let changes = diff_trees(repo, ObjectId::empty_tree(repo.object_hash()), tree)?;
    validate_new_paths(&changes)?;
    let mut wt = Worktree {
        repo,
        root: dir.to_owned(),
        pipeline: repo.filter_pipeline(Some(tree))?.0,
        stat_opts: repo.stat_options()?,
    };
    for c in &changes {
        if let Some(new) = c.new {
            wt.write_leaf(c.path.as_bstr(), new)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The updater on real repositories made with git: file <-> directory and symlink
    //! transitions, obstacles, and that the index matches what git expects afterwards.
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn write(p: &Path, s: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }

    /// A repo with tree A checked out and tree B committed on another branch.
    fn setup(a: &dyn Fn(&Path), b: &dyn Fn(&Path)) -> (tempfile::TempDir, ObjectId, ObjectId) {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        git(d, &["init", "-q", "-b", "a"]);
        a(d);
        git(d, &["add", "-A"]);
        git(d, &["commit", "-qm", "a", "--allow-empty"]);
        let ta = git(d, &["rev-parse", "HEAD^{tree}"]);
        git(d, &["checkout", "-q", "-b", "b"]);
        git(d, &["rm", "-rq", "--cached", "."]);
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_name() != ".git" {
                let p = e.path();
                if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(p).unwrap()
                } else {
                    std::fs::remove_file(p).unwrap()
                }
            }
        }
        b(d);
        git(d, &["add", "-A"]);
        git(d, &["commit", "-qm", "b", "--allow-empty"]);
        let tb = git(d, &["rev-parse", "HEAD^{tree}"]);
        git(d, &["checkout", "-qf", "a"]);
        (
            tmp,
            ObjectId::from_hex(ta.as_bytes()).unwrap(),
            ObjectId::from_hex(tb.as_bytes()).unwrap(),
        )
    }

    fn update(d: &Path, a: ObjectId, b: ObjectId) -> Vec<Obstacle> {
        let repo = gix::open(d).unwrap();
        let mut locked = LockedIndex::acquire(&repo).unwrap();
        let changes = diff_trees(&repo, a, b).unwrap();
        let mut wt = Worktree::new(&repo).unwrap();
        let obstacles = wt.obstacles(&changes, locked.state()).unwrap();
        if obstacles.is_empty() {
            wt.apply(&changes, &mut locked.file).unwrap();
            locked.commit().unwrap();
        }
        obstacles
    }

    #[test]
    fn file_to_dir_and_back_and_symlinks() {
        let (tmp, a, b) = setup(
            &|d| {
                write(&d.join("x"), "file x\n");
                write(&d.join("dir/inner.txt"), "inner\n");
                write(&d.join("keep.txt"), "keep\n");
                std::os::unix::fs::symlink("keep.txt", d.join("link")).unwrap();
            },
            &|d| {
                write(&d.join("x/now-a-dir.txt"), "in dir\n");
                write(&d.join("dir"), "now a file\n");
                write(&d.join("keep.txt"), "keep\n");
                write(&d.join("link"), "no longer a link\n");
                std::os::unix::fs::symlink("keep.txt", d.join("newlink")).unwrap();
            },
        );
        let d = tmp.path();
        assert_eq!(update(d, a, b), vec![]);
        assert_eq!(
            std::fs::read_to_string(d.join("x/now-a-dir.txt")).unwrap(),
            "in dir\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("dir")).unwrap(),
            "now a file\n"
        );
        assert!(!d.join("link").is_symlink());
        assert_eq!(
            std::fs::read_link(d.join("newlink")).unwrap(),
            PathBuf::from("keep.txt")
        );
        // The index equals tree B and the worktree equals the index.
        git(d, &["update-ref", "refs/heads/a", "b"]);
        assert_eq!(git(d, &["status", "--porcelain"]), "");
        // And back again.
        assert_eq!(update(d, b, a), vec![]);
        git(d, &["update-ref", "refs/heads/a", "b~0^"]);
        assert_eq!(std::fs::read_to_string(d.join("x")).unwrap(), "file x\n");
    }

    #[test]
    fn local_changes_are_obstacles_and_nothing_is_touched() {
        let (tmp, a, b) = setup(
            &|d| {
                write(&d.join("edited.txt"), "v1\n");
                write(&d.join("deleted.txt"), "v1\n");
                write(&d.join("same.txt"), "same\n");
            },
            &|d| {
                write(&d.join("edited.txt"), "v2\n");
                write(&d.join("deleted.txt"), "v2\n");
                write(&d.join("same.txt"), "same\n");
                write(&d.join("untracked.txt"), "theirs\n");
                write(&d.join("sub/file.txt"), "theirs\n");
            },
        );
        let d = tmp.path();
        write(&d.join("edited.txt"), "mine\n");
        std::fs::remove_file(d.join("deleted.txt")).unwrap();
        write(&d.join("untracked.txt"), "mine too\n");
        write(&d.join("sub"), "a file where a directory goes\n");
        let obstacles = update(d, a, b);
        assert_eq!(
            obstacles,
            vec![
                Obstacle::Deleted("deleted.txt".into()),
                Obstacle::Modified("edited.txt".into()),
                Obstacle::Untracked("sub".into()),
                Obstacle::Untracked("untracked.txt".into()),
            ]
        );
        assert_eq!(
            std::fs::read_to_string(d.join("edited.txt")).unwrap(),
            "mine\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("untracked.txt")).unwrap(),
            "mine too\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("sub")).unwrap(),
            "a file where a directory goes\n"
        );
    }

    /// Regression (issue 6): a 10,000-level path failed half-way with ENAMETOOLONG, leaving
    /// its directories behind, and quoted the whole path in the error.
    #[test]
    fn overlong_paths_are_refused_with_a_short_message() {
        let deep = vec!["d"; 10_000].join("/");
        let err = validate_path(deep.as_str().into(), Some(EntryKind::Blob)).unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
        let long_name = "n".repeat(256);
        assert!(validate_path(long_name.as_str().into(), Some(EntryKind::Blob)).is_err());
        let ok = format!("{}/x", "n".repeat(255));
        assert!(validate_path(ok.as_str().into(), Some(EntryKind::Blob)).is_ok());
    }

    /// Regression (found by props.rs): a directory that becomes a file while an empty
    /// (untracked) subdirectory remains in it failed half-way with "directory not empty".
    #[test]
    fn dir_with_an_empty_subdir_becomes_a_file() {
        let (tmp, a, b) = setup(&|d| write(&d.join("d0/sub/f.txt"), "tracked\n"), &|d| {
            write(&d.join("d0"), "now a file\n")
        });
        let d = tmp.path();
        std::fs::create_dir_all(d.join("d0/empty/deeper")).unwrap();
        assert_eq!(update(d, a, b), vec![]);
        assert_eq!(
            std::fs::read_to_string(d.join("d0")).unwrap(),
            "now a file\n"
        );
        // A directory with a file in it is never removed: that is an obstacle instead.
        let (tmp, a, b) = setup(&|d| write(&d.join("d0/sub/f.txt"), "tracked\n"), &|d| {
            write(&d.join("d0"), "now a file\n")
        });
        let d = tmp.path();
        write(&d.join("d0/untracked.txt"), "mine\n");
        assert_eq!(update(d, a, b), vec![Obstacle::Untracked("d0".into())]);
        assert_eq!(
            std::fs::read_to_string(d.join("d0/untracked.txt")).unwrap(),
            "mine\n"
        );
    }

    /// Regression (found by props.rs): a local `chmod +x` keeps mtime and size, so the index
    /// stat data said "unchanged" and an incoming edit overwrote the file, dropping the chmod.
    #[test]
    fn a_local_chmod_is_an_obstacle() {
        let (tmp, a, b) = setup(&|d| write(&d.join("tool.sh"), "echo v1\n"), &|d| {
            write(&d.join("tool.sh"), "echo v2\n")
        });
        let d = tmp.path();
        // With ctime not trusted (or a chmod within the same second) only mtime and size
        // are compared, and a chmod changes neither.
        git(d, &["config", "core.trustctime", "false"]);
        // An old mtime, so the index entry is not "racy" (which would force a re-hash).
        let old = std::fs::File::options()
            .write(true)
            .open(d.join("tool.sh"))
            .unwrap();
        old.set_modified(
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000),
        )
        .unwrap();
        git(d, &["status", "--porcelain"]); // refresh the index stat data first
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("tool.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        assert_eq!(update(d, a, b), vec![Obstacle::Modified("tool.sh".into())]);
        assert_eq!(
            std::fs::read_to_string(d.join("tool.sh")).unwrap(),
            "echo v1\n"
        );
    }

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "../x",
            "/etc/passwd",
            ".git/config",
            "a/.git/hooks/x",
            ".GIT/x",
            "a/../../x",
            ".git./x",
            "git~1/x",
            "a//b",
            "",
        ] {
            assert!(
                validate_path(bad.into(), Some(EntryKind::Blob)).is_err(),
                "{bad:?} must be refused"
            );
        }
        for ok in [
            "a",
            "a/b/c.txt",
            ".gitignore",
            "x.git",
            ".github/workflows/ci.yml",
        ] {
            assert!(
                validate_path(ok.into(), Some(EntryKind::Blob)).is_ok(),
                "{ok:?} is fine"
            );
        }
    }
}
