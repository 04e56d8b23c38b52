//! One leaf at a time: what is on disk at a path (hashed through the clean filters, as
//! `git add` would store it) and writing one leaf (through the smudge filters, by temp file
//! and rename, never through a symlinked directory).
//!
//! [`Files`] is the one reader and writer of worktree files: the snapshot (`save`), the
//! obstacle check and the transition all use it, so filters, symlinks and exec bits are
//! handled the same way everywhere.

use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::{Stage, Stat};
use gix::object::tree::EntryKind;
use gix::ObjectId;
use std::collections::BTreeMap;

use super::diff::{self, Leaf, PathChange};
use super::validate;
use crate::git::index::kind_of_mode;

/// Whether reading a file also stores its blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Only compute the id, to compare with a known one (judging writes nothing, and the
    /// id is never stored: see [`crate::git::blob_id_to_compare`]).
    HashOnly,
    /// Write the blob into the object database (a snapshot that will be committed).
    Write,
}

/// What is on disk at a path, as git would record it.
#[derive(Debug, Clone, Copy)]
pub struct OnDisk {
    pub leaf: Leaf,
    /// Stat data taken BEFORE the content was read: if the file changes while it is hashed,
    /// git sees a newer mtime and re-examines it instead of calling it clean.
    pub stat: Stat,
}

/// Reads and writes the files of one worktree.
pub struct Files<'r> {
    /// The repository whose objects are read (may be an in-memory clone of the worktree's).
    pub repo: &'r gix::Repository,
    pub root: PathBuf,
    pipeline: gix::filter::Pipeline<'r>,
    stat_opts: gix::index::entry::stat::Options,
    /// `core.fileMode` and `core.symlinks`: without them the exec bit on disk means nothing
    /// and symlinks are plain files holding the target, as git treats them.
    caps: gix::fs::Capabilities,
    /// Worktree forms of incoming blobs made before the write ([`Files::stage_smudged`]).
    staged: Staged,
    /// Incoming blobs being read on another thread ([`Files::read_ahead`]).
    ahead: Option<super::prefetch::Prefetch>,
    /// Incoming blobs read by a helper ([`Files::use_preloaded`]).
    preloaded: Option<super::prefetch::Preloaded>,
    /// Directories [`Files::ensure_parent_dirs`] found or made.
    dirs: std::collections::HashSet<PathBuf>,
    /// Whether this worktree's file system grants write leases (probed once, when a new
    /// file is first created): without them a file is never written at its own path.
    leases: Option<bool>,
    /// The first `lstat` of each path judged, while [`Files::note_fingerprints`] is on.
    noted: Option<BTreeMap<BString, Option<Fingerprint>>>,
}

