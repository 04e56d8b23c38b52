//! `wtc run FILE`: one agent command per lane, in dependency order, then one squash.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Ctx;
use crate::commands::ui::{Report, Style, Ui};
use crate::live::run::{self, LaneJob, LaneOutcome, LaneState, RunEvent, RunFile, RunOptions};
use crate::ops::squash::{self, SquashOptions};

/// Run one command per lane, in dependency order, and land the result as ONE commit
///
/// FILE is a TOML file you write and keep locally; wtc never reads one from a remote or from
/// the plan, so nothing anyone else publishes is ever executed:
///
///   plan = "marketing"              # created if missing (target: the current branch)
///   setup = "npm ci"                # optional: run in each lane worktree this run creates
///   [[lane]]
///   name = "schema"
///   run = "sh ./agents/schema.sh"   # run with `sh -c` in the lane's worktree
///   [[lane]]
///   name = "services"
///   after = ["schema"]
///   run = "sh ./agents/services.sh"
///
/// Missing lanes are added (with worktrees), as `wtc add` does; `setup` (else `git config
/// wtc.setup`; "" for none) runs in each new one, and a failing set-up stops the run
/// (exit 1, naming its log). A lane's command starts once every lane it comes after is done,
/// in its worktree synced with them (with --eager: all at once, kept synced live as in
/// `wtc watch`), with the lane's `wtc env` variables set (WTC_PLAN, WTC_LANE, WTC_WORKTREE,
/// WTC_LANE_INDEX, WTC_PORT).
/// Exit 0 marks the lane done (`wtc done`, unless the command already did). A failing command
/// stops every lane after it from starting; the others finish; nothing is integrated and the
/// exit code is 1. Lanes already done are not run again, so after a fix, run FILE again.
/// Each command's output goes to <git dir>/wtc/logs/PLAN/LANE.log. When every lane is done,
/// the plan is squashed into ONE commit on the target (unless --no-squash).
///
/// Ctrl-C or SIGTERM stops every command (and whatever it started), marks nothing done and
/// exits 130.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct RunArgs {
    /// The run file (TOML, local).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Start every lane's command at once and keep the running lanes synced live, instead of
    /// waiting for the lanes they come after to be done.
    #[arg(long)]
    pub eager: bool,
    /// Stop once every lane is done; land them later with `wtc squash`.
    #[arg(long)]
    pub no_squash: bool,
}

