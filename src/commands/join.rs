//! `wtc join PLAN LANE`: in another clone, fetch a published plan and work on one of its lanes.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};

use super::Ctx;
use crate::commands::ui::Report;
use crate::error::user;
use crate::git::refs;
use crate::git::worktrees::Workspace;
use crate::ops::publish as remote;
use crate::plan;
use crate::plan::names;
use crate::worktree::checkout::{self, LockedIndex};

/// In another clone: fetch a published plan and check out one of its lanes.
///
/// The plan was published by `wtc init PLAN --remote NAME`. The lane starts from its
/// published work, or from the plan's base if nobody saved it yet.
///
/// By default the lane is checked out in place, in this clone's worktree (which must have no
/// local changes where the lane differs); --path DIR creates a linked worktree instead.
/// From then on `save`/`done` publish the lane and `sync`/`wait`/`status`/`squash` fetch.
#[derive(Debug, clap::Args)]
pub struct JoinArgs {
    /// The plan's name.
    pub plan: String,
    /// The lane to work on (it must be in the plan: `wtc add LANE --no-worktree` adds one).
    /// Without it, this clone only follows the plan (to wait for lanes and squash them).
    pub lane: Option<String>,
    /// The remote to meet at (default: `origin`, or the only remote).
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Check the lane out in a new linked worktree at DIR instead of in place.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: JoinArgs) -> Result<Report> {
    names::validate_plan(&args.plan)?;
    if let Some(l) = &args.lane {
        names::validate_lane(l)?;
    }
    let ws = ctx.workspace()?;
    let repo = &ws.repo;
    let remote_name = match &args.remote {
        Some(r) => r.clone(),
        None => default_remote(repo)?,
    };
    if let Some(existing) = crate::plan::settings::remote_of(repo, &args.plan) {
        if existing != remote_name {
            return Err(user(format!(
                "plan '{}' already meets at remote '{existing}' in this clone",
                args.plan
            ))
            .into());
        }
    }
    let published = remote::fetch(repo, &remote_name, &args.plan, None)?;
    if !published.contains_key(&crate::plan::refnames::plan_ref(&args.plan)) {
        return Err(user(format!(
            "{} has no plan '{}'",
            crate::git::remote::display_url(repo, &remote_name),
            args.plan
        ))
        .hint(format!(
            "publish it from the coordinating clone with `wtc init {} --remote {remote_name}`",
            args.plan
        ))
        .into());
    }
    let tracked_plan = refs::peel(
        repo,
        &crate::plan::refnames::tracking_plan(&remote_name, &args.plan),
    )?
    .context("the fetched plan ref is missing")?;
    let p = plan::read_plan_commit(repo, tracked_plan)?;
    plan::check_name(&p, &args.plan)?;
    let Some(lane_name) = args.lane.clone() else {
        crate::plan::settings::set_remote(repo, &args.plan, Some(&remote_name))?;
        remote::adopt_plan(repo, &remote_name, &args.plan)?;
        let mut r = Report::new("join");
        r.set("plan", &args.plan)
            .set("lane", None::<String>)
            .set("remote", &remote_name);
        r.note(format!(
            "following plan '{}' at '{remote_name}': `wtc status`, `wtc wait --all`, `wtc squash --push` work here",
            args.plan
        ));
        return Ok(r);
    };
    p.require_lane(&lane_name)?;
    let base = p.base_id();
    let start = refs::peel(
        repo,
        &crate::plan::refnames::tracking_lane(&remote_name, &args.plan, &lane_name),
    )?
    .unwrap_or(base);
    if !repo.has_object(start) {
        return Err(user(format!(
            "this clone does not have the plan's base commit {}",
            refs::short(base)
        ))
        .hint(format!(
            "fetch the target branch first: `git fetch {remote_name} {}`",
            p.target
        ))
        .into());
    }
    // Everything checked: from here on we write.
    crate::plan::settings::set_remote(repo, &args.plan, Some(&remote_name))?;
    remote::adopt_plan(repo, &remote_name, &args.plan)?;
    let branch = crate::plan::refnames::lane_branch(&args.plan, &lane_name);
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
            return Err(user(format!(
                "the local branch {} and the published lane diverged",
                crate::plan::refnames::lane_branch_short(&args.plan, &lane_name)
            ))
            .hint("merge them by hand (git merge), then `wtc save`")
            .into())
        }
    };
    let worktree = match &args.path {
        Some(path) => {
            let path = if path.is_absolute() {
                path.clone()
            } else {
                ctx.dir.join(path)
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let name: gix::refs::FullName = branch.as_str().try_into()?;
            let interrupt = std::sync::atomic::AtomicBool::new(false);
            repo.add_worktree(
                &path,
                gix::worktree::add::Head::Attached(name),
                gix::progress::Discard,
                &interrupt,
            )
            .with_context(|| format!("creating the worktree at {}", path.display()))?;
            path
        }
        None => {
            switch_in_place(&ws, &branch, tip)?;
            ws.workdir().to_owned()
        }
    };
    let mut r = Report::new("join");
    r.set("plan", &args.plan)
        .set("lane", &lane_name)
        .set(
            "branch",
            crate::plan::refnames::lane_branch_short(&args.plan, &lane_name),
        )
        .set("worktree", &worktree)
        .set("start", tip.to_string())
        .set("remote", &remote_name);
    r.out(worktree.display().to_string());
    r.note(format!(
        "joined plan '{}' as lane '{}' at {} in {}",
        args.plan,
        lane_name,
        refs::short(tip),
        worktree.display()
    ));
    Ok(r)
}

fn default_remote(repo: &gix::Repository) -> Result<String> {
    let names: Vec<String> = repo.remote_names().iter().map(|n| n.to_string()).collect();
    if names.iter().any(|n| n == "origin") {
        return Ok("origin".into());
    }
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(user("this repository has no remote to meet at")
            .hint("add one with `git remote add origin URL`")
            .into()),
        _ => Err(user(format!("several remotes exist: {}", names.join(", ")))
            .hint("say which with --remote NAME")
            .into()),
    }
}

/// Check `branch` (at `tip`) out in the worktree we stand in, touching only what differs and
/// refusing if local changes stand there.
fn switch_in_place(ws: &Workspace, branch: &str, tip: gix::ObjectId) -> Result<()> {
    let repo = &ws.repo;
    if ws.head_branch()?.as_deref() == Some(branch) {
        return Ok(());
    }
    let mut locked = LockedIndex::acquire(repo)?;
    let from = match repo.head_id() {
        Ok(id) => repo.find_commit(id.detach())?.tree_id()?.detach(),
        Err(_) => gix::ObjectId::empty_tree(repo.object_hash()),
    };
    let to = repo.find_commit(tip)?.tree_id()?.detach();
    let changes = checkout::diff_trees(repo, from, to)?;
    let mut wt = checkout::Worktree::new(repo)?;
    let obstacles = wt.obstacles(&changes, locked.state())?;
    if !obstacles.is_empty() {
        return Err(
            user("local changes stand where the lane differs; nothing was changed")
                .hint("commit or stash them, or join with --path DIR to use a new worktree")
                .paths(obstacles.iter().map(|o| o.path().to_string()).collect())
                .into(),
        );
    }
    wt.apply(&changes, &mut locked.file)?;
    let name: gix::refs::FullName = branch.try_into()?;
    repo.edit_reference(RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: format!("wtc: join {branch}").into(),
            },
            expected: PreviousValue::Any,
            new: gix::refs::Target::Symbolic(name),
        },
        name: "HEAD".try_into()?,
        deref: false,
    })?;
    locked.commit()?;
    Ok(())
}
