//! `squash`: fold every lane onto the target's current tip and land ONE integration commit.
//!
//! The fold runs in an in-memory object store. Conflicts, a failing `--verify` or a dry run
//! write nothing at all. Otherwise the objects of the final tree are written, then one commit
//! whose only parent is the target tip, then the target branch moves by compare-and-swap (a
//! checked-out target worktree is moved with it by the safe updater) - so the target only ever
//! fast-forwards by exactly one commit (ARCHITECTURE.md, invariant 5).

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use gix::bstr::ByteSlice;
use gix::refs::transaction::PreviousValue;
use gix::ObjectId;
use serde::Serialize;

use crate::error::{Diagnostic, Kind};
use crate::git::commit::{self, NewCommit, Purpose};
use crate::git::index::LockedIndex;
use crate::git::refs;
use crate::git::worktrees::Workspace;
use crate::ops::landed::{self, LaneLanded};
use crate::ops::merge::{self, Folded, Tip};
use crate::ops::message;
use crate::ops::verify::Verified;
use crate::plan::lanes as lane;
use crate::plan::refnames::{self, trailers};
use crate::plan::{self, StoredPlan};
use crate::worktree::operation::Operation;
use crate::worktree::transition::{Prepared, Transition};

/// Why a squash refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SquashError {
    #[error("plan '{plan}' has no lanes to integrate")]
    NoLanes { plan: String },
    #[error("lane '{lane}' has no branch {branch}")]
    LaneMissing { lane: String, branch: String },
    #[error("{} lane(s) are not done: {}", lanes.len(), lanes.join(", "))]
    NotDone { lanes: Vec<String> },
    #[error("plan '{plan}' has no remote to push to")]
    NoRemote { plan: String },
    #[error("'{target}' on {url} moved twice while wtc integrated; nothing was overwritten")]
    RemoteMovedTwice { target: String, url: String },
    #[error("the target branch '{target}' does not exist")]
    TargetMissing { target: String },
    #[error("{url} has no branch '{target}'")]
    RemoteTargetMissing { url: String, target: String },
    #[error("lane '{lane}' conflicts with {with}; nothing was written")]
    Conflict {
        lane: String,
        with: String,
        paths: Vec<String>,
    },
    #[error("nothing to integrate: '{target}' already has every lane's work")]
    NothingToIntegrate { target: String },
    #[error("the checked-out '{target}' at {} has local changes where the integration writes; nothing was written", worktree.display())]
    TargetDirty {
        target: String,
        worktree: PathBuf,
        paths: Vec<String>,
    },
    #[error("another squash integrated the plan as {} meanwhile, without the newest work of {}; nothing was written", &by[..9], missing.join(", "))]
    IntegratedMeanwhile { by: String, missing: Vec<String> },
}

