//! The one way wtc moves a worktree (and its index, and the ref checked out there) from
//! tree A to tree B: sync, squash's checked-out target and join in place all use it.
//!
//! gix 0.90 can check out a tree into an empty directory, but it has no "move this worktree
//! from A to B" (git's `read-tree -m -u`): its checkout overwrites blindly and never deletes.
//! So this is ours, built on gix primitives, in four steps:
//!
//! 1. **plan** ([`Transition::prepare`]): diff A -> B, leaves only;
//! 2. **check**: validate every incoming path (invariant 4) and find every local change that
//!    stands where B writes ([`Obstacle`]s: nothing is touched; the caller autosaves or refuses);
//! 3. **journal**: record the transition in `<git-dir>/wtc-update` before the first write, so
//!    a wtc killed half-way is finished by the next one ([`super::journal`]);
//! 4. **apply** ([`Transition::apply`]): with `index.lock` held for the read-modify-write,
//!    delete removed files, write changed ones (at their path under a write lease, or moved
//!    aside and written anew; see [`write_files`]), replace only the changed
//!    index rows (then the conflict stages), write the git-dir files (MERGE_HEAD...), move the
//!    ref by compare-and-swap, commit the index, drop the journal record.
//!
//! Every step of apply is idempotent (a path already at B is rewritten with the same bytes),
//! which is what lets recovery run the very same code over a half-done transition.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use gix::bstr::{BString, ByteSlice};
use gix::index::entry::{Mode, Stage};
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::diff::{self, PathChange};
use super::entry::{drop_aside, fingerprint, Aside, Files, Fingerprint, Placed, Staged};
use super::journal;
use super::obstacles::Obstacle;
use crate::git::index::{LockedIndex, Row, StageRow};
use crate::git::refs;

/// How the ref checked out in the worktree moves with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum HeadMove {
    /// HEAD stays attached to `branch`, which moves from `old` to `new` by compare-and-swap
    /// (`new: None`: it stays, as in a sync that stopped on conflicts).
    Branch {
        branch: String,
        old: String,
        new: Option<String>,
    },
    /// HEAD is attached to `branch` (which already points at the new tree's commit) once the
    /// files are there: `join` checking a lane out in place. `previous` is what HEAD was
    /// (a branch name, or a commit id when detached).
    Attach { branch: String, previous: String },
}

/// One move of a worktree from tree A to tree B, as recorded before its first write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transition {
    /// The command that started it (`sync`, `squash`, `join`), for messages.
    pub command: String,
    /// The tree the worktree and index are at.
    pub from: String,
    /// The tree they are moving to.
    pub to: String,
    pub head: HeadMove,
    /// Conflict stages replacing the stage-0 entries of their paths.
    #[serde(default)]
    pub stages: Vec<StagedEntry>,
    /// Files written into the git dir last, in order (ORIG_HEAD, MERGE_MSG, MERGE_MODE,
    /// MERGE_HEAD).
    #[serde(default)]
    pub files: Vec<(String, String)>,
    /// The reflog entry of the ref's move (after `wtc `); the command name when unset.
    #[serde(default)]
    pub reflog: Option<String>,
}

/// An index entry at stage 1, 2 or 3, as the journal records it.
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

    fn row(&self) -> Result<StageRow> {
        let stage = match self.stage {
            1 => Stage::Base,
            2 => Stage::Ours,
            3 => Stage::Theirs,
            n => anyhow::bail!("the update record holds an invalid stage {n}"),
        };
        let mode = Mode::from_bits(self.mode)
            .with_context(|| format!("the update record holds an invalid mode {:o}", self.mode))?;
        Ok(StageRow {
            path: BString::from(self.path.clone()),
            stage,
            mode,
            id: oid(&self.id)?,
        })
    }
}

/// What [`Transition::prepare`] found: the leaf changes A -> B, what stands in their way, and
/// what each changed path looked like on disk before it was judged.
pub struct Prepared {
    pub changes: Vec<PathChange>,
    pub obstacles: Vec<Obstacle>,
    pub seen: Seen,
    /// Incoming files smudged ahead ([`Transition::smudge_ahead`]), placed by the write.
    pub staged: std::sync::Mutex<Staged>,
    /// Incoming blobs read by a helper of the caller's (told them by
    /// [`Transition::prepare_telling`]; optional: a blob not ready is read by the write).
    pub preloaded: Option<super::prefetch::Preloaded>,
}

/// Each changed path's fingerprint as the check saw it (`None`: nothing was there).
pub type Seen = BTreeMap<BString, Option<Fingerprint>>;

/// What [`Transition::apply`] did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Paths someone else changed while they were being written: their bytes are in the
    /// worktree, the incoming version in the index and the commit (`git diff` shows the
    /// difference). Never silent: callers report them as conflicts.
    pub raced: Vec<String>,
    /// Older versions of raced files the user replaced themselves while the update ran
    /// (an edit through a held descriptor, then a rename over the path): kept beside the
    /// path as `<path>.wtc-kept-N`, untracked.
    pub kept: Vec<String>,
}

pub(crate) fn oid(hex: &str) -> Result<ObjectId> {
    ObjectId::from_hex(hex.as_bytes()).with_context(|| format!("{hex:?} is not an object id"))
}

impl Transition {
    /// A transition of `branch` from `old` (tree `from`) to tree `to`; the new commit is
    /// named later ([`Transition::moving_to`]), once it is written.
    pub fn of_branch(
        command: &str,
        branch: &str,
        old: ObjectId,
        from: ObjectId,
        to: ObjectId,
    ) -> Self {
        Transition {
            command: command.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            head: HeadMove::Branch {
                branch: branch.to_string(),
                old: old.to_string(),
                new: None,
            },
            stages: Vec::new(),
            // git merge records where HEAD was, so `git reset --hard ORIG_HEAD` undoes it.
            files: vec![("ORIG_HEAD".into(), format!("{old}\n"))],
            reflog: None,
        }
    }

    /// The reflog entry of the move (after `wtc `).
    pub fn with_reflog(mut self, message: String) -> Self {
        self.reflog = Some(message);
        self
    }

    /// The branch moves to `new` (a `Branch` transition).
    pub fn moving_to(mut self, new: ObjectId) -> Self {
        if let HeadMove::Branch { new: n, .. } = &mut self.head {
            *n = Some(new.to_string());
        }
        self
    }

    pub fn from_tree(&self) -> Result<ObjectId> {
        oid(&self.from)
    }

    pub fn to_tree(&self) -> Result<ObjectId> {
        oid(&self.to)
    }

    /// Paths with conflict stages: always written, sparse checkout or not.
    fn staged_paths(&self) -> BTreeSet<&[u8]> {
        self.stages.iter().map(|s| s.path.as_slice()).collect()
    }

    /// The branch the transition is about.
    pub fn branch(&self) -> &str {
        match &self.head {
            HeadMove::Branch { branch, .. } | HeadMove::Attach { branch, .. } => branch,
        }
    }

    /// Steps 1 and 2: the changes A -> B (read from `objects`, which may hold B only in
    /// memory) and the local work in `worktree` that stands where they write (judged against
    /// `index`). Incoming paths are validated first: a hostile tree is an error here.
    pub fn prepare(
        &self,
        objects: &gix::Repository,
        worktree: &gix::Repository,
        index: &gix::index::State,
    ) -> Result<Prepared> {
        self.prepare_telling(objects, worktree, index, None, |_| {})
    }

