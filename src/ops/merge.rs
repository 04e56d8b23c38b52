//! Merging lanes: the fold behind both `sync` and `squash`.
//!
//! A fold starts at one commit and merges a list of lane tips into it, one at a time, with
//! a commit-level 3-way merge like git's `ort` (recursive virtual merge bases included). Every intermediate object
//! lives in an in-memory object store ([`gix::Repository::with_object_memory`]); only what the
//! final result needs is written to disk, and nothing at all when the fold conflicts in
//! `squash` or runs as a dry run.

use anyhow::Result;
use gix::bstr::ByteSlice;
use gix::objs::Write as _;
use gix::ObjectId;

use crate::git::refs;

/// Why a fold could not merge at all.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{ours} and {theirs} have no common history (no merge base); nothing was changed")]
    NoMergeBase { ours: String, theirs: String },
}

impl crate::error::Diagnostic for MergeError {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::User
    }
    fn hint(&self) -> Option<String> {
        Some("in a shallow clone, fetch the history (`git fetch --unshallow`); otherwise the lanes do not start from the plan's base".into())
    }
}

/// One lane tip to fold in.
#[derive(Debug, Clone)]
pub struct Tip {
    pub lane: String,
    pub commit: ObjectId,
}

/// The result of a fold.
pub enum Folded<'m> {
    /// Every tip merged cleanly.
    Clean {
        /// The resulting commit: a real tip when every step was a fast-forward, else an
        /// in-memory merge commit (callers write their own final commit).
        commit: ObjectId,
        tree: ObjectId,
        /// Tips that were not already contained in the start commit.
        merged: Vec<Tip>,
        /// No merge was needed: `commit` is one of the tips (or the start).
        fast_forward: bool,
    },
    /// Merging `tip` produced unresolved conflicts.
    Conflict {
        tip: Tip,
        /// Tips merged before this one, plus this one.
        merged: Vec<Tip>,
        /// The commit `tip` was merged into (the start or an in-memory fold commit).
        ours: ObjectId,
        outcome: Box<TreeOutcome<'m>>,
        /// Paths added in a directory the other side renamed (git's "file location"
        /// conflict; the outcome itself then has no unresolved conflict).
        moved: Vec<DirRenameConflict>,
        /// Paths whose merge driver (`merge.<name>.driver`) exited non-zero: git's
        /// "conflict, the driver's result left in the file". The outcome's tree holds that
        /// result; the sides are in `base_tree`, `ours` and `tip`.
        driver_failed: Vec<gix::bstr::BString>,
        /// The tree of the merge base the conflicting merge used.
        base_tree: ObjectId,
    },
}

/// A clone of `repo` whose writes stay in memory.
pub fn memory_repo(repo: &gix::Repository) -> gix::Repository {
    let mut mem = repo.clone().with_object_memory();
    mem.object_cache_size_if_unset(8 * 1024 * 1024);
    mem
}

/// The merge machinery of one fold: the diff and blob-merge caches
/// (built once: each costs a scan of the index for attributes) and the tree-merge options
/// from the repository's configuration.
struct Merger<'m> {
    mem: &'m gix::Repository,
    diff_cache: gix::diff::blob::Platform,
    blob_merge: gix::merge::blob::Platform,
    options: gix::merge::plumbing::tree::Options,
    /// Where wrapped merge drivers note the paths they failed on ([`wrap_drivers`]).
    driver_status: Option<tempfile::NamedTempFile>,
}

/// git runs a merge driver and treats a non-zero exit (up to 128) as "conflict, the result
/// is in the file"; gix 0.90 turns it into an error that fails the whole merge. So each
/// configured driver runs wrapped: a failing driver notes its path (`%P`) in a status file
/// and exits 0; wtc then reports that path as conflicted. A driver killed by a signal (exit
/// above 128) stays an error, as in git.
fn wrap_drivers(
    base: gix::merge::blob::Platform,
) -> Result<(gix::merge::blob::Platform, Option<tempfile::NamedTempFile>)> {
    if base.drivers().is_empty() {
        return Ok((base, None));
    }
    let status = tempfile::Builder::new()
        .prefix("wtc-merge-driver-")
        .tempfile()?;
    let quoted = status.path().display().to_string().replace('\'', "'\\''");
    let drivers = base
        .drivers()
        .iter()
        .cloned()
        .map(|mut d| {
            if !d.command.is_empty() {
                d.command = format!(
                    "( {} ); s=$?; if [ $s -gt 128 ]; then exit $s; fi; if [ $s -ne 0 ]; then printf '%s\\n' %P >> '{quoted}'; fi; exit 0",
                    d.command
                )
                .into();
            }
            d
        })
        .collect();
    let platform = gix::merge::blob::Platform::new(
        base.filter,
        base.filter_mode,
        base.attr_stack,
        drivers,
        base.options,
    );
    Ok((platform, Some(status)))
}

/// The outcome of one 3-way merge of two commits.
pub type TreeOutcome<'m> = gix::merge::plumbing::tree::Outcome<'m>;

