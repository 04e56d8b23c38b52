//! `wtc add LANE`: a scratch branch and a linked worktree for one agent.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;
use crate::ops::lanes::{self, AddOptions};
use crate::plan::names;

/// Add a lane: branch wtc/PLAN/LANE at the plan's base, checked out in its own worktree.
///
/// The worktree goes to DIR, or by default to <parent of the main worktree>/<repo>.wtc/PLAN/LANE.
/// The lane's agent works there; `git commit` or `wtc save` record its work, `wtc sync` brings
/// in the lanes it comes --after.
///
/// The new worktree gets the ignored files that .worktreeinclude at the repository root names
/// (gitignore syntax, e.g. `.env` or `node_modules/`), copied from the main worktree without
/// overwriting anything. Then the command `git config wtc.setup` names (e.g. `npm ci`), if
/// any, runs there with the lane's `wtc env` variables, its output in
/// <git dir>/wtc/logs/PLAN/LANE.setup.log; if it fails, the lane stays and add exits 1.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Name of the lane, e.g. `schema`.
    pub lane: String,
    /// A lane this one builds on (repeatable); its work flows into this lane on `wtc sync`.
    #[arg(long, value_name = "LANE", add = clap_complete::engine::ArgValueCandidates::new(crate::commands::complete::lanes))]
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
    let opts = AddOptions {
        setup: crate::plan::settings::setup(&ws.repo)?,
        lane: args.lane,
        after: args.after,
        from: args.from,
        worktree: if args.no_worktree {
            None
        } else {
            Some(args.path.map(|p| absolute(&ctx.dir, &p)))
        },
    };
    let added = lanes::add(&ws, &stored, &opts)?;
    let mut r = Report::new("add");
    r.extend(&added);
    if let Some(path) = &added.worktree {
        r.out(path.display().to_string());
    }
    for n in added.notes() {
        r.note(n);
    }
    Ok(r)
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}