    /// [`Transition::prepare`], handing `incoming` the blobs the update would write (the
    /// regular files of B that differ from A) as soon as they are known, before the
    /// worktree is checked: another thread can read them meanwhile. `prejudged`: verdicts
    /// of a look made ahead against this very `index` ([`super::prejudge`]).
    pub fn prepare_telling(
        &self,
        objects: &gix::Repository,
        worktree: &gix::Repository,
        index: &gix::index::State,
        prejudged: Option<&super::prejudge::Prejudged>,
        incoming: impl FnOnce(Vec<ObjectId>),
    ) -> Result<Prepared> {
        let diffing = crate::trace::span("prepare: diff");
        let changes = diff::diff_trees(objects, self.from_tree()?, self.to_tree()?)?;
        drop(diffing);
        incoming(
            changes
                .iter()
                .filter_map(|c| diff::Leaf::file(c.new))
                .map(|n| n.id)
                .collect(),
        );
        let validating = crate::trace::span("prepare: validate, sparse");
        // Judging obstacles only hashes files on disk: only `objects` has B's blobs, but no
        // blob is read here; the worktree's own filters and attributes apply.
        let root = worktree
            .workdir()
            .context("a worktree is needed")?
            .to_owned();
        let mut files = Files::with_index(objects, root, index)?;
        // Fingerprints first: a change made while the check hashes a file shows at write
        // time. The check notes each path's first `lstat`, made before it reads the file.
        files.note_fingerprints();
        // Every incoming path is validated, also those that only reach the index.
        super::validate::validate_new_paths(&changes, super::validate::PathRules::of(objects))?;
        // Paths a sparse checkout keeps out of the worktree are nobody's local work.
        let skip = super::sparse::skipped(worktree, index, &changes, &self.staged_paths())?;
        let on_disk: Vec<PathChange> = changes
            .iter()
            .filter(|c| !skip.contains(&c.path))
            .cloned()
            .collect();
        drop(validating);
        let judging = crate::trace::span("prepare: obstacles");
        let obstacles = files.obstacles_prejudged(&on_disk, index, prejudged)?;
        drop(judging);
        // A path the check did not stat (sparse, a submodule, an index row that settles it)
        // is stat'ed now.
        let mut noted = files.take_noted();
        let seen = changes
            .iter()
            .map(|c| {
                let fp = match noted.remove(&c.path) {
                    Some(fp) => fp,
                    None => fingerprint(&files.abs(c.path.as_bstr())?),
                };
                Ok((c.path.clone(), fp))
            })
            .collect::<Result<Seen>>()?;
        Ok(Prepared {
            changes,
            obstacles,
            seen,
            staged: Default::default(),
            preloaded: None,
        })
    }

    /// Is `prepared` (a check made earlier, its index lock since released) still the check
    /// [`Transition::prepare`] would make now against `index`? Yes when the index is the
    /// very file the check read (same trailing checksum) and every changed path still has
    /// the fingerprint the check saw: then nothing the verdict depends on moved. (The write
    /// re-checks each path against those fingerprints anyway: this only spares hashing the
    /// same files twice.)
    pub fn still_prepared(
        &self,
        worktree: &gix::Repository,
        index: &gix::index::File,
        checked: Option<gix::ObjectId>,
        prepared: &Prepared,
    ) -> Result<bool> {
        let (Some(then), Some(now)) = (checked, index.checksum()) else {
            return Ok(false);
        };
        if then != now || then.is_null() || !prepared.obstacles.is_empty() {
            return Ok(false);
        }
        let root = worktree.workdir().context("a worktree is needed")?;
        Ok(seen(root, &prepared.changes)? == prepared.seen)
    }

    /// Run the external smudge filters (git-lfs...) of every file B writes in `worktree`,
    /// reading blobs from `objects`, BEFORE the locked phase: a filter may download or fail,
    /// and neither may happen with `index.lock` held or after the first write. Give the
    /// result to [`Prepared::staged`]. Nothing to do (and no cost) without filter drivers.
    pub fn smudge_ahead(
        &self,
        objects: &gix::Repository,
        worktree: &gix::Repository,
    ) -> Result<Staged> {
        if gix::filter::Pipeline::options(worktree)?.drivers.is_empty() {
            return Ok(Staged::default());
        }
        let changes = diff::diff_trees(objects, self.from_tree()?, self.to_tree()?)?;
        let root = worktree
            .workdir()
            .context("a worktree is needed")?
            .to_owned();
        let mut files = Files::at(objects, root)?;
        files.stage_smudged(&changes)?;
        Ok(files.take_staged())
    }

    /// Steps 3 and 4: record the transition, carry it out on `repo`'s worktree and the index
    /// held in `locked`, commit the index and drop the record. B's objects must be in
    /// `repo`'s object database by now.
    pub fn apply(
        &self,
        repo: &gix::Repository,
        prepared: &Prepared,
        mut locked: LockedIndex,
    ) -> Result<Applied> {
        let _t = crate::trace::span("transition: apply");
        let fs = crate::trace::span("transition: Files::new");
        let root = repo.workdir().context("a worktree is needed")?.to_owned();
        let mut files = Files::with_index(repo, root, locked.state())?;
        drop(fs);
        files.use_staged(std::mem::take(
            &mut *prepared.staged.lock().expect("not poisoned"),
        ));
        files.use_preloaded(prepared.preloaded.clone());
        journal::begin(repo, self)?;
        locked.free_kept_ahead();
        let applied =
            self.write_and_record(files, repo, &prepared.changes, &prepared.seen, &mut locked)?;
        self.move_head_while_writing(repo, &mut locked)?;
        locked.commit_written()?;
        journal::end(repo)?;
        Ok(applied)
    }

    /// [`Transition::move_head`] on a thread of its own while this one writes `locked` into
    /// `index.lock` (both cost about as much; the index becomes the index only after both,
    /// in [`LockedIndex::commit_written`], as when one follows the other). The ref's error
    /// comes first, as it did when the ref moved before the index was written.
    fn move_head_while_writing(
        &self,
        repo: &gix::Repository,
        locked: &mut LockedIndex,
    ) -> Result<()> {
        let shared = repo.clone().into_sync();
        std::thread::scope(|scope| {
            let moving = scope.spawn(|| self.move_head(&shared.to_thread_local()));
            let written = locked.write_out(repo);
            let moved = moving
                .join()
                .map_err(|_| anyhow::anyhow!("the thread moving the branch panicked"))?;
            moved.and(written)
        })
    }

    /// Carry the transition out (idempotent: running it again over a partly or fully done
    /// transition gives the same result): write B's files, replace the index rows of changed
    /// paths (then the conflict stages), write the git-dir files, move the ref.
    pub(crate) fn execute(
        &self,
        repo: &gix::Repository,
        changes: &[PathChange],
        seen: &Seen,
        locked: &mut LockedIndex,
    ) -> Result<Applied> {
        let root = repo.workdir().context("a worktree is needed")?.to_owned();
        let files = Files::with_index(repo, root, locked.state())?;
        let applied = self.write_and_record(files, repo, changes, seen, locked)?;
        self.move_head(repo)?;
        Ok(applied)
    }

