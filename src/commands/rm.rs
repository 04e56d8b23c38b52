//! `wtc rm LANE`: remove a lane from the plan, with its worktree and branch.

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;
use crate::error::user;
use crate::plan::names;

/// Remove a lane: its worktree, its branch and its place in the plan.
///
/// Refuses while other lanes come after it, and while its worktree holds unsaved work
/// (with --force they are saved and archived under refs/wtc/archive/PLAN/LANE, never deleted).
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// The lane to remove.
    pub lane: String,
    /// Remove even if the worktree holds unsaved changes: they are saved first and the tip is
    /// kept at refs/wtc/archive/PLAN/LANE.
    #[arg(long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, args: RmArgs) -> Result<Report> {
    names::validate_lane(&args.lane)?;
    let (ws, stored) = ctx.plan()?;
    let _op = ctx.operation(&ws, "rm")?;
    let mut p = stored.plan.clone();
    p.require_lane(&args.lane)?;
    let downstream = p.direct_downstream(&args.lane);
    if !downstream.is_empty() {
        return Err(user(format!(
            "lanes {} come after '{}'",
            downstream.join(", "),
            args.lane
        ))
        .hint("remove those lanes first")
        .into());
    }
    if let Some(paths) = crate::ops::lanes::unsaved_work(&ws, &p.name, &args.lane)? {
        if !args.force {
            return Err(user(format!(
                "lane '{}' has unsaved changes in its worktree",
                args.lane
            ))
            .hint("save them (`wtc save` there), or pass --force to save and archive them")
            .paths(paths)
            .into());
        }
    }
    if let Some((_, here)) = crate::plan::lanes::checked_out(&ws)? {
        if here == args.lane {
            return Err(user("cannot remove the lane whose worktree you stand in")
                .hint("run `wtc rm` from the main worktree (or pass -C DIR)")
                .into());
        }
    }
    let saved = if args.force {
        crate::ops::lanes::save_before_removal(&ws, &p.name, &args.lane, "rm")?
    } else {
        None
    };
    p.lanes.retain(|l| l.name != args.lane);
    crate::ops::publish::store_plan(
        &ws.repo,
        &p,
        Some(stored.commit),
        &format!("rm lane {}", args.lane),
    )?;
    crate::ops::lanes::remove_lane_checkout(&ws, &p.name, &args.lane, saved.is_some())?;
    if let Some(remote) = crate::plan::settings::remote_of(&ws.repo, &p.name) {
        let tracking = crate::plan::refnames::tracking_lane(&remote, &p.name, &args.lane);
        crate::ops::publish::publish(
            &ws.repo,
            &remote,
            &crate::plan::refnames::published_lane(&p.name, &args.lane),
            &tracking,
            None,
        )?;
    }
    let archived = saved.map(|_| crate::plan::refnames::archive_lane(&p.name, &args.lane));
    let mut r = Report::new("rm");
    r.set("plan", &p.name)
        .set("lane", &args.lane)
        .set("archived", &archived);
    r.note(format!("removed lane '{}'", args.lane));
    if let Some(a) = archived {
        r.note(format!("its unsaved changes were saved and kept at {a}"));
    }
    Ok(r)
}
