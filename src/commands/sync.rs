//! `wtc sync`: merge every upstream lane into this lane.

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;
use crate::error::exit;
use crate::ops::sync::{self, SyncOptions, SyncResult};

/// Merge every upstream lane into this lane.
///
/// Brings the work of every lane this one comes after (transitively) into this lane's branch
/// and worktree: a fast-forward when possible, else ONE merge commit.
///
/// Only the paths the incoming lanes change are looked at: local edits there are saved first
/// (a WIP commit), unless --no-autosave (or `git config wtc.autosave false`): then the sync
/// refuses and changes nothing. Local edits elsewhere stay in the worktree, uncommitted, as
/// `git merge` leaves them.
/// On conflicts the files get conflict markers and the index their stages, exactly like
/// `git merge`: resolve, then `git commit -a` (or `wtc save`). Exit code 3.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Do not autosave local edits on incoming paths; refuse instead (default: `git config
    /// wtc.autosave`, true).
    #[arg(long)]
    pub no_autosave: bool,
    /// Say what would happen, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also merge the target branch's current tip (the remote's, in remote mode), so its
    /// new commits (a hotfix on main) reach this lane and flow on to the lanes after it.
    /// squash still lands ONE commit on the target's tip.
    #[arg(long)]
    pub target: bool,
}

pub fn run(ctx: &Ctx, args: SyncArgs) -> Result<Report> {
    let t = crate::trace::span("sync: plan and lane");
    let (ws, stored, lane, _) = ctx.lane()?;
    drop(t);
    let t = crate::trace::span("sync: begin the operation");
    let op = ctx.operation(&ws, "sync")?;
    drop(t);
    let opts = SyncOptions {
        autosave: !args.no_autosave && crate::plan::settings::autosave(&ws.repo)?,
        dry_run: args.dry_run,
        hold_conflicts: false,
        with_target: args.target,
    };
    let out = sync::sync(&op, &ws.repo, &stored.plan, &lane, opts)?;
    if !args.dry_run {
        let _t = crate::trace::span("sync: publish");
        crate::ops::publish::publish_lane(&ws.repo, &stored.plan.name, &lane)
            .map_err(|e| e.context("the sync is done here, but publishing the lane failed"))?;
    }
    let mut r = Report::new("sync");
    r.set("plan", &stored.plan.name);
    r.extend(&out);
    let would = if args.dry_run { "would " } else { "" };
    if let Some(c) = &out.autosaved {
        r.note(format!("autosaved local changes as {}", &c[..9]));
    }
    match out.result {
        SyncResult::UpToDate => {
            r.note(format!("lane '{lane}' is up to date"));
        }
        SyncResult::FastForward => {
            r.note(format!(
                "{would}fast-forward '{lane}' to include {}",
                out.merged.join(", ")
            ));
        }
        SyncResult::Merged => {
            r.note(format!(
                "{would}merge {} into '{lane}'",
                out.merged.join(", ")
            ));
        }
        SyncResult::Conflict => {
            r.exit = exit::CONFLICT;
            r.note(format!(
                "{}conflicts merging {} into '{lane}':",
                if args.dry_run { "would hit " } else { "" },
                out.merged.join(", ")
            ));
            for p in &out.conflicts {
                r.note(format!("  {p}"));
            }
            if !args.dry_run {
                r.note("hint: resolve the markers, then `git commit -a` (or `wtc save`); nothing was lost");
            }
        }
    }
    if !out.raced.is_empty() {
        // Edited while the sync wrote them: never silent (exit 3), nothing lost.
        r.exit = exit::CONFLICT;
        r.note(format!(
            "{} file(s) changed while the sync wrote them; your version is kept in the worktree:",
            out.raced.len()
        ));
        for p in &out.raced {
            r.note(format!("  {p}"));
        }
        r.note("hint: the incoming version is in the commit: `git diff` shows what your edit changes; keep it with `wtc save`, or take theirs with `git checkout -- PATH`");
    }
    for s in &out.submodules {
        match s.state {
            "checked-out" => r.note(format!(
                "submodule {}: checked out {} (submodule.recurse)",
                s.path,
                &s.gitlink[..9]
            )),
            _ => r.note(format!(
                "submodule {}: the lane now records {}, its checkout is still at another commit{}; run `git submodule update -- {}` (the next save records what is checked out, as `git commit -a` would)",
                s.path,
                &s.gitlink[..9],
                s.why.as_deref().map(|w| format!(" ({w})")).unwrap_or_default(),
                s.path
            )),
        };
    }
    if !out.kept.is_empty() {
        r.note(format!(
            "note: a file was replaced again while its older edit was being put back; the older version is kept beside it (untracked): {}",
            out.kept.join(", ")
        ));
    }
    Ok(r)
}