/// Worktree forms of incoming blobs, smudged ahead of a transition, waiting in temp files in
/// the aside directory; what is not placed is removed (with the directory, if empty).
#[derive(Debug, Default)]
pub struct Staged {
    files: std::collections::HashMap<gix::bstr::BString, tempfile::NamedTempFile>,
    dir: Option<PathBuf>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        self.files.clear();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl<'r> Files<'r> {
    /// The files of `repo`'s worktree.
    pub fn new(repo: &'r gix::Repository) -> Result<Self> {
        let root = repo.workdir().context("a worktree is needed")?.to_owned();
        Self::at(repo, root)
    }

    /// The files under `root`, with `repo`'s objects, filters and attributes.
    pub fn at(repo: &'r gix::Repository, root: PathBuf) -> Result<Self> {
        let (pipeline, _) = repo.filter_pipeline(None)?;
        Self::with_pipeline(repo, root, pipeline)
    }

    /// [`Files::at`] with the attributes of `index`, already read (gix's
    /// `filter_pipeline` would load and decode the index file again: ~20 ms at 100k files).
    pub fn with_index(
        repo: &'r gix::Repository,
        root: PathBuf,
        index: &gix::index::State,
    ) -> Result<Self> {
        let attributes = repo
            .attributes_only(
                index,
                gix::worktree::stack::state::attributes::Source::WorktreeThenIdMapping,
            )?
            .detach();
        let pipeline = gix::filter::Pipeline::new(repo, attributes)?;
        Self::with_pipeline(repo, root, pipeline)
    }

    fn with_pipeline(
        repo: &'r gix::Repository,
        root: PathBuf,
        pipeline: gix::filter::Pipeline<'r>,
    ) -> Result<Self> {
        Ok(Files {
            repo,
            root,
            pipeline,
            stat_opts: repo.stat_options()?,
            caps: repo.filesystem_options()?,
            staged: Default::default(),
            ahead: None,
            preloaded: None,
            dirs: Default::default(),
            leases: None,
            noted: None,
        })
    }

    /// Does a leaf found on disk stand for `want`? The same object, and the same kind as far
    /// as this file system records kinds: with `core.fileMode=false` the exec bit on disk is
    /// no change, with `core.symlinks=false` a plain file holding the target is the symlink.
    pub fn same(&self, disk: Option<Leaf>, want: Option<Leaf>) -> bool {
        match (disk, want) {
            (None, None) => true,
            (Some(d), Some(w)) => d.id == w.id && self.kind_matches(Some(d.kind), w.kind),
            _ => false,
        }
    }

    fn kind_matches(&self, disk: Option<EntryKind>, want: EntryKind) -> bool {
        let blob = |k: EntryKind| matches!(k, EntryKind::Blob | EntryKind::BlobExecutable);
        match disk {
            Some(d) if d == want => true,
            Some(d) if !self.caps.executable_bit && blob(d) && blob(want) => true,
            Some(d) if !self.caps.symlink && blob(d) && want == EntryKind::Link => true,
            _ => false,
        }
    }

    pub fn abs(&self, path: &BStr) -> Result<PathBuf> {
        Ok(self.root.join(gix::path::from_bstr(path)?))
    }

    /// The leaf on disk at `path` as `git add` would store it (through the clean filters),
    /// with its stat data. `None` when nothing trackable is there (missing, a plain
    /// directory, a socket). A directory holding a repository is a gitlink (`Commit`) at its
    /// HEAD.
    pub fn read(
        &mut self,
        path: &BStr,
        index: &gix::index::State,
        store: Store,
    ) -> Result<Option<OnDisk>> {
        let abs = self.abs(path)?;
        let std_md = match std::fs::symlink_metadata(crate::dirfd::short(&abs)) {
            Ok(md) => md,
            Err(e) if not_found(&e) => {
                self.note(path, None);
                return Ok(None);
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", abs.display())),
        };
        self.note(path, Some(&std_md));
        self.read_seen(&abs, path, index, store, std_md)
    }

    /// From now on, remember the first `lstat` made of each path judged (before its content
    /// is read): the fingerprints a transition checks again at write time, without a pass
    /// of its own (see [`Files::take_noted`]).
    pub fn note_fingerprints(&mut self) {
        self.noted = Some(BTreeMap::new());
    }

    /// The fingerprints noted since [`Files::note_fingerprints`] (`None`: nothing there).
    pub fn take_noted(&mut self) -> BTreeMap<BString, Option<Fingerprint>> {
        self.noted.take().unwrap_or_default()
    }

    /// Note `seen` (`None`: nothing) as what `path` looked like, unless it was noted before:
    /// a look made ahead ([`super::prejudge`]).
    pub(super) fn note_seen(&mut self, path: &BStr, seen: Option<Fingerprint>) {
        if let Some(noted) = self.noted.as_mut() {
            noted.entry(path.to_owned()).or_insert(seen);
        }
    }

    /// Note `md` (`None`: nothing) as what `path` looked like, unless it was noted before.
    pub(super) fn note(&mut self, path: &BStr, md: Option<&std::fs::Metadata>) {
        if let Some(noted) = self.noted.as_mut() {
            noted
                .entry(path.to_owned())
                .or_insert_with(|| md.map(Fingerprint::of));
        }
    }

    /// Like [`Files::read`], for the file at `abs` judged as if it were at `path` (its
    /// filters and attributes): a file wtc moved aside.
    pub fn read_at(
        &mut self,
        abs: &Path,
        path: &BStr,
        index: &gix::index::State,
        store: Store,
    ) -> Result<Option<OnDisk>> {
        let std_md = match std::fs::symlink_metadata(crate::dirfd::short(abs)) {
            Ok(md) => md,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", abs.display())),
        };
        self.read_seen(abs, path, index, store, std_md)
    }

    /// [`Files::read_at`] with the `lstat` of `abs` already made.
    fn read_seen(
        &mut self,
        abs: &Path,
        path: &BStr,
        index: &gix::index::State,
        store: Store,
        std_md: std::fs::Metadata,
    ) -> Result<Option<OnDisk>> {
        let abs = abs.to_owned();
        let stat = stat_of(&std_md);
        let (bytes, kind) = if std_md.file_type().is_symlink() {
            let target = std::fs::read_link(&abs)?;
            (
                gix::path::into_bstr(target)?.into_owned().into(),
                EntryKind::Link,
            )
        } else if std_md.is_file() {
            let indexed = index
                .entry_by_path_and_stage(path, Stage::Unconflicted)
                .and_then(|e| kind_of_mode(e.mode));
            if !self.caps.symlink && indexed == Some(EntryKind::Link) {
                // core.symlinks=false: the checked-out symlink is a file holding its target.
                let target =
                    std::fs::read(&abs).with_context(|| format!("reading {}", abs.display()))?;
                (target, EntryKind::Link)
            } else {
                let kind = if !self.caps.executable_bit {
                    // core.fileMode=false: the index's mode stands (new files: not executable).
                    match indexed {
                        Some(EntryKind::BlobExecutable) => EntryKind::BlobExecutable,
                        _ => EntryKind::Blob,
                    }
                } else if gix::fs::is_executable(&std_md) {
                    EntryKind::BlobExecutable
                } else {
                    EntryKind::Blob
                };
                (self.clean(path, &abs, index, std_md.len())?, kind)
            }
        } else if std_md.is_dir() {
            return Ok(super::submodules::checked_out(&abs).map(|id| OnDisk {
                leaf: Leaf {
                    id,
                    kind: EntryKind::Commit,
                },
                stat,
            }));
        } else {
            return Ok(None);
        };
        let id = match store {
            Store::HashOnly => crate::git::blob_id_to_compare(self.repo.object_hash(), &bytes)?,
            Store::Write => self.repo.write_blob(&bytes)?.detach(),
        };
        Ok(Some(OnDisk {
            leaf: Leaf { id, kind },
            stat,
        }))
    }

    /// The file's content as git would store it (clean filters applied).
    /// `size`: what its `lstat` said (a hint: the file may change meanwhile).
    fn clean(
        &mut self,
        path: &BStr,
        abs: &Path,
        index: &gix::index::State,
        size: u64,
    ) -> Result<Vec<u8>> {
        use gix::filter::plumbing::pipeline::convert::ToGitOutcome;
        let file = crate::dirfd::open_unnoticed(crate::dirfd::short(abs))
            .with_context(|| format!("reading {}", abs.display()))?;
        let rela = gix::path::from_bstr(path)?;
        let mut data = Vec::new();
        let read: Result<()> = match self.pipeline.convert_to_git(file, &rela, index) {
            Ok(ToGitOutcome::Unchanged(mut f)) => {
                let hint = usize::try_from(size).unwrap_or(0);
                crate::git::loose::read_to_end(&mut f, &mut data, hint)
                    .map(|_| ())
                    .map_err(Into::into)
            }
            Ok(ToGitOutcome::Buffer(buf)) => {
                data.extend_from_slice(buf);
                Ok(())
            }
            Ok(ToGitOutcome::Process(mut r)) => {
                r.read_to_end(&mut data).map(|_| ()).map_err(Into::into)
            }
            Err(e) => Err(e.into()),
        };
        read.map_err(|e| super::Error::FilterFailed {
            path: path.to_string(),
            driver: filter_driver(self.repo, path).unwrap_or_else(|| "?".into()),
            reason: format!("{e:#}"),
        })?;
        Ok(data)
    }

    /// Does the worktree file at `path` still hold exactly `expected`? Uses the index stat
    /// data when it proves nothing changed, and hashes the file otherwise.
    pub fn holds(
        &mut self,
        path: &BStr,
        expected: Leaf,
        index: &gix::index::State,
    ) -> Result<bool> {
        if expected.kind == EntryKind::Commit {
            return Ok(true); // submodules are never written or judged by wtc
        }
        if let Some(entry) = index.entry_by_path_and_stage(path, Stage::Unconflicted) {
            if entry.id == expected.id && kind_of_mode(entry.mode) == Some(expected.kind) {
                let abs = self.abs(path)?;
                let md = std::fs::symlink_metadata(crate::dirfd::short(&abs));
                self.note(path, md.as_ref().ok());
                match md {
                    // Stat data does not record the mode: a `chmod +x` keeps mtime and
                    // size, so the kind on disk is checked too (a local chmod is work).
                    Ok(md)
                        if entry.stat.matches(&stat_of(&md), self.stat_opts)
                            && !entry.stat.is_racy(index.timestamp(), self.stat_opts)
                            && self.kind_matches(kind_of(&md), expected.kind) =>
                    {
                        return Ok(true);
                    }
                    // Hashed with the stat just made (one `lstat` per judged file).
                    Ok(md) => {
                        let disk = self
                            .read_seen(&abs, path, index, Store::HashOnly, md)?
                            .map(|d| d.leaf)
                            .filter(|l| l.kind != EntryKind::Commit);
                        return Ok(self.same(disk, Some(expected)));
                    }
                    Err(_) => {}
                }
            }
        }
        let disk = self.leaf_on_disk(path, index)?;
        Ok(self.same(disk, Some(expected)))
    }

    /// The leaf of the file at `abs`, judged as if it were at `path` (hashed only).
    pub fn leaf_at(
        &mut self,
        abs: &Path,
        path: &BStr,
        index: &gix::index::State,
    ) -> Result<Option<Leaf>> {
        Ok(self
            .read_at(abs, path, index, Store::HashOnly)?
            .map(|d| d.leaf)
            .filter(|l| l.kind != EntryKind::Commit))
    }

    /// The leaf on disk at `path` (hashed only, nothing written).
    pub fn leaf_on_disk(&mut self, path: &BStr, index: &gix::index::State) -> Result<Option<Leaf>> {
        Ok(self
            .read(path, index, Store::HashOnly)?
            .map(|d| d.leaf)
            .filter(|l| l.kind != EntryKind::Commit))
    }

    /// Write one leaf at `path` through the filter pipeline, replacing whatever is there
    /// (for fresh directories: `squash --verify`'s export), and return its stat data.
    pub fn write_leaf(&mut self, path: &BStr, leaf: Leaf) -> Result<Stat> {
        let abs = self.abs(path)?;
        if let Ok(md) = std::fs::symlink_metadata(&abs) {
            if !md.is_dir() {
                std::fs::remove_file(&abs)?;
            }
        }
        match self.place_leaf(path, leaf)? {
            Placed::Written { stat, .. } => Ok(stat),
            Placed::Raced => Err(anyhow::anyhow!(
                "{} appeared while wtc wrote it",
                abs.display()
            )),
        }
    }

    /// Write one leaf at `path` through the filter pipeline, where nothing is now (the
    /// caller moved the old file aside): a file someone created there meanwhile is never
    /// replaced ([`Placed::Raced`]). Returns the fresh stat data and fingerprint.
    pub fn place_leaf(&mut self, path: &BStr, leaf: Leaf) -> Result<Placed> {
        let abs = self.abs(path)?;
        self.ensure_parent_dirs(path)?;
        self.forget_dirs(&abs);
        match leaf.kind {
            EntryKind::Commit => {
                std::fs::create_dir_all(&abs).ok();
                return Ok(Placed::Written {
                    stat: Stat::default(),
                    fingerprint: None,
                });
            }
            EntryKind::Link if !self.caps.symlink => {
                // core.symlinks=false: git checks a symlink out as a file holding its target.
                let blob = self.repo.find_blob(leaf.id)?;
                let data = blob.data.clone();
                return self.place_file(&abs, &data, EntryKind::Blob);
            }
            EntryKind::Link => {
                let blob = self.repo.find_blob(leaf.id)?;
                let target = gix::path::from_byte_slice(&blob.data)?.to_owned();
                if !clear_empty_dir(&abs)? {
                    return Ok(Placed::Raced);
                }
                // symlink(2) never replaces an existing name.
                match std::os::unix::fs::symlink(&target, &abs) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return Ok(Placed::Raced)
                    }
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("creating symlink {}", abs.display()))
                    }
                }
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {
                let tmp = match self.staged.files.remove(path) {
                    Some(t) => t,
                    None if self.leases_work() => return self.create_at(path, &abs, leaf),
                    None => {
                        let parent = abs.parent().expect("inside the worktree");
                        let mut tmp = temp_in(parent)?;
                        self.smudge_into(path, leaf.id, tmp.as_file_mut())?;
                        tmp
                    }
                };
                return place_temp(tmp, &abs, leaf.kind);
            }
            EntryKind::Tree => unreachable!("trees are never leaves"),
        }
        let md = gix::index::fs::Metadata::from_path_no_follow(&abs)?;
        Ok(Placed::Written {
            stat: Stat::from_fs(&md)?,
            fingerprint: fingerprint(&abs),
        })
    }

    /// Write regular-file leaf `leaf` at `path` by rewriting the file the caller moved aside
    /// to `aside` (A's content, unchanged since the move: `expect`) and renaming it back, so
    /// no new inode is made. Creating a file is the dearest step of a checkout on common
    /// file systems (ext4 allocates and journals an inode; git pays it for every file it
    /// writes); rewriting one that exists costs a fraction. `None` when the old file cannot
    /// be reused safely, and then nothing was changed: the caller writes a fresh file.
    ///
    /// Safe only because the old bytes are provably nobody's but A's: the file is unchanged
    /// since the obstacle check compared it with A's leaf, it has one link (another name for
    /// it must keep its bytes, as it would with git), and a write lease proves that no other
    /// process holds it open (a descriptor opened before the move could still write). From
    /// then on it is renamed `<aside>.w` (a leftover of a killed update under that name is
    /// wtc's own, dropped by recovery, never mistaken for the user's) and rewritten.
    pub fn rewrite_in_place(
        &mut self,
        path: &BStr,
        leaf: Leaf,
        aside: &Path,
        expect: Fingerprint,
    ) -> Result<Option<Placed>> {
        let Some(mode) = self.rewritable_mode(path, leaf) else {
            return Ok(None);
        };
        let form = self.worktree_form(path, leaf.id)?;
        let Some((mut file, md)) = open_leased(aside, expect)? else {
            return Ok(None);
        };
        let rewriting = rewriting_path(aside);
        let renamed = std::fs::rename(aside, &rewriting);
        release_lease(&file);
        renamed.with_context(|| format!("renaming {}", aside.display()))?;
        crate::faults::point();
        let abs = self.abs(path)?;
        self.ensure_parent_dirs(path)?;
        self.forget_dirs(&abs);
        // The lease is gone (the aside path is wtc's own: nobody waits for it); `None` only
        // when it is taken away, which cannot happen here.
        let Some(after) = overwrite_unleased(&mut file, &md, &form, mode)? else {
            unreachable!("overwrite_unleased never reports a lost lease")
        };
        let written = Fingerprint::of(&after);
        crate::faults::point();
        if !rename_into_place(&rewriting, &abs)? {
            std::fs::remove_file(&rewriting)
                .with_context(|| format!("removing {}", rewriting.display()))?;
            return Ok(Some(Placed::Raced));
        }
        // The rename changed only the ctime (which the index records, so stat again);
        // anything else that differs is someone's write through the path since: theirs.
        let md = file.metadata()?;
        if Fingerprint::of(&md) != written {
            return Ok(Some(Placed::Raced));
        }
        Ok(Some(Placed::Written {
            stat: stat_of(&md),
            fingerprint: Some(written),
        }))
    }

    /// Write regular-file leaf `leaf` over the file at `path` itself, in its own inode: no
    /// move aside, no new inode, no rename (a rename costs as much as the write on common
    /// file systems). `None` when that is not provably safe, and then nothing was changed:
    /// the caller moves the file aside and writes as [`Files::rewrite_in_place`] does.
    ///
    /// Safe only because the old bytes are provably A's and nobody else can see the write:
    /// - a write lease is taken first: the kernel grants it only while no other descriptor
    ///   of the file exists, and while it is held any other open of the file waits (the
    ///   opener then sees B whole; a lease break notifies wtc with SIGIO, ignored);
    /// - then, under the lease, the file must be a regular file with one link (another name
    ///   must keep A's bytes, as with git) whose fingerprint is `expect` (the one the check
    ///   judged to be A's, or B's);
    /// - the fingerprint it has once written is returned and checked again after the whole
    ///   update, as for every written file.
    ///
    /// A wtc killed mid-write leaves B's first bytes over A's (B's start, then the rest of
    /// A): [`Files::partly_written`] tells such a file from the user's, so the next command
    /// finishes the update instead of taking it for local work.
    pub fn rewrite_at_path(
        &mut self,
        path: &BStr,
        leaf: Leaf,
        expect: Fingerprint,
    ) -> Result<Option<Placed>> {
        let Some(mode) = self.rewritable_mode(path, leaf) else {
            return Ok(None);
        };
        if !self.leases_work() {
            return Ok(None);
        }
        let abs = self.abs(path)?;
        let form = self.worktree_form(path, leaf.id)?;
        let Some((mut file, md)) = open_leased(&abs, expect)? else {
            return Ok(None);
        };
        crate::faults::point();
        // The lease goes with `file`, closed on return (one system call less than
        // releasing it first).
        let Some(md) = overwrite(&mut file, &md, &form, mode)? else {
            return Ok(Some(Placed::Raced)); // the lease was taken away: see still_leased
        };
        crate::faults::point();
        Ok(Some(Placed::Written {
            stat: stat_of(&md),
            fingerprint: Some(Fingerprint::of(&md)),
        }))
    }

    /// The mode a rewrite in an existing file gives `leaf`: `None` for what is no regular
    /// file, and where an external filter's output waits in its own temp file.
    fn rewritable_mode(&self, path: &BStr, leaf: Leaf) -> Option<u32> {
        let mode = match leaf.kind {
            EntryKind::Blob => 0o644,
            EntryKind::BlobExecutable => 0o755,
            _ => return None,
        };
        (!self.staged.files.contains_key(path)).then_some(mode)
    }

    /// Write regular-file leaf `leaf` as a new file at `abs` (= `path`), where nothing is
    /// now: created exclusively (a file, symlink or anything made there meanwhile is never
    /// replaced: [`Placed::Raced`]), then written under a write lease taken right after the
    /// create, so nobody who opens the fresh name can write into it before wtc is done. A
    /// wtc killed mid-write leaves a prefix of B, which [`Files::partly_written`] knows.
    fn create_at(&mut self, path: &BStr, abs: &Path, leaf: Leaf) -> Result<Placed> {
        use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
        let mode = if leaf.kind == EntryKind::BlobExecutable {
            0o755
        } else {
            0o644
        };
        let form = self.worktree_form(path, leaf.id)?;
        let open = || {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(crate::dirfd::short(abs))
        };
        let mut file = match open() {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Only an empty directory (left where tracked files were deleted) gives way.
                if !clear_empty_dir(abs)? {
                    return Ok(Placed::Raced);
                }
                match open() {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return Ok(Placed::Raced)
                    }
                    Err(e) => return Err(e).with_context(|| format!("writing {}", abs.display())),
                }
            }
            Err(e) => return Err(e).with_context(|| format!("writing {}", abs.display())),
        };
        lease_hook();
        // A watcher or scanner that opens the fresh name in the instant since it was made
        // (inotify-driven indexers do) holds it for a moment: ask again a few times.
        let mut leased = write_lease(&file).is_ok();
        for _ in 0..5 {
            if leased {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
            leased = write_lease(&file).is_ok();
        }
        // Under the lease, the file must still be as made: empty. Bytes someone wrote in it
        // before the lease are theirs (a write that left it empty left nothing to lose).
        // Dropping `file` lets go of the lease (it belongs to this one descriptor).
        let created = file.metadata()?;
        if !leased || created.len() != 0 {
            // Still open elsewhere, or written already: it is theirs now (empty, or what
            // they write), never written into by wtc.
            return Ok(Placed::Raced);
        }
        crate::faults::point();
        let wrote = crate::faults::Halves::new(&mut file).write_all(&form);
        if let Err(e) = wrote {
            // Take back the half-written file, only if the name still holds it (a rename
            // over the path does not wait for the lease: then the file there is theirs).
            let ours = std::fs::symlink_metadata(abs).is_ok_and(|md| {
                use std::os::unix::fs::MetadataExt as _;
                md.dev() == created.dev() && md.ino() == created.ino()
            });
            if ours {
                let _ = std::fs::remove_file(abs);
            }
            return Err(e).with_context(|| format!("writing {}", abs.display()));
        }
        if !still_leased(&file) {
            return Ok(Placed::Raced); // taken away: someone may have written meanwhile
        }
        let mut md = file.metadata()?;
        if md.mode() & 0o7777 != mode {
            // A umask took bits away: the tree's mode stands, as before.
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            md = file.metadata()?;
        }
        Ok(Placed::Written {
            stat: stat_of(&md),
            fingerprint: Some(Fingerprint::of(&md)),
        })
    }

    /// What [`Files::leases_work`] found, handed to another `Files` of the same worktree
    /// (a second writer thread must not probe: a kill while it does would leave the probe).
    pub fn assume_leases(&mut self, known: bool) {
        self.leases = Some(known);
    }

    /// Does this worktree's file system grant write leases that see every writer? Only a
    /// local file system does (on NFS, FUSE, 9p or virtiofs the kernel grants leases while
    /// writers on another machine or the host stay invisible to it); probed once per `Files`
    /// on a temporary file at the worktree's top (removed at once).
    pub fn leases_work(&mut self) -> bool {
        if let Some(known) = self.leases {
            return known;
        }
        let works = local_file_system(&self.root)
            && temp_in(&self.root).is_ok_and(|tmp| {
                let ok = write_lease(tmp.as_file()).is_ok();
                if ok {
                    release_lease(tmp.as_file());
                }
                ok
            });
        self.leases = Some(works);
        works
    }

    /// Is the file at `path` what a wtc killed while writing `c.new` there in place
    /// ([`Files::rewrite_at_path`], [`Files::create_at`]) leaves: B's first bytes, then the
    /// rest of A's worktree form (nothing, where A had no file), before the cut to B's
    /// length? Such a file holds no byte of the user's: every byte is A's or B's, both in
    /// commits. Compared through the smudge filters, as written.
    pub fn partly_written(&mut self, path: &BStr, c: &PathChange) -> Result<bool> {
        let Some(new) = Leaf::file(c.new) else {
            return Ok(false);
        };
        let abs = self.abs(path)?;
        match std::fs::symlink_metadata(crate::dirfd::short(&abs)) {
            Ok(md) if md.is_file() => {}
            _ => return Ok(false),
        }
        let disk = std::fs::read(&abs).with_context(|| format!("reading {}", abs.display()))?;
        let b = self.worktree_form(path, new.id)?;
        let a = match Leaf::file(c.old) {
            Some(old) => Some(self.worktree_form(path, old.id)?),
            None => None,
        };
        if a.as_deref() == Some(&disk[..]) {
            return Ok(false); // A itself: what stands in the way is not in these bytes
        }
        // A fresh file written where the old one was moved aside (it waits there).
        let moved = std::fs::symlink_metadata(aside_path(&self.root, path)).is_ok();
        if moved && b.starts_with(&disk) {
            return Ok(true);
        }
        Ok(is_partial_rewrite(
            &disk,
            a.as_deref().unwrap_or_default(),
            &b,
        ))
    }

    /// Start reading the blobs of the regular files `changes` will write (in that order) on
    /// another thread; the writes take them as they come ([`super::prefetch`]).
    pub fn read_ahead<'c>(&mut self, changes: impl Iterator<Item = &'c PathChange>) {
        let ids = changes
            .filter(|c| !self.staged.files.contains_key(&c.path))
            .filter_map(|c| Leaf::file(c.new))
            .map(|n| n.id)
            .collect();
        self.ahead = Some(super::prefetch::Prefetch::start(self.repo, ids));
    }

    /// Take incoming blobs from `blobs`, read by a helper (shared with other writers).
    pub fn use_preloaded(&mut self, blobs: Option<super::prefetch::Preloaded>) {
        self.preloaded = blobs;
    }

    /// The blobs this writer takes from (see [`Files::use_preloaded`]).
    pub fn preloaded(&self) -> Option<&super::prefetch::Preloaded> {
        self.preloaded.as_ref()
    }

    /// Stop reading ahead (what was not taken is dropped).
    pub fn end_read_ahead(&mut self) {
        self.ahead = None;
    }

    /// Are worktree forms smudged ahead waiting to be placed (an external filter ran)?
    pub fn has_staged(&self) -> bool {
        !self.staged.files.is_empty()
    }

    /// Hand over what [`Files::stage_smudged`] made (to the `Files` that writes).
    pub fn take_staged(&mut self) -> Staged {
        std::mem::take(&mut self.staged)
    }

    /// Use worktree forms smudged ahead (see [`Files::take_staged`]).
    pub fn use_staged(&mut self, staged: Staged) {
        self.staged = staged;
    }

    /// Write a regular file with `bytes` at `abs`, where nothing is now (see
    /// [`Files::place_leaf`]): by temp file and no-clobber rename.
    fn place_file(&mut self, abs: &Path, bytes: &[u8], kind: EntryKind) -> Result<Placed> {
        let parent = abs.parent().expect("inside the worktree");
        let mut tmp = temp_in(parent)?;
        use std::io::Write;
        tmp.write_all(bytes)?;
        place_temp(tmp, abs, kind)
    }

    /// The worktree form of blob `id` at `path` (through the smudge filters, never delayed),
    /// in memory: read and converted BEFORE a file is opened or made, so a blob that cannot
    /// be read or converted fails the write with nothing touched.
    fn worktree_form(&mut self, path: &BStr, id: ObjectId) -> Result<Vec<u8>> {
        use gix::filter::plumbing::driver::apply::{Delay, MaybeDelayed};
        use gix::filter::plumbing::pipeline::convert::{to_worktree, ToWorktreeOutcome};
        let data = self.incoming_blob(id)?;
        let options = to_worktree::Options {
            can_delay: Delay::Forbid,
            ..Default::default()
        };
        let converted: Result<Option<Vec<u8>>> =
            match self.pipeline.convert_to_worktree(&data, path, options) {
                Ok(ToWorktreeOutcome::Unchanged(_)) => Ok(None),
                Ok(ToWorktreeOutcome::Buffer(b)) => Ok(Some(b.to_vec())),
                Ok(ToWorktreeOutcome::Process(MaybeDelayed::Immediate(mut r))) => {
                    let mut out = Vec::new();
                    r.read_to_end(&mut out)
                        .map(|_| Some(out))
                        .map_err(Into::into)
                }
                Ok(ToWorktreeOutcome::Process(MaybeDelayed::Delayed(_))) => Err(anyhow::anyhow!(
                    "the filter delayed its output though told not to"
                )),
                Err(e) => Err(e.into()),
            };
        match converted {
            Ok(Some(out)) => Ok(out),
            Ok(None) => Ok(data),
            Err(e) => Err(self.filter_failed(path, e)),
        }
    }

    /// The data of incoming blob `id`: read ahead, or read now (loose objects without a
    /// memory map: writers run on two threads, see `git::loose`).
    fn incoming_blob(&mut self, id: ObjectId) -> Result<Vec<u8>> {
        match self.ahead.as_mut().and_then(|a| a.take(&id)) {
            Some(data) => Ok(data),
            None => match self.preloaded.as_ref().and_then(|p| p.take(&id)) {
                Some(data) => Ok(data),
                None => crate::git::loose::LooseFirst::new(self.repo).blob(&id),
            },
        }
    }

    /// A smudge filter failed at `path`: the error names the path and the driver.
    fn filter_failed(&self, path: &BStr, e: anyhow::Error) -> anyhow::Error {
        super::Error::FilterFailed {
            path: path.to_string(),
            driver: filter_driver(self.repo, path).unwrap_or_else(|| "?".into()),
            reason: format!("{e:#}"),
        }
        .into()
    }

    /// Write the worktree form of blob `id` at `path` (through the smudge filters, never
    /// delayed) into `out`; returns how many bytes that is.
    fn smudge_into(
        &mut self,
        path: &BStr,
        id: ObjectId,
        out: &mut dyn std::io::Write,
    ) -> Result<u64> {
        use gix::filter::plumbing::driver::apply::{Delay, MaybeDelayed};
        use gix::filter::plumbing::pipeline::convert::{to_worktree, ToWorktreeOutcome};
        let data = self.incoming_blob(id)?;
        let options = to_worktree::Options {
            can_delay: Delay::Forbid,
            ..Default::default()
        };
        let result = match self.pipeline.convert_to_worktree(&data, path, options) {
            Ok(ToWorktreeOutcome::Unchanged(b)) | Ok(ToWorktreeOutcome::Buffer(b)) => out
                .write_all(b)
                .map(|()| b.len() as u64)
                .map_err(anyhow::Error::from),
            Ok(ToWorktreeOutcome::Process(MaybeDelayed::Immediate(mut r))) => {
                std::io::copy(&mut r, out).map_err(anyhow::Error::from)
            }
            Ok(ToWorktreeOutcome::Process(MaybeDelayed::Delayed(_))) => Err(anyhow::anyhow!(
                "the filter delayed its output though told not to"
            )),
            Err(e) => Err(anyhow::Error::from(e)),
        };
        result.map_err(|e| self.filter_failed(path, e))
    }

    /// Run the external smudge filters of every leaf `changes` writes, before anything is
    /// written: their output waits in temp files (in the aside directory) until the write
    /// step places it. A failing filter (a missing `git-lfs`, an unreachable LFS server)
    /// thus fails the transition before its journal record exists: the worktree is untouched.
    /// Costs nothing when no filter driver is configured (the common case).
    pub fn stage_smudged(&mut self, changes: &[PathChange]) -> Result<()> {
        let drivers = gix::filter::Pipeline::options(self.repo)?.drivers;
        if drivers.is_empty() {
            return Ok(());
        }
        use gix::filter::plumbing::driver::apply::{Delay, MaybeDelayed};
        use gix::filter::plumbing::pipeline::convert::{to_worktree, ToWorktreeOutcome};
        let dir = self.root.join(ASIDE_DIR);
        self.staged.dir = Some(dir.clone());
        for c in changes {
            let Some(new) = Leaf::file(c.new) else {
                continue;
            };
            // Which paths an external driver applies to: ask the pipeline (no driver ran
            // when it left the data unchanged).
            let data = self.repo.find_blob(new.id)?.detach().data;
            let options = to_worktree::Options {
                can_delay: Delay::Forbid,
                ..Default::default()
            };
            let path = c.path.as_bstr();
            let staged: Result<Option<tempfile::NamedTempFile>> =
                match self.pipeline.convert_to_worktree(&data, path, options) {
                    Ok(ToWorktreeOutcome::Unchanged(_)) => Ok(None),
                    Ok(ToWorktreeOutcome::Buffer(b)) => (|| {
                        std::fs::create_dir_all(&dir)?;
                        let mut tmp = temp_in(&dir)?;
                        use std::io::Write;
                        tmp.write_all(b)?;
                        Ok(Some(tmp))
                    })(),
                    Ok(ToWorktreeOutcome::Process(MaybeDelayed::Immediate(mut r))) => (|| {
                        std::fs::create_dir_all(&dir)?;
                        let mut tmp = temp_in(&dir)?;
                        std::io::copy(&mut r, tmp.as_file_mut())?;
                        Ok(Some(tmp))
                    })(
                    ),
                    Ok(ToWorktreeOutcome::Process(MaybeDelayed::Delayed(_))) => Err(
                        anyhow::anyhow!("the filter delayed its output though told not to"),
                    ),
                    Err(e) => Err(e.into()),
                };
            match staged {
                Ok(Some(tmp)) => {
                    self.staged.files.insert(c.path.clone(), tmp);
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(super::Error::FilterFailed {
                        path: c.path.to_string(),
                        driver: filter_driver(self.repo, path).unwrap_or_else(|| "?".into()),
                        reason: format!("{e:#}"),
                    }
                    .into())
                }
            }
        }
        Ok(())
    }

    /// Create the directories above `path`, refusing to go through a symlink or a file.
    /// A directory found (or made) once is not looked at again by this `Files` (as git's
    /// own checkout caches the leading directories it checked): an update writes many files
    /// per directory, and each look is a walk of the whole path. [`Files::forget_dirs`]
    /// drops a directory the update itself replaces by a file.
    fn ensure_parent_dirs(&mut self, path: &BStr) -> Result<()> {
        let comps: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
        let mut dir = self.root.clone();
        for comp in &comps[..comps.len() - 1] {
            dir.push(gix::path::from_byte_slice(comp)?);
            if self.dirs.contains(&dir) {
                continue;
            }
            match std::fs::symlink_metadata(crate::dirfd::short(&dir)) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => {
                    return Err(super::Error::NotADirectory {
                        path: path.to_string(),
                        dir,
                    }
                    .into())
                }
                Err(_) => match std::fs::create_dir(&dir) {
                    Ok(()) => {}
                    // Another writer of the same update made it this instant: a directory
                    // is fine, anything else is not.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        if !std::fs::symlink_metadata(crate::dirfd::short(&dir))
                            .is_ok_and(|md| md.is_dir())
                        {
                            return Err(super::Error::NotADirectory {
                                path: path.to_string(),
                                dir,
                            }
                            .into());
                        }
                    }
                    Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
                },
            }
            self.dirs.insert(dir.clone());
        }
        Ok(())
    }

    /// `abs` is about to become a leaf: it and what lies below it are no directories known
    /// to [`Files::ensure_parent_dirs`] any more.
    fn forget_dirs(&mut self, abs: &Path) {
        if self.dirs.remove(abs) {
            self.dirs.retain(|d| !d.starts_with(abs));
        }
    }
}

