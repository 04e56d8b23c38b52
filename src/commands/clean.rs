//! `wtc clean`: remove every lane's worktree and branch once the work is integrated.

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;
use crate::ops::clean::{self, CleanOptions};
use crate::plan;

/// Remove the plan's lane worktrees, lane branches and the plan itself.
///
/// Refuses while a lane worktree holds unsaved changes, or while lanes hold work the target
/// does not have, unless --force. A lane's work has landed when a squash integrated it (in
/// this clone or another: `squash --push`), the target merged it, the target has its
/// version of every path it changed (a cherry-pick), or it holds only empty commits;
/// `wtc status` shows the verdict per lane.
#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    /// Remove lanes with unsaved or unintegrated work too: their changes are saved and their
    /// tips archived under refs/wtc/archive/PLAN/ (nothing is destroyed).
    #[arg(long)]
    pub force: bool,
    /// Keep each lane's tip (and the plan) under refs/wtc/archive/PLAN/.
    #[arg(long)]
    pub keep_archive: bool,
}

pub fn run(ctx: &Ctx, args: CleanArgs) -> Result<Report> {
    // Cleaning twice is not an error: with no plan left there is nothing to do.
    if ctx.plan.is_none() {
        let ws = ctx.workspace()?;
        if crate::plan::lanes::checked_out(&ws)?.is_none() && plan::list(&ws.repo)?.is_empty() {
            // Still take (and so recover) the worktree lock a killed clean may have left.
            let _op = ctx.operation(&ws, "clean")?;
            let mut r = Report::new("clean");
            r.set("plan", None::<String>)
                .set("removed", Vec::<String>::new());
            r.note("nothing to clean: there is no plan in this repository");
            return Ok(r);
        }
    }
    let (ws, stored) = ctx.plan()?;
    let _op = ctx.operation(&ws, "clean")?;
    let cleaned = clean::clean(
        &ws,
        &stored,
        CleanOptions {
            force: args.force,
            keep_archive: args.keep_archive,
        },
    )?;
    let mut r = Report::new("clean");
    r.set("plan", &cleaned.plan)
        .set("removed", &cleaned.removed)
        .set("archived", &cleaned.archived);
    r.note(format!(
        "removed plan '{}' and its lanes {}",
        cleaned.plan,
        cleaned.removed.join(", ")
    ));
    r.set("kept", &cleaned.kept).set("landed", &cleaned.landed);
    for n in &cleaned.kept {
        r.note(format!(
            "left the nested {} {} where it is (not a lane's to delete)",
            n.kind,
            n.path.display()
        ));
    }
    if !cleaned.archived.is_empty() {
        r.note(format!(
            "kept the tips of {} under {} (unsaved changes were saved there first)",
            cleaned.archived.join(", "),
            cleaned.archive
        ));
    }
    Ok(r)
}
