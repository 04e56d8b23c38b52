//! Lanes as units of work: adding one (branch, worktree, plan), removing one (what removing
//! would lose, saving it first, archiving its tip), and the worktree and branch on disk.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use gix::refs::transaction::PreviousValue;
use serde::Serialize;

use crate::error::{Diagnostic, Kind};
use crate::git::refs;
use crate::git::worktrees::Workspace;
use crate::plan::{refnames, LaneSpec, StoredPlan};
use crate::worktree::operation::Operation;

/// Why adding or removing a lane refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    #[error("lane '{lane}' already exists in plan '{plan}'")]
    Exists { lane: String, plan: String },
    #[error("a lane cannot come after itself")]
    AfterItself,
    #[error("the branch {branch} already exists but is not in the plan")]
    StrayBranch { branch: String },
    #[error("--from {rev:?} {why}")]
    BadFrom { rev: String, why: &'static str },
    #[error("{} already exists and is not empty", path.display())]
    PathNotEmpty { path: PathBuf },
    #[error("lanes {} come after '{lane}'", downstream.join(", "))]
    HasDownstream {
        lane: String,
        downstream: Vec<String>,
    },
    #[error("lane '{lane}' has unsaved changes in its worktree")]
    Unsaved { lane: String, paths: Vec<String> },
    #[error("cannot remove the lane whose worktree you stand in")]
    StandingIn,
    #[error(
        "the main worktree has lane '{lane}' checked out; check out another branch there first"
    )]
    InMainWorktree { lane: String },
}

impl Diagnostic for LaneError {
    fn kind(&self) -> Kind {
        Kind::User
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            LaneError::Exists { .. } => "`wtc status` shows it; pick another name".into(),
            LaneError::StrayBranch { branch } => {
                format!("delete it with `git branch -D {branch}` if it is stale")
            }
            LaneError::PathNotEmpty { .. } => {
                "pass --path DIR with a new or empty directory".into()
            }
            LaneError::HasDownstream { .. } => "remove those lanes first".into(),
            LaneError::Unsaved { .. } => {
                "save them (`wtc save` there), or pass --force to save and archive them".into()
            }
            LaneError::StandingIn => "run `wtc rm` from the main worktree (or pass -C DIR)".into(),
            LaneError::AfterItself
            | LaneError::BadFrom { .. }
            | LaneError::InMainWorktree { .. } => return None,
        })
    }
    fn paths(&self) -> Vec<String> {
        match self {
            LaneError::Unsaved { paths, .. } => paths.clone(),
            _ => Vec::new(),
        }
    }
}

/// A lane to add.
#[derive(Debug, Clone)]
pub struct AddOptions {
    /// A valid lane name (checked by the caller), as are the names in `after`.
    pub lane: String,
    pub after: Vec<String>,
    /// Start the branch here instead of the plan's base.
    pub from: Option<String>,
    /// `None`: only the branch. `Some(None)`: a worktree at the default path.
    pub worktree: Option<Option<PathBuf>>,
}

/// The lane `add` created.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub plan: String,
    pub lane: String,
    pub branch: String,
    pub after: Vec<String>,
    pub start: String,
    pub worktree: Option<PathBuf>,
}

