//! `sync`: bring every upstream lane (transitively) into this lane's branch and worktree.
//!
//! Order of work: refuse an unfinished merge; find upstream tips not yet contained; fold the
//! tips in memory; then, holding `index.lock`, check the paths the result changes (nothing
//! else: no whole-worktree scan), write the objects, update files and index, and move the
//! branch by compare-and-swap. Local work on those paths is autosaved (default) and the fold
//! runs again on top of it, or refused (`--no-autosave`); local work elsewhere stays. On conflicts the worktree gets the markers, the index
//! gets stages 1/2/3 and MERGE_HEAD/MERGE_MSG are written, so `git status` explains and a plain
//! `git commit` finishes the merge.

use anyhow::Result;
use gix::bstr::ByteSlice;
use gix::ObjectId;
use serde::Serialize;

use crate::error::{Diagnostic, Kind};
use crate::git::commit::{self, NewCommit, Purpose};
use crate::git::index::LockedIndex;
use crate::git::refs;
use crate::ops::merge::{self, Folded, Tip};
use crate::plan::lanes as lane;
use crate::plan::{refnames, Plan};
use crate::worktree::entry::Staged;
use crate::worktree::obstacles::Obstacle;
use crate::worktree::operation::Operation;
use crate::worktree::snapshot;
use crate::worktree::transition::{Prepared, StagedEntry, Transition};

/// Why a sync refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the lane branch {branch} is missing")]
    BranchMissing { branch: String },
    #[error("the last sync stopped on conflicts that are not resolved yet")]
    Unresolved { paths: Vec<String> },
    #[error("a merge is waiting to be committed in this worktree")]
    MergePending,
    #[error("upstream lane '{lane}' has no branch {branch}")]
    UpstreamMissing { lane: String, branch: String },
    #[error("{branch} moved while wtc was syncing it; nothing was changed")]
    BranchMoved { branch: String },
    #[error("this lane's worktree is not on {branch} (HEAD is {head}); nothing was changed")]
    NotOnLane { branch: String, head: String },
    #[error("local changes in {} path(s) would be overwritten by the incoming lanes; nothing was changed", paths.len())]
    LocalChanges { paths: Vec<String> },
    #[error("the target branch {target} {where_} does not exist; nothing was changed")]
    TargetMissing { target: String, where_: String },
}