impl<'m> Merger<'m> {
    /// Merge commit `theirs` into `ours` like git's `ort`: the merge base of the two, or,
    /// when there are several (criss-cross histories), a virtual one made by merging them
    /// (recursively) with their conflicts kept as conflict markers.
    ///
    /// gix 0.90 has this recursion (`gix::merge::commit`), but it resolves every conflict of
    /// the virtual base with "ours" instead of keeping markers, so where both lanes resolved
    /// the same lines differently it can take one side silently where git reports a
    /// conflict. So the recursion is ours, on gix's tree merge.
    fn merge(
        &mut self,
        ours: ObjectId,
        theirs: ObjectId,
        labels: Labels<'_>,
        options: &gix::merge::plumbing::tree::Options,
        depth: u8,
    ) -> Result<(TreeOutcome<'m>, ObjectId, Vec<gix::bstr::BString>)> {
        let mem = self.mem;
        let mut bases = crate::git::ancestry::merge_bases(mem, ours, theirs)?;
        let (base_tree, ancestor) = match bases.len() {
            // Never the empty tree: that would turn one side's deletions into nothing. git
            // refuses unrelated histories too; in a shallow clone the callers fetched the
            // history first (`ops::history`), so this is a real "no common history".
            0 => {
                return Err(MergeError::NoMergeBase {
                    ours: ours.to_string(),
                    theirs: theirs.to_string(),
                }
                .into())
            }
            1 => (
                tree_of(mem, bases[0])?,
                bases[0].to_hex_with_len(7).to_string(),
            ),
            _ => {
                bases.reverse(); // oldest first, as git merges them
                (
                    self.virtual_base(&bases, depth + 1)?,
                    "merged common ancestors".to_string(),
                )
            }
        };
        let labels = Labels {
            ancestor: Some(labels.ancestor.unwrap_or(ancestor.as_str().into())),
            ..labels
        };
        let mut state = gix::diff::tree::State::default();
        // Only this merge's driver failures count (not those of virtual bases above).
        if let Some(f) = &self.driver_status {
            f.as_file().set_len(0)?;
        }
        let outcome = gix::merge::plumbing::tree(
            &base_tree,
            &tree_of(mem, ours)?,
            &tree_of(mem, theirs)?,
            labels,
            &mem.objects,
            |buf| mem.objects.write_buf(gix::object::Kind::Blob, buf),
            &mut state,
            &mut self.diff_cache,
            &mut self.blob_merge,
            options.clone(),
        )?;
        let mut outcome = outcome;
        fast_forward_submodules(mem, &mut outcome)?;
        let mut failed = Vec::new();
        if let Some(f) = &self.driver_status {
            let text = std::fs::read(f.path())?;
            for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let path: gix::bstr::BString = line.into();
                if !failed.contains(&path) {
                    failed.push(path);
                }
            }
        }
        Ok((outcome, base_tree, failed))
    }

    /// The tree of the virtual merge base of `bases` (oldest first): merge them one after
    /// the other, conflicts kept with markers 2 x `depth` longer than usual (as git does),
    /// unresolvable tree and binary conflicts taking the ancestor's side.
    fn virtual_base(&mut self, bases: &[ObjectId], depth: u8) -> Result<ObjectId> {
        let mut options = self.options.clone();
        options.tree_conflicts = Some(gix::merge::plumbing::tree::ResolveWith::Ancestor);
        options.blob_merge.is_virtual_ancestor = true;
        let ancestor = Some(gix::merge::blob::builtin_driver::binary::ResolveWith::Ancestor);
        options.blob_merge.resolve_binary_with = ancestor;
        options.symlink_conflicts = ancestor;
        options.marker_size_multiplier = depth;
        let mut merged = bases[0];
        for next in &bases[1..] {
            let labels = Labels {
                ancestor: None,
                current: Some("Temporary merge branch 1".into()),
                other: Some("Temporary merge branch 2".into()),
            };
            let (mut outcome, _, _) = self.merge(merged, *next, labels, &options, depth)?;
            let tree = outcome
                .tree
                .write(|t| self.mem.objects.write(t))
                .map_err(|e| anyhow::anyhow!("writing a virtual merge base: {e}"))?;
            merged = crate::git::commit::write(
                self.mem,
                crate::git::commit::NewCommit {
                    purpose: crate::git::commit::Purpose::Scratch,
                    message: "virtual merge base".into(),
                    tree,
                    parents: vec![merged, *next],
                },
            )?;
        }
        tree_of(self.mem, merged)
    }
}

type Labels<'a> = gix::merge::blob::builtin_driver::text::Labels<'a>;

/// git's submodule merge (merge-ort's `merge_submodule`): a gitlink both sides moved is no
/// conflict when one side's commit contains the other's and both contain the base: the
/// result is the newer one ("fast-forwarding submodule"). That needs the submodule's
/// commits, from its repository (initialised in this worktree, or in the main one); without
/// them, or when the two lines diverged, it stays a conflict, as in git. gix 0.90 calls
/// every such gitlink a conflict.
fn fast_forward_submodules(mem: &gix::Repository, outcome: &mut TreeOutcome<'_>) -> Result<()> {
    let how = gix::merge::tree::TreatAsUnresolved::git();
    let mut resolved = Vec::new();
    for (i, c) in outcome.conflicts.iter().enumerate() {
        if !c.is_unresolved(how) {
            continue;
        }
        let [Some(base), Some(ours), Some(theirs)] = c.entries() else {
            continue;
        };
        if !(base.mode.is_commit() && ours.mode.is_commit() && theirs.mode.is_commit()) {
            continue;
        }
        let path = c.ours.location().to_owned();
        let Some(sub) = submodule_repo(mem, path.as_ref(), &[base.id, ours.id, theirs.id]) else {
            continue;
        };
        use crate::git::ancestry::is_ancestor;
        if !is_ancestor(&sub, base.id, ours.id)? || !is_ancestor(&sub, base.id, theirs.id)? {
            continue;
        }
        let chosen = if is_ancestor(&sub, ours.id, theirs.id)? {
            theirs.id
        } else if is_ancestor(&sub, theirs.id, ours.id)? {
            ours.id
        } else {
            continue;
        };
        resolved.push((i, path, chosen));
    }
    for (i, path, chosen) in resolved.into_iter().rev() {
        outcome
            .tree
            .upsert(
                path.split(|b| *b == b'/').map(|c| c.as_bstr()),
                gix::object::tree::EntryKind::Commit,
                chosen,
            )
            .map_err(|e| anyhow::anyhow!("recording the submodule at {path}: {e}"))?;
        outcome.conflicts.remove(i);
    }
    Ok(())
}