/// Add a lane to the plan: its branch (at `--from` or the plan's base), its worktree (unless
/// `no_worktree`), then the plan commit; each step is rolled back if a later one fails.
pub fn add(ws: &Workspace, stored: &StoredPlan, opts: &AddOptions) -> Result<Added> {
    let args = opts;
    let repo = &ws.repo;
    let mut p = stored.plan.clone();
    if p.lane(&args.lane).is_some() {
        return Err(LaneError::Exists {
            lane: args.lane.clone(),
            plan: p.name.clone(),
        }
        .into());
    }
    for a in &args.after {
        p.require_lane(a)?;
        if a == &args.lane {
            return Err(LaneError::AfterItself.into());
        }
    }
    let branch = refnames::lane_branch(&p.name, &args.lane);
    if refs::peel(repo, &branch)?.is_some() {
        return Err(LaneError::StrayBranch {
            branch: refnames::lane_branch_short(&p.name, &args.lane),
        }
        .into());
    }
    let start = match &args.from {
        Some(rev) => {
            repo.rev_parse_single(rev.as_str())
                .map_err(|_| LaneError::BadFrom {
                    rev: rev.clone(),
                    why: "cannot be resolved to a commit",
                })?
                .object()?
                .peel_to_commit()
                .map_err(|_| LaneError::BadFrom {
                    rev: rev.clone(),
                    why: "does not name a commit",
                })?
                .id
        }
        None => p.base_id(),
    };
    let worktree = match &args.worktree {
        None => None,
        Some(path) => {
            let path = match path {
                Some(p) => p.clone(),
                None => default_worktree_path(&ws.main_workdir()?, &p.name, &args.lane),
            };
            if path.exists()
                && std::fs::read_dir(&path)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(true)
            {
                return Err(LaneError::PathNotEmpty { path }.into());
            }
            Some(path)
        }
    };

    // Branch first (must not exist), then the worktree; roll the branch back if that fails,
    // then the plan (roll both back if someone changed the plan meanwhile).
    refs::cas(
        repo,
        &branch,
        PreviousValue::MustNotExist,
        start,
        &format!("add lane {}", args.lane),
    )?;
    let undo_branch = || {
        let _ = refs::delete(repo, &branch, start);
    };
    if let Some(path) = &worktree {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let name: gix::refs::FullName = branch.as_str().try_into()?;
        let interrupt = std::sync::atomic::AtomicBool::new(false);
        if let Err(e) = repo.add_worktree(
            path,
            gix::worktree::add::Head::Attached(name),
            gix::progress::Discard,
            &interrupt,
        ) {
            undo_branch();
            return Err(anyhow::Error::new(e)
                .context(format!("creating the worktree at {}", path.display())));
        }
    }
    p.lanes.push(LaneSpec {
        name: args.lane.clone(),
        after: args.after.clone(),
    });
    let msg = if args.after.is_empty() {
        format!("add lane {}", args.lane)
    } else {
        format!("add lane {} after {}", args.lane, args.after.join(", "))
    };
    if let Err(e) = crate::ops::publish::store_plan(repo, &p, Some(stored.commit), &msg) {
        if let Some(path) = &worktree {
            let _ = repo.remove_worktree(
                path,
                gix::worktree::remove::Force::DiscardChanges,
                gix::progress::Discard,
            );
        }
        undo_branch();
        return Err(e);
    }
    Ok(Added {
        plan: p.name.clone(),
        lane: args.lane.clone(),
        branch: refnames::lane_branch_short(&p.name, &args.lane),
        after: args.after.clone(),
        start: start.to_string(),
        worktree,
    })
}

/// `<parent of main worktree>/<repo>.wtc/<plan>/<lane>`
pub fn default_worktree_path(main: &Path, plan: &str, lane: &str) -> PathBuf {
    let name = main
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into());
    let parent = main.parent().unwrap_or(main);
    parent.join(format!("{name}.wtc")).join(plan).join(lane)
}

/// What `rm` did.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub plan: String,
    pub lane: String,
    /// Where the lane's saved work was kept, if it had any.
    pub archived: Option<String>,
}

/// Remove `lane` from the plan, with its worktree and branch. Refuses while other lanes
/// come after it or while its worktree holds unsaved work (unless `force`: then the work is
/// saved and the tip archived, never destroyed).
pub fn remove(ws: &Workspace, stored: &StoredPlan, lane: &str, force: bool) -> Result<Removed> {
    let mut p = stored.plan.clone();
    p.require_lane(lane)?;
    let downstream = p.direct_downstream(lane);
    if !downstream.is_empty() {
        return Err(LaneError::HasDownstream {
            lane: lane.to_string(),
            downstream: downstream.iter().map(|d| d.to_string()).collect(),
        }
        .into());
    }
    if let Some(paths) = unsaved_work(ws, &p.name, lane)? {
        if !force {
            return Err(LaneError::Unsaved {
                lane: lane.to_string(),
                paths,
            }
            .into());
        }
    }
    if let Some((_, here)) = crate::plan::lanes::checked_out(ws)? {
        if here == lane {
            return Err(LaneError::StandingIn.into());
        }
    }
    let saved = if force {
        save_before_removal(ws, &p.name, lane, "rm")?
    } else {
        None
    };
    p.lanes.retain(|l| l.name != lane);
    crate::ops::publish::store_plan(
        &ws.repo,
        &p,
        Some(stored.commit),
        &format!("rm lane {lane}"),
    )?;
    remove_lane_checkout(ws, &p.name, lane, saved.is_some())?;
    crate::ops::publish::unpublish_lane(&ws.repo, &p.name, lane)?;
    Ok(Removed {
        plan: p.name.clone(),
        lane: lane.to_string(),
        archived: saved.map(|_| refnames::archive_lane(&p.name, lane)),
    })
}

/// Remove a lane's worktree (if any) and branch. The caller checked for unsaved work.
pub fn remove_lane_checkout(ws: &Workspace, plan: &str, lane: &str, archive: bool) -> Result<()> {
    let branch = crate::plan::refnames::lane_branch(plan, lane);
    if let Some(wt) = ws.worktree_of(&branch)? {
        if wt.is_main {
            return Err(LaneError::InMainWorktree {
                lane: lane.to_string(),
            }
            .into());
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