/// Is `dir` on a local disk file system, where a write lease sees every process that can
/// write a file? (`statfs` magic numbers of ext2/3/4, XFS, Btrfs, tmpfs, F2FS, bcachefs.)
fn local_file_system(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    const LOCAL: [i64; 6] = [
        0xEF53,      // ext2, ext3, ext4
        0x5846_5342, // XFS
        0x9123_683E, // Btrfs
        0x0102_1994, // tmpfs
        0xF2F5_2010, // F2FS
        0xCA45_1A4E, // bcachefs
    ];
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs fills the zeroed plain-data struct for a valid NUL-terminated path.
    #[allow(unsafe_code)]
    let kind = unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(c.as_ptr(), &mut st) != 0 {
            return false;
        }
        st.f_type as i64
    };
    LOCAL.contains(&kind)
}

/// Open the file at `at` for writing and take a write lease on it, if it is provably
/// nobody's but wtc's: the lease first (the kernel grants it only while no other descriptor
/// of the file exists), the look second (a descriptor opened before could write and close
/// between a look and the lease, and that write would be lost): a regular file with one
/// link whose fingerprint is `expect`. `None` (nothing changed, no lease held) otherwise,
/// and where the file system grants no leases (nobody can tell who holds the file).
fn open_leased(
    at: &Path,
    expect: Fingerprint,
) -> Result<Option<(std::fs::File, std::fs::Metadata)>> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    let Ok(file) = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(crate::dirfd::short(at))
    else {
        return Ok(None);
    };
    lease_hook();
    if write_lease(&file).is_err() {
        return Ok(None);
    }
    let md = file.metadata()?;
    if !md.is_file() || md.nlink() != 1 || Fingerprint::of(&md) != expect {
        release_lease(&file);
        return Ok(None);
    }
    Ok(Some((file, md)))
}