/// A repository of the submodule at `path` that has all of `commits`: the one initialised
/// in this worktree, or the main worktree's (`<common dir>/modules/<name>`).
fn submodule_repo(
    mem: &gix::Repository,
    path: &gix::bstr::BStr,
    commits: &[ObjectId],
) -> Option<gix::Repository> {
    let mut candidates = Vec::new();
    let mut name = path.to_owned();
    if let Ok(Some(subs)) = mem.submodules() {
        for sm in subs {
            if sm.path().ok().as_ref().map(|p| p.as_bstr()) == Some(path) {
                name = sm.name().to_owned();
                if let Ok(Some(repo)) = sm.open() {
                    candidates.push(repo);
                }
            }
        }
    }
    if let Ok(rel) = gix::path::from_bstr(name.as_bstr()) {
        if let Ok(repo) = gix::open(mem.common_dir().join("modules").join(rel)) {
            candidates.push(repo);
        }
    }
    candidates
        .into_iter()
        .find(|r| commits.iter().all(|c| r.has_object(c)))
}

pub fn tree_of(repo: &gix::Repository, commit: ObjectId) -> Result<ObjectId> {
    Ok(repo.find_commit(commit)?.tree_id()?.detach())
}

/// Fold `tips` (in the given order) into `start`, inside the in-memory repository `mem`.
pub fn fold<'m>(
    mem: &'m gix::Repository,
    start: ObjectId,
    tips: &[Tip],
    ours_label: &str,
) -> Result<Folded<'m>> {
    fold_with(mem, start, tips, ours_label, None)
}

/// [`fold`], with the thread that diffs each tip ahead of its step already started by the
/// caller ([`DiffsAhead::start`] for exactly this `start` and `tips`), so that it works while
/// the caller still finds out what is pending; `None` starts one here.
pub fn fold_with<'m>(
    mem: &'m gix::Repository,
    start: ObjectId,
    tips: &[Tip],
    ours_label: &str,
    started: Option<DiffsAhead>,
) -> Result<Folded<'m>> {
    let mut current = Current::new(start);
    let mut merged = Vec::new();
    let mut fast_forward = true;
    let how = gix::merge::tree::TreatAsUnresolved::git();
    let mut merger: Option<Merger<'m>> = None;
    let mut since_base: Option<SinceBase> = None;
    let renormalize = mem
        .config_snapshot()
        .boolean("merge.renormalize")
        .unwrap_or(false);
    let mut ahead = match (renormalize, started) {
        (true, _) => None,
        (false, Some(a)) if a.start == start && a.tips == tips.len() => Some(a),
        (false, _) => DiffsAhead::start(mem, start, tips),
    };
    for (k, tip) in tips.iter().enumerate() {
        if refs::is_ancestor(mem, tip.commit, current.commit)? {
            continue; // already contained
        }
        merged.push(tip.clone());
        if fast_forward && refs::is_ancestor(mem, current.commit, tip.commit)? {
            current = Current::new(tip.commit);
            continue;
        }
        if !renormalize {
            let ahead = ahead.as_mut().map(|a| (a, k));
            if disjoint_step(mem, &mut current, tip, &mut since_base, ahead)? {
                fast_forward = false;
                continue;
            }
        }
        since_base = None; // the full merge below moves `current` in ways not tracked
                           // The full merge reads `current`'s tree: the disjoint steps' edit is written now.
        current.settle(mem)?;
        let current_commit = current.commit;
        let labels = Labels {
            ancestor: Some("base".into()),
            current: Some(ours_label.into()),
            other: Some(tip.lane.as_str().into()),
        };
        if merger.is_none() {
            let options: gix::merge::plumbing::tree::Options = mem.tree_merge_options()?.into();
            let (blob_merge, driver_status) =
                wrap_drivers(mem.merge_resource_cache(Default::default())?)?;
            merger = Some(Merger {
                mem,
                diff_cache: mem.diff_resource_cache_for_tree_diff()?,
                blob_merge,
                options,
                driver_status,
            });
        }
        let m = merger.as_mut().expect("set above");
        let options = m.options.clone();
        let (mut outcome, base_tree, driver_failed) =
            m.merge(current_commit, tip.commit, labels, &options, 0)?;
        if outcome.has_unresolved_conflicts(how) || !driver_failed.is_empty() {
            return Ok(Folded::Conflict {
                tip: tip.clone(),
                merged,
                ours: current_commit,
                outcome: Box::new(outcome),
                moved: Vec::new(),
                driver_failed,
                base_tree,
            });
        }
        let tree = outcome
            .tree
            .write(|t| mem.objects.write(t))
            .map_err(|e| anyhow::anyhow!("writing a merged tree: {e}"))?;
        let moved = directory_rename_conflicts(
            mem,
            base_tree,
            tree_of(mem, current_commit)?,
            tree_of(mem, tip.commit)?,
            tree,
            options.rewrites,
        )?;
        if !moved.is_empty() {
            return Ok(Folded::Conflict {
                tip: tip.clone(),
                merged,
                ours: current_commit,
                outcome: Box::new(outcome),
                moved,
                driver_failed: Vec::new(),
                base_tree,
            });
        }
        current = Current::new(fold_commit(mem, current_commit, tip, tree)?);
        fast_forward = false;
    }
    let tree = current.settle(mem)?;
    Ok(Folded::Clean {
        commit: current.commit,
        tree,
        merged,
        fast_forward,
    })
}

/// The in-memory commit of one fold step: `tree`, merging `tip` into `current`.
fn fold_commit(
    mem: &gix::Repository,
    current: ObjectId,
    tip: &Tip,
    tree: ObjectId,
) -> Result<ObjectId> {
    crate::git::commit::write(
        mem,
        crate::git::commit::NewCommit {
            purpose: crate::git::commit::Purpose::Scratch,
            message: format!("fold {}", tip.lane),
            tree,
            parents: vec![current, tip.commit],
        },
    )
}

