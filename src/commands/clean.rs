//! `wtc clean`: remove every lane's worktree and branch once the work is integrated.

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;
use crate::error::user;
use crate::git::refs;
use crate::plan;
use crate::plan::lanes as lane;
use crate::plan::refnames::{self, trailers};

/// Remove the plan's lane worktrees, lane branches and the plan itself.
///
/// Refuses while a lane worktree holds unsaved changes, or while lanes hold work that no
/// integration commit contains (run `wtc squash` first), unless --force.
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
    let p = &stored.plan;
    if let Some((plan_here, _)) = crate::plan::lanes::checked_out(&ws)? {
        if plan_here == p.name {
            return Err(
                user("cannot clean while standing in one of the plan's lane worktrees")
                    .hint("run `wtc clean` from the main worktree (or pass -C DIR)")
                    .into(),
            );
        }
    }
    let mut dirty = Vec::new();
    let mut unintegrated = Vec::new();
    let integrated = p
        .integrated
        .as_deref()
        .and_then(|i| gix::ObjectId::from_hex(i.as_bytes()).ok());
    // Integrated from another clone: its commit is on the remote's target, fetch it to check.
    if let (Some(i), Some(remote)) = (
        integrated,
        crate::plan::settings::remote_of(&ws.repo, &p.name),
    ) {
        if !ws.repo.has_object(i) {
            crate::ops::publish::fetch(&ws.repo, &remote, &p.name, Some(&p.target))?;
        }
    }
    for l in &p.lanes {
        if let Some(paths) = crate::ops::lanes::unsaved_work(&ws, &p.name, &l.name)? {
            dirty.extend(paths.into_iter().map(|f| format!("{}: {f}", l.name)));
        }
        if let Some(tip) = lane::tip(&ws.repo, &p.name, &l.name)? {
            let has_work =
                tip != p.base_id() && lane::count_commits(&ws.repo, tip, p.base_id())? > 0;
            let covered = match integrated {
                Some(i) => integration_covers(&ws.repo, i, &l.name, tip)?,
                None => false,
            };
            if has_work && !covered {
                unintegrated.push(l.name.clone());
            }
        }
    }
    if !args.force && !dirty.is_empty() {
        return Err(
            user("lane worktrees hold unsaved changes; nothing was removed")
                .hint("save them (`wtc save` in each), or pass --force to save and archive them")
                .paths(dirty)
                .into(),
        );
    }
    if !args.force && !unintegrated.is_empty() {
        return Err(user(format!(
            "lanes {} hold work that is not integrated; nothing was removed",
            unintegrated.join(", ")
        ))
        .hint("run `wtc squash` first, or `wtc clean --force` (add --keep-archive to keep their tips)")
        .into());
    }
    // --force removes lanes anyway, but never destroys work: unsaved changes are saved, and
    // every lane with unsaved or unintegrated work is archived, whatever --keep-archive says.
    let mut archived = Vec::new();
    for l in &p.lanes {
        let saved = crate::ops::lanes::save_before_removal(&ws, &p.name, &l.name, "clean")?;
        let archive = args.keep_archive || saved.is_some() || unintegrated.contains(&l.name);
        crate::ops::lanes::remove_lane_checkout(&ws, &p.name, &l.name, archive)?;
        if archive {
            archived.push(l.name.clone());
        }
    }
    if !archived.is_empty() {
        refs::cas(
            &ws.repo,
            &refnames::archive_plan(&p.name),
            gix::refs::transaction::PreviousValue::Any,
            stored.commit,
            "archive plan",
        )?;
    }
    if let Some(remote) = crate::plan::settings::remote_of(&ws.repo, &p.name) {
        crate::ops::publish::unpublish_plan(&ws.repo, &remote, &p.name)?;
    }
    refs::delete(
        &ws.repo,
        &crate::plan::refnames::plan_ref(&p.name),
        stored.commit,
    )?;
    let mut r = Report::new("clean");
    let names: Vec<&str> = p.lanes.iter().map(|l| l.name.as_str()).collect();
    r.set("plan", &p.name)
        .set("removed", &names)
        .set("archived", &archived);
    r.note(format!(
        "removed plan '{}' and its lanes {}",
        p.name,
        names.join(", ")
    ));
    if !archived.is_empty() {
        r.note(format!(
            "kept the tips of {} under {} (unsaved changes were saved there first)",
            archived.join(", "),
            refnames::archive_prefix(&p.name)
        ));
    }
    Ok(r)
}

/// Does the integration commit record this lane at `tip` (or a later tip containing it)?
fn integration_covers(
    repo: &gix::Repository,
    integration: gix::ObjectId,
    lane_name: &str,
    tip: gix::ObjectId,
) -> Result<bool> {
    let Ok(commit) = repo.find_commit(integration) else {
        return Ok(false);
    };
    for (lane, recorded) in trailers::lanes_of(commit.message_raw()?) {
        if lane == lane_name && refs::is_ancestor(repo, tip, recorded)? {
            return Ok(true);
        }
    }
    Ok(false)
}
