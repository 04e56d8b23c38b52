//! Publishing: how a plan and its lanes travel between clones through a git remote.
//!
//! Published refs live on the remote under `refs/wtc/<plan>/` (`plan`, `lanes/<lane>`), a
//! namespace a teammate's plain `git fetch`/`git clone` never asks for. Fetching asks for that
//! prefix only, into `refs/wtc/remotes/<remote>/<plan>/`, so the cost follows the plan, not
//! the remote's ref count; pushing goes through [`crate::git::remote::push`] with a lease.
//! Every write of the plan in remote mode goes through [`store_plan`], which publishes it or
//! undoes the local change: this module is the one place that publishes.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use gix::bstr::ByteSlice;
use gix::refs::transaction::PreviousValue;
use gix::ObjectId;

use crate::error::{Diagnostic, Kind};
use crate::git::{refs, remote};
use crate::plan::{self, refnames, settings, Plan};

/// Why publishing refused; nothing on the remote was overwritten.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{name} on {url} changed since this clone last saw it; nothing was overwritten")]
    Moved { name: String, url: String },
    #[error("{name} on {url} is at {} (published by another clone), which this clone's {} does not contain; nothing was overwritten", &theirs[..9], &ours[..9])]
    Diverged {
        name: String,
        url: String,
        ours: String,
        theirs: String,
    },
    #[error("the plan '{plan}' changed both here and on the remote '{remote}'")]
    PlanDiverged { plan: String, remote: String },
    #[error("{} changed on the remote while cleaning; nothing was removed there", refs.join(", "))]
    UnpublishRaced { refs: Vec<String> },
}

impl Diagnostic for PublishError {
    fn kind(&self) -> Kind {
        Kind::User
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            PublishError::Moved { .. } => "another clone published there: run `wtc sync` (or `wtc status`) to fetch it, then try again".into(),
            PublishError::PlanDiverged { plan, remote } => format!(
                "keep the remote's version with `git update-ref {} {}`, then redo your change",
                refnames::plan_ref(plan),
                refnames::tracking_plan(remote, plan)
            ),
            PublishError::UnpublishRaced { .. } => "run `wtc clean` again".into(),
            PublishError::Diverged { .. } => "run `wtc sync` to merge the published work into this lane, then publish again (`wtc save`)".into(),
        })
    }
}

/// The refs of the plan on the remote (`refs/wtc/<plan>/...` -> id), listed without
/// downloading any objects: what `wait` and `watch` poll.
pub fn list(
    repo: &gix::Repository,
    remote_name: &str,
    plan: &str,
) -> Result<BTreeMap<String, ObjectId>> {
    remote::list(
        repo,
        remote_name,
        &refnames::plan_fetch_refspec(remote_name, plan),
        &refnames::plan_namespace(plan),
    )
}

/// Fetch the plan's published refs (and, with `target`, the remote's target branch) into the
/// tracking namespace, and drop tracking refs the remote no longer has. Returns the remote's
/// refs of the plan.
pub fn fetch(
    repo: &gix::Repository,
    remote_name: &str,
    plan: &str,
    target: Option<&str>,
) -> Result<BTreeMap<String, ObjectId>> {
    let mut specs = vec![refnames::plan_fetch_refspec(remote_name, plan)];
    if let Some(t) = target {
        specs.push(refnames::target_fetch_refspec(remote_name, plan, t));
    }
    let published = remote::fetch(repo, remote_name, &specs, &refnames::plan_namespace(plan))?;
    // Prune: a tracking ref whose published ref is gone must not keep pretending it exists.
    let prefix = refnames::tracking_prefix(remote_name, plan);
    let mut stale = Vec::new();
    for r in repo.references()?.prefixed(prefix.as_str())? {
        let r = r.map_err(|e| anyhow::anyhow!("{e}"))?;
        let name = r.name().as_bstr().to_str_lossy().into_owned();
        if refnames::is_tracking_target(remote_name, plan, &name) {
            continue;
        }
        let gone = refnames::published_of_tracking(remote_name, plan, &name)
            .is_none_or(|p| !published.contains_key(&p));
        if gone {
            if let Some(id) = r.target().try_id() {
                stale.push((name, id.to_owned()));
            }
        }
    }
    for (name, id) in stale {
        refs::delete(repo, &name, id)?;
    }
    Ok(published)
}

