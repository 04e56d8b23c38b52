//! `join`: in another clone, fetch a published plan and check out one of its lanes, in a new
//! linked worktree or in place (one worktree transition, like sync's).

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use gix::refs::transaction::PreviousValue;
use serde::Serialize;

use crate::error::{Diagnostic, Kind};
use crate::git::refs;
use crate::git::worktrees::Workspace;
use crate::ops::publish as remote;
use crate::ops::setup::{Setup, SetupRan};
use crate::plan::{self, refnames};
use crate::worktree::include;
use crate::worktree::operation::Operation;
use crate::worktree::transition::{head_target, HeadMove, Transition};

/// Why `join` refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("plan '{plan}' already meets at remote '{existing}' in this clone")]
    OtherRemote { plan: String, existing: String },
    #[error("{url} has no plan '{plan}'")]
    NoPlanOnRemote {
        url: String,
        plan: String,
        remote: String,
    },
    #[error("this clone does not have the plan's base commit {base}")]
    MissingBase {
        base: String,
        remote: String,
        target: String,
    },
    #[error("the local branch {branch} and the published lane diverged")]
    Diverged { branch: String },
    #[error("this repository has no remote to meet at")]
    NoRemote,
    #[error("several remotes exist: {}", names.join(", "))]
    SeveralRemotes { names: Vec<String> },
    #[error("local changes stand where the lane differs; nothing was changed")]
    LocalChanges { paths: Vec<String> },
}

impl Diagnostic for JoinError {
    fn kind(&self) -> Kind {
        Kind::User
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            JoinError::OtherRemote { .. } => return None,
            JoinError::NoPlanOnRemote { plan, remote, .. } => format!(
                "publish it from the coordinating clone with `wtc init {plan} --remote {remote}`"
            ),
            JoinError::MissingBase { remote, target, .. } => {
                format!("fetch the target branch first: `git fetch {remote} {target}`")
            }
            JoinError::Diverged { .. } => "merge them by hand (git merge), then `wtc save`".into(),
            JoinError::NoRemote => "add one with `git remote add origin URL`".into(),
            JoinError::SeveralRemotes { .. } => "say which with --remote NAME".into(),
            JoinError::LocalChanges { .. } => {
                "commit or stash them, or join with --path DIR to use a new worktree".into()
            }
        })
    }
    fn paths(&self) -> Vec<String> {
        match self {
            JoinError::LocalChanges { paths } => paths.clone(),
            _ => Vec::new(),
        }
    }
}

/// What to join.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    pub plan: String,
    /// `None`: only follow the plan (to wait for lanes and squash them).
    pub lane: Option<String>,
    /// The remote to meet at (default: `git config wtc.remote`, else `origin`, else the only
    /// remote).
    pub remote: Option<String>,
    /// Check the lane out in a new linked worktree here instead of in place (absolute).
    pub path: Option<PathBuf>,
    /// The set-up command for that new worktree: this machine's `git config wtc.setup`,
    /// never anything fetched.
    pub setup: Option<String>,
}

/// What `join` did.
#[derive(Debug, Clone, Serialize)]
pub struct Joined {
    pub plan: String,
    pub lane: Option<String>,
    pub branch: Option<String>,
    pub worktree: Option<PathBuf>,
    pub start: Option<String>,
    pub remote: String,
    /// Files edited while they were being checked out: the user's version is kept.
    pub raced: Vec<String>,
    /// Older versions of raced files, kept beside them (see `Applied::kept`).
    pub kept: Vec<String>,
    /// `--path`: ignored files copied from the main worktree (`.worktreeinclude`).
    pub included: Vec<String>,
    pub include_skipped: Vec<include::Skipped>,
    /// `--path`: the set-up that ran in the new worktree.
    pub setup: Option<SetupRan>,
}