    /// Everything [`Transition::execute`] does but move the ref: B's files, the index
    /// rows of changed paths (then the conflict stages), the git-dir files.
    fn write_and_record(
        &self,
        mut files: Files<'_>,
        repo: &gix::Repository,
        changes: &[PathChange],
        seen: &Seen,
        locked: &mut LockedIndex,
    ) -> Result<Applied> {
        let sk = crate::trace::span("transition: sparse");
        let skip = super::sparse::skipped(repo, locked.state(), changes, &self.staged_paths())?;
        drop(sk);
        let write_span = crate::trace::span("transition: write files");
        let (rows, raced, kept) = write_files(&mut files, locked.state(), changes, seen, &skip)?;
        drop(write_span);
        let stages: Vec<StageRow> = self
            .stages
            .iter()
            .map(StagedEntry::row)
            .collect::<Result<_>>()?;
        {
            let _r = crate::trace::span("transition: index rows");
            let mut editor = locked.rows();
            editor.set(&rows);
            editor.set_stages(&stages);
        }
        for (name, content) in &self.files {
            let path = repo.git_dir().join(name);
            std::fs::write(&path, content)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(Applied { raced, kept })
    }

    /// Move the ref: CAS the branch, or attach HEAD to it.
    fn move_head(&self, repo: &gix::Repository) -> Result<()> {
        match &self.head {
            HeadMove::Branch { branch, old, new } => {
                let Some(new) = new.as_deref().map(oid).transpose()? else {
                    return Ok(());
                };
                if refs::peel(repo, branch)? != Some(new) {
                    refs::cas(
                        repo,
                        branch,
                        PreviousValue::MustExistAndMatch(oid(old)?.into()),
                        new,
                        self.reflog.as_deref().unwrap_or(&self.command),
                    )?;
                }
                Ok(())
            }
            HeadMove::Attach { branch, previous } => {
                if head_target(repo).as_deref() == Some(branch.as_str()) {
                    return Ok(());
                }
                let name: gix::refs::FullName = branch.as_str().try_into()?;
                crate::faults::point();
                repo.edit_reference(RefEdit {
                    change: Change::Update {
                        log: LogChange {
                            mode: RefLog::AndReference,
                            force_create_reflog: false,
                            message: format!("wtc: {} {branch}", self.command).into(),
                        },
                        expected: PreviousValue::Any,
                        new: gix::refs::Target::Symbolic(name),
                    },
                    name: "HEAD".try_into()?,
                    deref: false,
                })?;
                // gix writes no reflog for a symbolic update; git's checkout does: log it.
                if let Some(tip) = refs::peel(repo, branch)? {
                    let _ = repo.edit_reference(RefEdit {
                        change: Change::Update {
                            log: LogChange {
                                mode: RefLog::Only,
                                force_create_reflog: false,
                                message: format!(
                                    "wtc {}: moving from {} to {}",
                                    self.command,
                                    previous.strip_prefix("refs/heads/").unwrap_or(previous),
                                    branch.strip_prefix("refs/heads/").unwrap_or(branch)
                                )
                                .into(),
                            },
                            expected: PreviousValue::Any,
                            new: gix::refs::Target::Object(tip),
                        },
                        name: "HEAD".try_into()?,
                        deref: false,
                    });
                }
                crate::faults::point();
                Ok(())
            }
        }
    }

    /// Does `index` already hold B for every changed path (and the stages)? Then the index
    /// was committed and only the journal record is left.
    pub(crate) fn index_is_final(&self, changes: &[PathChange], index: &gix::index::State) -> bool {
        let staged: BTreeSet<&[u8]> = self.stages.iter().map(|s| s.path.as_slice()).collect();
        let leaves_final = changes
            .iter()
            .filter(|c| !staged.contains(c.path.as_bytes()))
            .all(|c| {
                let entry = index.entry_by_path_and_stage(c.path.as_bstr(), Stage::Unconflicted);
                match (entry, c.new) {
                    (None, None) => true,
                    (Some(e), Some(n)) => {
                        e.id == n.id && e.mode == crate::git::index::index_mode(n.kind)
                    }
                    _ => false,
                }
            });
        let stages_final = self.stages.iter().all(|s| {
            s.row().is_ok_and(|r| {
                index
                    .entry_by_path_and_stage(r.path.as_bstr(), r.stage)
                    .is_some_and(|e| e.id == r.id)
            })
        });
        leaves_final && stages_final
    }
}

/// What HEAD is in `repo`: the branch it is attached to, or the commit it is detached at.
pub fn head_target(repo: &gix::Repository) -> Option<String> {
    match repo.head_name().ok().flatten() {
        Some(name) => Some(name.as_bstr().to_str_lossy().into_owned()),
        None => repo.head_id().ok().map(|id| id.to_string()),
    }
}

/// Each changed path's fingerprint now.
pub(crate) fn seen(root: &Path, changes: &[PathChange]) -> Result<Seen> {
    changes
        .iter()
        .map(|c| {
            let abs = root.join(gix::path::from_bstr(c.path.as_bstr())?);
            Ok((c.path.clone(), fingerprint(&abs)))
        })
        .collect()
}

/// A file moved aside while its path is rewritten, kept until the update is verified.
struct MovedAside {
    path: BString,
    original: PathBuf,
    aside: PathBuf,
    /// Its fingerprint right after the move: a write through a descriptor someone held open
    /// changes it.
    fingerprint: Option<Fingerprint>,
    /// Rewritten with the new content and renamed back ([`Files::rewrite_in_place`]).
    reused: bool,
}

/// Write the files of `changes` and return the index rows they leave, the raced paths and
/// the kept older versions.
///
/// An edit someone makes while this runs is never replaced (ARCHITECTURE.md, invariant 1):
/// 1. each path that holds something is re-checked against what the obstacle check saw;
///    a regular file that stays one is left where it is for step 2, anything else is moved
///    aside atomically (deletions first, deepest first, so files can become directories and
///    back): from then on a writer opening the path finds nothing there;
/// 2. new leaves are written: a regular file over the old one at its own path, under a
///    write lease that proves nobody else holds it and keeps anyone from opening it until
///    the write is done ([`Files::rewrite_at_path`]); where that is not provably safe, it is
///    moved aside as in step 1. A new file is created exclusively at its path (under a lease
///    too), or by temp file + no-clobber rename: a file created at the path meanwhile (an
///    editor's rename, an `O_CREAT` write) stays;
/// 3. afterwards every written path must still be what was written, and every moved-aside
///    file must be unchanged and held open by nobody (a write lease proves it); otherwise
///    the user's bytes are put back at the path (never over a newer file of theirs: then
///    the older one is kept beside it as `<path>.wtc-kept-N`). Such paths are "raced":
///    reported, never silent.
fn write_files(
    files: &mut Files<'_>,
    index: &gix::index::State,
    changes: &[PathChange],
    seen: &Seen,
    skip: &BTreeSet<BString>,
) -> Result<(Vec<Row>, Vec<String>, Vec<String>)> {
    let mut raced: BTreeSet<BString> = BTreeSet::new();
    let mut kept: BTreeSet<BString> = BTreeSet::new();
    let mut moved: Vec<MovedAside> = Vec::new();
    // Regular files that stay regular files, left at their path for step 2: what each
    // looked like when judged.
    let mut in_place: BTreeMap<BString, Fingerprint> = BTreeMap::new();
    let mut dirs_to_prune = BTreeSet::new();
    // Creating a file is the dearest step on common file systems (the inode allocation), and
    // it runs on every core it is given: a large update writes its leaves on two threads.
    // A small one writes on this thread, with the blobs read ahead on another.
    let writes = changes
        .iter()
        .filter(|c| c.new.is_some() && !skip.contains(&c.path))
        .count();
    let parallel = writes >= PARALLEL_WRITES && !files.has_staged();
    if !parallel && files.preloaded().is_none() {
        files.read_ahead(changes.iter().filter(|c| !skip.contains(&c.path)));
    }
    // Leftovers of a killed update exist only in the aside directory: none without it (it
    // is wtc's own, and only this locked update writes it from here on).
    let leftovers = std::fs::symlink_metadata(files.root.join(super::entry::ASIDE_DIR)).is_ok();
    let step1_span = crate::trace::span("write files: check, move aside");
    // 0 and 1: leftovers of a killed update, then move aside what is in the way.
    for c in changes.iter().rev() {
        if skip.contains(&c.path) {
            continue; // sparse: not in the worktree, never written
        }
        let abs = files.abs(c.path.as_bstr())?;
        if leftovers {
            recover_aside(files, c, &abs, &mut raced, &mut kept)?;
        } else {
            // What the check saw settles the two commonest paths without a look now (one
            // `lstat` per changed file less): step 2 makes the same comparison itself.
            match (seen.get(&c.path).copied(), c.old, c.new) {
                // Nothing was there and B adds a leaf: step 2 creates it exclusively (or
                // no-clobber renames it there), so whatever appeared meanwhile stays and
                // the path is raced, as this step would judge it.
                (Some(None), None, Some(_)) => continue,
                // A regular file that stays one: step 2 rewrites it only when, under its
                // lease, it still has the fingerprint the check saw; otherwise it looks
                // again and judges it as this step would (`write_leaves`).
                (Some(Some(then)), Some(_), Some(_))
                    if then.mode & libc::S_IFMT == libc::S_IFREG && stays_regular(c, then) =>
                {
                    in_place.insert(c.path.clone(), then);
                    continue;
                }
                _ => {}
            }
        }
        let Some(now) = fingerprint(&abs) else {
            continue;
        };
        if now.mode & libc::S_IFMT == libc::S_IFDIR {
            continue; // submodule dirs, or dirs that now hold other files: handled by the write
        }
        if seen.get(&c.path).copied().flatten() != Some(now) && !still_expected(files, c)? {
            raced.insert(c.path.clone());
            continue;
        }
        if stays_regular(c, now) {
            in_place.insert(c.path.clone(), now);
            continue;
        }
        let Some(m) = move_aside(
            files,
            c,
            &abs,
            now,
            !moved.is_empty(),
            &mut raced,
            &mut kept,
        )?
        else {
            continue;
        };
        moved.push(m);
        if c.new.is_none() {
            if let Some(parent) = abs.parent() {
                dirs_to_prune.insert(parent.to_owned());
            }
        }
    }
    for dir in dirs_to_prune.iter().rev() {
        let mut d = dir.clone();
        while d != files.root && d.starts_with(&files.root) {
            if crate::dirfd::holds_cwd(&d) || std::fs::remove_dir(&d).is_err() {
                break;
            }
            d.pop();
        }
    }
    drop(step1_span);
    // 2: write the new leaves, never over something that appeared meanwhile: into the old
    // file where that is provably safe (no new inode), else as a fresh file.
    let step2_span = crate::trace::span("write files: write");
    let aside_of: BTreeMap<BString, usize> = moved
        .iter()
        .enumerate()
        .map(|(k, m)| (m.path.clone(), k))
        .collect();
    let todo: Vec<usize> = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| c.new.is_some() && !raced.contains(&c.path) && !skip.contains(&c.path))
        .map(|(i, _)| i)
        .collect();
    let step1 = Step1 {
        changes,
        in_place: &in_place,
        moved: &moved,
        aside_of: &aside_of,
    };
    let work = Work::new(&todo);
    let wrote: Vec<Wrote> = if parallel {
        let shared = files.repo.clone().into_sync();
        let root = files.root.clone();
        let probe = crate::trace::span("write files: leases, preloaded");
        let leases = files.leases_work();
        let preloaded = files.preloaded().cloned();
        drop(probe);
        std::thread::scope(|scope| -> Result<Vec<Wrote>> {
            let other = scope.spawn(|| -> Result<Wrote> {
                let _t = crate::trace::span("write files: second writer");
                let mut repo = shared.to_thread_local();
                crate::git::loose::read_loose_first(&mut repo, 0);
                let mut mine = Files::with_index(&repo, root, index)?;
                mine.assume_leases(leases);
                mine.use_preloaded(preloaded);
                write_leaves(&mut mine, &step1, &work, true)
            });
            let here = {
                let _t = crate::trace::span("write files: first writer");
                write_leaves(files, &step1, &work, false)
            };
            let there = other
                .join()
                .map_err(|_| anyhow::anyhow!("a file-writing thread panicked"))?;
            Ok(vec![here?, there?])
        })?
    } else {
        vec![write_leaves(files, &step1, &work, false)?]
    };
    let mut written: Vec<(usize, Option<Fingerprint>, gix::index::entry::Stat)> = Vec::new();
    for w in wrote {
        written.extend(w.written);
        raced.extend(w.raced);
        kept.extend(w.kept);
        for k in w.reused {
            moved[k].reused = true;
        }
        moved.extend(w.moved);
    }
    files.end_read_ahead();
    drop(step2_span);
    let _step3 = crate::trace::span("write files: drop");
    // 3: let go of what was moved aside (each writer verified what it wrote).
    let ours: BTreeMap<&BString, Option<Fingerprint>> = written
        .iter()
        .map(|(i, fp, _)| (&changes[*i].path, *fp))
        .collect();
    for m in moved.iter().filter(|m| !m.reused) {
        if drop_aside(&m.aside, m.fingerprint)? == Aside::Theirs {
            // Someone wrote (or can still write) through a descriptor of the old file: their
            // bytes win, back at the path (unless they put a newer file there meanwhile).
            let wrote = ours.get(&m.path).copied().flatten();
            if let Some(k) = put_back(&m.aside, &m.original, wrote)? {
                kept.insert(kept_path(files, &k)?);
            }
            raced.insert(m.path.clone());
        }
    }
    // Empty once every moved file is dropped or put back (a user's file that could not go
    // back, because something new took its path, keeps it: reported as raced).
    let _ = std::fs::remove_dir(files.root.join(super::entry::ASIDE_DIR));
    let stats: BTreeMap<usize, gix::index::entry::Stat> =
        written.into_iter().map(|(i, _, st)| (i, st)).collect();
    let rows = changes
        .iter()
        .enumerate()
        .map(|(i, c)| Row {
            skip_worktree: skip.contains(&c.path),
            path: c.path.clone(),
            entry: c.new.map(|new| {
                // A raced path's index row holds the incoming leaf with no stat data, so git
                // compares contents and shows the user's bytes as a change.
                let stat = match raced.contains(&c.path) {
                    true => gix::index::entry::Stat::default(),
                    false => stats.get(&i).copied().unwrap_or_default(),
                };
                (new.id, new.kind, stat)
            }),
        })
        .collect();
    let shown = |set: BTreeSet<BString>| -> Vec<String> {
        set.iter().map(|p| p.to_str_lossy().into_owned()).collect()
    };
    Ok((rows, shown(raced), shown(kept)))
}

