//! Has a lane's work landed on the target? The ONE verdict that `squash`, `clean`, `rm` and
//! `status` ask, so that they cannot disagree: squash calls a plan whose lanes have all
//! landed "already integrated" (exit 0, nothing written), clean and rm remove such lanes
//! without `--force`, status shows the verdict per lane.
//!
//! A lane at tip T has landed on a target tip M when one of these holds, checked in order:
//!
//! 1. **integrated**: a commit of this plan that M reaches (the plan's recorded integration,
//!    or any commit since the plan's base carrying `Wtc-Plan: <plan>`) records the lane with
//!    a `Wtc-Lane: <lane> <tip>` trailer whose tip contains T. This is how squash (here or in
//!    another clone, `--push`) lands work: its merge of T is in the target.
//! 2. **merged**: M reaches T (`git merge`, a fast-forward).
//! 3. **empty**: T's tree is the tree of B, the merge base of T and M (the lane holds only
//!    empty commits, such as a lone `wtc done`, or changes it undid itself), or T is no lane
//!    commit at all (the base reaches it).
//! 4. **contained**: for every path where T's tree differs from B's (a file added, changed,
//!    deleted, its mode or kind changed), M's tree has exactly T's entry at that path (same
//!    mode and object id, or absent in both). This is a cherry-pick, or a merge of the same
//!    changes made another way.
//!
//! Why "contained" loses nothing: every path where T and M differ is a path where T equals
//! B, and M reaches B, so every entry of T's tree is in M's tree or in B's, both kept by the
//! target branch. It follows too that folding T onto M (what squash does) changes nothing.
//! It is deliberately strict: a change the target took in a different form (one more line,
//! a merged file, a revert, a different mode) leaves the lane unlanded, and so does a lane
//! whose merge base with the target cannot be found (unrelated histories, a shallow
//! boundary). Only the lane's tip counts as its work: states that later commits on the lane
//! undid themselves, and WIP messages, are scratch that squash drops too.
//! A lane after other lanes contains their commits, so it lands only once theirs have too.

use anyhow::Result;
use gix::ObjectId;
use serde::Serialize;

use crate::git::ancestry;
use crate::git::worktrees::Workspace;
use crate::plan::lanes::{self as lane, LaneStatus};
use crate::plan::refnames::{self, trailers};
use crate::plan::{settings, Plan};
use crate::worktree::diff;

/// How a lane's work reached the target (see the module docs for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Landed {
    Integrated,
    Merged,
    Empty,
    Contained,
}

impl Landed {
    pub fn as_str(self) -> &'static str {
        match self {
            Landed::Integrated => "integrated",
            Landed::Merged => "merged",
            Landed::Empty => "empty",
            Landed::Contained => "contained",
        }
    }
}

/// One lane's verdict, as squash and clean report it.
#[derive(Debug, Clone, Serialize)]
pub struct LaneLanded {
    pub name: String,
    pub how: Landed,
}

/// The target tips a verdict is about, with the integration trailers they reach.
pub struct Target {
    tips: Vec<ObjectId>,
    base: ObjectId,
    /// `(lane, recorded tip)` of every integration of this plan the tips reach.
    recorded: Vec<(String, ObjectId)>,
}

impl Target {
    /// The target as status, clean and rm see it: the local branch and, in remote mode, the
    /// remote's as last fetched (work on either survives removing the lane).
    pub fn known(repo: &gix::Repository, plan: &Plan) -> Result<Target> {
        let mut tips = Vec::new();
        tips.extend(crate::git::refs::peel(
            repo,
            &refnames::branch(&plan.target),
        )?);
        if let Some(remote) = settings::remote_of(repo, &plan.name) {
            let tracked = refnames::tracking_target(&remote, &plan.name);
            tips.extend(crate::git::refs::peel(repo, &tracked)?);
        }
        tips.dedup();
        Target::at(repo, plan, tips)
    }

    /// Exactly `tips` (squash: the tip it folds onto).
    pub fn at(repo: &gix::Repository, plan: &Plan, tips: Vec<ObjectId>) -> Result<Target> {
        let recorded = integrations(repo, plan, &tips)?;
        Ok(Target {
            tips,
            base: plan.base_id(),
            recorded,
        })
    }

    /// Has `lane`, at `tip`, landed on one of the target's tips? `None`: it holds work the
    /// target does not have.
    pub fn verdict(
        &self,
        repo: &gix::Repository,
        lane: &str,
        tip: ObjectId,
    ) -> Result<Option<Landed>> {
        for (l, recorded) in &self.recorded {
            if l == lane && ancestry::is_ancestor(repo, tip, *recorded)? {
                return Ok(Some(Landed::Integrated));
            }
        }
        if ancestry::is_ancestor(repo, tip, self.base)? {
            return Ok(Some(Landed::Empty)); // no commit of its own
        }
        for &target in &self.tips {
            if ancestry::is_ancestor(repo, tip, target)? {
                return Ok(Some(Landed::Merged));
            }
            if let Some(how) = contained(repo, tip, target)? {
                return Ok(Some(how));
            }
        }
        Ok(None)
    }
}