/// Write `form` over the file `file` (whose metadata was `old`) from its start, cut what is
/// left of the old bytes, set `mode`; the file's metadata after. Truncating to zero first
/// would free the file's blocks and allocate them again (on ext4, block freeing is dear
/// once the old data is on disk).
/// `None` when the lease on `file` was taken away before the write or before the cut
/// ([`still_leased`]): someone may have written meanwhile, so nothing more is written (the
/// path is raced, never silent).
fn overwrite(
    file: &mut std::fs::File,
    old: &std::fs::Metadata,
    form: &[u8],
    mode: u32,
) -> Result<Option<std::fs::Metadata>> {
    write_over(file, old, form, mode, true)
}

/// [`overwrite`] of a file no lease guards (renamed to a path that is wtc's own).
fn overwrite_unleased(
    file: &mut std::fs::File,
    old: &std::fs::Metadata,
    form: &[u8],
    mode: u32,
) -> Result<Option<std::fs::Metadata>> {
    write_over(file, old, form, mode, false)
}

fn write_over(
    file: &mut std::fs::File,
    old: &std::fs::Metadata,
    form: &[u8],
    mode: u32,
    leased: bool,
) -> Result<Option<std::fs::Metadata>> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    if leased && !still_leased(file) {
        return Ok(None);
    }
    crate::faults::Halves::new(file).write_all(form)?;
    if leased && !still_leased(file) {
        return Ok(None);
    }
    if (form.len() as u64) < old.len() {
        file.set_len(form.len() as u64)?;
    }
    if old.mode() & 0o7777 != mode {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(Some(file.metadata()?))
}