/// Updates writing at least this many leaves write them on two threads.
const PARALLEL_WRITES: usize = 32;

/// What step 1 left for step 2 (read-only, shared by the writers).
struct Step1<'a> {
    changes: &'a [PathChange],
    /// Regular files left at their path, with what each looked like when judged.
    in_place: &'a BTreeMap<BString, Fingerprint>,
    /// What step 1 moved aside, and where each path's file went.
    moved: &'a [MovedAside],
    aside_of: &'a BTreeMap<BString, usize>,
}

/// The leaves step 2 writes (indices into the changes, in path order), handed out in runs
/// of [`WRITER_RUN`] to whichever writer asks next: creating files costs unevenly (a new
/// inode against a rewrite in place), so fixed halves leave one writer waiting on the other.
/// A run keeps neighbours (often one directory) on one writer.
struct Work<'a> {
    todo: &'a [usize],
    /// The runs not yet handed out: `todo[front..back]`.
    left: std::sync::Mutex<(usize, usize)>,
}

/// How many paths a writer of step 2 claims at a time (see [`Work::claim`]).
pub(crate) const WRITER_RUN: usize = 16;

impl<'a> Work<'a> {
    fn new(todo: &'a [usize]) -> Self {
        Work {
            todo,
            left: std::sync::Mutex::new((0, todo.len())),
        }
    }

