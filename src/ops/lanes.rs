//! Lanes as units of work on disk: what removing one would lose, saving it first, and
//! removing its worktree and branch (archiving the tip when asked).

use anyhow::Result;

use crate::git::worktrees::Workspace;
use crate::worktree::operation::Operation;

/// Remove a lane's worktree (if any) and branch. The caller checked for unsaved work.
pub fn remove_lane_checkout(ws: &Workspace, plan: &str, lane: &str, archive: bool) -> Result<()> {
    let branch = crate::plan::refnames::lane_branch(plan, lane);
    if let Some(wt) = ws.worktree_of(&branch)? {
        if wt.is_main {
            anyhow::bail!(crate::error::user(format!(
                "the main worktree has lane '{lane}' checked out; check out another branch there first"
            )));
        }
        ws.repo
            .remove_worktree(
                &wt.path,
                gix::worktree::remove::Force::DiscardChanges,
                gix::progress::Discard,
            )
            .map_err(|e| anyhow::anyhow!("removing the worktree {}: {e}", wt.path.display()))?;
        prune_empty_parents(&wt.path);
    }
    // In remote mode the lane may exist only as a fetched copy: archive what this clone knows.
    if archive {
        if let Some(tip) = crate::plan::lanes::tip(&ws.repo, plan, lane)? {
            let archived = crate::plan::refnames::archive_lane(plan, lane);
            crate::git::refs::cas(
                &ws.repo,
                &archived,
                gix::refs::transaction::PreviousValue::Any,
                tip,
                &format!("archive lane {lane}"),
            )?;
        }
    }
    if let Some(tip) = crate::git::refs::peel(&ws.repo, &branch)? {
        crate::git::refs::delete(&ws.repo, &branch, tip)?;
    }
    Ok(())
}

/// Remove the empty `<repo>.wtc/<plan>` directories wtc created around a removed worktree.
fn prune_empty_parents(path: &std::path::Path) {
    let mut dir = path.parent();
    for _ in 0..2 {
        match dir {
            Some(d) if std::fs::remove_dir(d).is_ok() => dir = d.parent(),
            _ => break,
        }
    }
}

/// Make sure removing a lane loses nothing: save a dirty worktree as a WIP commit. Returns
/// that commit, if one was made. (`--force` means "remove anyway", never "destroy": the saved
/// tip is archived by the caller.)
pub fn save_before_removal(
    ws: &Workspace,
    plan: &str,
    lane: &str,
    command: &str,
) -> Result<Option<gix::ObjectId>> {
    let Some(repo) = lane_worktree(ws, plan, lane)? else {
        return Ok(None);
    };
    // `save` commits nothing (and leaves the index alone) when the worktree is clean.
    let msg = format!("wip: {lane} (saved by wtc {command} --force)");
    let branch = crate::plan::refnames::lane_branch(plan, lane);
    let op = Operation::begin(&repo, command)?;
    Ok(crate::ops::save::save(&op, &repo, &branch, lane, Some(&msg), false)?.commit)
}

/// Unsaved work in a lane's worktree: `Some(paths)` when dirty, `None` when clean or absent.
pub fn unsaved_work(ws: &Workspace, plan: &str, lane: &str) -> Result<Option<Vec<String>>> {
    let Some(repo) = lane_worktree(ws, plan, lane)? else {
        return Ok(None);
    };
    let dirty = crate::worktree::snapshot::dirty_paths(&repo, None)?;
    Ok((!dirty.is_empty()).then(|| dirty.iter().map(|p| p.to_string()).collect()))
}

/// The lane's worktree, opened, if it has one that still exists on disk.
fn lane_worktree(ws: &Workspace, plan: &str, lane: &str) -> Result<Option<gix::Repository>> {
    match ws.worktree_of(&crate::plan::refnames::lane_branch(plan, lane))? {
        Some(wt) if wt.exists => Ok(Some(Workspace::open_worktree(&wt.path)?)),
        _ => Ok(None),
    }
}