/// A temp file in `dir` (wtc's prefix, so a killed wtc's leftovers are recognisable).
fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".wtc-tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))
}

/// Put the written temp file `tmp` at `abs` with the mode of `kind`, never over something
/// that appeared there (then [`Placed::Raced`]).
fn place_temp(tmp: tempfile::NamedTempFile, abs: &Path, kind: EntryKind) -> Result<Placed> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if kind == EntryKind::BlobExecutable {
        0o755
    } else {
        0o644
    };
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    // No clobbering: a file created at `abs` since we moved the old one aside is someone's
    // work (an editor's write-to-temp-and-rename, an O_CREAT write). Only an empty directory
    // there (left where tracked files were deleted) gives way, and then it is tried again.
    let file = match tmp.persist_noclobber(abs) {
        Ok(f) => f,
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            if !clear_empty_dir(abs)? {
                return Ok(Placed::Raced);
            }
            match e.file.persist_noclobber(abs) {
                Ok(f) => f,
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Ok(Placed::Raced)
                }
                Err(e) => {
                    return Err(e.error).with_context(|| format!("writing {}", abs.display()))
                }
            }
        }
        Err(e) => return Err(e.error).with_context(|| format!("writing {}", abs.display())),
    };
    // Stat what WE wrote, through our handle: someone may have replaced the path already (an
    // editor's rename), and their file must not pass for ours.
    let md = file.metadata()?;
    Ok(Placed::Written {
        stat: stat_of(&md),
        fingerprint: Some(Fingerprint::of(&md)),
    })
}