    /// The next run not yet handed out, from the front or from the back. Two writers take
    /// from opposite ends: each then walks its own directories in one sweep, so each
    /// directory's attributes (a `.gitattributes` lookup per directory a writer enters) are
    /// read by one writer, once, not again at every run the other writer took in between.
    fn claim(&self, from_back: bool) -> Option<&'a [usize]> {
        let mut left = self.left.lock().ok()?;
        let (front, back) = *left;
        if front >= back {
            return None;
        }
        let n = WRITER_RUN.min(back - front);
        Some(match from_back {
            false => {
                left.0 += n;
                &self.todo[front..front + n]
            }
            true => {
                left.1 -= n;
                &self.todo[back - n..back]
            }
        })
    }
}

/// What one writer of step 2 did.
#[derive(Default)]
struct Wrote {
    /// Index of the change, fingerprint and stat data of each file written.
    written: Vec<(usize, Option<Fingerprint>, gix::index::entry::Stat)>,
    raced: BTreeSet<BString>,
    kept: BTreeSet<BString>,
    /// Files step 1 moved aside that were rewritten and renamed back (indices into its list).
    reused: Vec<usize>,
    /// Files this writer moved aside itself (where a rewrite at the path was not safe).
    moved: Vec<MovedAside>,
}

/// Step 2 for the changes `work` hands this writer (indices into `step1.changes`), then the
/// check that each file written is still the one written.
fn write_leaves(
    files: &mut Files<'_>,
    step1: &Step1<'_>,
    work: &Work<'_>,
    from_back: bool,
) -> Result<Wrote> {
    let mut out = Wrote::default();
    for &i in std::iter::from_fn(|| work.claim(from_back)).flatten() {
        let c = &step1.changes[i];
        let Some(new) = c.new else { continue };
        let mut placed = None;
        // Where the old file waits: moved aside by step 1, or by this writer just now.
        let mut aside: Option<(bool, usize)> = step1.aside_of.get(&c.path).map(|&k| (false, k));
        if let Some(&expect) = step1.in_place.get(&c.path) {
            placed = files.rewrite_at_path(c.path.as_bstr(), new, expect)?;
            if placed.is_none() {
                // Not provably safe at its path (held open, a second name, changed since
                // the check, no leases here): moved aside as step 1 moves the others.
                let abs = files.abs(c.path.as_bstr())?;
                let now = fingerprint(&abs);
                if now.is_some_and(|n| n != expect) && !still_expected(files, c)? {
                    out.raced.insert(c.path.clone());
                    continue;
                }
                if let Some(now) = now {
                    match move_aside(files, c, &abs, now, false, &mut out.raced, &mut out.kept)? {
                        Some(m) => {
                            aside = Some((true, out.moved.len()));
                            out.moved.push(m);
                        }
                        None => continue,
                    }
                }
            }
        }
        if placed.is_none() {
            if let Some((own, k)) = aside {
                let m = if own { &out.moved[k] } else { &step1.moved[k] };
                if let Some(expect) = m.fingerprint {
                    let at = m.aside.clone();
                    placed = files.rewrite_in_place(c.path.as_bstr(), new, &at, expect)?;
                    if placed.is_some() {
                        match own {
                            true => out.moved[k].reused = true,
                            false => out.reused.push(k),
                        }
                    }
                }
            }
        }
        let placed = match placed {
            Some(p) => p,
            None => files.place_leaf(c.path.as_bstr(), new)?,
        };
        match placed {
            Placed::Written { stat, fingerprint } => out.written.push((i, fingerprint, stat)),
            Placed::Raced => {
                out.raced.insert(c.path.clone());
            }
        }
        crate::faults::point();
    }
    // Verify what this writer wrote, once it is done: a file someone replaced or wrote
    // since is theirs (raced).
    for (i, fp, _) in &out.written {
        let c = &step1.changes[*i];
        if fp.is_some() && fingerprint(&files.abs(c.path.as_bstr())?) != *fp {
            out.raced.insert(c.path.clone());
        }
    }
    Ok(out)
}

/// Is `c` a regular file that stays a regular file, standing at its path as `now`? Then
/// step 2 tries to rewrite it where it is ([`Files::rewrite_at_path`]).
fn stays_regular(c: &PathChange, now: Fingerprint) -> bool {
    diff::Leaf::file(c.old).is_some()
        && diff::Leaf::file(c.new).is_some()
        && now.mode & libc::S_IFMT == libc::S_IFREG
}

/// Move what stands at `abs` (judged as `now`) aside, out of the way of the write. `None`
/// when it changed between the check and the move: then it is the user's, put back (or kept
/// beside a newer file) and the path is raced. `dir_exists`: the aside directory is known to
/// exist (one file was moved there already).
fn move_aside(
    files: &mut Files<'_>,
    c: &PathChange,
    abs: &Path,
    now: Fingerprint,
    dir_exists: bool,
    raced: &mut BTreeSet<BString>,
    kept: &mut BTreeSet<BString>,
) -> Result<Option<MovedAside>> {
    let aside = super::entry::aside_path(&files.root, c.path.as_bstr());
    if !dir_exists {
        std::fs::create_dir_all(aside.parent().expect("in the aside dir"))
            .with_context(|| format!("creating {}", aside.display()))?;
    }
    std::fs::rename(abs, &aside).with_context(|| format!("moving {} aside", abs.display()))?;
    crate::faults::point();
    let after = fingerprint(&aside);
    let same_file =
        after.is_some_and(|a| a.ino == now.ino && a.size == now.size && a.mtime == now.mtime);
    if !same_file && !leaf_is(files, &aside, c)? {
        // Changed between the check and the move: the user's, put back.
        if let Some(k) = put_back(&aside, abs, None)? {
            kept.insert(kept_path(files, &k)?);
        }
        raced.insert(c.path.clone());
        return Ok(None);
    }
    Ok(Some(MovedAside {
        path: c.path.clone(),
        original: abs.to_owned(),
        aside,
        fingerprint: after,
        reused: false,
    }))
}

/// Is what is at `c.path` now one of the two states the transition accepts there (A's leaf,
/// or already B's)?
fn still_expected(files: &mut Files<'_>, c: &PathChange) -> Result<bool> {
    let abs = files.abs(c.path.as_bstr())?;
    leaf_is(files, &abs, c)
}

