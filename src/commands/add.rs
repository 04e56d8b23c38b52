//! `wtc add LANE`: a scratch branch and a linked worktree for one agent.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use gix::refs::transaction::PreviousValue;

use super::Ctx;
use crate::commands::ui::Report;
use crate::error::user;
use crate::git::refs;
use crate::plan::names;
use crate::plan::LaneSpec;

/// Add a lane: branch wtc/PLAN/LANE at the plan's base, checked out in its own worktree.
///
/// The worktree goes to DIR, or by default to <parent of the main worktree>/<repo>.wtc/PLAN/LANE.
/// The lane's agent works there; `git commit` or `wtc save` record its work, `wtc sync` brings
/// in the lanes it comes --after.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Name of the lane, e.g. `schema`.
    pub lane: String,
    /// A lane this one builds on (repeatable); its work flows into this lane on `wtc sync`.
    #[arg(long, value_name = "LANE")]
    pub after: Vec<String>,
    /// Start the lane's branch at REV instead of the plan's base.
    #[arg(long, value_name = "REV")]
    pub from: Option<String>,
    /// Where to create the worktree.
    #[arg(long, value_name = "DIR", conflicts_with = "no_worktree")]
    pub path: Option<PathBuf>,
    /// Create only the branch (for an agent in another clone or an existing worktree).
    #[arg(long)]
    pub no_worktree: bool,
}

pub fn run(ctx: &Ctx, args: AddArgs) -> Result<Report> {
    names::validate_lane(&args.lane)?;
    for a in &args.after {
        names::validate_lane(a)?;
    }
    let (ws, stored) = ctx.plan()?;
    let repo = &ws.repo;
    let mut p = stored.plan.clone();
    if p.lane(&args.lane).is_some() {
        return Err(user(format!(
            "lane '{}' already exists in plan '{}'",
            args.lane, p.name
        ))
        .hint("`wtc status` shows it; pick another name")
        .into());
    }
    for a in &args.after {
        p.require_lane(a)?;
        if a == &args.lane {
            return Err(user("a lane cannot come after itself").into());
        }
    }
    let branch = crate::plan::refnames::lane_branch(&p.name, &args.lane);
    if refs::peel(repo, &branch)?.is_some() {
        return Err(user(format!(
            "the branch {branch} already exists but is not in the plan"
        ))
        .hint(format!(
            "delete it with `git branch -D {}` if it is stale",
            crate::plan::refnames::lane_branch_short(&p.name, &args.lane)
        ))
        .into());
    }
    let start = match &args.from {
        Some(rev) => {
            repo.rev_parse_single(rev.as_str())
                .map_err(|_| user(format!("cannot resolve --from {rev:?} to a commit")))?
                .object()?
                .peel_to_commit()
                .map_err(|_| user(format!("--from {rev:?} does not name a commit")))?
                .id
        }
        None => p.base_id(),
    };
    let worktree = if args.no_worktree {
        None
    } else {
        let path = match &args.path {
            Some(p) => absolute(&ctx.dir, p),
            None => default_worktree_path(&ws.main_workdir()?, &p.name, &args.lane),
        };
        if path.exists()
            && std::fs::read_dir(&path)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true)
        {
            return Err(user(format!(
                "{} already exists and is not empty",
                path.display()
            ))
            .hint("pass --path DIR with a new or empty directory")
            .into());
        }
        Some(path)
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
    let mut r = Report::new("add");
    r.set("plan", &p.name)
        .set("lane", &args.lane)
        .set(
            "branch",
            crate::plan::refnames::lane_branch_short(&p.name, &args.lane),
        )
        .set("after", &args.after)
        .set("start", start.to_string())
        .set("worktree", &worktree);
    if let Some(path) = &worktree {
        r.out(path.display().to_string());
    }
    r.note(format!(
        "added lane '{}' on {} at {}{}",
        args.lane,
        crate::plan::refnames::lane_branch_short(&p.name, &args.lane),
        refs::short(start),
        if args.after.is_empty() {
            String::new()
        } else {
            format!(", after {}", args.after.join(", "))
        }
    ));
    Ok(r)
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

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}