/// Join `opts.plan` (and check out `opts.lane`) in the clone `ws` stands in, inside the
/// locked operation `op` of its worktree. A new worktree (`--path`) gets the ignored files
/// `.worktreeinclude` names and then the set-up, as `add` gives one.
pub fn join(op: &Operation, ws: &Workspace, opts: &JoinOptions) -> Result<Joined> {
    let args = opts;
    let repo = &ws.repo;
    let remote_name = match &args.remote {
        Some(r) => r.clone(),
        // The plan's own recorded remote wins over the defaults.
        None => match crate::plan::settings::remote_of(repo, &args.plan) {
            Some(recorded) => recorded,
            None => default_remote(repo)?,
        },
    };
    if let Some(existing) = crate::plan::settings::remote_of(repo, &args.plan) {
        if existing != remote_name {
            return Err(JoinError::OtherRemote {
                plan: args.plan.clone(),
                existing,
            }
            .into());
        }
    }
    let published = remote::fetch(repo, &remote_name, &args.plan, None)?;
    if !published.contains_key(&refnames::plan_ref(&args.plan)) {
        return Err(JoinError::NoPlanOnRemote {
            url: crate::git::remote::display_url(repo, &remote_name),
            plan: args.plan.clone(),
            remote: remote_name.clone(),
        }
        .into());
    }
    let tracked_plan = refs::peel(repo, &refnames::tracking_plan(&remote_name, &args.plan))?
        .context("the fetched plan ref is missing")?;
    let p = plan::read_plan_commit(repo, tracked_plan)?;
    plan::check_name(&p, &args.plan)?;
    let Some(lane_name) = args.lane.clone() else {
        crate::plan::settings::set_remote(repo, &args.plan, Some(&remote_name))?;
        remote::adopt_plan(repo, &remote_name, &args.plan)?;
        return Ok(Joined {
            plan: args.plan.clone(),
            lane: None,
            branch: None,
            worktree: None,
            start: None,
            remote: remote_name,
            raced: Vec::new(),
            kept: Vec::new(),
            included: Vec::new(),
            include_skipped: Vec::new(),
            setup: None,
        });
    };
    p.require_lane(&lane_name)?;
    let base = p.base_id();
    let start = refs::peel(
        repo,
        &refnames::tracking_lane(&remote_name, &args.plan, &lane_name),
    )?
    .unwrap_or(base);
    if !repo.has_object(start) {
        return Err(JoinError::MissingBase {
            base: refs::short(base),
            remote: remote_name.clone(),
            target: p.target.clone(),
        }
        .into());
    }
    // A new worktree gets what `.worktreeinclude` names and the set-up: both checked now.
    let include = match &args.path {
        Some(_) => include::find(&repo.main_repo()?)?,
        None => None,
    };
    let setup = match (&args.path, &args.setup) {
        (Some(path), Some(command)) => Some(Setup::prepare(repo, &p, &lane_name, path, command)?),
        _ => None,
    };
    // Everything checked: from here on we write.
    crate::plan::settings::set_remote(repo, &args.plan, Some(&remote_name))?;
    remote::adopt_plan(repo, &remote_name, &args.plan)?;
    let branch = refnames::lane_branch(&args.plan, &lane_name);
    let local = refs::peel(repo, &branch)?;
    let tip = match local {
        None => {
            refs::cas(repo, &branch, PreviousValue::MustNotExist, start, "join")?;
            start
        }
        Some(l) if l == start || refs::is_ancestor(repo, start, l)? => l,
        Some(l) if refs::is_ancestor(repo, l, start)? => {
            refs::cas(
                repo,
                &branch,
                PreviousValue::MustExistAndMatch(l.into()),
                start,
                "join",
            )?;
            start
        }
        Some(_) => {
            return Err(JoinError::Diverged {
                branch: refnames::lane_branch_short(&args.plan, &lane_name),
            }
            .into())
        }
    };
    let mut applied = crate::worktree::transition::Applied::default();
    let mut copied = include::Copied::default();
    let worktree = match &args.path {
        Some(path) => {
            let path = path.clone();
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let new = crate::git::worktrees::add_worktree(repo, &path, &branch)
                .with_context(|| format!("creating the worktree at {}", path.display()))?;
            if let Some(candidates) = &include {
                copied = candidates
                    .copy_into(&new)
                    .with_context(|| format!("copying what {} names", include::FILE))?;
            }
            path
        }
        None => {
            applied = switch_in_place(op, ws, &branch, tip)?;
            ws.workdir().to_owned()
        }
    };
    Ok(Joined {
        plan: args.plan.clone(),
        branch: Some(refnames::lane_branch_short(&args.plan, &lane_name)),
        lane: Some(lane_name),
        worktree: Some(worktree),
        start: Some(tip.to_string()),
        remote: remote_name,
        raced: applied.raced,
        kept: applied.kept,
        included: copied.paths,
        include_skipped: copied.skipped,
        setup: setup.map(Setup::run).transpose()?,
    })
}

fn default_remote(repo: &gix::Repository) -> Result<String> {
    let names: Vec<String> = repo.remote_names().iter().map(|n| n.to_string()).collect();
    if let Some(configured) = crate::plan::settings::default_remote(repo) {
        if !names.contains(&configured) {
            return Err(crate::plan::settings::InvalidSetting {
                key: crate::plan::settings::REMOTE,
                value: configured,
                why: format!(
                    "no such remote here (remotes: {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            }
            .into());
        }
        return Ok(configured);
    }
    if names.iter().any(|n| n == "origin") {
        return Ok("origin".into());
    }
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(JoinError::NoRemote.into()),
        _ => Err(JoinError::SeveralRemotes { names }.into()),
    }
}

/// Check `branch` (at `tip`) out in the worktree we stand in: one transition from HEAD's
/// tree to the lane's, touching only what differs, refused if local changes stand there;
/// HEAD is attached to the branch last (a kill half-way is finished by the next command).
fn switch_in_place(
    op: &Operation,
    ws: &Workspace,
    branch: &str,
    tip: gix::ObjectId,
) -> Result<crate::worktree::transition::Applied> {
    let repo = &ws.repo;
    if ws.head_branch()?.as_deref() == Some(branch) {
        return Ok(Default::default());
    }
    let from = match repo.head_id() {
        Ok(id) => repo.find_commit(id.detach())?.tree_id()?.detach(),
        Err(_) => gix::ObjectId::empty_tree(repo.object_hash()),
    };
    let to = repo.find_commit(tip)?.tree_id()?.detach();
    let transition = Transition {
        command: "join".into(),
        from: from.to_string(),
        to: to.to_string(),
        head: HeadMove::Attach {
            branch: branch.to_string(),
            previous: head_target(repo).unwrap_or_default(),
        },
        stages: Vec::new(),
        files: Vec::new(),
        reflog: None,
    };
    // External filters (git-lfs) run before index.lock is taken: they may download.
    let staged = transition.smudge_ahead(repo, repo)?;
    let locked = op.lock_index(repo)?;
    let prepared = transition.prepare(repo, repo, locked.state())?;
    *prepared.staged.lock().expect("not poisoned") = staged;
    if !prepared.obstacles.is_empty() {
        return Err(JoinError::LocalChanges {
            paths: prepared
                .obstacles
                .iter()
                .map(|o| o.path().to_string())
                .collect(),
        }
        .into());
    }
    crate::error::check_interrupt()?;
    transition.apply(repo, &prepared, locked)
}