pub fn run(ctx: &Ctx, args: RunArgs) -> Result<Report> {
    // Long-running: paths stay whole (see `dirfd::short`).
    crate::dirfd::whole_paths();
    let file = RunFile::load(&args.file)?;
    if let Some(p) = ctx.plan.as_deref().filter(|p| *p != file.plan) {
        return Err(crate::live::Error::RunPlanMismatch {
            given: p.to_string(),
            file: args.file.clone(),
            plan: file.plan.clone(),
        }
        .into());
    }
    let ws = ctx.workspace()?;
    let _lock = run::claim_plan(&ws.repo, &file.plan)?;
    let sub = Ctx {
        dir: ctx.dir.clone(),
        plan: Some(file.plan.clone()),
        ui: ctx.ui,
    };
    let mut notes = run::prepare(&ws, &file)?;
    let (ws, stored) = sub.plan()?;
    let plan_name = stored.plan.name.clone();
    let jobs = run::jobs(&ws, &file, &plan_name)?;
    let logs = run::logs_dir(&ws.repo, &plan_name);
    let mut progress = Progress::new(&ctx.ui, &jobs);
    progress.line(format!(
        "run: plan '{plan_name}', {} lane(s){}; logs in {}",
        jobs.len(),
        if args.eager { ", eager" } else { "" },
        logs.display()
    ));
    for n in notes.drain(..) {
        progress.line(n);
    }
    let opts = RunOptions {
        eager: args.eager,
        follow_output: progress.wants_output(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(run::execute(&ws.repo, &plan_name, jobs, opts, &mut |e| {
        progress.event(e)
    }))?;
    progress.finish();

    if summary.interrupted {
        let stopped: Vec<&str> = summary
            .lanes
            .iter()
            .filter(|l| l.state == LaneState::Interrupted && l.ms.is_some())
            .map(|l| l.name.as_str())
            .collect();
        let what = if stopped.is_empty() {
            String::new()
        } else {
            format!(" (stopped: {})", stopped.join(", "))
        };
        return Err(crate::live::Error::RunInterrupted { stopped: what }.into());
    }
    if !summary.all_done() {
        return Err(failure(&summary).into());
    }

    let mut r = Report::new("run");
    r.set("plan", &plan_name).set("lanes", &summary.lanes);
    if args.no_squash {
        r.set("squash", serde_json::Value::Null);
        r.note("every lane is done; land them as ONE commit with `wtc squash`");
        return Ok(r);
    }
    let (ws, stored) = sub.plan()?;
    let op = ctx.operation(&ws, "run")?;
    let opts = SquashOptions {
        loaded_integration: stored.plan.integrated.clone(),
        ..SquashOptions::default()
    };
    let out = squash::squash(&op, &ws, &stored, &opts)?;
    r.set("squash", &out);
    if let Some(c) = &out.commit {
        r.out(c.clone());
        let names: Vec<&str> = out.lanes.iter().map(|l| l.name.as_str()).collect();
        r.note(format!(
            "integrated {} into '{}' as ONE commit {}",
            names.join(", "),
            out.target,
            &c[..9]
        ));
        r.note("clean up the lanes with `wtc clean`");
    } else if out.already_integrated {
        r.note(format!(
            "already integrated: '{}' has every lane's work; nothing to commit",
            out.target
        ));
    }
    Ok(r)
}

/// The error for a run where some lane did not finish: names the failed lanes and their logs.
fn failure(summary: &run::RunSummary) -> crate::live::Error {
    let failed: Vec<&LaneOutcome> = summary
        .lanes
        .iter()
        .filter(|l| l.state == LaneState::Failed)
        .collect();
    let skipped: Vec<&str> = summary
        .lanes
        .iter()
        .filter(|l| l.state == LaneState::Skipped)
        .map(|l| l.name.as_str())
        .collect();
    let mut msg = failed
        .iter()
        .map(|l| {
            format!(
                "lane '{}' failed ({}); its log: {}",
                l.name,
                l.message
                    .as_deref()
                    .map(|m| m.split("; see ").next().unwrap_or(m))
                    .unwrap_or("failed"),
                l.log.display()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    if !skipped.is_empty() {
        msg.push_str(&format!("; not started: {}", skipped.join(", ")));
    }
    msg.push_str("; nothing was integrated");
    crate::live::Error::RunFailed {
        message: msg,
        logs: failed.iter().map(|l| l.log.display().to_string()).collect(),
    }
}

/// Progress on stderr: one indicatif line per lane on a terminal, plain lines otherwise,
/// nothing with --json or -q.
struct Progress {
    ui: Ui,
    mode: Mode,
}

enum Mode {
    Silent,
    Lines,
    Bars {
        multi: MultiProgress,
        bars: BTreeMap<String, ProgressBar>,
    },
}

impl Progress {
    fn new(ui: &Ui, jobs: &[LaneJob]) -> Progress {
        let mode = if ui.json || ui.quiet {
            Mode::Silent
        } else if std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let width = jobs.iter().map(|j| j.name.len()).max().unwrap_or(4);
            let mut bars = BTreeMap::new();
            for j in jobs {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(waiting_style(width));
                bar.set_prefix(j.name.clone());
                bar.set_message(if j.after.is_empty() {
                    "waiting".to_string()
                } else {
                    format!("waiting for {}", j.after.join(", "))
                });
                bars.insert(j.name.clone(), bar);
            }
            Mode::Bars { multi, bars }
        } else {
            Mode::Lines
        };
        Progress { ui: *ui, mode }
    }

    fn wants_output(&self) -> bool {
        matches!(self.mode, Mode::Bars { .. })
    }

    fn line(&self, text: String) {
        match &self.mode {
            Mode::Silent => {}
            Mode::Lines => eprintln!("{text}"),
            Mode::Bars { multi, .. } => {
                let _ = multi.println(text);
            }
        }
    }

    fn event(&mut self, e: RunEvent) {
        let ui = self.ui;
        match (&self.mode, e) {
            (Mode::Silent, _) => {}
            (Mode::Lines, RunEvent::Started { lane, pid, log }) => {
                eprintln!("{lane}: started (pid {pid}); log: {}", log.display())
            }
            (Mode::Lines, RunEvent::Output { .. }) => {}
            (Mode::Lines, RunEvent::Finished(o)) => eprintln!("{}", finished_line(&ui, &o)),
            (Mode::Bars { bars, .. }, RunEvent::Started { lane, .. }) => {
                if let Some(bar) = bars.get(&lane) {
                    bar.set_style(running_style(width_of(bars)));
                    bar.reset_elapsed();
                    bar.set_message(String::new());
                    bar.enable_steady_tick(Duration::from_millis(100));
                }
            }
            (Mode::Bars { bars, .. }, RunEvent::Output { lane, line }) => {
                if let Some(bar) = bars.get(&lane) {
                    bar.set_message(line);
                }
            }
            (Mode::Bars { bars, .. }, RunEvent::Finished(o)) => {
                if let Some(bar) = bars.get(&o.name) {
                    bar.set_style(waiting_style(width_of(bars)));
                    bar.finish_with_message(finished_text(&ui, &o));
                }
            }
            (_, RunEvent::Sync(ev)) => {
                for l in super::watch::human(&ui, &ev) {
                    self.line(l);
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Mode::Bars { bars, .. } = &self.mode {
            for bar in bars.values() {
                if !bar.is_finished() {
                    bar.finish();
                }
            }
        }
    }
}

fn width_of(bars: &BTreeMap<String, ProgressBar>) -> usize {
    bars.keys().map(|k| k.len()).max().unwrap_or(4)
}

fn waiting_style(width: usize) -> ProgressStyle {
    ProgressStyle::with_template(&format!("{{prefix:>{width}.bold}}   {{wide_msg}}"))
        .expect("a valid template")
}

fn running_style(width: usize) -> ProgressStyle {
    ProgressStyle::with_template(&format!(
        "{{prefix:>{width}.bold}} {{spinner}} running {{elapsed:>4}}  {{wide_msg:.dim}}"
    ))
    .expect("a valid template")
}

fn finished_text(ui: &Ui, o: &LaneOutcome) -> String {
    let secs = o.ms.map_or(String::new(), |ms| {
        format!(" after {:.1}s", ms as f64 / 1000.0)
    });
    match o.state {
        LaneState::Done => {
            let c = o.commit.as_deref().map_or("", |c| &c[..9]);
            match o.message.as_deref() {
                Some(m) => format!("{} ({m}, {c})", ui.paint(Style::Good, "done")),
                None => format!("{}{secs} -> {c}", ui.paint(Style::Good, "done")),
            }
        }
        LaneState::Failed => format!(
            "{}{secs}: {}",
            ui.paint(Style::Bad, "failed"),
            o.message.as_deref().unwrap_or("")
        ),
        LaneState::Skipped => ui.paint(Style::Warn, o.message.as_deref().unwrap_or("skipped")),
        LaneState::Interrupted => format!(
            "{}{secs}",
            ui.paint(Style::Warn, o.message.as_deref().unwrap_or("interrupted"))
        ),
        LaneState::Waiting | LaneState::Running => String::new(),
    }
}

fn finished_line(ui: &Ui, o: &LaneOutcome) -> String {
    format!("{}: {}", o.name, finished_text(ui, o))
}
