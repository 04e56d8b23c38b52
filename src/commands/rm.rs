//! `wtc rm LANE`: remove a lane from the plan, with its worktree and branch.

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;
use crate::ops::lanes;
use crate::plan::names;

/// Remove a lane: its worktree, its branch and its place in the plan.
///
/// Refuses while other lanes come after it, and while its worktree holds unsaved work
/// (with --force they are saved and archived under refs/wtc/archive/PLAN/LANE, never deleted).
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// The lane to remove.
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::commands::complete::lanes))]
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
    let removed = lanes::remove(&ws, &stored, &args.lane, args.force)?;
    let mut r = Report::new("rm");
    r.extend(&removed);
    r.note(format!("removed lane '{}'", removed.lane));
    if let Some(a) = &removed.archived {
        r.note(format!("its unsaved or unintegrated work was kept at {a}"));
    }
    for n in &removed.kept {
        r.note(format!(
            "left the nested {} {} where it is (not the lane's to delete)",
            n.kind,
            n.path.display()
        ));
    }
    Ok(r)
}