/// Where the fold stands: its commit, and the tree edit its disjoint steps share.
///
/// A run of disjoint steps edits ONE tree: each step upserts its tip's leaves and makes its
/// fold commit at once (the next step's merge bases need it), but the tree is written only
/// when something reads it (a full merge, a new merge base, the end). Until then the step's
/// commit names its parent's tree, a stand-in, and `unsettled` says how to remake it with
/// the real one. Fold commits never leave the fold except settled (the result, or `ours`
/// of a conflict), so no one sees a stand-in.
struct Current<'m> {
    commit: ObjectId,
    edit: Option<gix::objs::tree::Editor<'m>>,
    /// The last step's parent and tip, while `commit` names a stand-in tree.
    unsettled: Option<(ObjectId, Tip)>,
}

impl<'m> Current<'m> {
    fn new(commit: ObjectId) -> Self {
        Current {
            commit,
            edit: None,
            unsettled: None,
        }
    }

    /// The real tree of `commit`: written (and the commit remade with it) if it was not.
    fn settle(&mut self, mem: &'m gix::Repository) -> Result<ObjectId> {
        match (self.unsettled.take(), self.edit.as_mut()) {
            (Some((parent, tip)), Some(edit)) => {
                let _w = crate::trace::span("fold: disjoint tree write");
                let tree = edit.write(|t| mem.objects.write(t))?;
                self.commit = fold_commit(mem, parent, &tip, tree)?;
                Ok(tree)
            }
            _ => tree_of(mem, self.commit),
        }
    }

    /// Record a disjoint step merging `tip`, whose leaves are already in `edit`.
    fn step(&mut self, mem: &'m gix::Repository, tip: &Tip) -> Result<()> {
        let stand_in = tree_of(mem, self.commit)?;
        let parent = self.commit;
        self.commit = fold_commit(mem, parent, tip, stand_in)?;
        self.unsettled = Some((parent, tip.clone()));
        Ok(())
    }
}

/// What the fold's current commit changed since a merge base: only while those changes are
/// additions and modifications of leaves (no deletions), as [`disjoint_step`] needs.
struct SinceBase {
    base: ObjectId,
    /// The changed leaf paths, or `None` when something was deleted (no shortcut then).
    paths: Option<std::collections::BTreeSet<gix::bstr::BString>>,
}

/// The merge of `tip` into `current` without the merge machinery, when its outcome is
/// certain: a single merge base B (the same one git's merge would use), and the two sides
/// since B only add or modify leaves, at paths that are disjoint (no path of one side is the
/// other's path or lies inside it). Then no conflict, rename (nothing was deleted, so there
/// is nothing to pair) or directory rename can arise, and the merged tree is `current`'s with
/// `tip`'s changes written in: exactly the tree the full merge writes. Then the step is
/// recorded in `current` (its edit, written when needed: see [`Current`]) and `true`;
/// `false` otherwise (nothing recorded), and the caller runs the full merge.
///
/// Why: a fold of many lanes merges each into an accumulation of all before it, so a full
/// merge diffs an ever larger "ours" side (quadratic in the lanes); here "ours" since B is
/// kept from step to step, and each lane is diffed once.
fn disjoint_step<'m>(
    mem: &'m gix::Repository,
    current: &mut Current<'m>,
    tip: &Tip,
    since_base: &mut Option<SinceBase>,
    ahead: Option<(&mut DiffsAhead, usize)>,
) -> Result<bool> {
    use gix::bstr::{BString, ByteSlice};
    let _t = crate::trace::span("fold: disjoint step");
    let mb = crate::trace::span("fold: merge bases");
    let bases = crate::git::ancestry::merge_bases(mem, current.commit, tip.commit)?;
    drop(mb);
    let [base] = bases[..] else {
        return Ok(false);
    };
    let base_tree = tree_of(mem, base)?;
    let adds_and_mods = |changes: Vec<crate::worktree::diff::PathChange>| {
        changes
            .into_iter()
            .map(|c| c.new.map(|new| (c.path, new)))
            .collect::<Option<Vec<_>>>()
    };
    if since_base.as_ref().map(|s| s.base) != Some(base) {
        let _s = crate::trace::span("fold: ours since the base");
        let now = current.settle(mem)?;
        let ours = crate::worktree::diff::diff_trees(mem, base_tree, now)?;
        *since_base = Some(SinceBase {
            base,
            paths: adds_and_mods(ours).map(|v| v.into_iter().map(|(p, _)| p).collect()),
        });
    }
    let Some(ours) = since_base.as_mut().and_then(|s| s.paths.as_mut()) else {
        return Ok(false);
    };
    let waited = crate::trace::span("fold: wait for the diff ahead");
    let ahead = ahead.and_then(|(a, k)| a.take(k, base));
    drop(waited);
    // A diff worked out ahead comes with its leaves checked for existence (see DiffsAhead).
    let checked = ahead.is_some();
    let theirs = match ahead {
        Some(diff) => diff,
        None => crate::worktree::diff::diff_trees(mem, base_tree, tree_of(mem, tip.commit)?)?,
    };
    let Some(theirs) = adds_and_mods(theirs) else {
        return Ok(false);
    };
    let overlaps = |path: &BString| -> bool {
        if ours.contains(path) {
            return true;
        }
        // One of ours lies inside `path` (as a directory)?
        let mut inside = path.clone();
        inside.push(b'/');
        if ours
            .range(inside.clone()..)
            .next()
            .is_some_and(|o| o.starts_with(inside.as_slice()))
        {
            return true;
        }
        // `path` lies inside one of ours (as a file)?
        path.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'/')
            .any(|(i, _)| ours.contains(path[..i].as_bstr()))
    };
    if theirs.iter().any(|(p, _)| overlaps(p)) {
        return Ok(false);
    }
    // gix's validating editor checks that every entry of every tree it writes exists (a
    // stat per loose object, for entries this edit never touched, again at every step) and
    // validates every name. The edit only adds `tip`'s leaves into trees that exist, so
    // exactly those are checked: their names, as for any incoming path, and that their
    // objects exist (here, while the thread that diffs ahead works on the next tip: the
    // two halves of a step then cost about the same).
    let checks = crate::trace::span("fold: check their leaves");
    let rules = crate::worktree::validate::PathRules::of(mem);
    for (path, leaf) in &theirs {
        crate::worktree::validate::validate_path(path.as_bstr(), Some(leaf.kind), rules)?;
    }
    if !checked {
        missing_leaf(mem, theirs.iter().map(|(p, l)| (p, l)))?;
    }
    drop(checks);
    let _e = crate::trace::span("fold: edit the tree");
    // The edit goes on from the last disjoint step's (or starts at `current`'s real tree).
    if current.edit.is_none() {
        let tree = current.settle(mem)?;
        current.edit = Some(mem.edit_tree(tree)?.detach());
    }
    let editor = current.edit.as_mut().expect("set above");
    for (path, leaf) in &theirs {
        editor.upsert(path.split(|b| *b == b'/'), leaf.kind, leaf.id)?;
    }
    current.step(mem, tip)?;
    ours.extend(theirs.into_iter().map(|(p, _)| p));
    Ok(true)
}

