//! `init`: create a plan whose base is the target branch's tip (and, in remote mode, publish
//! it after checking that the remote is reachable and has no such plan).

use anyhow::Result;
use gix::ObjectId;
use serde::Serialize;

use crate::error::{Diagnostic, Kind};
use crate::git::refs;
use crate::git::worktrees::Workspace;
use crate::plan::{self, refnames, settings, Plan};

/// Why `init` refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("HEAD is detached, so there is no branch to integrate into")]
    Detached,
    #[error("'{target}' is a lane branch; a plan integrates into an ordinary branch")]
    LaneBranch { target: String },
    #[error("'{target}' is not a valid branch name")]
    BadTarget { target: String },
    #[error("the target branch '{target}' has no commits yet")]
    Unborn { target: String },
    #[error("plan '{plan}' already exists")]
    Exists { plan: String },
    #[error("the remote '{remote}' already has a plan '{plan}'")]
    ExistsOnRemote { plan: String, remote: String },
}

impl Diagnostic for InitError {
    fn kind(&self) -> Kind {
        Kind::User
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            InitError::Detached => "check out the target branch, or pass --target BRANCH".into(),
            InitError::LaneBranch { .. } => {
                "run `wtc init` from the main worktree, or pass --target BRANCH".into()
            }
            InitError::BadTarget { .. } => return None,
            InitError::Unborn { .. } => {
                "make a first commit on it, then run `wtc init` again".into()
            }
            InitError::Exists { .. } => {
                "`wtc status --plan NAME` shows it; pick another name for a new plan".into()
            }
            InitError::ExistsOnRemote { plan, remote } => {
                format!("join it with `wtc join {plan} LANE --remote {remote}`")
            }
        })
    }
}

/// What to create.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// A valid plan name (checked by the caller).
    pub plan: String,
    /// The target branch (default: the branch checked out in `ws`).
    pub target: Option<String>,
    pub remote: Option<String>,
}

/// The plan `init` created.
#[derive(Debug, Clone, Serialize)]
pub struct Initialized {
    pub plan: String,
    pub target: String,
    pub base: String,
    pub plan_commit: String,
    pub remote: Option<String>,
}

pub fn init(ws: &Workspace, opts: &InitOptions) -> Result<Initialized> {
    let repo = &ws.repo;
    let target = match &opts.target {
        Some(t) => refnames::short_branch(t).to_string(),
        None => {
            let head = ws.head_branch()?.ok_or(InitError::Detached)?;
            refnames::short_branch(&head).to_string()
        }
    };
    if refnames::is_lane_branch(&target) {
        return Err(InitError::LaneBranch { target }.into());
    }
    let target_ref = refnames::branch(&target);
    if gix::refs::FullName::try_from(target_ref.as_str()).is_err() {
        return Err(InitError::BadTarget { target }.into());
    }
    let base: ObjectId = refs::peel(repo, &target_ref)?.ok_or_else(|| InitError::Unborn {
        target: target.clone(),
    })?;
    if plan::load_from(repo, &refnames::plan_ref(&opts.plan))?.is_some() {
        return Err(InitError::Exists {
            plan: opts.plan.clone(),
        }
        .into());
    }
    let p = Plan::new(&opts.plan, &target, base);
    if let Some(remote) = &opts.remote {
        // The remote must not have this plan already; listing also proves it is reachable.
        let published = crate::ops::publish::list(repo, remote, &opts.plan)?;
        if published.contains_key(&refnames::plan_ref(&opts.plan)) {
            return Err(InitError::ExistsOnRemote {
                plan: opts.plan.clone(),
                remote: remote.clone(),
            }
            .into());
        }
        settings::set_remote(repo, &opts.plan, Some(remote))?;
    }
    let msg = format!("init: plan {} onto {target}", opts.plan);
    let commit =
        match crate::ops::publish::store_plan_at(repo, &p, None, &msg, opts.remote.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                if opts.remote.is_some() {
                    let _ = settings::set_remote(repo, &opts.plan, None);
                }
                return Err(e);
            }
        };
    Ok(Initialized {
        plan: opts.plan.clone(),
        target,
        base: base.to_string(),
        plan_commit: commit.to_string(),
        remote: opts.remote.clone(),
    })
}