/// The `filter` attribute's driver name for `path`, for error messages.
fn filter_driver(repo: &gix::Repository, path: &BStr) -> Option<String> {
    let index = repo.index_or_empty().ok()?;
    let mut stack = repo
        .attributes_only(
            &index,
            gix::worktree::stack::state::attributes::Source::WorktreeThenIdMapping,
        )
        .ok()?;
    let mut out = stack.selected_attribute_matches(["filter"]);
    let platform = stack.at_entry(path, None).ok()?;
    platform.matching_attributes(&mut out);
    let found = out
        .iter_selected()
        .next()
        .and_then(|m| match m.assignment.state {
            gix::attrs::StateRef::Value(v) => Some(v.as_bstr().to_string()),
            _ => None,
        });
    found
}

/// How [`Files::place_leaf`] went.
#[derive(Debug, Clone, Copy)]
pub enum Placed {
    Written {
        stat: Stat,
        fingerprint: Option<Fingerprint>,
    },
    /// Something appeared at the path since it was cleared: it stays, untouched.
    Raced,
}

/// What a path looked like on disk (lstat): any write, rename over it or new file there
/// changes it. Used to tell whether a file is still what a check saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub mode: u32,
}

impl Fingerprint {
    pub fn of(md: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Fingerprint {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mtime: (md.mtime(), md.mtime_nsec()),
            mode: md.mode(),
        }
    }
}

/// The index's stat data of a file, from metadata already taken: what
/// `Stat::from_fs(&gix::index::fs::Metadata::from_file(..))` gives, without a second
/// `fstat` (a transition needs both this and the [`Fingerprint`] of each file it writes).
pub fn stat_of(md: &std::fs::Metadata) -> Stat {
    use std::os::unix::fs::MetadataExt;
    stat_from(
        (md.mtime(), md.mtime_nsec()),
        (md.ctime(), md.ctime_nsec()),
        (md.dev(), md.ino()),
        (md.uid(), md.gid()),
        md.size(),
    )
}

/// The index's stat data from a file's raw stat fields (`(seconds, nanoseconds)` times,
/// `(dev, ino)`, `(uid, gid)`, size), as gix records them: seconds, ids and sizes truncated
/// to 32 bits, a time before the epoch zero. [`stat_of`] and the stat pre-pass
/// ([`super::tracked`]) both go through here, so they compare what the index holds.
pub(crate) fn stat_from(
    mtime: (i64, i64),
    ctime: (i64, i64),
    (dev, ino): (u64, u64),
    (uid, gid): (u32, u32),
    size: u64,
) -> Stat {
    let time = |(secs, nsecs): (i64, i64)| match secs {
        s if s < 0 => gix::index::entry::stat::Time::default(),
        s => gix::index::entry::stat::Time {
            secs: s as u32,
            nsecs: nsecs as u32,
        },
    };
    Stat {
        mtime: time(mtime),
        ctime: time(ctime),
        dev: dev as u32,
        ino: ino as u32,
        uid,
        gid,
        size: size as u32,
    }
}

/// The fingerprint of what is at `abs` (not following a symlink); `None` when nothing is.
pub fn fingerprint(abs: &Path) -> Option<Fingerprint> {
    Some(Fingerprint::of(
        &std::fs::symlink_metadata(crate::dirfd::short(abs)).ok()?,
    ))
}

/// Where the file at `path` is moved while wtc replaces it: `<worktree>/.wtc-aside/<hash of
/// the path>`, on the worktree's file system (so the move is one atomic rename) and out of
/// the directories the update may remove or turn into files. It exists only while an update
/// runs (or after one was killed, until the next wtc finishes it).
pub fn aside_path(root: &Path, path: &BStr) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    let mut h2 = std::collections::hash_map::DefaultHasher::new();
    (path, 0x5eed_u32).hash(&mut h2);
    root.join(ASIDE_DIR)
        .join(format!("{:016x}{:016x}", h.finish(), h2.finish()))
}

/// Where [`Files::rewrite_in_place`] rewrites a file moved aside to `aside`: whatever is
/// there is wtc's own (A's verified bytes, or B's partly written).
pub fn rewriting_path(aside: &Path) -> PathBuf {
    let mut name = aside.as_os_str().to_owned();
    name.push(".w");
    PathBuf::from(name)
}

/// Rename `from` to `to` unless something exists at `to` (`false` then, nothing moved):
/// `renameat2(RENAME_NOREPLACE)`, or a hard link and unlink where the file system lacks it.
fn rename_noclobber(from: &Path, to: &Path) -> Result<bool> {
    match rename2(from, to, libc::RENAME_NOREPLACE) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
        Err(e) if rename2_unsupported(&e) => match std::fs::hard_link(from, to) {
            Ok(()) => {
                std::fs::remove_file(from)
                    .with_context(|| format!("removing {}", from.display()))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e).with_context(|| format!("writing {}", to.display())),
        },
        Err(e) => Err(e).with_context(|| format!("writing {}", to.display())),
    }
}

/// [`rename_noclobber`] of `from` to `to`, where only an empty directory at `to` (left
/// where tracked files were deleted) gives way: removed, then tried again. `false`: something
/// else is there, nothing moved.
fn rename_into_place(from: &Path, to: &Path) -> Result<bool> {
    if rename_noclobber(from, to)? {
        return Ok(true);
    }
    Ok(clear_empty_dir(to)? && rename_noclobber(from, to)?)
}

/// Is `disk` what writing `b` from offset 0 over a file holding `a` leaves at some instant
/// before the write ends: `b[..k] ++ a[k..]` for some `k <= b.len()` (just `b[..k]` past
/// the end of `a`)? `b` itself (written, cut to length) counts too.
pub(crate) fn is_partial_rewrite(disk: &[u8], a: &[u8], b: &[u8]) -> bool {
    // k is at most the length of the common prefix of disk and b.
    let prefix = disk.iter().zip(b).take_while(|(x, y)| x == y).count();
    if disk.len() > a.len() {
        // Only B's bytes reach past A's end: the file is a prefix of B.
        return prefix == disk.len();
    }
    if disk.len() < a.len() {
        // Only the final cut makes a file shorter than A: then it is B.
        return disk == b;
    }
    // Same length as A: from some k <= prefix on, the bytes must be A's own.
    let tail = disk.iter().zip(a).rev().take_while(|(x, y)| x == y).count();
    disk.len() - tail <= prefix
}

/// The directory of [`aside_path`]s, at the worktree's top.
pub const ASIDE_DIR: &str = ".wtc-aside";

/// What [`drop_aside`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aside {
    /// Unchanged since the move and held open by nobody: removed.
    Dropped,
    /// Written since the move, or still held open by another process (which can still
    /// write through its descriptor): the user's bytes, left where they are.
    Theirs,
}