/// Does the file at `abs` hold A's or B's leaf for `c`?
fn leaf_is(files: &mut Files<'_>, abs: &std::path::Path, c: &PathChange) -> Result<bool> {
    let empty = gix::index::State::new(files.repo.object_hash());
    let on_disk = files.leaf_at(abs, c.path.as_bstr(), &empty)?;
    Ok(on_disk.is_some() && (files.same(on_disk, c.old) || files.same(on_disk, c.new)))
}

/// A file wtc moved aside in an update that was killed: ours (A's or B's content) is
/// dropped; anything else is the user's and goes back to the path when that is free.
fn recover_aside(
    files: &mut Files<'_>,
    c: &PathChange,
    abs: &std::path::Path,
    raced: &mut BTreeSet<BString>,
    kept: &mut BTreeSet<BString>,
) -> Result<()> {
    let aside = super::entry::aside_path(&files.root, c.path.as_bstr());
    let rewriting = super::entry::rewriting_path(&aside);
    if std::fs::symlink_metadata(&rewriting).is_ok() {
        // Only ever A's verified bytes or B's partly written ones: wtc's own.
        std::fs::remove_file(&rewriting)
            .with_context(|| format!("removing {}", rewriting.display()))?;
    }
    let Some(before) = fingerprint(&aside) else {
        return Ok(());
    };
    // A's or B's bytes are wtc's own, unless a descriptor opened before the killed update
    // moved the file can still write them (or did since they were read): then the user's.
    if leaf_is(files, &aside, c)? && drop_aside(&aside, Some(before))? == Aside::Dropped {
        return Ok(());
    }
    // The user's bytes. What the killed update may have written at the path (B) is ours and
    // gives way; anything else there is the user's too, and both are kept.
    let empty = gix::index::State::new(files.repo.object_hash());
    let ours = match files.leaf_at(abs, c.path.as_bstr(), &empty)? {
        Some(l) if files.same(Some(l), c.new) => fingerprint(abs),
        _ => None,
    };
    if let Some(k) = put_back(&aside, abs, ours)? {
        kept.insert(kept_path(files, &k)?);
    }
    raced.insert(c.path.clone());
    Ok(())
}

/// Put the user's file moved aside at `aside` back at `original`, never over a newer file
/// of theirs. `ours`: what wtc wrote at `original` (`None`: wtc wrote nothing there), which
/// gives way. When the path holds the user's newer file, the older one is kept next to it
/// (`<path>.wtc-kept-N`, untracked, so `git status` shows it) and its path returned.
fn put_back(aside: &Path, original: &Path, ours: Option<Fingerprint>) -> Result<Option<PathBuf>> {
    for _ in 0..8 {
        match fingerprint(original) {
            None => match std::fs::hard_link(aside, original) {
                Ok(()) => {
                    std::fs::remove_file(aside)
                        .with_context(|| format!("removing {}", aside.display()))?;
                    return Ok(None);
                }
                // Someone created it this very instant: judge again.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("putting {} back", original.display()))
                }
            },
            Some(now) if Some(now) == ours => {
                // Our own file: swap the user's in atomically, then drop what came out, which
                // must still be ours and open nowhere else. Someone may have opened the path
                // since we wrote it and be about to write through that descriptor: then that
                // file is the newer one and goes back to the path, the older one beside it.
                exchange(aside, original)?;
                if drop_aside(aside, ours)? == Aside::Dropped {
                    return Ok(None);
                }
                exchange(aside, original)?;
                return keep(aside, original).map(Some);
            }
            Some(_) => return keep(aside, original).map(Some),
        }
    }
    keep(aside, original).map(Some)
}

/// Swap two paths atomically (`renameat2(RENAME_EXCHANGE)`); where the file system cannot,
/// move `a` over `b` (the file at `b` is wtc's own, checked just before).
fn exchange(a: &Path, b: &Path) -> Result<()> {
    match super::entry::rename2(a, b, libc::RENAME_EXCHANGE) {
        Ok(()) => Ok(()),
        Err(e) if super::entry::rename2_unsupported(&e) => {
            std::fs::rename(a, b).with_context(|| format!("putting {} back", b.display()))
        }
        Err(e) => Err(e).with_context(|| format!("putting {} back", b.display())),
    }
}