impl Diagnostic for SquashError {
    fn kind(&self) -> Kind {
        match self {
            SquashError::Conflict { .. } => Kind::Conflict,
            _ => Kind::User,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            SquashError::LaneMissing { .. } => "recreate it or `wtc rm` it".into(),
            SquashError::NotDone { .. } => "run `wtc done` in each, wait with `wtc wait --all`, or integrate as they are with --unfinished".into(),
            SquashError::NoRemote { .. } => "plans meet at a remote when created with `wtc init PLAN --remote NAME` (or joined)".into(),
            SquashError::RemoteMovedTwice { .. } => "run `wtc squash --push` again".into(),
            SquashError::TargetMissing { .. } => "create it, or re-create the plan".into(),
            SquashError::Conflict { lane, .. } => format!(
                "make one lane come after the other and resolve there (`wtc sync` in '{lane}'), then squash again"
            ),
            SquashError::TargetDirty { .. } => "commit or stash them there, then squash again".into(),
            SquashError::IntegratedMeanwhile { .. } => "run `wtc squash` again to integrate the rest as another commit".into(),
            SquashError::NothingToIntegrate { .. } => "the target has the lanes' changes, but in another form than the lanes hold them (`wtc status` shows which lanes have not landed); `wtc clean --force` archives them".into(),
            SquashError::NoLanes { .. } | SquashError::RemoteTargetMissing { .. } => return None,
        })
    }
    fn paths(&self) -> Vec<String> {
        match self {
            SquashError::Conflict { paths, .. } | SquashError::TargetDirty { paths, .. } => {
                paths.clone()
            }
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SquashOptions {
    /// The plan's `integrated` value when the command loaded it (before it held the
    /// worktree): a different one now means another squash landed meanwhile.
    pub loaded_integration: Option<String>,
    pub message: Option<String>,
    pub verify: Option<String>,
    /// When `verify` fails, find the lanes that make it fail (`ops::bisect`).
    pub bisect: bool,
    /// ... and land the other lanes (implies `bisect`).
    pub skip_failing: bool,
    pub dry_run: bool,
    pub unfinished: bool,
    pub push: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct LaneTipOut {
    pub name: String,
    pub tip: String,
}

/// The integration commit (or, with `--dry-run`, what it would be).
#[derive(Debug, Clone, Serialize)]
pub struct Squashed {
    pub commit: Option<String>,
    pub tree: String,
    pub parent: String,
    pub target: String,
    pub lanes: Vec<LaneTipOut>,
    pub message: String,
    pub worktree_updated: Option<PathBuf>,
    pub dry_run: bool,
    /// The remote the integration was pushed to (`--push`).
    pub pushed: Option<String>,
    /// How often the fold was redone because the remote target moved (`--push`).
    pub refolds: u32,
    /// The target's tip already was this integration (a squash run again, or one that was
    /// killed after moving the target): nothing new was committed.
    pub already_integrated: bool,
    /// Files of the checked-out target edited while the integration was written there: the
    /// user's version is kept in the worktree, the integration's is in the commit.
    pub raced: Vec<String>,
    /// Older versions of raced files, kept beside them (see `Applied::kept`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
    /// Lanes whose work the target already has, and how (`ops::landed`). When it lists
    /// every lane, nothing is written: `already_integrated` is true and `commit` null.
    pub landed: Vec<LaneLanded>,
    /// `--skip-failing`: lanes left out (culprits and the lanes after them); they stay in
    /// the plan, untouched. `lanes` lists what landed.
    pub skipped: Vec<String>,
    /// `--bisect`/`--skip-failing`: the verify runs made and the culprits found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bisect: Option<crate::ops::verify::Bisected>,
}

/// Land the plan's lanes as ONE integration commit. `op` holds the worktree `ws` stands in;
/// a target checked out in another worktree is held there for the update.
pub fn squash(
    op: &Operation,
    ws: &Workspace,
    stored: &StoredPlan,
    opts: &SquashOptions,
) -> Result<Squashed> {
    let repo = &ws.repo;
    // The command loaded the plan before it held the worktree: another squash may have run
    // in between. Start from the plan as it is now.
    let fresh = plan::load(repo, &stored.plan.name)?;
    let stored = &fresh;
    let integrated_meanwhile = stored
        .plan
        .integrated
        .as_deref()
        .filter(|now| Some(*now) != opts.loaded_integration.as_deref())
        .map(|x| ObjectId::from_hex(x.as_bytes()))
        .transpose()?;
    let plan = &stored.plan;
    let order = plan.topo_order()?;
    if order.is_empty() {
        return Err(SquashError::NoLanes {
            plan: plan.name.clone(),
        }
        .into());
    }
    let mut tips = Vec::new();
    let mut not_done = Vec::new();
    for spec in &order {
        let b = crate::plan::refnames::lane_branch(&plan.name, &spec.name);
        let tip =
            lane::tip(repo, &plan.name, &spec.name)?.ok_or_else(|| SquashError::LaneMissing {
                lane: spec.name.clone(),
                branch: b,
            })?;
        if !lane::is_done(repo, plan, &spec.name, tip)? {
            not_done.push(spec.name.clone());
        }
        tips.push(Tip {
            lane: spec.name.clone(),
            commit: tip,
        });
    }
    if let Some(x) = integrated_meanwhile {
        // Lost a race: say exactly what the winner integrated.
        let mut missing = Vec::new();
        for t in &tips {
            if !lane::integration_covers(repo, x, &t.lane, t.commit)? {
                missing.push(t.lane.clone());
            }
        }
        if !missing.is_empty() {
            return Err(SquashError::IntegratedMeanwhile {
                by: x.to_string(),
                missing,
            }
            .into());
        }
    }
    if !not_done.is_empty() && !opts.unfinished {
        return Err(SquashError::NotDone { lanes: not_done }.into());
    }
    let target_ref = refnames::branch(&plan.target);
    let local_target = refs::peel(repo, &target_ref)?;
    let lanes_out = tips
        .iter()
        .map(|t| LaneTipOut {
            name: t.lane.clone(),
            tip: t.commit.to_string(),
        })
        .collect();
    let mut out = Squashed {
        commit: None,
        tree: String::new(),
        parent: String::new(),
        target: plan.target.clone(),
        lanes: lanes_out,
        message: String::new(),
        worktree_updated: None,
        dry_run: opts.dry_run,
        pushed: None,
        refolds: 0,
        already_integrated: false,
        raced: Vec::new(),
        kept: Vec::new(),
        landed: Vec::new(),
        skipped: Vec::new(),
        bisect: None,
    };

    if opts.push {
        let remote = crate::plan::settings::remote_of(repo, &plan.name).ok_or_else(|| {
            SquashError::NoRemote {
                plan: plan.name.clone(),
            }
        })?;
        // Fold onto the REMOTE target; when it moves meanwhile, re-fold once, then give up.
        let mut onto = fetch_remote_target(repo, &remote, plan)?;
        loop {
            out.landed = landed_lanes(repo, plan, onto, &tips)?;
            if out.landed.len() == tips.len() {
                return already_landed(repo, onto, out);
            }
            crate::ops::history::ensure(
                repo,
                Some(&remote),
                plan.base_id(),
                &fold_commits(onto, &tips),
            )?;
            let mut mem = merge::memory_repo(repo);
            let tree = fold_onto(&mem, onto, &tips, plan)?;
            let v = verified(&mem, plan, onto, &tips, tree, opts, Some(&remote))?;
            let (tree, landing) = (v.tree, v.tips.clone());
            out.set_landing(&tips, v);
            out.tree = tree.to_string();
            out.parent = onto.to_string();
            out.message =
                message::integration_message(repo, plan, &landing, onto, opts.message.as_deref())?;
            if opts.dry_run {
                return Ok(out);
            }
            crate::error::check_interrupt()?;
            merge::persist_tree(&mut mem, repo, tree)?;
            let commit = integration_commit(repo, &out.message, tree, onto)?;
            out.message = commit_message(repo, commit)?;
            let update = crate::git::remote::PushUpdate {
                src: Some(commit),
                dst: target_ref.clone(),
                expected: Some(onto),
            };
            match crate::git::remote::push(repo, &remote, &[update])? {
                crate::git::remote::PushOutcome::Pushed => {
                    refs::cas(
                        repo,
                        &crate::plan::refnames::tracking_target(&remote, &plan.name),
                        PreviousValue::Any,
                        commit,
                        "pushed",
                    )?;
                    out.commit = Some(commit.to_string());
                    out.pushed = Some(remote.clone());
                    // Bring the local target along when it can fast-forward cleanly.
                    if let Some(local) = local_target {
                        if refs::is_ancestor(repo, local, commit)? {
                            let local_tree = repo.find_commit(local)?.tree_id()?.detach();
                            let transition = Transition::of_branch(
                                "squash",
                                &target_ref,
                                local,
                                local_tree,
                                tree,
                            )
                            .with_reflog(squash_reflog(plan, &landing));
                            if let Ok(tc) =
                                prepare_target_checkout(op, ws, repo, &transition, true, None)
                            {
                                (out.worktree_updated, out.raced, out.kept) =
                                    finish_target(tc, repo, transition, local, commit)?;
                            }
                        }
                    }
                    break;
                }
                crate::git::remote::PushOutcome::Stale(_) if out.refolds == 0 => {
                    out.refolds += 1;
                    onto = fetch_remote_target(repo, &remote, plan)?;
                }
                crate::git::remote::PushOutcome::Stale(_) => {
                    return Err(SquashError::RemoteMovedTwice {
                        target: plan.target.clone(),
                        url: crate::git::remote::display_url(repo, &remote),
                    }
                    .into());
                }
            }
        }
    } else {
        let target_tip = local_target.ok_or_else(|| SquashError::TargetMissing {
            target: plan.target.clone(),
        })?;
        let target_tree = repo.find_commit(target_tip)?.tree_id()?.detach();
        let verdicts = crate::trace::span("squash: landed verdicts");
        out.landed = landed_lanes(repo, plan, target_tip, &tips)?;
        drop(verdicts);
        if landed_integration(repo, plan, &tips, target_tip)? {
            // The target's tip already integrates exactly these lane tips: a squash that ran
            // before (perhaps killed after moving the target): finish what is left, if anything.
            if let Some(wt) = ws.worktree_of(&target_ref)?.filter(|w| w.exists) {
                // Holding the target's worktree finishes a transition a killed squash left there.
                let target_repo = Workspace::open_worktree(&wt.path)?;
                if !same_worktree(&target_repo, repo) {
                    Operation::begin(&target_repo, "squash")?;
                }
            }
            out.tree = target_tree.to_string();
            out.parent = match repo.find_commit(target_tip)?.parent_ids().next() {
                Some(p) => p.to_string(),
                None => String::new(),
            };
            out.already_integrated = true;
            out.message = commit_message(repo, target_tip)?;
            if opts.dry_run {
                return Ok(out);
            }
            out.commit = Some(target_tip.to_string());
            if plan.integrated.as_deref() == Some(out.commit.as_deref().expect("set")) {
                return Ok(out); // a squash run again after it finished: nothing to do
            }
            return record_integration(repo, stored, target_tip, out);
        }
        if out.landed.len() == tips.len() {
            return already_landed(repo, target_tip, out);
        }
        let remote = crate::plan::settings::remote_of(repo, &plan.name);
        crate::ops::history::ensure(
            repo,
            remote.as_deref(),
            plan.base_id(),
            &fold_commits(target_tip, &tips),
        )?;
        let mut mem = merge::memory_repo(repo);
        let fold_span = crate::trace::span("squash: fold");
        let tree = fold_onto(&mem, target_tip, &tips, plan)?;
        drop(fold_span);
        let v = verified(&mem, plan, target_tip, &tips, tree, opts, remote.as_deref())?;
        let (tree, landing) = (v.tree, v.tips.clone());
        out.set_landing(&tips, v);
        out.tree = tree.to_string();
        out.parent = target_tip.to_string();
        let msg = crate::trace::span("squash: message");
        out.message = message::integration_message(
            repo,
            plan,
            &landing,
            target_tip,
            opts.message.as_deref(),
        )?;
        drop(msg);
        // A checked-out target must take the new tree without losing anything: check first
        // (and let go of its index: hooks and the signer run next, never under index.lock).
        let transition =
            Transition::of_branch("squash", &target_ref, target_tip, target_tree, tree)
                .with_reflog(squash_reflog(plan, &landing));
        let check_span = crate::trace::span("squash: check target");
        let checked =
            prepare_target_checkout(op, ws, &mem, &transition, false, None)?.map(|tc| Checked {
                checksum: tc.locked.file.checksum(),
                prepared: tc.prepared,
                index: tc.locked.into_file(),
            });
        drop(check_span);
        if opts.dry_run {
            return Ok(out);
        }
        crate::error::check_interrupt()?;
        let persist = crate::trace::span("squash: persist tree");
        merge::persist_tree(&mut mem, repo, tree)?;
        drop(persist);
        let write = crate::trace::span("squash: integration commit");
        let commit = integration_commit(repo, &out.message, tree, target_tip)?;
        out.message = commit_message(repo, commit)?;
        drop(write);
        // Now the locked phase: check again (anything may have changed meanwhile), then move.
        let recheck = crate::trace::span("squash: check target again (locked)");
        let tc = prepare_target_checkout(op, ws, repo, &transition, true, checked)?;
        drop(recheck);
        (out.worktree_updated, out.raced, out.kept) =
            finish_target(tc, repo, transition, target_tip, commit)?;
        out.commit = Some(commit.to_string());
    }
    let commit = ObjectId::from_hex(out.commit.as_deref().expect("set above").as_bytes())?;
    commit::after_landing(repo, Purpose::Integration);
    record_integration(repo, stored, commit, out)
}

/// The lanes whose work `onto` already has (the one verdict: `ops::landed`).
fn landed_lanes(
    repo: &gix::Repository,
    plan: &plan::Plan,
    onto: ObjectId,
    tips: &[Tip],
) -> Result<Vec<LaneLanded>> {
    let target = landed::Target::at(repo, plan, vec![onto])?;
    let mut out = Vec::new();
    for t in tips {
        if let Some(how) = target.verdict(repo, &t.lane, t.commit)? {
            out.push(LaneLanded {
                name: t.lane.clone(),
                how,
            });
        }
    }
    Ok(out)
}

/// Every lane's work is on `onto` already (merged, cherry-picked, empty, or integrated by
/// an earlier squash): there is nothing to commit, which is success, not an error; nothing
/// is written, not even the plan.
fn already_landed(repo: &gix::Repository, onto: ObjectId, mut out: Squashed) -> Result<Squashed> {
    out.tree = repo.find_commit(onto)?.tree_id()?.to_string();
    out.parent = onto.to_string();
    out.already_integrated = true;
    Ok(out)
}

/// The commits a fold onto `onto` starts from: `onto` and every lane tip.
fn fold_commits(onto: ObjectId, tips: &[Tip]) -> Vec<ObjectId> {
    std::iter::once(onto)
        .chain(tips.iter().map(|t| t.commit))
        .collect()
}

/// The target's reflog entry for the integration.
fn squash_reflog(plan: &plan::Plan, tips: &[Tip]) -> String {
    let lanes: Vec<&str> = tips.iter().map(|t| t.lane.as_str()).collect();
    format!(
        "squash: integrate plan {} ({})",
        plan.name,
        lanes.join(", ")
    )
}

/// The message a commit was written with (hooks may have changed it).
fn commit_message(repo: &gix::Repository, commit: ObjectId) -> Result<String> {
    Ok(repo
        .find_commit(commit)?
        .message_raw()?
        .to_str_lossy()
        .into_owned())
}

/// Record the integration in the plan's log; the target already moved, so a lost race here
/// is reported but does not undo anything.
fn record_integration(
    repo: &gix::Repository,
    stored: &StoredPlan,
    commit: ObjectId,
    out: Squashed,
) -> Result<Squashed> {
    let mut updated = stored.plan.clone();
    updated.integrated = Some(commit.to_string());
    crate::ops::publish::store_plan(
        repo,
        &updated,
        Some(stored.commit),
        &format!("squash: integrated as {}", refs::short(commit)),
    )
    .context("the integration landed, but recording it in the plan failed")?;
    Ok(out)
}

/// Is `target_tip` this plan's integration of exactly `tips`? That is what a squash leaves
/// behind, also one killed between moving the target and recording the integration in the
/// plan: folding again would only find "nothing to integrate" and leave the plan unintegrated.
fn landed_integration(
    repo: &gix::Repository,
    plan: &plan::Plan,
    tips: &[Tip],
    target_tip: ObjectId,
) -> Result<bool> {
    let commit = repo.find_commit(target_tip)?;
    let message = commit.message_raw()?;
    if trailers::plan_of(message).as_deref() != Some(plan.name.as_str()) {
        return Ok(false);
    }
    let recorded = trailers::lanes_of(message);
    Ok(tips
        .iter()
        .all(|t| recorded.iter().any(|(l, c)| *l == t.lane && *c == t.commit)))
}

/// Fold every lane tip onto `onto` in memory; a conflict is an error that writes nothing.
fn fold_onto(
    mem: &gix::Repository,
    onto: ObjectId,
    tips: &[Tip],
    plan: &plan::Plan,
) -> Result<ObjectId> {
    let tree = match merge::fold(mem, onto, tips, &plan.target)? {
        Folded::Clean { tree, .. } => tree,
        Folded::Conflict {
            tip,
            merged,
            outcome,
            moved,
            driver_failed,
            ..
        } => {
            let paths: Vec<String> = merge::conflicted_paths(&outcome)
                .into_iter()
                .chain(moved.iter().map(|m| m.path.to_string()))
                .chain(driver_failed.iter().map(|p| p.to_string()))
                .collect();
            // Name the pair: the lanes folded before whose own changes touch those paths
            // (the conflict forecast's view), else every lane folded before.
            let others: Vec<&Tip> = merged.iter().filter(|t| t.lane != tip.lane).collect();
            let mut culprits = Vec::new();
            for o in &others {
                let touched =
                    crate::ops::forecast::changed_since_merge_base(mem, o.commit, tip.commit)?;
                if paths.iter().any(|p| touched.contains(p)) {
                    culprits.push(format!("'{}'", o.lane));
                }
            }
            let with = if others.is_empty() {
                format!("'{}'", plan.target)
            } else if !culprits.is_empty() {
                culprits.join(", ")
            } else {
                let all: Vec<&str> = others.iter().map(|t| t.lane.as_str()).collect();
                format!("{} (already folded onto '{}')", all.join(", "), plan.target)
            };
            return Err(SquashError::Conflict {
                lane: tip.lane.clone(),
                with,
                paths,
            }
            .into());
        }
    };
    if tree == mem.find_commit(onto)?.tree_id()?.detach() {
        return Err(SquashError::NothingToIntegrate {
            target: plan.target.clone(),
        }
        .into());
    }
    Ok(tree)
}

/// The remote's current target tip, freshly fetched.
fn fetch_remote_target(
    repo: &gix::Repository,
    remote: &str,
    plan: &plan::Plan,
) -> Result<ObjectId> {
    crate::ops::publish::fetch(repo, remote, &plan.name, Some(&plan.target))?;
    refs::peel(
        repo,
        &crate::plan::refnames::tracking_target(remote, &plan.name),
    )?
    .ok_or_else(|| {
        SquashError::RemoteTargetMissing {
            url: crate::git::remote::display_url(repo, remote),
            target: plan.target.clone(),
        }
        .into()
    })
}

/// Write the integration commit: `message`, `tree`, one parent (the target's tip).
fn integration_commit(
    repo: &gix::Repository,
    message: &str,
    tree: ObjectId,
    parent: ObjectId,
) -> Result<ObjectId> {
    commit::write(
        repo,
        NewCommit {
            purpose: Purpose::Integration,
            message: message.to_string(),
            tree,
            parents: vec![parent],
        },
    )
}

/// Do two repositories open the same worktree (one `wtc.lock`)?
fn same_worktree(a: &gix::Repository, b: &gix::Repository) -> bool {
    let canon = |r: &gix::Repository| std::fs::canonicalize(r.git_dir()).ok();
    canon(a) == canon(b)
}

/// The checked-out target worktree, held, its index locked, and checked to take the
/// transition without touching local changes (`None` when the target is not checked out).
struct TargetCheckout {
    repo: gix::Repository,
    /// Held when the target is checked out in another worktree than the one we stand in.
    _op: Option<Operation>,
    locked: LockedIndex,
    prepared: Prepared,
}

/// The check of the target's worktree made before the hooks ran: the index it judged (its
/// checksum, and the index itself, its lock since let go) and what it found.
struct Checked {
    checksum: Option<ObjectId>,
    prepared: Prepared,
    index: gix::index::File,
}

fn prepare_target_checkout(
    op: &Operation,
    ws: &Workspace,
    objects: &gix::Repository,
    transition: &Transition,
    smudge: bool,
    checked: Option<Checked>,
) -> Result<Option<TargetCheckout>> {
    let Some(wt) = ws.worktree_of(transition.branch())?.filter(|w| w.exists) else {
        return Ok(None);
    };
    let repo = Workspace::open_worktree(&wt.path)?;
    let target_op = if same_worktree(&repo, &ws.repo) {
        None
    } else {
        Some(Operation::begin(&repo, "squash")?)
    };
    // External filters (git-lfs) run before index.lock is taken: they may download.
    let staged = match smudge {
        true => transition.smudge_ahead(objects, &repo)?,
        false => Default::default(),
    };
    let (checked, earlier) = match checked {
        Some(c) => (Some((c.checksum, c.prepared)), Some(c.index)),
        None => (None, None),
    };
    let locked = target_op
        .as_ref()
        .unwrap_or(op)
        .lock_index_reusing(&repo, earlier)?;
    // The check made before the hooks ran still holds when nothing it read has moved.
    let prepared = match checked {
        Some((sum, prepared))
            if transition.still_prepared(&repo, &locked.file, sum, &prepared)? =>
        {
            prepared
        }
        _ => transition.prepare(objects, &repo, locked.state())?,
    };
    *prepared.staged.lock().expect("not poisoned") = staged;
    if !prepared.obstacles.is_empty() {
        return Err(SquashError::TargetDirty {
            target: refnames::short_branch(transition.branch()).to_string(),
            worktree: wt.path.clone(),
            paths: prepared
                .obstacles
                .iter()
                .map(|o| o.path().to_string())
                .collect(),
        }
        .into());
    }
    Ok(Some(TargetCheckout {
        repo,
        _op: target_op,
        locked,
        prepared,
    }))
}

/// Move the target to `commit` by CAS, updating its checked-out worktree with it.
fn finish_target(
    tc: Option<TargetCheckout>,
    repo: &gix::Repository,
    transition: Transition,
    from: ObjectId,
    commit: ObjectId,
) -> Result<(Option<PathBuf>, Vec<String>, Vec<String>)> {
    let transition = transition.moving_to(commit);
    match tc {
        Some(tc) => {
            let applied = transition.apply(&tc.repo, &tc.prepared, tc.locked)?;
            Ok((
                tc.repo.workdir().map(|p| p.to_owned()),
                applied.raced,
                applied.kept,
            ))
        }
        None => {
            refs::cas(
                repo,
                transition.branch(),
                PreviousValue::MustExistAndMatch(from.into()),
                commit,
                transition.reflog.as_deref().unwrap_or("squash"),
            )?;
            Ok((None, Vec::new(), Vec::new()))
        }
    }
}

/// Run `--verify` (if asked) on the fold `tree` of `tips`: the tree and lanes that land
/// (all of them, or with `--skip-failing` those that pass without the culprits).
fn verified(
    mem: &gix::Repository,
    plan: &plan::Plan,
    onto: ObjectId,
    tips: &[Tip],
    tree: ObjectId,
    opts: &SquashOptions,
    remote: Option<&str>,
) -> Result<Verified> {
    let Some(command) = opts.verify.as_deref() else {
        return Ok(Verified {
            tips: tips.to_vec(),
            tree,
            bisect: None,
        });
    };
    let how = crate::ops::verify::Verify {
        command,
        bisect: opts.bisect,
        skip_failing: opts.skip_failing,
        remote,
    };
    crate::ops::verify::verify(mem, plan, onto, tips, tree, &how)
}

impl Squashed {
    /// Record what `--verify` lets land out of `tips`.
    fn set_landing(&mut self, tips: &[Tip], v: Verified) {
        self.lanes = v
            .tips
            .iter()
            .map(|t| LaneTipOut {
                name: t.lane.clone(),
                tip: t.commit.to_string(),
            })
            .collect();
        self.skipped = tips
            .iter()
            .filter(|t| !v.tips.iter().any(|l| l.lane == t.lane))
            .map(|t| t.lane.clone())
            .collect();
        self.bisect = v.bisect;
    }
}