/// Remove the file wtc moved aside to `aside` if it is provably still what it was right
/// after the move (`expect`): unchanged, and open in no other process. Judged under a write
/// lease, which the kernel grants only while no other descriptor for the file exists, and
/// which nobody can break meanwhile (the aside path is wtc's own): the file is looked at
/// and removed while the lease is held, so no write can fall between the look and the
/// removal. Where the file system has no leases, nobody can tell who holds it open; then
/// an unchanged file is removed, as before leases existed.
pub fn drop_aside(aside: &Path, expect: Option<Fingerprint>) -> Result<Aside> {
    use std::os::unix::fs::OpenOptionsExt;
    let remove =
        || std::fs::remove_file(aside).with_context(|| format!("removing {}", aside.display()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(aside);
    let Ok(file) = file else {
        // A symlink (or what cannot be opened): nobody writes through it; its stat decides.
        if fingerprint(aside) != expect {
            return Ok(Aside::Theirs);
        }
        remove()?;
        return Ok(Aside::Dropped);
    };
    lease_hook();
    let leased = match write_lease(&file) {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return Ok(Aside::Theirs),
        Err(_) => false,
    };
    let verdict = match Some(Fingerprint::of(&file.metadata()?)) == expect {
        true => remove().map(|()| Aside::Dropped),
        false => Ok(Aside::Theirs),
    };
    if leased {
        release_lease(&file);
    }
    verdict
}

/// Tests run an action here, right before a lease is asked for: where a write through an
/// old descriptor would do the most harm.
#[cfg(test)]
fn lease_hook() {
    if let Some(f) = LEASE_HOOK.with(|h| h.borrow_mut().take()) {
        f();
    }
}
#[cfg(not(test))]
fn lease_hook() {}

#[cfg(test)]
thread_local! {
    static LEASE_HOOK: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
        const { std::cell::RefCell::new(None) };
}

/// A lease break (another process opening a file wtc holds a lease on) is announced with
/// SIGIO, whose default action ends the process: wtc holds each lease for a few system
/// calls and lets go by itself, so the notice is caught and dropped (the opener just waits
/// that long). A handler, not SIG_IGN: an ignored signal stays ignored in the programs wtc
/// starts (hooks, filters, lane commands), a handler is reset to the default by exec.
fn ignore_lease_breaks() {
    extern "C" fn dropped(_: libc::c_int) {}
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: installing a handler that does nothing (async-signal-safe); the struct is
        // zeroed plain data with the handler and SA_RESTART set.
        #[allow(unsafe_code)]
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = dropped as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGIO, &action, std::ptr::null_mut());
        }
    });
}

/// Does wtc still hold the write lease it took on `file`? The kernel takes a lease away
/// when an opener has waited `/proc/sys/fs/lease-break-time` (45 s by default) for it: a wtc
/// stopped that long mid-write must not go on writing as if nobody could see the file.
fn still_leased(file: &std::fs::File) -> bool {
    use std::os::unix::io::AsRawFd;
    // SAFETY: fcntl on a descriptor we own; F_GETLEASE takes no argument.
    #[allow(unsafe_code)]
    let held = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLEASE) };
    held == libc::F_WRLCK
}

/// Take a write lease on `file`: the kernel grants it only when no other file descriptor
/// for the file exists (`EAGAIN` otherwise; other errors where leases are not supported).
fn write_lease(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    ignore_lease_breaks();
    // SAFETY: fcntl on a descriptor we own; F_SETLEASE takes an int argument.
    #[allow(unsafe_code)]
    match unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Let go of the lease [`write_lease`] took.
fn release_lease(file: &std::fs::File) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: as above; releasing a lease we hold.
    #[allow(unsafe_code)]
    unsafe {
        libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK);
    }
}

/// `renameat2(from, to, flags)`: `RENAME_NOREPLACE` or `RENAME_EXCHANGE`.
pub(crate) fn rename2(from: &Path, to: &Path, flags: libc::c_uint) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let cf = std::ffi::CString::new(from.as_os_str().as_bytes())?;
    let ct = std::ffi::CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: two valid NUL-terminated paths; renameat2 does not retain them.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cf.as_ptr(),
            libc::AT_FDCWD,
            ct.as_ptr(),
            flags,
        )
    };
    match r {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// The file system cannot rename that way (then a plainer fallback is used).
pub(crate) fn rename2_unsupported(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
    )
}

/// Make room for a leaf at `abs`: remove an empty directory tree there. `false` when the
/// directory holds something now (someone put a file there since the check).
fn clear_empty_dir(abs: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(crate::dirfd::short(abs)) {
        Ok(md) if md.is_dir() => match remove_empty_dir_tree(abs) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => Ok(false),
            Err(e) => {
                Err(e).with_context(|| format!("{} is a directory in the way", abs.display()))
            }
        },
        _ => Ok(true),
    }
}