/// An error naming the first leaf of `leaves` whose object is not in `repo` (submodule
/// commits live elsewhere and are not looked for).
fn missing_leaf<'l>(
    repo: &gix::Repository,
    leaves: impl IntoIterator<Item = (&'l gix::bstr::BString, &'l crate::worktree::diff::Leaf)>,
) -> Result<()> {
    use gix::object::tree::EntryKind;
    let objects = crate::git::loose::LooseFirst::new(repo);
    match leaves
        .into_iter()
        .find(|(_, l)| l.kind != EntryKind::Commit && !objects.contains(&l.id))
    {
        Some((path, leaf)) => Err(anyhow::anyhow!(
            "the object {} at \"{path}\" could not be found",
            leaf.id
        )),
        None => Ok(()),
    }
}

/// The tip side of each [`disjoint_step`], worked out ahead on another thread: the diff of
/// each tip against its merge base with the fold's start. A step uses it only when that
/// base is the very merge base the step computed itself (then it is the same diff of the
/// same two trees); otherwise, or when the thread could not work it out, the step diffs
/// itself. The step's own checks and tree edit then overlap the next tip's diff. The thread
/// also checks that every incoming leaf's object exists (a diff with a missing one is not
/// sent: the step then finds and reports it itself). sync starts it before it works out
/// which tips are pending ([`fold_with`]).
pub struct DiffsAhead {
    /// The fold's start and how many tips it diffs (a fold takes it only for those).
    start: ObjectId,
    tips: usize,
    results: std::sync::mpsc::Receiver<(usize, Option<TipDiff>)>,
    /// Results that came before the fold asked for them (the threads finish out of order).
    early: std::collections::HashMap<usize, Option<TipDiff>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Threads that diff ahead: two, each taking every other tip, once there are enough tips
/// for both to have work. The fold's main thread mostly waits for these diffs (each reads
/// a tip's trees and the base's, ~1 ms), so on two cores two of them halve the wait.
fn ahead_threads(tips: usize) -> usize {
    if tips >= 3 {
        2
    } else {
        1
    }
}

use crate::worktree::diff::PathChange;

/// A tip's changes since a merge base: the base, and the diff of its tree to the tip's.
type TipDiff = (ObjectId, Vec<PathChange>);

impl DiffsAhead {
    /// `None` for fewer than two tips (a thread costs more than it saves). `repo`: the
    /// repository the fold's memory store lies over (or that store): the tips, the start
    /// and their merge bases are real commits, found in either.
    pub fn start(repo: &gix::Repository, start: ObjectId, tips: &[Tip]) -> Option<Self> {
        Self::start_telling(repo, start, tips, None)
    }

