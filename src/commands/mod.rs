//! One module per command: an `XxxArgs` struct whose doc comments are the `--help`, and a
//! `run` function that resolves arguments, calls the domain and fills a [`Report`].

pub mod add;
pub mod clean;
pub mod demo;
pub mod init;
pub mod join;
pub mod rm;
pub mod run;
pub mod save;
pub mod squash;
pub mod status;
pub mod sync;
pub mod wait;
pub mod watch;

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::exit;
use crate::plan::{self, StoredPlan};
use crate::ui::{self, Ui};
use crate::workspace::Workspace;

/// What every command gets: where it runs, which plan was asked for, how to talk.
pub struct Ctx {
    pub dir: PathBuf,
    pub plan: Option<String>,
    pub ui: Ui,
}

impl Ctx {
    pub fn workspace(&self) -> Result<Workspace> {
        Workspace::discover(&self.dir)
    }

    /// The workspace and the plan this command is about.
    pub fn plan(&self) -> Result<(Workspace, StoredPlan)> {
        self.plan_with(true)
    }

    /// Like [`Ctx::plan`]; with `fetch_required = false` an unreachable remote is tolerated
    /// (the local copy of the plan is used), for commands that can do their local part
    /// offline, like `save`.
    pub fn plan_with(&self, fetch_required: bool) -> Result<(Workspace, StoredPlan)> {
        let ws = self.workspace()?;
        let name = ws.resolve_plan(self.plan.as_deref())?;
        if let Some(remote) = crate::remote::configured(&ws.repo, &name) {
            if let Err(e) = crate::remote::refresh(&ws.repo, &remote, &name) {
                if fetch_required || plan::load_from(&ws.repo, &plan::plan_ref(&name))?.is_none() {
                    return Err(e);
                }
            }
        }
        let stored = plan::load(&ws.repo, &name)?;
        Ok((ws, stored))
    }
}

/// Parse the command line, run the command, print, and return the exit code.
pub fn main() -> i32 {
    install_panic_hook();
    install_signal_handler();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, args.iter().any(|a| a == "--json")),
    };
    let ui = Ui::new(cli.json, cli.quiet, cli.verbose, cli.color);
    let dir = match &cli.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let ctx = Ctx {
        dir,
        plan: cli.plan.clone(),
        ui,
    };
    let name = cli.command.name();
    let result = match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Join(a) => join::run(&ctx, a),
        Command::Add(a) => add::run(&ctx, a),
        Command::Rm(a) => rm::run(&ctx, a),
        Command::Save(a) => save::run_save(&ctx, a),
        Command::Done(a) => save::run_done(&ctx, a),
        Command::Sync(a) => sync::run(&ctx, a),
        Command::Wait(a) => wait::run(&ctx, a),
        Command::Watch(a) => watch::run(&ctx, a),
        Command::Run(a) => run::run(&ctx, a),
        Command::Status(a) => status::run_status(&ctx, a),
        Command::Graph(a) => status::run_graph(&ctx, a),
        Command::Log(a) => status::run_log(&ctx, a),
        Command::Squash(a) => squash::run(&ctx, a),
        Command::Clean(a) => clean::run(&ctx, a),
        Command::Demo(a) => demo::run(&ctx, a),
    };
    let code = match result {
        Ok(report) => ui::render(&ctx.ui, report),
        Err(e) => ui::render_error(&ctx.ui, name, &e),
    };
    if std::env::var_os("WTC_FAULT_COUNT").is_some() {
        eprintln!("wtc-fault-points: {}", crate::faults::passed());
    }
    code
}

fn usage_error(e: clap::Error, json: bool) -> i32 {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) || !json {
        let _ = e.print();
        return e.exit_code();
    }
    let doc = serde_json::json!({
        "version": 1,
        "error": { "message": e.kind().to_string(), "detail": e.to_string(), "kind": "usage", "exit_code": exit::USAGE }
    });
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    exit::USAGE
}

/// SIGINT/SIGTERM/SIGHUP: the first one sets gix's interrupt flag, which long waits and the
/// points before any write check (exit 130, nothing half-written); a second one removes every
/// lock file wtc holds and terminates at once, so no `index.lock` is left behind either way.
fn install_signal_handler() {
    // SAFETY: the handler only touches atomics and gix's signal-safe tempfile registry.
    #[allow(unsafe_code)]
    // The returned `Deregister` does nothing when dropped: the handler stays installed.
    let _ = unsafe { gix::interrupt::init_handler(1, || {}) };
}

