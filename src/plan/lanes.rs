//! Lanes as git sees them: scratch branches, their tips, and the handoff trailer.
//!
//! A lane's work lives on `refs/heads/wtc/<plan>/<lane>`. Whether it is handed off is read from
//! its tip commit: the trailer `Wtc-State: done` means done, any later commit without it means
//! working again. Nothing else is stored, so a plain `git commit` by an agent is a valid save.

use std::path::PathBuf;

use anyhow::Result;
use gix::bstr::ByteSlice;
use gix::ObjectId;
use serde::Serialize;

use crate::git::refs;
use crate::git::worktrees::Workspace;
use crate::plan::{refnames, Plan};

/// Is the lane's tip a handoff?
pub fn tip_is_done(repo: &gix::Repository, tip: ObjectId) -> Result<bool> {
    let commit = repo.find_commit(tip)?;
    Ok(refnames::trailers::is_done(commit.message_raw()?))
}

/// Is `lane` handed off? Its tip carries the trailer AND is its own: after a fast-forward sync
/// a lane's tip is an upstream lane's commit (perhaps that lane's handoff), which says nothing
/// about this lane, so a tip that an upstream lane's tip contains is not a handoff.
pub fn is_done(repo: &gix::Repository, plan: &Plan, lane: &str, commit: ObjectId) -> Result<bool> {
    if !tip_is_done(repo, commit)? {
        return Ok(false);
    }
    let mut upstream_tips = Vec::new();
    for up in plan.upstream_closure(lane) {
        upstream_tips.extend(tip(repo, &plan.name, &up.name)?);
    }
    is_own_handoff(repo, commit, &upstream_tips)
}

/// A done tip is this lane's own handoff unless one of `upstream_tips` contains it.
fn is_own_handoff(
    repo: &gix::Repository,
    commit: ObjectId,
    upstream_tips: &[ObjectId],
) -> Result<bool> {
    for up_tip in upstream_tips {
        if refs::is_ancestor(repo, commit, *up_tip)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Where one lane stands, as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LaneStatus {
    pub name: String,
    pub after: Vec<String>,
    pub branch: String,
    /// `None` when the branch is missing (deleted behind wtc's back).
    pub tip: Option<String>,
    pub state: &'static str,
    pub worktree: Option<PathBuf>,
    /// The worktree is registered but its directory is gone.
    pub worktree_missing: bool,
    /// Upstream lanes whose tips this lane does not contain yet.
    pub behind: Vec<String>,
    /// Commits on the lane since the plan's base.
    pub commits: usize,
}

/// A lane's tip as this clone knows it: its local branch, or (in remote mode) the published
/// copy fetched from the remote, whichever contains the other. A local branch that diverged
/// from the published one wins: it is this clone's own unpublished work.
pub fn tip(repo: &gix::Repository, plan: &str, lane: &str) -> Result<Option<ObjectId>> {
    let local = refs::peel(repo, &refnames::lane_branch(plan, lane))?;
    let Some(remote) = crate::plan::settings::remote_of(repo, plan) else {
        return Ok(local);
    };
    let tracked = refs::peel(
        repo,
        &crate::plan::refnames::tracking_lane(&remote, plan, lane),
    )?;
    Ok(match (local, tracked) {
        (Some(l), Some(t)) if l != t && refs::is_ancestor(repo, l, t)? => Some(t),
        (Some(l), _) => Some(l),
        (None, t) => t,
    })
}

/// The tip of every lane in `plan` (`None` when a branch is missing).
pub fn tips(repo: &gix::Repository, plan: &Plan) -> Result<Vec<(String, Option<ObjectId>)>> {
    plan.lanes
        .iter()
        .map(|l| Ok((l.name.clone(), tip(repo, &plan.name, &l.name)?)))
        .collect()
}

/// Status of every lane, in dependency order.
pub fn statuses(ws: &Workspace, plan: &Plan) -> Result<Vec<LaneStatus>> {
    let repo = &ws.repo;
    let worktrees = ws.worktrees()?;
    let tips: std::collections::BTreeMap<_, _> = tips(repo, plan)?.into_iter().collect();
    let base = plan.base_id();
    let mut out = Vec::new();
    let order = plan.topo_order()?;
    for spec in &order {
        let branch = refnames::lane_branch(&plan.name, &spec.name);
        let tip = tips[&spec.name];
        let wt = worktrees
            .iter()
            .find(|w| w.branch.as_deref() == Some(branch.as_str()));
        let upstream = plan.upstream_closure_in(&spec.name, &order);
        let upstream_tips: Vec<ObjectId> = upstream.iter().filter_map(|u| tips[&u.name]).collect();
        let state = match tip {
            None => "missing",
            Some(t) if tip_is_done(repo, t)? && is_own_handoff(repo, t, &upstream_tips)? => "done",
            Some(_) => "working",
        };
        let mut behind = Vec::new();
        if let Some(t) = tip {
            for up in &upstream {
                if let Some(up_tip) = tips[&up.name] {
                    if !refs::is_ancestor(repo, up_tip, t)? {
                        behind.push(up.name.clone());
                    }
                }
            }
        }
        let commits = match tip {
            Some(t) => count_commits(repo, t, base)?,
            None => 0,
        };
        out.push(LaneStatus {
            name: spec.name.clone(),
            after: spec.after.clone(),
            branch: refnames::lane_branch_short(&plan.name, &spec.name),
            tip: tip.map(|t| t.to_string()),
            state,
            worktree: wt.map(|w| w.path.clone()),
            worktree_missing: wt.is_some_and(|w| !w.exists),
            behind,
            commits,
        });
    }
    Ok(out)
}

/// Commits reachable from `tip` but not from `base`.
pub fn count_commits(repo: &gix::Repository, tip: ObjectId, base: ObjectId) -> Result<usize> {
    if tip == base {
        return Ok(0);
    }
    crate::git::ancestry::count_unique(repo, tip, base)
}

/// Commit subjects reachable from `tip` but from none of `hidden` (the plan's base and the
/// tips of upstream lanes, whose subjects belong to those lanes), oldest first.
pub fn subjects(repo: &gix::Repository, tip: ObjectId, hidden: &[ObjectId]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for id in crate::git::ancestry::unique_commits(repo, tip, hidden)? {
        let commit = repo.find_commit(id)?;
        let msg = commit.message_raw()?.to_str_lossy().into_owned();
        out.push(msg.lines().next().unwrap_or("").trim().to_string());
    }
    out.reverse();
    Ok(out)
}

/// `(plan, lane)` when the worktree of `ws` has a lane branch checked out.
pub fn checked_out(ws: &Workspace) -> Result<Option<(String, String)>> {
    Ok(ws
        .head_branch()?
        .and_then(|b| refnames::parse_lane_branch(&b)))
}

/// Does the integration commit record this lane at `tip` (or a later tip containing it)?
pub fn integration_covers(
    repo: &gix::Repository,
    integration: ObjectId,
    lane_name: &str,
    tip: ObjectId,
) -> Result<bool> {
    let Ok(commit) = repo.find_commit(integration) else {
        return Ok(false);
    };
    for (lane, recorded) in refnames::trailers::lanes_of(commit.message_raw()?) {
        if lane == lane_name && refs::is_ancestor(repo, tip, recorded)? {
            return Ok(true);
        }
    }
    Ok(false)
}
