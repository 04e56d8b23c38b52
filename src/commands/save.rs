//! `wtc save` and `wtc done`: record the whole worktree as a WIP commit; hand off.

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;
use crate::git::refs;

/// Commit the whole worktree as a WIP commit on this lane's branch.
///
/// Tracked and untracked files are saved, ignored ones are not; afterwards `git status` is
/// clean. In remote mode the lane is published. A plain `git commit` is just as good.
#[derive(Debug, clap::Args)]
pub struct SaveArgs {
    /// The commit subject (default: "wip: LANE (N files)"; subjects not starting with "wip"
    /// appear in the integration commit's message).
    #[arg(short, long, value_name = "MSG")]
    pub message: Option<String>,
}

/// Save, then mark this lane done (hand off).
///
/// The lane's tip gets the trailer `Wtc-State: done`, which `wtc wait` and `wtc squash` look
/// for. A later commit on the lane means "working" again.
#[derive(Debug, clap::Args)]
pub struct DoneArgs {
    /// The commit subject (default: "done: LANE").
    #[arg(short, long, value_name = "MSG")]
    pub message: Option<String>,
}

pub fn run_save(ctx: &Ctx, args: SaveArgs) -> Result<Report> {
    run(ctx, "save", args.message, false)
}

pub fn run_done(ctx: &Ctx, args: DoneArgs) -> Result<Report> {
    run(ctx, "done", args.message, true)
}

fn run(ctx: &Ctx, command: &'static str, message: Option<String>, done: bool) -> Result<Report> {
    // Saving is local: an unreachable remote must not stop it (publishing then reports it).
    let (ws, stored, lane, branch) = ctx.lane_with(false)?;
    let op = ctx.operation(&ws, command)?;
    crate::ops::save::run_pre_commit(&ws.repo)?;
    let saved = crate::ops::save::save(&op, &ws.repo, &branch, &lane, message.as_deref(), done)?;
    let published =
        crate::ops::publish::publish_lane(&ws.repo, &stored.plan.name, &lane).map_err(|e| {
            let saved = saved
                .commit
                .map_or("nothing new was saved".to_string(), |c| {
                    format!("the work is saved locally as {}", refs::short(c))
                });
            e.context(format!("{saved}, but publishing the lane failed"))
        })?;
    let mut r = Report::new(command);
    r.set("plan", &stored.plan.name)
        .set("lane", &lane)
        .set("commit", saved.commit.map(|c| c.to_string()))
        .set("previous", saved.previous.to_string())
        .set("paths", &saved.paths)
        .set("done", done)
        .set("published", &published);
    match saved.commit {
        Some(c) if done && saved.paths.is_empty() => {
            r.note(format!("lane '{lane}' is done at {}", refs::short(c)))
        }
        Some(c) if done => r.note(format!(
            "lane '{lane}' is done at {} ({} file(s) saved)",
            refs::short(c),
            saved.paths.len()
        )),
        Some(c) => r.note(format!(
            "saved {} file(s) as {}",
            saved.paths.len(),
            refs::short(c)
        )),
        None => r.note("nothing to save: the worktree matches the lane's tip"),
    };
    r.set("nested", &saved.nested);
    for n in &saved.nested {
        r.note(format!(
            "warning: {n} is a repository of its own, not saved with the lane (commit there, or add it as a submodule)"
        ));
    }
    Ok(r)
}