/// Verdict 3 or 4 of `tip` against `target` (module docs), `None` when neither holds.
fn contained(repo: &gix::Repository, tip: ObjectId, target: ObjectId) -> Result<Option<Landed>> {
    let Some(base) = ancestry::merge_bases(repo, tip, target)?.first().copied() else {
        return Ok(None); // unrelated, or beyond a shallow boundary: nothing to compare with
    };
    let tree = |c: ObjectId| -> Result<ObjectId> { Ok(repo.find_commit(c)?.tree_id()?.detach()) };
    let (base_tree, tip_tree, target_tree) = (tree(base)?, tree(tip)?, tree(target)?);
    if tip_tree == base_tree {
        return Ok(Some(Landed::Empty));
    }
    if target_tree == base_tree {
        return Ok(None); // the lane changed something, the target nothing since
    }
    // Most lanes a squash or status asks about have not landed: one of their changes the
    // target lacks decides it, found without diffing the rest of the lane.
    if let Some(first) = diff::first_leaf_change(repo, base_tree, tip_tree)? {
        let target = repo.find_tree(target_tree)?;
        let there = crate::ops::merge::lookup(&target, first.path.as_ref())?;
        if there != first.new.map(|l| (l.id, l.kind)) {
            return Ok(None);
        }
    }
    let changed = diff::diff_trees(repo, base_tree, tip_tree)?;
    // Two pruned tree diffs instead of a lookup per path: the lane's changes, and where the
    // lane's tip and the target differ; landed when no path is in both.
    let differs: std::collections::HashSet<_> = diff::diff_trees(repo, tip_tree, target_tree)?
        .into_iter()
        .map(|c| c.path)
        .collect();
    Ok(changed
        .iter()
        .all(|c| !differs.contains(&c.path))
        .then_some(Landed::Contained))
}

/// The `Wtc-Lane` records of every integration of `plan` that `tips` reach since the plan's
/// base. A walk that cannot go on (a shallow boundary, a missing object) ends the search
/// there: a record not found only makes a lane look unlanded.
fn integrations(
    repo: &gix::Repository,
    plan: &Plan,
    tips: &[ObjectId],
) -> Result<Vec<(String, ObjectId)>> {
    let mut out = Vec::new();
    if tips.is_empty() {
        return Ok(out);
    }
    let mut record = |id: ObjectId| -> Result<()> {
        let Ok(commit) = repo.find_commit(id) else {
            return Ok(());
        };
        let message = commit.message_raw()?;
        if trailers::plan_of(message).as_deref() == Some(plan.name.as_str()) {
            out.extend(trailers::lanes_of(message));
        }
        Ok(())
    };
    // The plan's recorded integration first: the walk below may stop short of it.
    if let Some(i) = plan
        .integrated
        .as_deref()
        .and_then(|i| ObjectId::from_hex(i.as_bytes()).ok())
        .filter(|i| repo.has_object(i))
    {
        for &t in tips {
            if ancestry::is_ancestor(repo, i, t)? {
                record(i)?;
                break;
            }
        }
    }
    let Ok(walk) = repo
        .rev_walk(tips.iter().copied())
        .with_hidden([plan.base_id()])
        .all()
    else {
        return Ok(out);
    };
    for info in walk.map_while(Result::ok) {
        record(info.id)?;
    }
    Ok(out)
}

/// Where one lane stands, with its landing verdict, as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LaneStanding {
    #[serde(flatten)]
    pub status: LaneStatus,
    /// How the lane's work reached the target, `None` while it holds work the target lacks.
    pub landed: Option<Landed>,
    /// Commits on the target (the remote's, in remote mode) the lane does not contain:
    /// what `wtc sync --target` would bring in.
    pub behind_target: usize,
}

/// Every lane's status and verdict, in dependency order.
pub fn statuses(ws: &Workspace, plan: &Plan) -> Result<Vec<LaneStanding>> {
    let known = crate::trace::span("status: target (landed)");
    let target = Target::known(&ws.repo, plan)?;
    drop(known);
    // What `sync --target` merges: the remote's target in remote mode, else the local one.
    let target_tip = target.tips.last().copied();
    let ls = crate::trace::span("status: lanes");
    let statuses = lane::statuses(ws, plan)?;
    drop(ls);
    statuses
        .into_iter()
        .map(|status| {
            let tip = status
                .tip
                .as_deref()
                .map(|t| ObjectId::from_hex(t.as_bytes()))
                .transpose()?;
            let v = crate::trace::span("status: verdict");
            let landed = match tip {
                Some(t) => target.verdict(&ws.repo, &status.name, t)?,
                None => None,
            };
            drop(v);
            let _b = crate::trace::span("status: behind target");
            let behind_target = match (target_tip, tip) {
                (Some(target), Some(t)) if target != t => {
                    crate::git::ancestry::count_unique(&ws.repo, target, t)?
                }
                _ => 0,
            };
            Ok(LaneStanding {
                status,
                landed,
                behind_target,
            })
        })
        .collect()
}