    /// [`DiffsAhead::start`], also sending each tip's changed paths to `paths` as soon as
    /// its diff is worked out (a look at the worktree made ahead:
    /// [`crate::worktree::prejudge`]).
    pub fn start_telling(
        repo: &gix::Repository,
        start: ObjectId,
        tips: &[Tip],
        paths: Option<std::sync::mpsc::Sender<Vec<gix::bstr::BString>>>,
    ) -> Option<Self> {
        if tips.len() < 2 {
            return None;
        }
        let (tx, results) = std::sync::mpsc::channel();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sync = repo.clone().into_sync();
        let commits: Vec<ObjectId> = tips.iter().map(|t| t.commit).collect();
        let n = ahead_threads(commits.len());
        let threads = (0..n)
            .map(|first| {
                let (sync, tx, paths) = (sync.clone(), tx.clone(), paths.clone());
                let stopped = std::sync::Arc::clone(&stop);
                let mine: Vec<(usize, ObjectId)> = commits
                    .iter()
                    .copied()
                    .enumerate()
                    .skip(first)
                    .step_by(n)
                    .collect();
                std::thread::spawn(move || {
                    crate::helpers::work_behind();
                    let mut repo = sync.to_thread_local();
                    crate::git::loose::read_loose_first(&mut repo, 4 * 1024 * 1024);
                    for (k, tip) in mine {
                        if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                            return;
                        }
                        let diff = diff_ahead(&repo, start, tip);
                        if let (Some(paths), Some((_, diff))) = (&paths, &diff) {
                            let _ = paths.send(diff.iter().map(|c| c.path.clone()).collect());
                        }
                        if tx.send((k, diff)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Some(DiffsAhead {
            start,
            tips: tips.len(),
            results,
            early: Default::default(),
            stop,
            threads,
        })
    }

    /// The diff of tip `k` against `base`, if it was worked out against that very base.
    fn take(&mut self, k: usize, base: ObjectId) -> Option<Vec<PathChange>> {
        // Tips before `k` the fold did not need to merge are dropped.
        self.early.retain(|j, _| *j >= k);
        let found = loop {
            if let Some(found) = self.early.remove(&k) {
                break found;
            }
            match self.results.recv().ok()? {
                (j, found) if j == k => break found,
                (j, found) if j > k => {
                    self.early.insert(j, found);
                }
                _ => {} // a tip the fold did not need to merge
            }
        };
        match found {
            Some((b, diff)) if b == base => Some(diff),
            _ => None,
        }
    }
}

/// Tip `tip`'s side of a disjoint step (see [`DiffsAhead`]): its single merge base with
/// `start` and the diff from that base's tree to the tip's, once every incoming leaf's
/// object is known to exist (`None` otherwise: the step then diffs and checks itself).
fn diff_ahead(repo: &gix::Repository, start: ObjectId, tip: ObjectId) -> Option<TipDiff> {
    let finding = crate::trace::span("ahead: merge base");
    let bases = crate::git::ancestry::merge_bases(repo, start, tip).ok()?;
    drop(finding);
    let [base] = bases[..] else { return None };
    let _diffing = crate::trace::span("ahead: diff");
    let (from, to) = (tree_of(repo, base).ok()?, tree_of(repo, tip).ok()?);
    let diff = crate::worktree::diff::diff_trees_loose(repo, from, to).ok()?;
    // The step's check that every incoming leaf exists, done here, off the fold's thread: a
    // missing one sends nothing (the step then diffs and checks itself, and reports it).
    let leaves = diff
        .iter()
        .filter_map(|c| c.new.as_ref().map(|l| (&c.path, l)));
    missing_leaf(repo, leaves).ok()?;
    Some((base, diff))
}

impl Drop for DiffsAhead {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // At most the diffs under way are finished; the rest are skipped.
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Tips of `merged` that are not ancestors of another tip in the list: the parents a merge
/// commit needs (an octopus of redundant parents would only clutter history).
pub fn independent_tips(repo: &gix::Repository, merged: &[Tip]) -> Result<Vec<Tip>> {
    let mut out = Vec::new();
    for (i, t) in merged.iter().enumerate() {
        if merged[..i].iter().any(|o| o.commit == t.commit) {
            continue; // the same commit twice: the first stands for both
        }
        let others: Vec<ObjectId> = merged
            .iter()
            .filter(|o| o.commit != t.commit)
            .map(|o| o.commit)
            .collect();
        if !crate::git::ancestry::is_ancestor_of_any(repo, t.commit, &others)? {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// Write every object `mem` holds in memory into `real`'s object database.
pub fn persist_all(mem: &mut gix::Repository, real: &gix::Repository) -> Result<usize> {
    let storage = mem.objects.take_object_memory().unwrap_or_default();
    let n = storage.len();
    for (_, (kind, data)) in storage.iter() {
        real.write_buf(*kind, data)?;
        crate::faults::point();
    }
    mem.objects.enable_object_memory();
    Ok(n)
}

/// Write the in-memory objects reachable from `tree` into `real` (children before parents),
/// leaving the fold's scratch objects behind.
pub fn persist_tree(
    mem: &mut gix::Repository,
    real: &gix::Repository,
    tree: ObjectId,
) -> Result<usize> {
    let objects = unpersisted(mem, tree)?;
    persist(real, &objects)?;
    Ok(objects.len())
}

/// An object held in memory: its id, kind and data.
pub type MemObject = (ObjectId, gix::object::Kind, Vec<u8>);

/// The in-memory objects of `mem` reachable from `tree`, children before parents (the order
/// [`persist`] writes them in, so that a tree is never on disk before what it names).
pub fn unpersisted(mem: &mut gix::Repository, tree: ObjectId) -> Result<Vec<MemObject>> {
    let storage = mem.objects.take_object_memory().unwrap_or_default();
    let mut out = Vec::new();
    let mut stack = vec![(tree, false)];
    let mut seen = gix::hashtable::HashSet::default();
    let walked = (|| -> Result<()> {
        while let Some((id, children_done)) = stack.pop() {
            let Some((kind, data)) = storage.get(&id) else {
                continue;
            };
            if children_done {
                out.push((id, *kind, data.clone()));
                continue;
            }
            if !seen.insert(id) {
                continue;
            }
            stack.push((id, true));
            if *kind == gix::object::Kind::Tree {
                for entry in gix::objs::TreeRefIter::from_bytes(data, mem.object_hash()) {
                    let entry = entry?;
                    if storage.contains_key(entry.oid) {
                        stack.push((entry.oid.to_owned(), false));
                    }
                }
            }
        }
        Ok(())
    })();
    mem.objects.set_object_memory(storage);
    walked.map(|()| out)
}

/// Write `objects` (from [`unpersisted`]) into `real`'s object database, in order.
pub fn persist(real: &gix::Repository, objects: &[MemObject]) -> Result<()> {
    // gix looks for each object before it writes one (every pack index, then the loose
    // file's whole path, ~10 us): an object already loose here (the same merge written by
    // an earlier sync, a tree another lane made too) is found with one `fstatat` in the held
    // objects directory and not written again; anything else goes to gix, which still looks
    // in the packs first.
    let loose = crate::git::loose::LooseFirst::new(real);
    for (id, kind, data) in objects {
        let id = match loose.contains_loose(id) {
            true => *id,
            false => real.write_buf(*kind, data)?,
        };
        crate::git::note_written(real, id);
        crate::faults::point();
    }
    Ok(())
}

/// The paths an outcome leaves conflicted, for messages.
pub fn conflicted_paths(outcome: &TreeOutcome<'_>) -> Vec<String> {
    let how = gix::merge::tree::TreatAsUnresolved::git();
    let mut paths: Vec<String> = outcome
        .conflicts
        .iter()
        .filter(|c| c.is_unresolved(how))
        .flat_map(|c| [c.ours.location().to_owned(), c.theirs.location().to_owned()])
        .map(|p| p.to_str_lossy().into_owned())
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// A path one side added inside a directory the other side renamed as a whole: git's
/// `CONFLICT (file location)` (with `merge.directoryRenames` unset or `conflict`).
#[derive(Debug, Clone)]
pub struct DirRenameConflict {
    /// Where the merged tree has the added file.
    pub path: gix::bstr::BString,
    /// Where git suggests it belongs (inside the renamed directory).
    pub suggested: gix::bstr::BString,
    /// `true` when "theirs" (the lane being merged in) added it.
    pub added_by_theirs: bool,
    pub id: ObjectId,
    pub mode: gix::index::entry::Mode,
}

/// Directory renames (base -> one side) that catch a path the other side added: git
/// detects them (gix 0.90 only when a whole directory tree moved unchanged, and then
/// moves the file silently), and by default calls them a conflict. Cheap when no side
/// removed a directory: rename tracking runs only then.
fn directory_rename_conflicts(
    mem: &gix::Repository,
    base: ObjectId,
    ours: ObjectId,
    theirs: ObjectId,
    merged: ObjectId,
    rewrites: Option<gix::diff::Rewrites>,
) -> Result<Vec<DirRenameConflict>> {
    use gix::bstr::BString;
    let setting = mem
        .config_snapshot()
        .string("merge.directoryRenames")
        .map(|v| v.to_str_lossy().to_ascii_lowercase());
    if matches!(setting.as_deref(), Some("true") | Some("false")) {
        return Ok(Vec::new()); // moved silently (gix's tree), or kept where added
    }
    let Some(rewrites) = rewrites else {
        return Ok(Vec::new()); // rename detection is off: no directory renames either
    };
    let base_tree = mem.find_tree(base)?;
    let mut out = Vec::new();
    for (x, y, theirs_added) in [(ours, theirs, true), (theirs, ours, false)] {
        let x_tree = mem.find_tree(x)?;
        use gix::diff::tree::recorder::Change as Plain;
        let removed_dirs: Vec<BString> = crate::worktree::diff::plain_changes(mem, base, x)?
            .into_iter()
            .filter_map(|c| match c {
                Plain::Deletion {
                    path, entry_mode, ..
                } if entry_mode.is_tree() => Some(path),
                _ => None,
            })
            .collect();
        if removed_dirs.is_empty() {
            continue;
        }
        let added: Vec<BString> = crate::worktree::diff::plain_changes(mem, base, y)?
            .into_iter()
            .filter_map(|c| match c {
                Plain::Addition {
                    path, entry_mode, ..
                } if !entry_mode.is_tree() => Some(path),
                _ => None,
            })
            .collect();
        if added.is_empty() {
            continue;
        }
        // Which directory each removed one was renamed to, by majority of its files.
        let mut counts: std::collections::BTreeMap<
            BString,
            std::collections::BTreeMap<BString, usize>,
        > = Default::default();
        let with_renames = gix::diff::Options::default().with_rewrites(Some(rewrites));
        for c in mem.diff_tree_to_tree(&base_tree, &x_tree, with_renames)? {
            if let gix::object::tree::diff::ChangeDetached::Rewrite {
                source_location,
                location,
                entry_mode,
                copy: false,
                ..
            } = c
            {
                if entry_mode.is_tree() {
                    continue;
                }
                let Some((from, to)) = renamed_dir_portion(&source_location, &location) else {
                    continue;
                };
                if removed_dirs.iter().any(|d| d.as_slice() == from) {
                    *counts
                        .entry(from.into())
                        .or_default()
                        .entry(to.into())
                        .or_default() += 1;
                }
            }
        }
        let renamed: Vec<(BString, BString)> = counts
            .into_iter()
            .filter_map(|(from, targets)| {
                let best = targets.values().copied().max()?;
                let winners: Vec<&BString> = targets
                    .iter()
                    .filter(|(_, n)| **n == best)
                    .map(|(t, _)| t)
                    .collect();
                // A tie is git's "directory rename split": no rename is assumed.
                (winners.len() == 1).then(|| (from, winners[0].clone()))
            })
            .collect();
        let merged_tree = mem.find_tree(merged)?;
        for p in &added {
            let Some((from, to)) = renamed
                .iter()
                .filter(|(from, _)| {
                    p.len() > from.len() && p.starts_with(from.as_slice()) && p[from.len()] == b'/'
                })
                .max_by_key(|(from, _)| from.len())
            else {
                continue;
            };
            let mut suggested = to.clone();
            suggested.extend_from_slice(&p[from.len()..]);
            // Where the merge left it: gix moves it into the renamed directory when it
            // detected the rename itself, else it stays where it was added.
            let (path, entry) = match lookup(&merged_tree, suggested.as_ref())? {
                Some(e) => (suggested.clone(), e),
                None => match lookup(&merged_tree, p.as_ref())? {
                    Some(e) => (p.clone(), e),
                    None => continue,
                },
            };
            out.push(DirRenameConflict {
                path,
                suggested,
                added_by_theirs: theirs_added,
                id: entry.0,
                mode: crate::git::index::index_mode(entry.1),
            });
        }
    }
    Ok(out)
}

/// The leaf at `path` in `tree`: its id and kind.
pub fn lookup(
    tree: &gix::Tree<'_>,
    path: &gix::bstr::BStr,
) -> Result<Option<(ObjectId, gix::object::tree::EntryKind)>> {
    let path = gix::path::from_bstr(path)?;
    Ok(tree
        .lookup_entry_by_path(&*path)?
        .filter(|e| !e.mode().is_tree())
        .map(|e| (e.object_id(), e.mode().kind())))
}

/// git's `get_renamed_dir_portion`: `a/b/c/f -> x/c/f` gives `(a/b, x)`, the directories a
/// rename moved its file between once the common trailing directories are stripped (the
/// file name itself does not matter). `None` when the directory did not change, or for a
/// move from or to the top level.
fn renamed_dir_portion<'a>(from: &'a [u8], to: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
    let fd = &from[..from.iter().rposition(|b| *b == b'/')?];
    let td = &to[..to.iter().rposition(|b| *b == b'/')?];
    if fd == td {
        return None;
    }
    let (mut f, mut t) = (fd, td);
    loop {
        let fi = f.iter().rposition(|b| *b == b'/');
        let ti = t.iter().rposition(|b| *b == b'/');
        let fl = &f[fi.map_or(0, |i| i + 1)..];
        let tl = &t[ti.map_or(0, |i| i + 1)..];
        if fl != tl {
            return Some((f, t));
        }
        match (fi, ti) {
            (Some(fi), Some(ti)) => {
                f = &f[..fi];
                t = &t[..ti];
            }
            // One directory is a trailing part of the other: git assumes no rename.
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::renamed_dir_portion;
    use super::{fold, memory_repo, Folded, Tip};
    use gix::ObjectId;

    /// Diffs ahead come from two threads, out of order: each tip gets its own, tips the
    /// fold skipped are passed over, and a diff against another base is none.
    #[test]
    fn diffs_ahead_are_taken_by_tip_whatever_order_they_come_in() {
        let id = |b: u8| ObjectId::from_bytes_or_panic(&[b; 20]);
        let change = |p: &str| crate::worktree::diff::PathChange {
            path: p.into(),
            old: None,
            new: None,
        };
        let (tx, results) = std::sync::mpsc::channel();
        let mut ahead = super::DiffsAhead {
            start: id(0),
            tips: 5,
            results,
            early: Default::default(),
            stop: Default::default(),
            threads: Vec::new(),
        };
        for k in [1usize, 0, 3, 2, 4] {
            let base = if k == 4 { id(9) } else { id(1) };
            tx.send((k, Some((base, vec![change(&format!("t{k}"))]))))
                .unwrap();
        }
        drop(tx);
        let paths = |d: Option<Vec<crate::worktree::diff::PathChange>>| {
            d.map(|d| {
                d.into_iter()
                    .map(|c| c.path.to_string())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(paths(ahead.take(0, id(1))), Some(vec!["t0".to_string()]));
        // Tip 1 was already contained: the fold asks for 2 next.
        assert_eq!(paths(ahead.take(2, id(1))), Some(vec!["t2".to_string()]));
        assert_eq!(paths(ahead.take(3, id(1))), Some(vec!["t3".to_string()]));
        assert!(
            ahead.take(4, id(1)).is_none(),
            "worked out against another base"
        );
        assert!(
            ahead.take(5, id(1)).is_none(),
            "no such tip: the channel is done"
        );
    }

    /// A lane whose tree names a blob this repository lacks (a corrupt or partial clone that
    /// was not filled in) fails the fold, whether its diff was worked out ahead or not:
    /// nothing downstream ever sees a tree pointing at a missing object.
    #[test]
    fn a_fold_refuses_a_lane_leaf_whose_object_is_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let git = |args: &[&str]| crate::hermetic::shared().git(d, args);
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(d.join("base.txt"), "base\n").unwrap();
        git(&["add", "-A"]);
        git(&["commit", "-qm", "base"]);
        let base = git(&["rev-parse", "HEAD"]);
        let lane = |name: &str, file: &str| -> ObjectId {
            git(&["checkout", "-q", "-b", name, &base]);
            std::fs::write(d.join(file), name).unwrap();
            git(&["add", "-A"]);
            git(&["commit", "-qm", name]);
            ObjectId::from_hex(git(&["rev-parse", "HEAD"]).as_bytes()).unwrap()
        };
        let (one, two) = (lane("one", "one.txt"), lane("two", "two.txt"));
        // The fold starts from work of its own, so no step is a fast-forward.
        let start = lane("ours", "ours.txt");
        // A third lane: base's tree plus a blob nobody has.
        let ghost = "1234567890123456789012345678901234567890";
        let listing = format!(
            "{}100644 blob {ghost}\tghost.txt\n",
            git(&["ls-tree", &base]) + "\n"
        );
        let tree = {
            use std::io::Write as _;
            let mut cmd = crate::hermetic::shared().command("git", d);
            cmd.args(["mktree", "--missing"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped());
            let mut child = {
                let _spawning = crate::hermetic::spawning();
                cmd.spawn().unwrap()
            };
            child
                .stdin
                .take()
                .unwrap()
                .write_all(listing.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        let broken = git(&["commit-tree", &tree, "-p", &base, "-m", "broken"]);
        let broken = ObjectId::from_hex(broken.as_bytes()).unwrap();
        let repo = crate::hermetic::open(d);
        let tip = |lane: &str, commit| Tip {
            lane: lane.into(),
            commit,
        };
        let orders = [
            vec![tip("one", one), tip("broken", broken)],
            vec![tip("one", one), tip("two", two), tip("broken", broken)],
            vec![tip("broken", broken)],
        ];
        for tips in orders {
            let mem = memory_repo(&repo);
            let err = match fold(&mem, start, &tips, "ours") {
                Err(e) => format!("{e:#}"),
                Ok(Folded::Clean { tree, .. }) => panic!("folded into {tree}"),
                Ok(Folded::Conflict { .. }) => panic!("a conflict instead of an error"),
            };
            assert!(err.contains(ghost), "{err}");
        }
    }

    #[test]
    fn renamed_directory_portions_like_git() {
        let p = |a: &str, b: &str| {
            renamed_dir_portion(a.as_bytes(), b.as_bytes()).map(|(x, y)| {
                (
                    String::from_utf8_lossy(x).into_owned(),
                    String::from_utf8_lossy(y).into_owned(),
                )
            })
        };
        assert_eq!(p("a/b/c/f", "x/c/f"), Some(("a/b".into(), "x".into())));
        assert_eq!(
            p("old/f.txt", "archive/f.txt"),
            Some(("old".into(), "archive".into()))
        );
        assert_eq!(
            p("a/b/c/d/e/foo.c", "a/b/some/thing/else/e/foo.c"),
            Some(("a/b/c/d".into(), "a/b/some/thing/else".into()))
        );
        assert_eq!(p("a/f", "a/g"), None);
        assert_eq!(p("f", "a/f"), None);
    }
}