/// Write `plan` as a new commit on its ref ([`plan::store`]) and, in remote mode, publish it;
/// when publishing fails the local change is undone, so the plan never differs from the
/// remote's behind the user's back.
pub fn store_plan(
    repo: &gix::Repository,
    new: &Plan,
    previous: Option<ObjectId>,
    message: &str,
) -> Result<ObjectId> {
    let remote = settings::remote_of(repo, &new.name);
    store_plan_at(repo, new, previous, message, remote.as_deref())
}

/// [`store_plan`] with the plan's remote given (`init` has just configured it, which an
/// open repository's configuration snapshot does not show yet).
pub fn store_plan_at(
    repo: &gix::Repository,
    new: &Plan,
    previous: Option<ObjectId>,
    message: &str,
    remote: Option<&str>,
) -> Result<ObjectId> {
    let commit = plan::store(repo, new, previous, message)?;
    let Some(remote_name) = remote else {
        return Ok(commit);
    };
    if let Err(e) = publish_plan(repo, remote_name, &new.name) {
        let plan_ref = refnames::plan_ref(&new.name);
        let undo = match previous {
            Some(prev) => refs::cas(
                repo,
                &plan_ref,
                PreviousValue::MustExistAndMatch(commit.into()),
                prev,
                "undo: publishing failed",
            ),
            None => refs::delete(repo, &plan_ref, commit),
        };
        undo.context("publishing the plan failed and so did undoing the local change")?;
        return Err(e);
    }
    Ok(commit)
}

/// Delete the plan's published refs on the remote (each with a lease on the value the
/// remote listed), then the local tracking refs and the plan's remote setting.
pub fn unpublish_plan(repo: &gix::Repository, remote_name: &str, plan: &str) -> Result<()> {
    let published = fetch(repo, remote_name, plan, None)?;
    let updates: Vec<remote::PushUpdate> = published
        .iter()
        .map(|(name, id)| remote::PushUpdate {
            src: None,
            dst: name.clone(),
            expected: Some(*id),
        })
        .collect();
    if let remote::PushOutcome::Stale(moved) = remote::push(repo, remote_name, &updates)? {
        return Err(PublishError::UnpublishRaced { refs: moved }.into());
    }
    let prefix = refnames::tracking_prefix(remote_name, plan);
    let mut tracking = Vec::new();
    for r in repo.references()?.prefixed(prefix.as_str())? {
        let r = r.map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(id) = r.target().try_id() {
            tracking.push((r.name().as_bstr().to_string(), id.to_owned()));
        }
    }
    for (name, id) in tracking {
        refs::delete(repo, &name, id)?;
    }
    settings::set_remote(repo, plan, None)
}

/// Remove a lane from the remote (with a lease on what this clone last saw there).
pub fn unpublish_lane(repo: &gix::Repository, plan: &str, lane: &str) -> Result<()> {
    let Some(remote_name) = settings::remote_of(repo, plan) else {
        return Ok(());
    };
    publish(
        repo,
        &remote_name,
        &refnames::published_lane(plan, lane),
        &refnames::tracking_lane(&remote_name, plan, lane),
        None,
    )
}

