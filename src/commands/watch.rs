//! `wtc watch`: keep this lane (or every lane) synced, live.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::{Report, Style, Ui};
use crate::error::exit;
use crate::live::watch::{self, Event, FeedMode, Scope, Stop, WatchOptions};
use crate::ops::sync::SyncResult;

/// Keep this lane (or every lane) synced with its upstream lanes, live.
///
/// The moment a lane this one comes after moves (a `wtc save`, a plain `git commit`, a sync),
/// it is merged in exactly like `wtc sync` does, within milliseconds. Changes are noticed
/// through file-system events on the lane refs (polling every 100 ms where events are
/// unavailable, or with --poll). Uncommitted changes are carried across untouched.
///
/// A sync that would conflict, or that would overwrite uncommitted changes, is held back and
/// reported: nothing is written in that lane until it or its upstream lanes move again; other
/// lanes keep flowing. Only one watcher per lane: a second one is refused. Runs until Ctrl-C
/// or SIGTERM (exit 130), never stopping half-way through a sync.
///
/// With --all, a pair of lanes the DAG does not order is reported as soon as their changes
/// start to conflict (the conflict forecast of `wtc status`), before either syncs or
/// squashes: early enough to tell their agents.
///
/// Output: one line per event on stderr; with --json one JSON object per line on stdout
/// (`{"version":1,"event":"started"|"synced"|"held"|"autosaved"|"overlap"|"stopped",...}`).
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Keep every lane of the plan that has a worktree in this clone synced, in one process
    /// (e.g. from the main worktree); lanes added later are picked up.
    #[arg(long)]
    pub all: bool,
    /// Also save a lane's worktree as a WIP commit once no file in it changed for IDLE (e.g.
    /// 30s, 500ms); syncs then save a dirty worktree first, like `wtc sync`.
    #[arg(long, value_name = "IDLE", value_parser = super::parse_duration)]
    pub autosave: Option<Duration>,
    /// Read the refs every 100 ms instead of relying on file-system events (e.g. on network
    /// file systems, where events from other machines never arrive).
    #[arg(long)]
    pub poll: bool,
    /// Remote mode: how often to look at the remote at first (a ref listing, no download);
    /// the pause grows x1.5 up to 8x while nothing changes.
    #[arg(long, value_name = "DUR", value_parser = super::parse_duration, default_value = "1s")]
    pub interval: Duration,
}

