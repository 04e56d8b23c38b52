//! `wtc init PLAN`: create a plan whose base is the target branch's tip.

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;
use crate::error::user;
use crate::git::refs;
use crate::plan::names;
use crate::plan::{self, Plan};

/// Create a plan: a named piece of work that lanes will contribute to.
///
/// The plan is stored in git at refs/wtc/PLAN/plan (one commit per change, see `wtc log`);
/// its base is the target branch's current tip, where new lanes start.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Name of the plan: a-z, 0-9, '.', '_' and '-', e.g. `marketing`.
    pub plan: String,
    /// The branch the integration commit lands on (default: the branch checked out here).
    #[arg(long, value_name = "BRANCH")]
    pub target: Option<String>,
    /// Share the plan through this git remote (e.g. `origin`): lanes in other clones `wtc join`
    /// it, and every save publishes to refs/wtc/PLAN/ there (hidden from plain fetches).
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
}

pub fn run(ctx: &Ctx, args: InitArgs) -> Result<Report> {
    names::validate_plan(&args.plan)?;
    let ws = ctx.workspace()?;
    let repo = &ws.repo;
    let target = match args.target {
        Some(t) => crate::plan::refnames::short_branch(&t).to_string(),
        None => {
            let head = ws.head_branch()?.ok_or_else(|| {
                user("HEAD is detached, so there is no branch to integrate into")
                    .hint("check out the target branch, or pass --target BRANCH")
            })?;
            head.strip_prefix("refs/heads/")
                .unwrap_or(&head)
                .to_string()
        }
    };
    if crate::plan::refnames::is_lane_branch(&target) {
        return Err(user(format!(
            "'{target}' is a lane branch; a plan integrates into an ordinary branch"
        ))
        .hint("run `wtc init` from the main worktree, or pass --target BRANCH")
        .into());
    }
    let target_ref = crate::plan::refnames::branch(&target);
    if gix::refs::FullName::try_from(target_ref.as_str()).is_err() {
        return Err(user(format!("'{target}' is not a valid branch name")).into());
    }
    let base = refs::peel(repo, &target_ref)?.ok_or_else(|| {
        user(format!("the target branch '{target}' has no commits yet"))
            .hint("make a first commit on it, then run `wtc init` again")
    })?;
    if plan::load_from(repo, &crate::plan::refnames::plan_ref(&args.plan))?.is_some() {
        return Err(user(format!("plan '{}' already exists", args.plan))
            .hint("`wtc status --plan NAME` shows it; pick another name for a new plan")
            .into());
    }
    let p = Plan::new(&args.plan, &target, base);
    if let Some(remote) = &args.remote {
        // The remote must not have this plan already; listing also proves it is reachable.
        let published = crate::ops::publish::list(repo, remote, &args.plan)?;
        if published.contains_key(&crate::plan::refnames::plan_ref(&args.plan)) {
            return Err(user(format!(
                "the remote '{remote}' already has a plan '{}'",
                args.plan
            ))
            .hint(format!(
                "join it with `wtc join {} LANE --remote {remote}`",
                args.plan
            ))
            .into());
        }
        crate::plan::settings::set_remote(repo, &args.plan, Some(remote))?;
    }
    let msg = format!("init: plan {} onto {target}", args.plan);
    let commit = match crate::ops::publish::store_plan(repo, &p, None, &msg) {
        Ok(c) => c,
        Err(e) => {
            if args.remote.is_some() {
                let _ = crate::plan::settings::set_remote(repo, &args.plan, None);
            }
            return Err(e);
        }
    };
    let mut r = Report::new("init");
    r.set("plan", &args.plan)
        .set("target", &target)
        .set("base", base.to_string())
        .set("plan_commit", commit.to_string())
        .set("remote", &args.remote);
    r.note(format!(
        "created plan '{}' onto '{target}' at {}; add lanes with `wtc add LANE [--after LANE]`",
        args.plan,
        refs::short(base)
    ));
    Ok(r)
}