impl Diagnostic for SyncError {
    fn kind(&self) -> Kind {
        match self {
            SyncError::Unresolved { .. } => Kind::Conflict,
            _ => Kind::User,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            SyncError::BranchMissing { .. } => return None,
            SyncError::Unresolved { .. } => "edit the files to resolve the markers, then `git commit -a` (or `wtc save`), then sync again".into(),
            SyncError::MergePending => "finish it with `git commit` (or `wtc save`), then sync again".into(),
            SyncError::UpstreamMissing { lane, .. } => format!(
                "recreate it with `wtc add {lane} --from REV`, or remove it with `wtc rm {lane}`"
            ),
            SyncError::BranchMoved { .. } => "run `wtc sync` again".into(),
            SyncError::NotOnLane { branch, .. } => format!(
                "switch back to the lane's branch (`git switch {}`), then sync again",
                refnames::short_branch(branch)
            ),
            SyncError::TargetMissing { .. } => {
                "create it (or fetch it), or sync without --target".into()
            }
            SyncError::LocalChanges { .. } => "save them first (`wtc save`, or run `wtc sync` without --no-autosave); untracked or ignored files in the way must be moved".into(),
        })
    }
    fn paths(&self) -> Vec<String> {
        match self {
            SyncError::Unresolved { paths } | SyncError::LocalChanges { paths } => paths.clone(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    pub autosave: bool,
    pub dry_run: bool,
    /// On conflicts, write nothing (no markers, stages or MERGE_HEAD) and return the result
    /// `Conflict` with the paths: live syncing (`watch`, `run`) holds such a lane back instead
    /// of putting conflict markers under an agent that is still working.
    pub hold_conflicts: bool,
    /// Also merge the target branch's current tip (the remote's, in remote mode): its new
    /// commits (a hotfix on main) reach this lane, and through it the lanes after it.
    pub with_target: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncResult {
    UpToDate,
    FastForward,
    Merged,
    Conflict,
}

/// What `sync` did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Synced {
    pub lane: String,
    pub result: SyncResult,
    /// The lane's tip afterwards (unchanged on conflict).
    pub commit: Option<String>,
    /// Upstream lanes brought in by this sync.
    pub merged: Vec<String>,
    /// Conflicted paths (result = conflict).
    pub conflicts: Vec<String>,
    /// The WIP commit made from a dirty worktree before merging.
    pub autosaved: Option<String>,
    /// Files someone edited while the sync wrote them: their bytes stay in the worktree,
    /// the incoming version is in the commit and the index (`git diff` shows the edit).
    pub raced: Vec<String>,
    /// Older versions of raced files the user replaced themselves meanwhile, kept beside
    /// them as `<path>.wtc-kept-N` (untracked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
    /// Initialised submodules whose gitlink the sync changed: moved along
    /// (`submodule.recurse`) or left at their commit (`git submodule update` moves them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub submodules: Vec<crate::worktree::submodules::Followed>,
    pub dry_run: bool,
}

/// Sync lane `lane_name` of `plan`, whose worktree is `repo`, inside the locked operation
/// `op`: an autosave phase, the fold in memory (no lock), then one transition phase.
pub fn sync(
    op: &Operation,
    repo: &gix::Repository,
    plan: &Plan,
    lane_name: &str,
    opts: SyncOptions,
) -> Result<Synced> {
    let branch = crate::plan::refnames::lane_branch(&plan.name, lane_name);
    let mut head = refs::peel(repo, &branch)?.ok_or_else(|| SyncError::BranchMissing {
        branch: branch.clone(),
    })?;
    let mut out = Synced {
        lane: lane_name.to_string(),
        result: SyncResult::UpToDate,
        commit: Some(head.to_string()),
        merged: Vec::new(),
        conflicts: Vec::new(),
        autosaved: None,
        raced: Vec::new(),
        kept: Vec::new(),
        submodules: Vec::new(),
        dry_run: opts.dry_run,
    };

    let lanes_span = crate::trace::span("sync: the lane's state, its upstream tips");
    // A git operation half-way (a rebase, a cherry-pick...) is the user's: never build on it.
    snapshot::refuse_operation_in_progress(repo)?;
    let on = repo
        .head_name()?
        .map(|n| n.as_bstr().to_str_lossy().into_owned());
    if on.as_deref() != Some(branch.as_str()) {
        return Err(SyncError::NotOnLane {
            branch: branch.clone(),
            head: match on {
                Some(other) => format!("on {}", refnames::short_branch(&other)),
                None => match repo.head_id() {
                    Ok(id) => format!("detached at {}", refs::short(id.detach())),
                    Err(_) => "unborn".into(),
                },
            },
        }
        .into());
    }
    // An unfinished merge comes first: it is the user's work in progress.
    if !snapshot::merge_heads(repo)?.is_empty() {
        let conflicted = op.lock_index(repo)?.conflicted_paths();
        if !conflicted.is_empty() {
            return Err(SyncError::Unresolved { paths: conflicted }.into());
        }
        if !opts.autosave || opts.dry_run {
            return Err(SyncError::MergePending.into());
        }
    }

    let mut tips = upstream_tips(repo, plan, lane_name)?;
    // Remote mode: another clone may have published this very lane (a retried CI job, a
    // second machine): its work comes in first, so publishing again builds on it.
    if let Some(remote) = crate::plan::settings::remote_of(repo, &plan.name) {
        let published = refs::peel(
            repo,
            &refnames::tracking_lane(&remote, &plan.name, lane_name),
        )?;
        if let Some(p) = published.filter(|p| *p != head) {
            tips.insert(
                0,
                Tip {
                    lane: format!("{lane_name} (published)"),
                    commit: p,
                },
            );
        }
    }
    if opts.with_target {
        tips.push(Tip {
            lane: format!("{} (target)", plan.target),
            commit: target_tip(repo, plan)?,
        });
    }
    drop(lanes_span);
    // The fold's thread that diffs each tip against its merge base starts now, while this
    // thread finds out what is pending (both read the same commits, cached once).
    // A third looks at the tracked files those diffs name (the dear part of the worktree
    // check) while the fold runs.
    let starting = crate::trace::span("sync: start the helper threads");
    let mut prejudge = None;
    let mut ahead = match snapshot::merge_heads(repo)?.is_empty() {
        true if tips.len() >= 2 => {
            prejudge = crate::worktree::prejudge::Prejudge::start(repo);
            let paths = prejudge.as_ref().map(|p| p.sender());
            merge::DiffsAhead::start_telling(repo, head, &tips, paths)
        }
        true => merge::DiffsAhead::start(repo, head, &tips),
        false => None,
    };
    drop(starting);
    let pending_span = crate::trace::span("sync: what is pending");
    let mut pending = Vec::new();
    for t in &tips {
        if !refs::is_ancestor(repo, t.commit, head)? {
            pending.push(t.lane.clone());
        }
    }
    drop(pending_span);
    if pending.is_empty() && snapshot::merge_heads(repo)?.is_empty() {
        return Ok(out);
    }

    // Concluding a resolved conflict: the whole worktree is the merge's result, as with
    // `git commit -a`.
    if !snapshot::merge_heads(repo)?.is_empty() {
        let msg = format!("wip: {lane_name} (autosave before sync)");
        let _t = crate::trace::span("sync: conclude merge");
        let saved = crate::ops::save::save(op, repo, &branch, lane_name, Some(&msg), false)?;
        if let Some(c) = saved.commit {
            head = c;
            out.autosaved = Some(c.to_string());
            out.commit = Some(c.to_string());
        }
    }
    // No whole-worktree scan: the fold comes first, then only the paths it changes are
    // looked at. Local work there is autosaved (default) and the fold runs again on top of
    // it; local work elsewhere stays in the worktree, uncommitted, as `git merge` leaves it.
    let mut autosaved = false;
    loop {
        match fold_and_apply(
            op,
            repo,
            plan,
            lane_name,
            &branch,
            head,
            &tips,
            opts,
            &mut out,
            ahead.take(),
            prejudge.take(),
        )? {
            Step::Done => return Ok(out),
            Step::Blocked(obstacles) if opts.autosave && !opts.dry_run && !autosaved => {
                autosaved = true;
                let msg = format!("wip: {lane_name} (autosave before sync)");
                let _t = crate::trace::span("sync: autosave");
                let paths: Vec<gix::bstr::BString> =
                    obstacles.iter().map(|o| o.path().into()).collect();
                let saved =
                    crate::ops::save::save_paths(op, repo, &branch, lane_name, Some(&msg), &paths)?;
                match saved.commit {
                    Some(c) => {
                        head = c;
                        out.autosaved = Some(c.to_string());
                        out.commit = Some(c.to_string());
                    }
                    // Only ignored files or nested repositories stand there: never saved.
                    None => return Err(overlap_error(&obstacles)),
                }
            }
            Step::Blocked(obstacles) => return Err(overlap_error(&obstacles)),
        }
    }
}

/// How one fold-and-apply attempt ended.
enum Step {
    /// Applied (or, dry run, checked): `out` says what happened.
    Done,
    /// Local work stands where the result writes; nothing was written.
    Blocked(Vec<Obstacle>),
}

/// Fold the upstream `tips` into `head` in memory, then (one transition phase) check the
/// paths it changes and apply it, filling `out`.
#[allow(clippy::too_many_arguments)]
fn fold_and_apply(
    op: &Operation,
    repo: &gix::Repository,
    plan: &Plan,
    lane_name: &str,
    branch: &str,
    head: ObjectId,
    tips: &[Tip],
    opts: SyncOptions,
    out: &mut Synced,
    ahead: Option<merge::DiffsAhead>,
    prejudge: Option<crate::worktree::prejudge::Prejudge>,
) -> Result<Step> {
    let branch = branch.to_string();
    // A shallow or partial clone gets the history and blobs the fold needs first.
    let commits: Vec<ObjectId> = std::iter::once(head)
        .chain(tips.iter().map(|t| t.commit))
        .collect();
    let history = crate::trace::span("sync: history");
    crate::ops::history::ensure(
        repo,
        crate::plan::settings::remote_of(repo, &plan.name).as_deref(),
        plan.base_id(),
        &commits,
    )?;
    drop(history);
    let mut mem = merge::memory_repo(repo);
    let head_tree = repo.find_commit(head)?.tree_id()?.detach();
    // The fold borrows `mem`; keep what we need from it in owned form.
    let fold_span = crate::trace::span("sync: fold");
    let folded = {
        let mem_ref: &gix::Repository = &mem;
        match merge::fold_with(mem_ref, head, tips, lane_name, ahead)? {
            Folded::Clean {
                commit,
                tree,
                merged,
                fast_forward,
            } => FoldSummary::Clean {
                commit,
                tree,
                merged,
                fast_forward,
            },
            Folded::Conflict {
                merged,
                mut outcome,
                moved,
                driver_failed,
                base_tree,
                ours,
                tip,
            } => {
                let tree = outcome
                    .tree
                    .write(|t| mem_ref.write_object(t).map(|id| id.detach()))
                    .map_err(|e| anyhow::anyhow!("writing the conflicted tree: {e}"))?;
                let mut paths = merge::conflicted_paths(&outcome);
                paths.extend(moved.iter().map(|m| m.path.to_str_lossy().into_owned()));
                paths.extend(driver_failed.iter().map(|p| p.to_str_lossy().into_owned()));
                paths.sort();
                paths.dedup();
                // gix applies conflict stages to an index that is at the merged tree's state;
                // build that (only on conflict) and keep just the stages, which are applied
                // to the real index below, after the worktree reached `tree`.
                let mut state: gix::index::State = mem_ref.index_from_tree(&tree)?.into();
                let mut stages = ConflictStages::capture(&outcome, &mut state);
                // A file placed by a directory rename (git's "file location" conflict) has
                // one stage: the side that added it, as `git merge` records it.
                for m in &moved {
                    let stage = if m.added_by_theirs {
                        gix::index::entry::Stage::Theirs
                    } else {
                        gix::index::entry::Stage::Ours
                    };
                    stages.entries.push((m.path.clone(), stage, m.mode, m.id));
                }
                // A merge driver that said "conflict": its result is in the worktree (the
                // merged tree holds it), the three sides are the stages, as git leaves them.
                let sides = [
                    (gix::index::entry::Stage::Base, base_tree),
                    (
                        gix::index::entry::Stage::Ours,
                        merge::tree_of(mem_ref, ours)?,
                    ),
                    (
                        gix::index::entry::Stage::Theirs,
                        merge::tree_of(mem_ref, tip.commit)?,
                    ),
                ];
                for p in &driver_failed {
                    for (stage, tree) in sides {
                        if let Some((id, kind)) =
                            merge::lookup(&mem_ref.find_tree(tree)?, p.as_ref())?
                        {
                            stages.entries.push((
                                p.clone(),
                                stage,
                                crate::git::index::index_mode(kind),
                                id,
                            ));
                        }
                    }
                }
                FoldSummary::Conflict {
                    tree,
                    merged,
                    paths,
                    stages,
                }
            }
        }
    };

    drop(fold_span);
    match folded {
        FoldSummary::Clean {
            commit,
            tree,
            merged,
            fast_forward,
        } => {
            out.merged = merged.iter().map(|t| t.lane.clone()).collect();
            if merged.is_empty() {
                return Ok(Step::Done);
            }
            out.result = if fast_forward {
                SyncResult::FastForward
            } else {
                SyncResult::Merged
            };
            let transition = Transition::of_branch("sync", &branch, head, head_tree, tree)
                .with_reflog(if fast_forward {
                    format!("sync: fast-forward to {}", out.merged.join(", "))
                } else {
                    format!("sync: merge {} into {lane_name}", out.merged.join(", "))
                });
            let message = format!(
                "{}{} into {lane_name}",
                snapshot::SYNC_MERGE_SUBJECT,
                out.merged.join(", ")
            );
            let merge_commit = |on: &gix::Repository| -> Result<ObjectId> {
                let parents: Vec<ObjectId> = std::iter::once(head)
                    .chain(
                        merge::independent_tips(on, &merged)?
                            .into_iter()
                            .map(|t| t.commit),
                    )
                    .collect();
                commit::write(
                    on,
                    NewCommit {
                        purpose: Purpose::SyncMerge,
                        message: message.clone(),
                        tree,
                        parents,
                    },
                )
            };
            // A signed merge commit is written before the locked phase (the signer may
            // prompt): check first, sign, then lock and check again.
            let mut early = None;
            if !fast_forward && !opts.dry_run && commit::runs_programs(repo, Purpose::SyncMerge) {
                if let Err(obstacles) = prepare_update(op, repo, &mem, &transition, head, false)? {
                    return Ok(Step::Blocked(obstacles));
                }
                let _t = crate::trace::span("sync: write the merge");
                merge::persist_tree(&mut mem, repo, tree)?;
                early = Some(merge_commit(repo)?);
            }
            // Otherwise the merge is written on another core while this one checks the
            // worktree, and a third thread reads the blobs the update writes, ahead of the
            // writers. Should the check find local work in the way, the objects written are
            // unreferenced (content-addressed, pruned by git's gc), and nothing else changed.
            if !fast_forward && !opts.dry_run && early.is_none() {
                let objects = merge::unpersisted(&mut mem, tree)?;
                let shared = repo.clone().into_sync();
                let blobs = crate::worktree::prefetch::Preloaded::default();
                let (transition, merge_commit, mem) = (&transition, &merge_commit, &mem);
                // The lock is taken (and recorded for a successor, should this process be
                // killed) before the helper starts: a kill while the helper writes never
                // falls between creating `index.lock` and recording it.
                // The look made ahead ends (its last paths came with the fold's last diff);
                // the lock takes over the index it read when the file still holds it.
                let mut prejudged = prejudge.map(|p| p.finish());
                let earlier = prejudged.as_mut().and_then(|p| p.take_index());
                let (locked, staged) =
                    lock_for_update(op, repo, mem, transition, head, true, earlier)?;
                let prejudged = prejudged.as_ref().and_then(|p| p.valid_for(&locked.file));
                return std::thread::scope(|scope| -> Result<Step> {
                    let (written_tx, written) = std::sync::mpsc::channel();
                    let helper_blobs = blobs.clone();
                    // The blobs the writers will write are read ahead on a core of their
                    // own as soon as the check knows them (while it hashes the worktree and
                    // another thread writes the merge), not after the merge is written (the
                    // reading then ran beside the writers).
                    let (incoming_tx, incoming) = std::sync::mpsc::channel::<Vec<ObjectId>>();
                    let reader = shared.clone();
                    scope.spawn(move || {
                        crate::helpers::work_behind();
                        let Ok(ids) = incoming.recv() else { return };
                        let repo = reader.to_thread_local();
                        let _t = crate::trace::span("sync: read the incoming blobs");
                        // Two writers take the list from both ends: read for both.
                        let ids = crate::worktree::prefetch::for_two_writers(
                            ids,
                            crate::worktree::transition::WRITER_RUN,
                        );
                        helper_blobs.fill(&repo, ids);
                    });
                    scope.spawn(move || {
                        crate::helpers::work_behind();
                        let repo = shared.to_thread_local();
                        let _t = crate::trace::span("sync: write the merge (beside)");
                        let persisted = {
                            let _t = crate::trace::span("merge (beside): objects");
                            merge::persist(&repo, &objects)
                        };
                        let commit = persisted.and_then(|()| {
                            let _t = crate::trace::span("merge (beside): commit");
                            merge_commit(&repo)
                        });
                        let _ = written_tx.send(commit);
                    });
                    // However this ends, the helper stops reading (the scope waits for it).
                    struct Stop(crate::worktree::prefetch::Preloaded);
                    impl Drop for Stop {
                        fn drop(&mut self) {
                            self.0.stop();
                        }
                    }
                    let _stop = Stop(blobs.clone());
                    let tell = move |ids| {
                        let _ = incoming_tx.send(ids);
                    };
                    let (locked, mut prepared) =
                        match check_update(repo, mem, transition, locked, staged, prejudged, tell)?
                        {
                            Ok(ready) => ready,
                            Err(obstacles) => return Ok(Step::Blocked(obstacles)),
                        };
                    crate::error::check_interrupt()?;
                    let new_commit = written
                        .recv()
                        .map_err(|_| anyhow::anyhow!("the thread writing the merge stopped"))??;
                    prepared.preloaded = Some(blobs);
                    apply_merged(repo, transition.clone(), &prepared, locked, new_commit, out)
                });
            }
            let (locked, prepared) =
                match prepare_update(op, repo, &mem, &transition, head, !opts.dry_run)? {
                    Ok(ready) => ready,
                    Err(obstacles) => return Ok(Step::Blocked(obstacles)),
                };
            if opts.dry_run {
                return Ok(Step::Done);
            }
            crate::error::check_interrupt()?;
            // Here the merge was a fast-forward (`commit` is the tip), or written early.
            let new_commit = early.unwrap_or(commit);
            apply_merged(repo, transition, &prepared, locked, new_commit, out)
        }
        FoldSummary::Conflict {
            tree,
            merged,
            paths,
            stages,
        } => {
            out.result = SyncResult::Conflict;
            out.merged = merged.iter().map(|t| t.lane.clone()).collect();
            out.conflicts = paths;
            if opts.dry_run || opts.hold_conflicts {
                return Ok(Step::Done);
            }
            let transition = Transition::of_branch("sync", &branch, head, head_tree, tree);
            let (locked, prepared) = match prepare_update(op, repo, &mem, &transition, head, true)?
            {
                Ok(ready) => ready,
                Err(obstacles) => return Ok(Step::Blocked(obstacles)),
            };
            crate::error::check_interrupt()?;
            merge::persist_all(&mut mem, repo)?;
            // The index had no conflicts before (checked above): its conflicts are the stages.
            let staged: std::collections::BTreeSet<String> = stages
                .entries
                .iter()
                .map(|(p, ..)| p.to_str_lossy().into_owned())
                .collect();
            if !staged.is_empty() {
                out.conflicts = staged.into_iter().collect();
            }
            let transition = Transition {
                stages: stages
                    .entries
                    .iter()
                    .map(|(p, stage, mode, id)| StagedEntry::new(p, *stage, *mode, *id))
                    .collect(),
                files: [
                    transition.files.clone(),
                    merge_state_files(repo, &merged, lane_name, &out.conflicts),
                ]
                .concat(),
                ..transition
            };
            let applied = transition.apply(repo, &prepared, locked)?;
            (out.raced, out.kept) = (applied.raced, applied.kept);
            out.submodules = crate::worktree::submodules::follow(repo, &prepared.changes)?;
            Ok(Step::Done)
        }
    }
}

/// Move the lane's worktree, index and branch to `new_commit` (a clean fold's result) and
/// say so in `out`.
fn apply_merged(
    repo: &gix::Repository,
    transition: Transition,
    prepared: &Prepared,
    locked: LockedIndex,
    new_commit: ObjectId,
    out: &mut Synced,
) -> Result<Step> {
    let applied = transition
        .moving_to(new_commit)
        .apply(repo, prepared, locked)?;
    (out.raced, out.kept) = (applied.raced, applied.kept);
    out.submodules = crate::worktree::submodules::follow(repo, &prepared.changes)?;
    out.commit = Some(new_commit.to_string());
    Ok(Step::Done)
}

enum FoldSummary {
    Clean {
        commit: ObjectId,
        tree: ObjectId,
        merged: Vec<Tip>,
        fast_forward: bool,
    },
    Conflict {
        tree: ObjectId,
        merged: Vec<Tip>,
        paths: Vec<String>,
        stages: ConflictStages,
    },
}

/// The index entries (stages 1-3) that a conflicted merge adds, detached from the merge
/// outcome so they can be applied after the worktree update.
struct ConflictStages {
    /// `(path, stage, mode, id)`
    entries: Vec<(
        gix::bstr::BString,
        gix::index::entry::Stage,
        gix::index::entry::Mode,
        ObjectId,
    )>,
}

impl ConflictStages {
    fn capture(outcome: &merge::TreeOutcome<'_>, scratch: &mut gix::index::State) -> Self {
        let how = gix::merge::tree::TreatAsUnresolved::git();
        outcome.index_changed_after_applying_conflicts(
            scratch,
            how,
            gix::merge::tree::apply_index_entries::RemovalMode::Prune,
        );
        let entries = scratch
            .entries()
            .iter()
            .filter(|e| e.stage() != gix::index::entry::Stage::Unconflicted)
            .map(|e| {
                (
                    e.path(scratch).as_bstr().to_owned(),
                    e.stage(),
                    e.mode,
                    e.id,
                )
            })
            .collect();
        ConflictStages { entries }
    }
}

/// The target branch's current tip: the remote's, freshly fetched, in remote mode.
fn target_tip(repo: &gix::Repository, plan: &Plan) -> Result<ObjectId> {
    let (name, where_) = match crate::plan::settings::remote_of(repo, &plan.name) {
        Some(remote) => {
            crate::ops::publish::fetch(repo, &remote, &plan.name, Some(&plan.target))?;
            let url = crate::git::remote::display_url(repo, &remote);
            (
                refnames::tracking_target(&remote, &plan.name),
                format!("on {url}"),
            )
        }
        None => (refnames::branch(&plan.target), "here".to_string()),
    };
    refs::peel(repo, &name)?.ok_or_else(|| {
        SyncError::TargetMissing {
            target: plan.target.clone(),
            where_,
        }
        .into()
    })
}

/// Tips of every upstream lane of `lane_name`, in dependency order.
pub fn upstream_tips(repo: &gix::Repository, plan: &Plan, lane_name: &str) -> Result<Vec<Tip>> {
    plan.upstream_closure(lane_name)
        .into_iter()
        .map(|up| {
            let b = crate::plan::refnames::lane_branch(&plan.name, &up.name);
            let commit = match lane::tip(repo, &plan.name, &up.name)? {
                Some(c) => c,
                // In remote mode a lane nobody has published yet has nothing to bring in.
                None if crate::plan::settings::remote_of(repo, &plan.name).is_some() => {
                    return Ok(None)
                }
                None => {
                    return Err(SyncError::UpstreamMissing {
                        lane: up.name.clone(),
                        branch: b,
                    }
                    .into())
                }
            };
            Ok(Some(Tip {
                lane: up.name.clone(),
                commit,
            }))
        })
        .filter_map(|r| r.transpose())
        .collect()
}

/// The transition phase begins: lock the index, check that the branch did not move, plan
/// the transition; the local changes that stand in its way, if any (lock released, nothing
/// written).
fn prepare_update(
    op: &Operation,
    repo: &gix::Repository,
    mem: &gix::Repository,
    transition: &Transition,
    head: ObjectId,
    smudge: bool,
) -> Result<std::result::Result<(LockedIndex, Prepared), Vec<Obstacle>>> {
    let (locked, staged) = lock_for_update(op, repo, mem, transition, head, smudge, None)?;
    check_update(repo, mem, transition, locked, staged, None, |_| {})
}

/// The first half of [`prepare_update`]: smudge ahead (when asked), lock the index, check
/// that the branch did not move.
fn lock_for_update(
    op: &Operation,
    repo: &gix::Repository,
    mem: &gix::Repository,
    transition: &Transition,
    head: ObjectId,
    smudge: bool,
    earlier: Option<gix::index::File>,
) -> Result<(LockedIndex, Staged)> {
    // External filters (git-lfs) run before index.lock is taken: they may download.
    let staged = match smudge {
        true => transition.smudge_ahead(mem, repo)?,
        false => Default::default(),
    };
    let _t = crate::trace::span("sync: lock and read the index");
    let locked = op.lock_index_reusing(repo, earlier)?;
    ensure_head_unchanged(repo, transition.branch(), head)?;
    Ok((locked, staged))
}

/// The second half of [`prepare_update`]: plan the transition under the lock.
fn check_update(
    repo: &gix::Repository,
    mem: &gix::Repository,
    transition: &Transition,
    locked: LockedIndex,
    staged: Staged,
    prejudged: Option<&crate::worktree::prejudge::Prejudged>,
    incoming: impl FnOnce(Vec<ObjectId>),
) -> Result<std::result::Result<(LockedIndex, Prepared), Vec<Obstacle>>> {
    let _t = crate::trace::span("sync: prepare");
    let prepared = transition.prepare_telling(mem, repo, locked.state(), prejudged, incoming)?;
    *prepared.staged.lock().expect("not poisoned") = staged;
    if !prepared.obstacles.is_empty() {
        return Ok(Err(prepared.obstacles));
    }
    Ok(Ok((locked, prepared)))
}

fn ensure_head_unchanged(repo: &gix::Repository, branch: &str, expected: ObjectId) -> Result<()> {
    let now = refs::peel(repo, branch)?;
    let head = repo.head_id().ok().map(|id| id.detach());
    if now != Some(expected) || head != Some(expected) {
        return Err(SyncError::BranchMoved {
            branch: branch.to_string(),
        }
        .into());
    }
    Ok(())
}

fn overlap_error(obstacles: &[Obstacle]) -> anyhow::Error {
    SyncError::LocalChanges {
        paths: obstacles.iter().map(|o| o.path().to_string()).collect(),
    }
    .into()
}

/// MERGE_MSG, MERGE_MODE and MERGE_HEAD (last: it is what makes git, and wtc, see a merge in
/// progress), as `(file name in the git dir, content)`.
fn merge_state_files(
    repo: &gix::Repository,
    merged: &[Tip],
    lane_name: &str,
    conflicts: &[String],
) -> Vec<(String, String)> {
    let heads: String = merged.iter().map(|t| format!("{}\n", t.commit)).collect();
    let lanes: Vec<&str> = merged.iter().map(|t| t.lane.as_str()).collect();
    let c = comment_string(repo);
    let mut msg = format!(
        "{}{} into {lane_name}\n\n{c} Conflicts:\n",
        snapshot::SYNC_MERGE_SUBJECT,
        lanes.join(", ")
    );
    for p in conflicts {
        msg.push_str(&format!("{c}\t{p}\n"));
    }
    vec![
        ("MERGE_MSG".into(), msg),
        ("MERGE_MODE".into(), "no-ff\n".into()),
        ("MERGE_HEAD".into(), heads),
    ]
}

/// What starts a comment line in commit messages: `core.commentString` or `core.commentChar`
/// (`#` by default, and for `auto`, since the MERGE_MSG wtc writes never starts a line with
/// `#`), as `git commit` strips them.
fn comment_string(repo: &gix::Repository) -> String {
    let config = repo.config_snapshot();
    let value = config
        .string("core.commentString")
        .or_else(|| config.string("core.commentChar"))
        .map(|v| v.to_str_lossy().into_owned())
        .filter(|v| !v.is_empty() && !v.contains('\n') && v != "auto");
    value.unwrap_or_else(|| "#".into())
}