/// Remove a directory that holds nothing but (possibly nested) empty directories: what is
/// left where tracked files were deleted. Anything else in it is an error, never deleted
/// (the obstacle check already proved that every file in there was deleted by the update).
pub fn remove_empty_dir_tree(dir: &Path) -> std::io::Result<()> {
    if crate::dirfd::holds_cwd(dir) {
        // wtc's own working directory stays (see `dirfd::holds_cwd`): as if not empty.
        return Err(std::io::Error::from_raw_os_error(libc::ENOTEMPTY));
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_empty_dir_tree(&entry.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

/// What kind of leaf is on disk at `abs`, judged by its metadata alone.
pub fn disk_kind(abs: &Path) -> Option<EntryKind> {
    kind_of(&std::fs::symlink_metadata(crate::dirfd::short(abs)).ok()?)
}

/// The kind of leaf metadata `md` (taken without following a symlink) stands for, as in
/// [`disk_kind`].
pub fn kind_of(md: &std::fs::Metadata) -> Option<EntryKind> {
    if md.file_type().is_symlink() {
        Some(EntryKind::Link)
    } else if md.is_file() {
        Some(if gix::fs::is_executable(md) {
            EntryKind::BlobExecutable
        } else {
            EntryKind::Blob
        })
    } else {
        None
    }
}

pub fn not_found(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// Write every file of `tree` into the empty directory `dir` (used by `squash --verify`, on a
/// tree that may exist only in memory).
pub fn export_tree(repo: &gix::Repository, tree: ObjectId, dir: &Path) -> Result<()> {
    let changes = diff::diff_trees(repo, ObjectId::empty_tree(repo.object_hash()), tree)?;
    validate::validate_new_paths(&changes, validate::PathRules::of(repo))?;
    let mut files = Files::at(repo, dir.to_owned())?;
    for c in &changes {
        if let Some(new) = c.new {
            files.write_leaf(c.path.as_bstr(), new)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `f` the next time this thread is about to ask for a lease.
    fn before_the_lease(f: impl FnOnce() + 'static) {
        LEASE_HOOK.with(|h| *h.borrow_mut() = Some(Box::new(f)));
    }

    /// The next lease asked for on this thread first sees `writer` write the user's edit
    /// and close: the worst instant for a write through a descriptor opened before a move.
    fn edit_right_before_the_lease(writer: std::fs::File) {
        before_the_lease(move || {
            let mut writer = writer;
            writer
                .write_all(b"the user's edit, longer than A\n")
                .unwrap();
        });
    }

    /// A file moved aside, and a descriptor a writer opened on it before the move.
    fn moved_with_a_writer() -> (tempfile::TempDir, PathBuf, std::fs::File, Fingerprint) {
        let dir = tempfile::tempdir().unwrap();
        let aside = dir.path().join("aside");
        std::fs::write(&aside, "A's bytes\n").unwrap();
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .open(&aside)
            .unwrap();
        let expect = fingerprint(&aside).unwrap();
        (dir, aside, writer, expect)
    }

    #[test]
    fn a_file_moved_aside_is_dropped_only_when_nobody_can_still_write_it() {
        let _leases = crate::hermetic::leases_decide();
        let (_dir, aside, writer, expect) = moved_with_a_writer();
        assert_eq!(drop_aside(&aside, Some(expect)).unwrap(), Aside::Theirs);
        assert!(aside.exists(), "held open: kept");
        drop(writer);
        assert_eq!(drop_aside(&aside, Some(expect)).unwrap(), Aside::Dropped);
        assert!(!aside.exists());

        // A write through the old descriptor that closes right before the lease is asked
        // for: the lease is granted, and only a look AFTER it sees the write.
        let (_dir, aside, writer, expect) = moved_with_a_writer();
        edit_right_before_the_lease(writer);
        assert_eq!(drop_aside(&aside, Some(expect)).unwrap(), Aside::Theirs);
        assert_eq!(
            std::fs::read_to_string(&aside).unwrap(),
            "the user's edit, longer than A\n"
        );
    }

    /// A repository with blob `content` written, and the leaf that names it.
    fn repo_with_blob(content: &str) -> (tempfile::TempDir, Leaf) {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let git = |args: &[&str]| crate::hermetic::shared().git(d, args);
        git(&["init", "-q"]);
        std::fs::write(d.join("blob"), content).unwrap();
        let id = git(&["hash-object", "-w", "blob"]);
        std::fs::remove_file(d.join("blob")).unwrap();
        let leaf = Leaf {
            id: ObjectId::from_hex(id.trim().as_bytes()).unwrap(),
            kind: EntryKind::Blob,
        };
        (tmp, leaf)
    }

    /// The in-path rewrite: the same inode, B's bytes, A's cut off; and never when the
    /// file changed since it was judged, or someone writes through an old descriptor right
    /// before the lease, or holds it open: then nothing is touched.
    #[test]
    fn a_file_is_rewritten_at_its_path_only_when_nobody_else_can_see_it() {
        use std::os::unix::fs::MetadataExt as _;
        let (tmp, leaf) = repo_with_blob("B\n");
        let d = tmp.path();
        let repo = crate::hermetic::open(d);
        let mut files = Files::new(&repo).unwrap();
        let _leases = crate::hermetic::leases_decide();
        let path = d.join("f");
        std::fs::write(&path, "A's longer bytes\n").unwrap();
        let ino = std::fs::metadata(&path).unwrap().ino();

        // Changed since it was judged: not rewritten.
        let judged = fingerprint(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, "the user's edit\n").unwrap();
        let placed = files.rewrite_at_path(BStr::new("f"), leaf, judged).unwrap();
        assert!(placed.is_none());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "the user's edit\n");

        // A write through a descriptor opened earlier, right before the lease: not rewritten.
        std::fs::write(&path, "A's longer bytes\n").unwrap();
        let judged = fingerprint(&path).unwrap();
        let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        edit_right_before_the_lease(writer);
        let placed = files.rewrite_at_path(BStr::new("f"), leaf, judged).unwrap();
        assert!(placed.is_none());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "the user's edit, longer than A\n"
        );

        // Held open: not rewritten.
        std::fs::write(&path, "A's longer bytes\n").unwrap();
        let judged = fingerprint(&path).unwrap();
        let held = std::fs::File::open(&path).unwrap();
        assert!(files
            .rewrite_at_path(BStr::new("f"), leaf, judged)
            .unwrap()
            .is_none());
        drop(held);

        // Nobody else: rewritten where it is.
        let placed = files.rewrite_at_path(BStr::new("f"), leaf, judged).unwrap();
        let Some(Placed::Written {
            fingerprint: fp, ..
        }) = placed
        else {
            panic!("rewritten")
        };
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "B\n");
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino);
        assert_eq!(fp, fingerprint(&path));
    }

    /// A new file is created at its path, never over anything that appeared there.
    #[test]
    fn a_new_file_is_created_at_its_path_and_never_over_another() {
        let (tmp, leaf) = repo_with_blob("B\n");
        let d = tmp.path();
        let repo = crate::hermetic::open(d);
        let mut files = Files::new(&repo).unwrap();
        let _leases = crate::hermetic::leases_decide();
        assert!(matches!(
            files.place_leaf(BStr::new("dir/new"), leaf).unwrap(),
            Placed::Written { .. }
        ));
        assert_eq!(std::fs::read_to_string(d.join("dir/new")).unwrap(), "B\n");
        let names: Vec<_> = std::fs::read_dir(d.join("dir")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left");
        std::fs::write(d.join("dir/theirs"), "the user's\n").unwrap();
        assert!(matches!(
            files.place_leaf(BStr::new("dir/theirs"), leaf).unwrap(),
            Placed::Raced
        ));
        std::os::unix::fs::symlink("/nowhere", d.join("dir/link")).unwrap();
        assert!(matches!(
            files.place_leaf(BStr::new("dir/link"), leaf).unwrap(),
            Placed::Raced
        ));
        assert!(!Path::new("/nowhere").exists());
        assert_eq!(
            std::fs::read_to_string(d.join("dir/theirs")).unwrap(),
            "the user's\n"
        );
    }

    /// Someone opening a file while wtc holds its lease waits until wtc lets go, and the
    /// lease break's signal (SIGIO, which ends a process by default) does not end wtc.
    #[test]
    fn an_open_during_a_lease_waits_and_wtc_survives_the_break() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        let _leases = crate::hermetic::leases_decide();
        std::fs::write(&path, "A\n").unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        write_lease(&file).unwrap();
        let opener = {
            let path = path.clone();
            std::thread::spawn(move || {
                let start = std::time::Instant::now();
                let f = std::fs::File::open(&path).unwrap();
                drop(f);
                start.elapsed()
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(200));
        (&file).write_all(b"B\n").unwrap();
        release_lease(&file);
        let waited = opener.join().unwrap();
        assert!(
            waited >= std::time::Duration::from_millis(150),
            "{waited:?}"
        );
    }

    /// What a write of B over A leaves at each instant is recognised, and nothing else.
    #[test]
    fn a_half_done_rewrite_is_told_from_any_other_content() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"old content here", b"new"),
            (b"old", b"brand new and longer"),
            (b"", b"created from nothing"),
            (b"same length", b"SAME LENGTH"),
            (b"abc", b"abc"),
        ];
        for (a, b) in cases {
            for k in 0..=b.len() {
                let mut disk = b[..k].to_vec();
                if k < a.len() {
                    disk.extend_from_slice(&a[k..]);
                }
                assert!(is_partial_rewrite(&disk, a, b), "{a:?} {b:?} k={k}");
            }
            assert!(is_partial_rewrite(b, a, b), "B itself");
        }
        let (a, b): (&[u8], &[u8]) = (b"old content here", b"new");
        assert!(!is_partial_rewrite(b"old content herE", a, b));
        assert!(!is_partial_rewrite(b"nxd content here", a, b));
        assert!(!is_partial_rewrite(b"new content", a, b), "cut elsewhere");
        assert!(!is_partial_rewrite(b"old content here!", a, b));
        assert!(!is_partial_rewrite(b"", a, b));
        assert!(!is_partial_rewrite(
            b"created frxm",
            b"",
            b"created from nothing"
        ));
    }

    /// A new file: someone who opens the fresh name and writes into it before wtc's lease
    /// (an editor saving, a generator) keeps their bytes; an open that only looked (nothing
    /// written) does not stop wtc from filling the file once it has the lease.
    #[test]
    fn a_fresh_file_written_before_the_lease_is_theirs() {
        let (tmp, leaf) = repo_with_blob("B\n");
        let d = tmp.path();
        let repo = crate::hermetic::open(d);
        let mut files = Files::new(&repo).unwrap();
        let _leases = crate::hermetic::leases_decide();
        assert!(
            files.leases_work(),
            "the lease tests need a local file system"
        );

        let path = d.join("new");
        let theirs = path.clone();
        before_the_lease(move || {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&theirs)
                .unwrap();
            f.write_all(b"their bytes\n").unwrap();
        });
        let placed = files.place_leaf(BStr::new("new"), leaf).unwrap();
        assert!(matches!(placed, Placed::Raced), "{placed:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "their bytes\n");

        let path = d.join("looked-at");
        let looked = path.clone();
        before_the_lease(move || {
            drop(std::fs::File::open(&looked).unwrap());
        });
        let placed = files.place_leaf(BStr::new("looked-at"), leaf).unwrap();
        assert!(matches!(placed, Placed::Written { .. }), "{placed:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "B\n");
    }

    #[test]
    fn a_file_written_right_before_the_lease_is_never_rewritten_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let git = |args: &[&str]| crate::hermetic::shared().git(d, args);
        git(&["init", "-q"]);
        std::fs::write(d.join("f"), "B's bytes\n").unwrap();
        let id = git(&["hash-object", "-w", "f"]);
        std::fs::remove_file(d.join("f")).unwrap();
        let repo = crate::hermetic::open(d);
        let mut files = Files::new(&repo).unwrap();
        let leaf = Leaf {
            id: ObjectId::from_hex(id.trim().as_bytes()).unwrap(),
            kind: EntryKind::Blob,
        };
        let _leases = crate::hermetic::leases_decide();
        let (_dir, aside, writer, expect) = moved_with_a_writer();
        edit_right_before_the_lease(writer);
        let placed = files
            .rewrite_in_place(BStr::new("f"), leaf, &aside, expect)
            .unwrap();
        assert!(
            placed.is_none(),
            "the old file is the user's now: not reused"
        );
        assert_eq!(
            std::fs::read_to_string(&aside).unwrap(),
            "the user's edit, longer than A\n"
        );
        assert!(!d.join("f").exists());
    }

    #[test]
    fn stat_of_is_gix_own_stat_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"some bytes").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let gix_stat = Stat::from_fs(&gix::index::fs::Metadata::from_file(&file).unwrap()).unwrap();
        assert_eq!(stat_of(&file.metadata().unwrap()), gix_stat);
    }
}
