//! `wtc join PLAN LANE`: in another clone, fetch a published plan and work on one of its lanes.

use std::path::PathBuf;

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;
use crate::ops::join::{self, JoinOptions};
use crate::plan::names;

/// In another clone: fetch a published plan and check out one of its lanes.
///
/// The plan was published by `wtc init PLAN --remote NAME`. The lane starts from its
/// published work, or from the plan's base if nobody saved it yet.
///
/// By default the lane is checked out in place, in this clone's worktree (which must have no
/// local changes where the lane differs); --path DIR creates a linked worktree instead, which
/// gets the ignored files .worktreeinclude names and the `git config wtc.setup` command, as
/// with `wtc add`.
/// From then on `save`/`done` publish the lane and `sync`/`wait`/`status`/`squash` fetch.
#[derive(Debug, clap::Args)]
pub struct JoinArgs {
    /// The plan's name.
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::commands::complete::plans))]
    pub plan: String,
    /// The lane to work on (it must be in the plan: `wtc add LANE --no-worktree` adds one).
    /// Without it, this clone only follows the plan (to wait for lanes and squash them).
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::commands::complete::lanes))]
    pub lane: Option<String>,
    /// The remote to meet at (default: the one this plan already meets at, else `git config
    /// wtc.remote`, else `origin`, else the only remote).
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
    let op = ctx.operation(&ws, "join")?;
    let opts = JoinOptions {
        plan: args.plan.clone(),
        lane: args.lane.clone(),
        remote: args.remote.clone(),
        path: args.path.as_ref().map(|p| {
            if p.is_absolute() {
                p.clone()
            } else {
                ctx.dir.join(p)
            }
        }),
        setup: crate::plan::settings::setup(&ws.repo)?,
    };
    let joined = join::join(&op, &ws, &opts)?;
    let mut r = Report::new("join");
    r.set("plan", &joined.plan)
        .set("lane", &joined.lane)
        .set("remote", &joined.remote);
    match (&joined.lane, &joined.worktree, &joined.start) {
        (Some(lane), Some(worktree), Some(start)) => {
            r.set("branch", &joined.branch)
                .set("worktree", worktree)
                .set("start", start);
            r.out(worktree.display().to_string());
            r.note(format!(
                "joined plan '{}' as lane '{lane}' at {} in {}",
                joined.plan,
                &start[..9],
                worktree.display()
            ));
            if args.path.is_some() {
                r.set("included", &joined.included)
                    .set("include_skipped", &joined.include_skipped)
                    .set("setup", &joined.setup);
                for n in crate::ops::lanes::include_notes(&joined.included, &joined.include_skipped)
                {
                    r.note(n);
                }
                if let Some(s) = &joined.setup {
                    r.note(s.note());
                }
            }
            if !joined.raced.is_empty() {
                r.set("raced", &joined.raced);
                r.note(format!(
                    "warning: kept your version of {} (changed while the lane was checked out; `git diff` shows it)",
                    joined.raced.join(", ")
                ));
            }
            if !joined.kept.is_empty() {
                r.set("kept", &joined.kept);
                r.note(format!(
                    "note: older versions of those edits are kept beside them (untracked): {}",
                    joined.kept.join(", ")
                ));
            }
        }
        _ => {
            r.note(format!(
                "following plan '{}' at '{}': `wtc status`, `wtc wait --all`, `wtc squash --push` work here",
                joined.plan, joined.remote
            ));
        }
    }
    Ok(r)
}