/// A panic is a bug: say so in one line, with where to report it, and exit 1.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: wtc hit an internal bug: {msg}{at}");
        eprintln!(
            "hint: please report it with the command you ran; set RUST_BACKTRACE=1 for details"
        );
        std::process::exit(exit::ERROR);
    }));
}

/// Parse `500ms`, `10s`, `2m`, `1h` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 500ms, 30s, 5m, 1h)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("'{s}' has an unknown unit (use ms, s, m or h)")),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

impl Ctx {
    /// The lane worktree we stand in: workspace, plan, lane name and its branch.
    pub fn lane(&self) -> Result<(Workspace, StoredPlan, String, String)> {
        self.lane_with(true)
    }

    /// The lane we stand in; see [`Ctx::plan_with`] for `fetch_required`.
    pub fn lane_with(
        &self,
        fetch_required: bool,
    ) -> Result<(Workspace, StoredPlan, String, String)> {
        let (ws, stored) = self.plan_with(fetch_required)?;
        let lane = ws.require_current_lane(&stored.plan.name)?;
        stored.plan.require_lane(&lane)?;
        let branch = crate::lane::branch_ref(&stored.plan.name, &lane);
        Ok((ws, stored, lane, branch))
    }
}

/// Remove a lane's worktree (if any) and branch. The caller checked for unsaved work.
pub fn remove_lane_checkout(ws: &Workspace, plan: &str, lane: &str, archive: bool) -> Result<()> {
    let branch = crate::lane::branch_ref(plan, lane);
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
        if let Some(tip) = crate::lane::tip(&ws.repo, plan, lane)? {
            let archived = format!("refs/wtc/archive/{plan}/{lane}");
            crate::refs::cas(
                &ws.repo,
                &archived,
                gix::refs::transaction::PreviousValue::Any,
                tip,
                &format!("archive lane {lane}"),
            )?;
        }
    }
    if let Some(tip) = crate::refs::peel(&ws.repo, &branch)? {
        crate::refs::delete(&ws.repo, &branch, tip)?;
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
    let branch = crate::lane::branch_ref(plan, lane);
    Ok(crate::snapshot::save(&repo, &branch, lane, Some(&msg), false)?.commit)
}

/// Unsaved work in a lane's worktree: `Some(paths)` when dirty, `None` when clean or absent.
pub fn unsaved_work(ws: &Workspace, plan: &str, lane: &str) -> Result<Option<Vec<String>>> {
    let Some(repo) = lane_worktree(ws, plan, lane)? else {
        return Ok(None);
    };
    let dirty = crate::snapshot::dirty_paths(&repo)?;
    Ok((!dirty.is_empty()).then(|| dirty.iter().map(|p| p.to_string()).collect()))
}

/// The lane's worktree, opened, if it has one that still exists on disk.
fn lane_worktree(ws: &Workspace, plan: &str, lane: &str) -> Result<Option<gix::Repository>> {
    match ws.worktree_of(&crate::lane::branch_ref(plan, lane))? {
        Some(wt) if wt.exists => Ok(Some(Workspace::open_worktree(&wt.path)?)),
        _ => Ok(None),
    }
}

impl Ctx {
    /// Take the worktree's `wtc.lock` for a command that writes (one wtc at a time per
    /// worktree). A lock left by a wtc that died is recovered, and the user is told.
    pub fn guard(&self, ws: &Workspace, command: &str) -> Result<crate::guard::OpLock> {
        let (lock, recovered) = crate::guard::OpLock::acquire(ws.repo.git_dir(), command)?;
        if let Some(r) = recovered {
            if !self.ui.json && !self.ui.quiet {
                let removed: Vec<String> =
                    r.removed.iter().map(|p| p.display().to_string()).collect();
                eprintln!(
                    "note: recovered after an interrupted `wtc {}` (pid {}){}",
                    r.command,
                    r.pid,
                    if removed.is_empty() {
                        String::new()
                    } else {
                        format!(": removed its stale {}", removed.join(", "))
                    }
                );
            }
        }
        // An update a killed wtc left half-done in this worktree is finished before anything
        // else looks at the worktree.
        if let Some(f) = crate::journal::recover(&ws.repo)? {
            if !self.ui.json && !self.ui.quiet {
                eprintln!(
                    "note: {} the worktree update of an interrupted `wtc {}` ({} is consistent again)",
                    if f.completed_now { "finished" } else { "found complete" },
                    f.command,
                    f.branch
                );
            }
        }
        Ok(lock)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