pub fn run(ctx: &Ctx, args: WatchArgs) -> Result<Report> {
    // Long-running: paths stay whole (see `dirfd::short`).
    crate::dirfd::whole_paths();
    let (ws, stored) = ctx.plan()?;
    let plan = stored.plan.name.clone();
    let scope = if args.all {
        Scope::All
    } else {
        let lane = super::context::require_current_lane(&ws, &plan).map_err(|e| {
            e.context("`wtc watch` runs in a lane worktree (or with --all for every lane)")
        })?;
        Scope::Lanes([lane].into())
    };
    let opts = WatchOptions {
        scope,
        autosave: args.autosave,
        poll: args.poll,
        remote_interval: args.interval,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut started = false;
    let ui = ctx.ui;
    let outcome = runtime.block_on(watch::watch(&ws.repo, &plan, opts, &mut |e| {
        started |= matches!(e, Event::Started { .. });
        print_event(&ui, &e);
    }));
    let (reason, code) = match outcome {
        Ok(Stop::Interrupted) => ("interrupted".to_string(), exit::INTERRUPTED),
        Ok(Stop::NothingLeft) => ("no lane left to watch".to_string(), exit::OK),
        // Before the first event nothing was streamed: a normal error document.
        Err(e) if !started => return Err(e),
        Err(e) => (format!("{e:#}"), super::exit_code(&e)),
    };
    print_event(
        &ui,
        &Event::Stopped {
            reason,
            exit_code: code,
        },
    );
    let mut r = Report::new("watch");
    r.streamed = true;
    r.exit = code;
    Ok(r)
}

/// Print one event: an NDJSON line on stdout with --json, else a line on stderr.
pub fn print_event(ui: &Ui, e: &Event) {
    if ui.json {
        let mut doc = serde_json::to_value(e).expect("events serialize");
        if let Some(map) = doc.as_object_mut() {
            map.insert("version".into(), 1.into());
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{doc}");
        let _ = out.flush();
        return;
    }
    let important = matches!(
        e,
        Event::Held { .. }
            | Event::Overlap { .. }
            | Event::RemoteError { .. }
            | Event::Stopped { exit_code: 1.., .. }
    );
    if ui.quiet && !important {
        return;
    }
    let mut err = std::io::stderr().lock();
    for line in human(ui, e) {
        let _ = writeln!(err, "{line}");
    }
}

/// The human form of an event: one line, plus a hint line for a held lane.
pub fn human(ui: &Ui, e: &Event) -> Vec<String> {
    let short = |c: &Option<String>| {
        c.as_deref()
            .map_or("?", |c| &c[..c.len().min(9)])
            .to_string()
    };
    match e {
        Event::Started {
            plan,
            lanes,
            mode,
            poll_ms,
            autosave_ms,
            remote,
        } => {
            let how = match mode {
                FeedMode::Events => "file-system events".to_string(),
                FeedMode::Poll => format!("polling every {poll_ms} ms"),
            };
            let mut autosave = autosave_ms.map_or(String::new(), |ms| {
                format!(", autosave after {}", human_ms(ms))
            });
            if let Some(r) = remote {
                autosave.push_str(&format!(", remote '{r}'"));
            }
            let which = if lanes.is_empty() {
                "no lanes yet".to_string()
            } else {
                lanes.join(", ")
            };
            vec![format!(
                "watching plan '{plan}': {which} ({how}{autosave}); Ctrl-C stops"
            )]
        }
        Event::Watching { lane, worktree } => {
            vec![format!("{lane}: now watched ({})", worktree.display())]
        }
        Event::Unwatched { lane, reason } => vec![format!("{lane}: no longer watched: {reason}")],
        Event::Synced {
            lane,
            result,
            commit,
            merged,
            autosaved,
            ms,
        } => {
            let saved = autosaved.as_ref().map_or(String::new(), |c| {
                format!(" (local changes saved as {})", &c[..9])
            });
            let what = match result {
                SyncResult::FastForward => {
                    format!("fast-forward to include {}", merged.join(", "))
                }
                SyncResult::Merged => format!("merged {}", merged.join(", ")),
                SyncResult::UpToDate => "up to date again".to_string(),
                SyncResult::Conflict => "conflict".to_string(),
            };
            vec![format!(
                "{}: {what} -> {}{saved} ({ms} ms)",
                ui.paint(Style::Good, lane),
                short(commit)
            )]
        }
        Event::Held {
            lane,
            message,
            hint,
            paths,
            ..
        } => {
            let paths = if paths.is_empty() {
                String::new()
            } else {
                format!(" [{}]", paths.join(", "))
            };
            let mut lines = vec![format!(
                "{}: {} {message}{paths}",
                ui.paint(Style::Warn, lane),
                ui.paint(Style::Warn, "held:")
            )];
            if let Some(h) = hint {
                lines.push(format!("  {} {h}", ui.paint(Style::Dim, "hint:")));
            }
            lines
        }
        Event::Autosaved {
            lane,
            commit,
            paths,
            ms,
        } => vec![format!(
            "{lane}: autosaved {} file(s) as {} ({ms} ms)",
            paths.len(),
            &commit[..9]
        )],
        Event::Overlap {
            lanes,
            paths,
            conflicts,
        } => vec![format!(
            "{} {}",
            ui.paint(Style::Warn, "overlap:"),
            super::status::overlap_text(ui, lanes, paths, *conflicts)
        )],
        Event::RemoteError { remote, message } => vec![format!(
            "{} {message}",
            ui.paint(Style::Warn, &format!("remote '{remote}':"))
        )],
        Event::Stopped { reason, exit_code } => {
            let style = if *exit_code == 0 || *exit_code == exit::INTERRUPTED {
                Style::Dim
            } else {
                Style::Bad
            };
            vec![format!("{} {reason}", ui.paint(style, "stopped:"))]
        }
    }
}

fn human_ms(ms: u64) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