/// Publish one ref and record the new value in its tracking ref.
pub fn publish(
    repo: &gix::Repository,
    remote: &str,
    dst: &str,
    tracking: &str,
    new: Option<ObjectId>,
) -> Result<()> {
    // The lease is what this clone last fetched or published there, and the new value must
    // build on it: a push never drops a commit another clone published meanwhile (the
    // lease catches a move since the fetch; this catches one before it).
    let expected = refs::peel(repo, tracking)?;
    if expected == new {
        return Ok(());
    }
    if let (Some(theirs), Some(ours)) = (expected, new) {
        if !refs::is_ancestor(repo, theirs, ours)? {
            return Err(PublishError::Diverged {
                name: dst.to_string(),
                url: crate::git::remote::display_url(repo, remote),
                ours: ours.to_string(),
                theirs: theirs.to_string(),
            }
            .into());
        }
    }
    match remote::push(
        repo,
        remote,
        &[remote::PushUpdate {
            src: new,
            dst: dst.to_string(),
            expected,
        }],
    )? {
        remote::PushOutcome::Pushed => {}
        remote::PushOutcome::Stale(_) => {
            return Err(PublishError::Moved {
                name: dst.to_string(),
                url: crate::git::remote::display_url(repo, remote),
            }
            .into())
        }
    }
    match new {
        Some(id) => refs::cas(repo, tracking, PreviousValue::Any, id, "published")?,
        None => {
            if let Some(old) = refs::peel(repo, tracking)? {
                refs::delete(repo, tracking, old)?;
            }
        }
    }
    Ok(())
}

/// In remote mode, publish the lane's local branch (a no-op when the remote already has it).
/// Returns the remote it went to.
pub fn publish_lane(repo: &gix::Repository, plan: &str, lane: &str) -> Result<Option<String>> {
    let Some(remote) = settings::remote_of(repo, plan) else {
        return Ok(None);
    };
    let local = refs::peel(repo, &refnames::lane_branch(plan, lane))?;
    if local.is_some() {
        publish(
            repo,
            &remote,
            &refnames::published_lane(plan, lane),
            &refnames::tracking_lane(&remote, plan, lane),
            local,
        )?;
    }
    Ok(Some(remote))
}

/// Make the local plan ref follow the remote's: adopt it when the remote is ahead, keep the
/// local one when it is ahead (not yet published), refuse when they diverged.
pub fn adopt_plan(repo: &gix::Repository, remote: &str, plan: &str) -> Result<()> {
    let tracked = refs::peel(repo, &refnames::tracking_plan(remote, plan))?;
    let local_ref = refnames::plan_ref(plan);
    let local = refs::peel(repo, &local_ref)?;
    match (tracked, local) {
        (None, _) => Ok(()),
        (Some(t), None) => refs::cas(
            repo,
            &local_ref,
            PreviousValue::MustNotExist,
            t,
            "adopt the remote plan",
        ),
        (Some(t), Some(l)) if t == l || refs::is_ancestor(repo, t, l)? => Ok(()),
        (Some(t), Some(l)) if refs::is_ancestor(repo, l, t)? => refs::cas(
            repo,
            &local_ref,
            PreviousValue::MustExistAndMatch(l.into()),
            t,
            "adopt the remote plan",
        ),
        (Some(_), Some(_)) => Err(PublishError::PlanDiverged {
            plan: plan.to_string(),
            remote: remote.to_string(),
        }
        .into()),
    }
}

/// Publish the local plan ref if it is ahead of the remote's.
pub fn publish_plan(repo: &gix::Repository, remote: &str, plan: &str) -> Result<()> {
    let local = refs::peel(repo, &refnames::plan_ref(plan))?;
    publish(
        repo,
        remote,
        &refnames::plan_ref(plan),
        &refnames::tracking_plan(remote, plan),
        local,
    )
}

/// The plan `name` as a command starts from: in remote mode fetched and adopted first. With
/// `fetch_required = false` an unreachable remote is tolerated when a local copy exists (the
/// commands that can do their local part offline, like `save`).
pub fn load_plan(
    repo: &gix::Repository,
    name: &str,
    fetch_required: bool,
) -> Result<plan::StoredPlan> {
    if let Some(remote) = settings::remote_of(repo, name) {
        if let Err(e) = refresh(repo, &remote, name) {
            if fetch_required || plan::load_from(repo, &refnames::plan_ref(name))?.is_none() {
                return Err(e);
            }
        }
    }
    plan::load(repo, name)
}

/// Fetch, then adopt the remote plan: what every command in remote mode does first.
pub fn refresh(repo: &gix::Repository, remote: &str, plan: &str) -> Result<()> {
    fetch(repo, remote, plan, None)?;
    adopt_plan(repo, remote, plan)
}