/// Keep the user's file at `aside` next to `original` under a name nobody uses
/// (`<name>.wtc-kept-N`); returns that path.
fn keep(aside: &Path, original: &Path) -> Result<PathBuf> {
    let name = original
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for n in 1..10_000 {
        let candidate = original.with_file_name(format!("{name}.wtc-kept-{n}"));
        match std::fs::hard_link(aside, &candidate) {
            Ok(()) => {
                std::fs::remove_file(aside)
                    .with_context(|| format!("removing {}", aside.display()))?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            // The directory is gone (the update turned it into a file): keep it at the top.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(e).with_context(|| format!("keeping {}", aside.display())),
        }
    }
    let root_kept = aside
        .parent()
        .and_then(Path::parent)
        .map(|root| root.join(format!("{name}.wtc-kept")))
        .context("the aside directory is inside the worktree")?;
    for n in 1..10_000 {
        let candidate = root_kept.with_file_name(format!("{name}.wtc-kept-{n}"));
        match std::fs::hard_link(aside, &candidate) {
            Ok(()) => {
                std::fs::remove_file(aside)
                    .with_context(|| format!("removing {}", aside.display()))?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("keeping {}", aside.display())),
        }
    }
    anyhow::bail!("no free name to keep {} under", aside.display())
}

/// A kept file's path relative to the worktree, for reports.
fn kept_path(files: &Files<'_>, kept: &Path) -> Result<BString> {
    let rel = kept.strip_prefix(&files.root).unwrap_or(kept);
    Ok(gix::path::into_bstr(rel.to_owned())?.into_owned())
}

#[cfg(test)]
mod tests {
    //! The transition on real repositories made with git: file <-> directory and symlink
    //! transitions, obstacles, and that the index matches what git expects afterwards.
    use super::*;
    use std::path::{Path, PathBuf};

    #[test]
    fn work_hands_every_leaf_to_exactly_one_writer() {
        for n in [0usize, 1, WRITER_RUN - 1, WRITER_RUN, 5 * WRITER_RUN + 3] {
            let todo: Vec<usize> = (0..n).collect();
            let work = Work::new(&todo);
            let taken: Vec<Vec<usize>> = std::thread::scope(|s| {
                let writers: Vec<_> = (0..3)
                    .map(|k| {
                        let work = &work;
                        s.spawn(move || {
                            std::iter::from_fn(|| work.claim(k % 2 == 1))
                                .flatten()
                                .copied()
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                writers.into_iter().map(|w| w.join().unwrap()).collect()
            });
            let mut all: Vec<usize> = taken.concat();
            all.sort_unstable();
            assert_eq!(all, todo, "{n} leaves");
        }
    }

    /// git in `dir`, isolated by the shared hermetic helper.
    #[track_caller]
    fn git(dir: &Path, args: &[&str]) -> String {
        crate::hermetic::shared().git(dir, args)
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

    /// Move the worktree of `d` from tree `a` to tree `b` (the branch stays where it is).
    fn update(d: &Path, a: ObjectId, b: ObjectId) -> Vec<Obstacle> {
        let repo = crate::hermetic::open(d);
        let head = repo.head_id().unwrap().detach();
        let t = Transition::of_branch("test", "refs/heads/a", head, a, b);
        let _leases = crate::hermetic::leases_decide();
        let locked = LockedIndex::acquire(&repo).unwrap();
        let prepared = t.prepare(&repo, &repo, locked.state()).unwrap();
        if prepared.obstacles.is_empty() {
            t.apply(&repo, &prepared, locked).unwrap();
        }
        prepared.obstacles
    }

    /// The check notes the fingerprint of every changed path, whatever branch of it judged
    /// the path (a clean file, an edited one, a new path, a deleted one, an untracked file
    /// in the way): exactly what an `lstat` of each gives, and nothing else.
    #[test]
    fn the_check_notes_the_fingerprint_of_every_changed_path() {
        let (tmp, a, b) = setup(
            &|d| {
                write(&d.join("same.txt"), "s\n");
                write(&d.join("edited.txt"), "e\n");
                write(&d.join("clean.txt"), "c\n");
                write(&d.join("gone.txt"), "g\n");
            },
            &|d| {
                write(&d.join("same.txt"), "s\n");
                write(&d.join("edited.txt"), "E\n");
                write(&d.join("clean.txt"), "C\n");
                write(&d.join("new.txt"), "n\n");
                write(&d.join("untracked.txt"), "u\n");
            },
        );
        let d = tmp.path();
        write(&d.join("edited.txt"), "local\n");
        write(&d.join("untracked.txt"), "mine\n");
        std::fs::remove_file(d.join("gone.txt")).unwrap();
        let repo = crate::hermetic::open(d);
        let head = repo.head_id().unwrap().detach();
        let t = Transition::of_branch("test", "refs/heads/a", head, a, b);
        let locked = LockedIndex::acquire(&repo).unwrap();
        let prepared = t.prepare(&repo, &repo, locked.state()).unwrap();
        let paths: Vec<&str> = prepared.seen.keys().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "clean.txt",
                "edited.txt",
                "gone.txt",
                "new.txt",
                "untracked.txt"
            ]
        );
        for (path, fp) in &prepared.seen {
            let abs = d.join(path.to_str().unwrap());
            assert_eq!(*fp, fingerprint(&abs), "{path}");
        }
        // Deleted where B deletes it too: no obstacle.
        assert_eq!(prepared.obstacles.len(), 2, "{:?}", prepared.obstacles);
    }

    /// The look made ahead (a sync's prejudge) stands in for the check only for the very
    /// index it read and the very leaf it judged, and what it saw is what the write compares
    /// with: an edit made after it is never written over, and a changed index throws every
    /// verdict away.
    #[test]
    fn a_look_made_ahead_never_lets_a_later_edit_be_written_over() {
        use super::super::diff::Leaf;
        use super::super::prejudge::Prejudge;
        use gix::object::tree::EntryKind;
        let (tmp, a, b) = setup(
            &|d| {
                write(&d.join("racy.txt"), "a\n");
                write(&d.join("calm.txt"), "c\n");
            },
            &|d| {
                write(&d.join("racy.txt"), "B\n");
                write(&d.join("calm.txt"), "C\n");
            },
        );
        let d = tmp.path();
        let repo = crate::hermetic::open(d);
        let head = repo.head_id().unwrap().detach();
        let look = || {
            let pj = Prejudge::start(&repo).unwrap();
            pj.sender()
                .send(vec!["racy.txt".into(), "calm.txt".into(), "absent".into()])
                .unwrap();
            pj.finish()
        };
        let mut judged = look();
        assert_eq!(judged.len(), 2, "only what the index has is judged");
        let index = repo.open_index().unwrap();
        let (id, kind) = crate::git::index::stage0(&index, "racy.txt".into()).unwrap();
        let indexed = Leaf {
            id,
            kind: kind.unwrap(),
        };
        assert!(matches!(
            judged.holds(b"racy.txt", indexed),
            Some((true, Some(_)))
        ));
        let other = Leaf {
            id: ObjectId::null(gix::hash::Kind::Sha1),
            kind: EntryKind::Blob,
        };
        assert!(
            judged.holds(b"racy.txt", other).is_none(),
            "another leaf: not judged"
        );

        // The user edits racy.txt after the look (same size, within the index's second:
        // nothing but the fingerprint the look noted can tell).
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(&d.join("racy.txt"), "u\n");
        let t = Transition::of_branch("test", "refs/heads/a", head, a, b);
        let leases = crate::hermetic::leases_decide();
        let earlier = judged.take_index();
        let locked = LockedIndex::acquire_reusing(&repo, earlier).unwrap();
        let valid = judged.valid_for(&locked.file);
        assert!(valid.is_some(), "the same index: the verdicts stand");
        let prepared = t
            .prepare_telling(&repo, &repo, locked.state(), valid, |_| {})
            .unwrap();
        assert!(prepared.obstacles.is_empty(), "{:?}", prepared.obstacles);
        let applied = t.apply(&repo, &prepared, locked).unwrap();
        assert_eq!(applied.raced, ["racy.txt"]);
        assert_eq!(std::fs::read_to_string(d.join("racy.txt")).unwrap(), "u\n");
        assert_eq!(std::fs::read_to_string(d.join("calm.txt")).unwrap(), "C\n");
        drop(leases); // git is started below

        // Another index (any write changes its checksum): no verdict is used.
        let mut judged = look();
        git(d, &["update-index", "--chmod=+x", "calm.txt"]);
        let locked = LockedIndex::acquire_reusing(&repo, judged.take_index()).unwrap();
        assert!(judged.valid_for(&locked.file).is_none());
    }

    /// The race the hunt found: wtc wrote its file at a path, a writer opened the path and
    /// holds it, and the user's older file (written through a descriptor opened before the
    /// move) goes back. The writer's coming write must land at the path, and the older file
    /// is kept beside it.
    #[test]
    fn putting_back_never_drops_a_file_someone_holds_open() {
        let _leases = crate::hermetic::leases_decide();
        use std::io::Write as _;
        let tmp = tempfile::tempdir().unwrap();
        let (aside, path) = (tmp.path().join("aside"), tmp.path().join("f"));
        std::fs::write(&aside, "the user's older edit\n").unwrap();
        std::fs::write(&path, "what wtc wrote\n").unwrap();
        let ours = fingerprint(&path);
        let mut held = std::fs::OpenOptions::new().write(true).open(&path).unwrap();

        let kept = put_back(&aside, &path, ours)
            .unwrap()
            .expect("the older one is kept");
        held.write_all(b"the user's newest edit\n").unwrap();
        drop(held);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "the user's newest edit\n"
        );
        assert_eq!(
            std::fs::read_to_string(&kept).unwrap(),
            "the user's older edit\n"
        );
        assert!(!aside.exists());

        // Nobody holds it: wtc's own file simply gives way.
        std::fs::write(&aside, "the user's edit\n").unwrap();
        std::fs::write(&path, "what wtc wrote\n").unwrap();
        let ours = fingerprint(&path);
        assert_eq!(put_back(&aside, &path, ours).unwrap(), None);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "the user's edit\n");
        assert!(!aside.exists());
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

    /// An update keeps the index it replaces at `index.wtc-old` (the rename putting the new
    /// index in place then frees nothing) and removes the one the update before it kept:
    /// one kept file at most, the index it replaced byte for byte, never the live index.
    #[test]
    fn an_update_keeps_the_index_it_replaced_and_drops_the_one_kept_before() {
        use std::os::unix::fs::MetadataExt as _;
        let (tmp, a, b) = setup(&|d| write(&d.join("f.txt"), "a\n"), &|d| {
            write(&d.join("f.txt"), "b\n");
            write(&d.join("new.txt"), "new\n");
        });
        let d = tmp.path();
        let index = d.join(".git/index");
        let kept = d.join(".git/index.wtc-old");
        let before = std::fs::read(&index).unwrap();
        let before_ino = std::fs::metadata(&index).unwrap().ino();
        assert_eq!(update(d, a, b), vec![]);
        assert_eq!(
            std::fs::read(&kept).unwrap(),
            before,
            "the replaced index, kept"
        );
        assert_eq!(std::fs::metadata(&kept).unwrap().ino(), before_ino);
        assert_ne!(std::fs::metadata(&index).unwrap().ino(), before_ino);
        git(d, &["update-ref", "refs/heads/a", "b"]);
        assert_eq!(git(d, &["status", "--porcelain"]), "");
        // The next update drops that one and keeps the index it replaces now.
        let middle = std::fs::read(&index).unwrap();
        assert_eq!(update(d, b, a), vec![]);
        assert_eq!(std::fs::read(&kept).unwrap(), middle);
        let names: Vec<String> = std::fs::read_dir(d.join(".git"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("index"))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(
            names,
            ["index", "index.wtc-old"],
            "one kept index, no lock left"
        );
        git(d, &["update-ref", "refs/heads/a", "b~0^"]);
        assert_eq!(git(d, &["status", "--porcelain"]), "");
        assert_eq!(git(d, &["fsck", "--no-progress"]), "");
    }

    /// A changed file is rewritten in its own inode (no new file made) when that is safe;
    /// a file with a second name keeps A's bytes under it (a fresh inode for the path), and
    /// a file someone holds open for writing is never rewritten: it is theirs, put back.
    #[test]
    fn changed_files_reuse_their_inode_only_when_nobody_else_can_see_it() {
        use std::os::unix::fs::MetadataExt;
        let (tmp, a, b) = setup(
            &|d| {
                write(&d.join("plain.txt"), "v1\n");
                write(&d.join("linked.txt"), "v1\n");
                write(&d.join("held.txt"), "v1\n");
                write(&d.join("tool.sh"), "v1\n");
            },
            &|d| {
                write(&d.join("plain.txt"), "v2, longer than before\n");
                write(&d.join("linked.txt"), "v2\n");
                write(&d.join("held.txt"), "v2\n");
                write(&d.join("tool.sh"), "v2\n");
                use std::os::unix::fs::PermissionsExt;
                let x = std::fs::Permissions::from_mode(0o755);
                std::fs::set_permissions(d.join("tool.sh"), x).unwrap();
            },
        );
        let d = tmp.path();
        let ino = |p: &str| std::fs::symlink_metadata(d.join(p)).unwrap().ino();
        let (plain, linked, held, tool) = (
            ino("plain.txt"),
            ino("linked.txt"),
            ino("held.txt"),
            ino("tool.sh"),
        );
        let outside = tmp.path().join(".git/second-name");
        std::fs::hard_link(d.join("linked.txt"), &outside).unwrap();
        let holder = std::fs::OpenOptions::new()
            .append(true)
            .open(d.join("held.txt"))
            .unwrap();
        assert_eq!(update(d, a, b), vec![]);
        drop(holder);
        let read = |p: &str| std::fs::read_to_string(d.join(p)).unwrap();
        assert_eq!(read("plain.txt"), "v2, longer than before\n");
        assert_eq!(ino("plain.txt"), plain, "rewritten in place");
        assert_eq!(read("tool.sh"), "v2\n");
        assert_eq!(ino("tool.sh"), tool);
        let mode = std::fs::symlink_metadata(d.join("tool.sh")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o755, "the mode follows the tree");
        assert_eq!(read("linked.txt"), "v2\n");
        assert_ne!(ino("linked.txt"), linked, "another name: a fresh file");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "v1\n");
        assert_eq!(
            read("held.txt"),
            "v1\n",
            "held open for writing: never rewritten"
        );
        assert_eq!(ino("held.txt"), held);
        git(d, &["update-ref", "refs/heads/a", "b"]);
        assert_eq!(git(d, &["status", "--porcelain"]), "M held.txt"); // (trimmed)
        assert!(!d.join(super::super::entry::ASIDE_DIR).exists());
    }

    /// A file a killed update was rewriting in place (`<aside>.w`) is wtc's own: recovery
    /// drops it and never puts it back as if it were the user's.
    #[test]
    fn a_killed_rewrite_leaves_nothing_that_passes_for_the_users() {
        let (tmp, a, b) = setup(&|d| write(&d.join("f.txt"), "v1\n"), &|d| {
            write(&d.join("f.txt"), "v2\n")
        });
        let d = tmp.path();
        let repo = crate::hermetic::open(d);
        let head = repo.head_id().unwrap().detach();
        let t = Transition::of_branch("test", "refs/heads/a", head, a, b);
        let mut locked = LockedIndex::acquire(&repo).unwrap();
        let prepared = t.prepare(&repo, &repo, locked.state()).unwrap();
        assert!(prepared.obstacles.is_empty());
        // Killed mid-rewrite: the path is empty, the half-written file lies aside.
        let aside = super::super::entry::aside_path(d, b"f.txt".as_bstr());
        let rewriting = super::super::entry::rewriting_path(&aside);
        std::fs::create_dir_all(aside.parent().unwrap()).unwrap();
        std::fs::rename(d.join("f.txt"), &rewriting).unwrap();
        std::fs::write(&rewriting, "v2 half-wri").unwrap();
        // Recovery carries the same transition out again.
        let outcome = t
            .execute(&repo, &prepared.changes, &prepared.seen, &mut locked)
            .unwrap();
        locked.commit(&repo).unwrap();
        assert_eq!(std::fs::read_to_string(d.join("f.txt")).unwrap(), "v2\n");
        assert!(
            outcome.raced.is_empty() && outcome.kept.is_empty(),
            "{outcome:?}"
        );
        let listing = git(d, &["status", "--porcelain", "--untracked-files=all"]);
        assert!(!listing.contains("wtc-kept"), "{listing}");
        assert!(!d.join(super::super::entry::ASIDE_DIR).exists());
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

    /// Regression (found by races.rs in CI): a file written through a descriptor held open
    /// across the update was put back with rename(2), replacing a newer file the same user
    /// had renamed onto the path meanwhile. Putting back never replaces the user's file.
    #[test]
    fn putting_back_never_replaces_a_newer_file() {
        let _leases = crate::hermetic::leases_decide();
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir(d.join(".wtc-aside")).unwrap();
        let (aside, path) = (d.join(".wtc-aside/x"), d.join("f.txt"));
        // The path holds wtc's own file: the user's takes its place.
        write(&aside, "user, through a held descriptor\n");
        write(&path, "wtc's incoming version\n");
        let ours = fingerprint(&path);
        assert_eq!(put_back(&aside, &path, ours).unwrap(), None);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "user, through a held descriptor\n"
        );
        assert!(!aside.exists());
        // The path holds a newer file of the user's: both are kept.
        write(&aside, "older edit\n");
        write(&path, "newer edit, renamed over the path\n");
        let kept = put_back(&aside, &path, ours).unwrap().expect("kept beside");
        assert_eq!(kept, d.join("f.txt.wtc-kept-1"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "newer edit, renamed over the path\n"
        );
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "older edit\n");
        // Nothing at the path: the user's file goes back.
        write(&aside, "again\n");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(put_back(&aside, &path, None).unwrap(), None);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "again\n");
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
}
