//! What every command gets: where it runs, which plan and lane it is about, how to talk.

use std::path::PathBuf;

use anyhow::Result;

use super::Ui;
use crate::git::worktrees::Workspace;
use crate::plan::{self, lanes, StoredPlan};
use crate::worktree::operation::Operation;

/// What every command gets: where it runs, which plan was asked for, how to talk.
pub struct Ctx {
    pub dir: PathBuf,
    pub plan: Option<String>,
    pub ui: Ui,
}

impl Ctx {
    pub fn workspace(&self) -> Result<Workspace> {
        Workspace::discover(&self.dir)
    }

    /// The workspace and the plan this command is about.
    pub fn plan(&self) -> Result<(Workspace, StoredPlan)> {
        self.plan_with(true)
    }

    /// Like [`Ctx::plan`]; with `fetch_required = false` an unreachable remote is tolerated
    /// (the local copy of the plan is used), for commands that can do their local part
    /// offline, like `save`.
    pub fn plan_with(&self, fetch_required: bool) -> Result<(Workspace, StoredPlan)> {
        let ws = self.workspace()?;
        let name = resolve_plan(&ws, self.plan.as_deref())?;
        let stored = crate::ops::publish::load_plan(&ws.repo, &name, fetch_required)?;
        Ok((ws, stored))
    }
}

impl Ctx {
    /// The lane worktree we stand in: workspace, plan, lane name and its branch.
    pub fn lane(&self) -> Result<(Workspace, StoredPlan, String, String)> {
        self.lane_with(true)
    }

    /// The lane we stand in; see [`Ctx::plan_with`] for `fetch_required`.
    pub fn lane_with(
        &self,
        fetch_required: bool,
    ) -> Result<(Workspace, StoredPlan, String, String)> {
        let (ws, stored) = self.plan_with(fetch_required)?;
        let lane = require_current_lane(&ws, &stored.plan.name)?;
        stored.plan.require_lane(&lane)?;
        let branch = crate::plan::refnames::lane_branch(&stored.plan.name, &lane);
        Ok((ws, stored, lane, branch))
    }
}

impl Ctx {
    /// Begin the one locked operation of a command that writes in the worktree `ws` stands
    /// in: `wtc.lock` is taken (one wtc at a time per worktree), and what a wtc that died
    /// there left behind is recovered first; the user is told what was recovered.
    pub fn operation(&self, ws: &Workspace, command: &str) -> Result<Operation> {
        let op = Operation::begin(&ws.repo, command)?;
        if !self.ui.json && !self.ui.quiet {
            for note in op.notes() {
                eprintln!("{note}");
            }
        }
        Ok(op)
    }
}

/// Which plan a command is about: `--plan`/`WTC_PLAN`, else the lane we stand in, else the
/// only plan in the repository.
pub fn resolve_plan(ws: &Workspace, explicit: Option<&str>) -> Result<String> {
    if let Some(p) = explicit {
        crate::plan::names::validate_plan(p)?;
        return Ok(p.to_string());
    }
    if let Some((plan, _)) = lanes::checked_out(ws)? {
        return Ok(plan);
    }
    let plans = plan::list(&ws.repo)?;
    match plans.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(plan::Error::NoPlans.into()),
        many => Err(plan::Error::SeveralPlans {
            plans: many.to_vec(),
        }
        .into()),
    }
}

/// The lane this worktree works on, or a clear error.
pub fn require_current_lane(ws: &Workspace, plan: &str) -> Result<String> {
    match lanes::checked_out(ws)? {
        Some((p, l)) if p == plan => Ok(l),
        Some((p, l)) => Err(super::Error::OtherPlan {
            lane: l,
            plan: p,
            wanted: plan.to_string(),
        }
        .into()),
        None => {
            let path = ws.workdir().to_owned();
            // Say what is going on: a lane being rebased, or a detached HEAD, is not
            // "not a lane worktree".
            if let Some((p, lane)) = crate::worktree::snapshot::rebasing_branch(&ws.repo)
                .and_then(|b| crate::plan::refnames::parse_lane_branch(&b))
            {
                if p == plan {
                    return Err(super::Error::LaneRebasing { lane, path }.into());
                }
            }
            crate::worktree::snapshot::refuse_operation_in_progress(&ws.repo)?;
            if ws.head_branch()?.is_none() {
                let at = ws
                    .repo
                    .head_id()
                    .map(|id| crate::git::refs::short(id.detach()))
                    .unwrap_or_else(|_| "an unborn commit".into());
                return Err(super::Error::Detached {
                    path,
                    at,
                    plan: plan.to_string(),
                }
                .into());
            }
            Err(super::Error::NotALane { path }.into())
        }
    }
}
