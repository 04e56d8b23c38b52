//! `run`: one shell command per lane, started in dependency order, each marked done when it
//! succeeds, so a whole plan goes from nothing to ONE integration commit with one command.
//!
//! The run file is local TOML the user wrote ([`RunFile`]); it is the only place commands come
//! from. It is never read from a remote or from the plan (the plan is shared data and holds
//! names only, ARCHITECTURE.md, invariant 6).
//!
//! [`execute`] schedules the lanes: a lane starts once every lane it comes after is done (its
//! worktree synced first), or at once with `eager`, where a [`LiveSync`] keeps running lanes
//! synced like `wtc watch`. Each command runs as `sh -c CMD` in the lane's worktree, in its own
//! process group (so a signal to wtc can stop it and everything it started), with its output in
//! a log file. Exit 0 marks the lane done (save + handoff trailer, unless the command did that
//! itself); a failure stops every lane after it from starting. Nothing here prints: progress
//! comes out as [`RunEvent`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{Error, RunFileProblem};
use crate::git::refs;
use crate::git::worktrees::Workspace;
use crate::live::watch::{self, Claim, Feed, LiveSync, PidLock, Scope};
use crate::ops::sync::{self, SyncOptions, SyncResult};
use crate::plan::lanes as lane;
use crate::plan::names;
use crate::plan::{self, LaneSpec, Plan};
use crate::worktree::snapshot;

/// A run file larger than this is refused before it is parsed.
const MAX_RUN_FILE_BYTES: u64 = 1024 * 1024;
/// How often the loop looks at the interrupt flag and at the lanes' output.
const TICK: Duration = Duration::from_millis(50);
/// How long stopped commands get between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// The run file: which lanes, in which order, running what.
///
/// ```toml
/// plan = "marketing"          # created if missing
/// target = "main"             # optional; default: the branch checked out here
/// setup = "npm ci"            # optional; run in each lane worktree this run creates
/// [[lane]]
/// name = "schema"
/// run = "sh ./agents/schema.sh"
/// [[lane]]
/// name = "services"
/// after = ["schema"]
/// run = "..."
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFile {
    pub plan: String,
    #[serde(default)]
    pub target: Option<String>,
    /// The set-up command for each lane this run creates (`sh -c` in its new worktree); it
    /// replaces `git config wtc.setup`, and `""` means none.
    #[serde(default)]
    pub setup: Option<String>,
    #[serde(default, rename = "lane")]
    pub lanes: Vec<RunLane>,
}

/// One lane of the run file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunLane {
    pub name: String,
    #[serde(default)]
    pub after: Vec<String>,
    /// The shell command (`sh -c`), run in the lane's worktree.
    pub run: String,
}

impl RunFile {
    /// Read, parse and validate a run file.
    pub fn load(path: &Path) -> Result<RunFile> {
        let file = path.to_owned();
        let meta = std::fs::metadata(path).map_err(|e| Error::RunFileUnreadable {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        if meta.len() > MAX_RUN_FILE_BYTES {
            return Err(Error::RunFileTooBig {
                file,
                bytes: meta.len(),
                max: MAX_RUN_FILE_BYTES,
            }
            .into());
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::RunFileUnreadable {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        let parsed: RunFile = toml::from_str(&text).map_err(|e| Error::RunFileSyntax {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        parsed
            .validate()
            .map_err(|problem| Error::RunFileInvalid { file, problem })?;
        Ok(parsed)
    }

    /// Names, duplicates, `after` naming lanes of this file, cycles, empty commands.
    pub fn validate(&self) -> Result<(), RunFileProblem> {
        names::validate_plan(&self.plan)?;
        if self.lanes.is_empty() {
            return Err(RunFileProblem::NoLanes);
        }
        let mut seen = BTreeSet::new();
        for l in &self.lanes {
            names::validate_lane(&l.name)?;
            if !seen.insert(l.name.as_str()) {
                return Err(RunFileProblem::Twice(l.name.clone()));
            }
            if l.run.trim().is_empty() {
                return Err(RunFileProblem::EmptyCommand(l.name.clone()));
            }
        }
        for l in &self.lanes {
            for up in &l.after {
                if !seen.contains(up.as_str()) {
                    return Err(RunFileProblem::UnknownAfter {
                        lane: l.name.clone(),
                        up: up.clone(),
                    });
                }
            }
        }
        self.as_plan().topo_order().map_err(|e| {
            RunFileProblem::Cycle(
                e.to_string()
                    .trim_start_matches("invalid plan: ")
                    .to_string(),
            )
        })?;
        Ok(())
    }

    /// The lanes in dependency order (upstreams first, ties by name, like the plan).
    pub fn order(&self) -> Vec<&RunLane> {
        let p = self.as_plan();
        let order: Vec<String> = p
            .topo_order()
            .expect("validated")
            .into_iter()
            .map(|l| l.name.clone())
            .collect();
        order
            .iter()
            .map(|n| {
                self.lanes
                    .iter()
                    .find(|l| &l.name == n)
                    .expect("known lane")
            })
            .collect()
    }

    fn as_plan(&self) -> Plan {
        Plan {
            lanes: self
                .lanes
                .iter()
                .map(|l| LaneSpec {
                    name: l.name.clone(),
                    after: l.after.clone(),
                    unknown: Default::default(),
                })
                .collect(),
            ..Plan::new(
                &self.plan,
                "main",
                gix::ObjectId::null(gix::hash::Kind::Sha1),
            )
        }
    }
}

/// Where lane `lane`'s output goes: `<git common dir>/wtc/logs/<plan>/<lane>.log`.
pub fn log_path(repo: &gix::Repository, plan: &str, lane: &str) -> PathBuf {
    logs_dir(repo, plan).join(format!("{lane}.log"))
}

pub fn logs_dir(repo: &gix::Repository, plan: &str) -> PathBuf {
    crate::ops::setup::logs_dir(repo, plan)
}

/// Create the plan and the lanes the run file names, as `wtc init` and `wtc add` do (each new
/// lane gets the file's `setup`, else `git config wtc.setup`); refuse
/// when an existing lane comes after different lanes than the file says. Returns their notes.
pub fn prepare(ws: &Workspace, file: &RunFile) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    if plan::load_from(&ws.repo, &crate::plan::refnames::plan_ref(&file.plan))?.is_none() {
        let done = crate::ops::init::init(
            ws,
            &crate::ops::init::InitOptions {
                plan: file.plan.clone(),
                target: file.target.clone(),
                remote: None,
            },
        )?;
        notes.push(format!(
            "created plan '{}' onto '{}' at {}; add lanes with `wtc add LANE [--after LANE]`",
            done.plan,
            done.target,
            &done.base[..9]
        ));
    }
    let mut stored = crate::ops::publish::load_plan(&ws.repo, &file.plan, true)?;
    // The file's own `setup` (even an empty one) wins over `git config wtc.setup`.
    let setup = match &file.setup {
        Some(command) => Some(command.clone()).filter(|c| !c.trim().is_empty()),
        None => crate::plan::settings::setup(&ws.repo)?,
    };
    if let Some(t) = &file.target {
        let t = crate::plan::refnames::short_branch(t);
        if t != stored.plan.target {
            return Err(Error::RunTargetMismatch {
                plan: file.plan.clone(),
                target: stored.plan.target.clone(),
                file_target: t.to_string(),
            }
            .into());
        }
    }
    for l in file.order() {
        match stored.plan.lane(&l.name) {
            Some(spec) => {
                let have: BTreeSet<&String> = spec.after.iter().collect();
                let want: BTreeSet<&String> = l.after.iter().collect();
                if have != want {
                    return Err(Error::RunAfterMismatch {
                        lane: l.name.clone(),
                        plan: file.plan.clone(),
                        plan_after: spec.after.clone(),
                        file_after: l.after.clone(),
                    }
                    .into());
                }
            }
            None => {
                let added = crate::ops::lanes::add(
                    ws,
                    &stored,
                    &crate::ops::lanes::AddOptions {
                        lane: l.name.clone(),
                        after: l.after.clone(),
                        from: None,
                        worktree: Some(None),
                        setup: setup.clone(),
                    },
                )?;
                notes.extend(added.notes());
                stored = crate::ops::publish::load_plan(&ws.repo, &file.plan, true)?;
            }
        }
    }
    let extra: Vec<&str> = stored
        .plan
        .lanes
        .iter()
        .filter(|spec| !file.lanes.iter().any(|l| l.name == spec.name))
        .map(|spec| spec.name.as_str())
        .collect();
    if !extra.is_empty() {
        notes.push(format!(
            "note: lanes of plan '{}' not in the run file are left alone: {} (the final squash needs them done)",
            file.plan,
            extra.join(", ")
        ));
    }
    Ok(notes)
}

/// One job per lane of the run file, each in its lane's worktree.
pub fn jobs(ws: &Workspace, file: &RunFile, plan_name: &str) -> Result<Vec<LaneJob>> {
    let mut jobs = Vec::new();
    let plan = crate::plan::store::load(&ws.repo, plan_name)?.plan;
    for l in file.order() {
        let branch = crate::plan::refnames::lane_branch(plan_name, &l.name);
        let worktree = match ws.worktree_of(&branch)? {
            Some(w) if w.exists => w.path,
            _ => {
                return Err(Error::RunLaneNoWorktree {
                    lane: l.name.clone(),
                }
                .into())
            }
        };
        jobs.push(LaneJob {
            env: crate::plan::settings::lane_environment(&ws.repo, &plan, &l.name, &worktree)?,
            name: l.name.clone(),
            after: l.after.clone(),
            command: l.run.clone(),
            worktree,
            log: log_path(&ws.repo, plan_name, &l.name),
        });
    }
    Ok(jobs)
}

/// One `run` per plan at a time: `<git common dir>/wtc/run-<plan>.lock` with our pid.
pub fn claim_plan(repo: &gix::Repository, plan: &str) -> Result<PidLock> {
    let dir = repo.common_dir().join("wtc");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    match PidLock::claim(&dir.join(format!("run-{plan}")))? {
        Claim::Taken(lock) => Ok(lock),
        Claim::Held { pid, path } => {
            let who = pid.map_or("another process".to_string(), |p| format!("process {p}"));
            Err(Error::PlanBusy {
                plan: plan.to_string(),
                who,
                lock: path,
            }
            .into())
        }
    }
}

/// A lane ready to be run: its command, worktree and log file.
#[derive(Debug, Clone)]
pub struct LaneJob {
    pub name: String,
    /// The lane's environment (`wtc env`'s variables).
    pub env: Vec<(&'static str, String)>,
    pub after: Vec<String>,
    pub command: String,
    pub worktree: PathBuf,
    pub log: PathBuf,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Start every lane at once and keep running lanes synced (instead of waiting for
    /// upstream lanes to be done).
    pub eager: bool,
    /// Report the last line of each running command's output ([`RunEvent::Output`]).
    pub follow_output: bool,
}

/// Where a lane stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LaneState {
    /// Waiting for lanes it comes after.
    Waiting,
    Running,
    /// Done (its command exited 0, or the lane was already done).
    Done,
    /// Its command failed, or marking it done (or syncing it first) failed.
    Failed,
    /// Never started (or stopped) because a lane it comes after failed.
    Skipped,
    /// Stopped by a signal to wtc.
    Interrupted,
}

/// The end of one lane.
#[derive(Debug, Clone, Serialize)]
pub struct LaneOutcome {
    pub name: String,
    pub state: LaneState,
    pub exit_code: Option<i32>,
    pub ms: Option<u64>,
    pub log: PathBuf,
    /// The lane's done commit.
    pub commit: Option<String>,
    /// Why it failed or was skipped.
    pub message: Option<String>,
}

/// Progress, as it happens.
#[derive(Debug, Clone)]
pub enum RunEvent {
    Started {
        lane: String,
        pid: u32,
        log: PathBuf,
    },
    /// The last line the lane's command printed, when it changed.
    Output { lane: String, line: String },
    /// A lane reached its end state (done, failed, skipped, interrupted).
    Finished(LaneOutcome),
    /// `eager`: what the live sync did.
    Sync(watch::Event),
}

/// How the run ended.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub lanes: Vec<LaneOutcome>,
    pub interrupted: bool,
}

impl RunSummary {
    pub fn all_done(&self) -> bool {
        self.lanes.iter().all(|l| l.state == LaneState::Done)
    }
}

struct LaneRun {
    job: LaneJob,
    state: LaneState,
    pid: Option<u32>,
    started: Option<Instant>,
    outcome: Option<LaneOutcome>,
    /// Set when wtc stopped the command: the state to record when it exits.
    stopping: Option<(LaneState, String)>,
    /// Where the command's own output starts in the log (after our header).
    output_from: u64,
    last_line: Option<String>,
}

type Exit = (String, std::io::Result<ExitStatus>);

/// Run `jobs` (in dependency order) to their ends, or until a signal arrives.
pub async fn execute(
    repo: &gix::Repository,
    plan_name: &str,
    jobs: Vec<LaneJob>,
    opts: RunOptions,
    emit: &mut dyn FnMut(RunEvent),
) -> Result<RunSummary> {
    let order: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    let mut lanes: BTreeMap<String, LaneRun> = BTreeMap::new();
    let stored = plan::load(repo, plan_name)?;
    for job in jobs {
        let done = lane_is_done(repo, &stored.plan, &job.name)?;
        let name = job.name.clone();
        let mut run = LaneRun {
            job,
            state: LaneState::Waiting,
            pid: None,
            started: None,
            outcome: None,
            stopping: None,
            output_from: 0,
            last_line: None,
        };
        if let Some(commit) = done {
            run.state = LaneState::Done;
            run.outcome = Some(outcome(
                &run,
                LaneState::Done,
                None,
                Some(commit),
                Some("already done".into()),
            ));
            emit(RunEvent::Finished(run.outcome.clone().expect("set")));
        }
        lanes.insert(name, run);
    }
    let mut s = Scheduler {
        plan: plan_name.to_string(),
        order,
        lanes,
        opts,
        live: None,
        feed: None,
        exits: mpsc::unbounded_channel(),
    };
    if opts.eager {
        let interval = Duration::from_secs(1);
        let live = LiveSync::new(
            repo,
            plan_name,
            Scope::Lanes(BTreeSet::new()),
            false,
            interval,
        )?;
        s.live = Some(Arc::new(Mutex::new(live)));
        s.feed = Some(Feed::new(repo.common_dir(), plan_name, false));
    }
    s.run(emit).await
}

impl Drop for Scheduler {
    /// On an error (or a panic) mid-run, no command is left running unattended.
    fn drop(&mut self) {
        for run in self.lanes.values() {
            if let (LaneState::Running, Some(pid)) = (run.state, run.pid) {
                signal_group(pid, libc::SIGKILL);
            }
        }
    }
}

struct Scheduler {
    plan: String,
    order: Vec<String>,
    lanes: BTreeMap<String, LaneRun>,
    opts: RunOptions,
    live: Option<watch::Shared>,
    feed: Option<Feed>,
    exits: (mpsc::UnboundedSender<Exit>, mpsc::UnboundedReceiver<Exit>),
}

impl Scheduler {
    async fn run(&mut self, emit: &mut dyn FnMut(RunEvent)) -> Result<RunSummary> {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut next_poll = Instant::now();
        self.start_ready(emit).await?;
        loop {
            if gix::interrupt::is_triggered() {
                return self.stop_all(emit).await;
            }
            if !self.lanes.values().any(|l| l.state == LaneState::Running) {
                break;
            }
            let mut refs_due = false;
            tokio::select! {
                Some((lane_name, status)) = self.exits.1.recv() => {
                    self.finished(&lane_name, status, emit).await?;
                    self.start_ready(emit).await?;
                }
                Some(_) = recv_change(&mut self.feed) => refs_due = true,
                _ = tick.tick() => {
                    if self.opts.follow_output {
                        self.follow_output(emit);
                    }
                    if self.feed.is_some() && Instant::now() >= next_poll {
                        refs_due = true;
                    }
                }
            }
            if refs_due {
                if let Some(feed) = self.feed.as_mut() {
                    while feed.rx.try_recv().is_ok() {}
                    feed.rearm();
                    next_poll = Instant::now() + feed.poll_interval();
                }
                self.live_round(emit).await?;
            }
        }
        Ok(self.summary(false))
    }

    fn summary(&self, interrupted: bool) -> RunSummary {
        RunSummary {
            lanes: self
                .order
                .iter()
                .map(|n| {
                    let l = &self.lanes[n];
                    l.outcome
                        .clone()
                        .unwrap_or_else(|| outcome(l, l.state, None, None, None))
                })
                .collect(),
            interrupted,
        }
    }

    /// Start (or skip) every waiting lane whose upstream lanes allow it. The order is
    /// topological, so a skip propagates down a chain in one pass.
    async fn start_ready(&mut self, emit: &mut dyn FnMut(RunEvent)) -> Result<()> {
        let mut started = Vec::new();
        for name in self.order.clone() {
            if self.lanes[&name].state != LaneState::Waiting {
                continue;
            }
            let after = self.lanes[&name].job.after.clone();
            let blocked = after.iter().find(|up| {
                matches!(
                    self.lanes[*up].state,
                    LaneState::Failed | LaneState::Skipped | LaneState::Interrupted
                )
            });
            if let Some(up) = blocked {
                let msg = format!("not started: lane '{up}' it comes after did not finish");
                self.end(&name, LaneState::Skipped, None, None, Some(msg), emit);
                continue;
            }
            let ready = after
                .iter()
                .all(|up| self.lanes[up].state == LaneState::Done);
            if !(ready || self.opts.eager) {
                continue;
            }
            if !after.is_empty() && !self.opts.eager {
                let synced = self.sync_before_start(&name).await?;
                if gix::interrupt::is_triggered() {
                    return Ok(());
                }
                if let Err(msg) = synced {
                    self.end(&name, LaneState::Failed, None, None, Some(msg), emit);
                    continue;
                }
            }
            started.push(name);
        }
        if started.is_empty() {
            return Ok(());
        }
        if self.live.is_some() {
            // Eager: bring every starting lane up to date before its command sees it.
            self.rescope().await;
            self.live_round(emit).await?;
        }
        for name in started {
            if gix::interrupt::is_triggered() {
                break;
            }
            self.spawn(&name, emit)?;
        }
        Ok(())
    }

    /// Sync a lane whose upstream lanes are done. `Ok(Err(msg))`: it cannot start.
    async fn sync_before_start(&self, lane_name: &str) -> Result<Result<(), String>> {
        let worktree = self.lanes[lane_name].job.worktree.clone();
        let plan_name = self.plan.clone();
        let lane_name = lane_name.to_string();
        tokio::task::spawn_blocking(move || -> Result<Result<(), String>> {
            let repo = Workspace::open_worktree(&worktree)?;
            let stored = plan::load(&repo, &plan_name)?;
            let opts = SyncOptions {
                autosave: true,
                dry_run: false,
                hold_conflicts: true,
                with_target: false,
            };
            let synced = watch::hold(&repo, "run")
                .and_then(|op| sync::sync(&op, &repo, &stored.plan, &lane_name, opts));
            match synced {
                Ok(s) if s.result == SyncResult::Conflict => Ok(Err(format!(
                    "syncing {} into it would conflict in {}; nothing was changed (run `wtc sync` in {} to resolve by hand)",
                    s.merged.join(", "),
                    s.conflicts.join(", "),
                    worktree.display()
                ))),
                Ok(_) => Ok(Ok(())),
                Err(e) => Ok(Err(format!("syncing it first failed: {e:#}"))),
            }
        })
        .await
        .expect("the sync task does not panic")
    }

    fn spawn(&mut self, lane_name: &str, emit: &mut dyn FnMut(RunEvent)) -> Result<()> {
        let plan = self.plan.clone();
        let tx = self.exits.0.clone();
        let run = self.lanes.get_mut(lane_name).expect("known lane");
        let job = &run.job;
        let header = format!(
            "# wtc run: lane '{}' of plan '{plan}'\n# in {}\n# sh -c {}\n",
            job.name,
            job.worktree.display(),
            shell_quote(&job.command)
        );
        if let Some(dir) = job.log.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&job.log, &header)
            .with_context(|| format!("writing {}", job.log.display()))?;
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(&job.log)
            .with_context(|| format!("opening {}", job.log.display()))?;
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&job.command)
            .current_dir(&job.worktree)
            .envs(job.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: wtc can stop the command and everything it started.
            .process_group(0);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting `sh -c` for lane '{}'", job.name))?;
        let pid = child.id().expect("a child that was just spawned has a pid");
        run.state = LaneState::Running;
        run.pid = Some(pid);
        run.started = Some(Instant::now());
        run.output_from = header.len() as u64;
        emit(RunEvent::Started {
            lane: job.name.clone(),
            pid,
            log: job.log.clone(),
        });
        let name = job.name.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            let _ = tx.send((name, status));
        });
        Ok(())
    }

    /// A command exited: record it, mark the lane done, or stop what came after it.
    async fn finished(
        &mut self,
        lane_name: &str,
        status: std::io::Result<ExitStatus>,
        emit: &mut dyn FnMut(RunEvent),
    ) -> Result<()> {
        let (pid, elapsed, log, stopping, worktree) = {
            let run = self.lanes.get_mut(lane_name).expect("known lane");
            (
                run.pid.take(),
                run.started.map(|t| t.elapsed()).unwrap_or_default(),
                run.job.log.clone(),
                run.stopping.take(),
                run.job.worktree.clone(),
            )
        };
        // Anything the command left running in its group goes with it.
        if let Some(pid) = pid {
            signal_group(pid, libc::SIGKILL);
        }
        let (code, how) = match &status {
            Ok(st) => describe_status(st),
            Err(e) => (None, format!("could not be waited for: {e}")),
        };
        let footer = format!("# wtc run: {how} after {:.2}s\n", elapsed.as_secs_f64());
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&log) {
            let _ = f.write_all(footer.as_bytes());
        }
        if let Some((state, msg)) = stopping {
            self.end(lane_name, state, code, None, Some(msg), emit);
            self.rescope().await;
            return Ok(());
        }
        if code != Some(0) {
            let log = log.display().to_string();
            self.end(
                lane_name,
                LaneState::Failed,
                code,
                None,
                Some(format!("{how}; see {log}")),
                emit,
            );
            self.stop_downstream(lane_name);
            self.rescope().await;
            return Ok(());
        }
        self.rescope().await;
        let plan_name = self.plan.clone();
        let name = lane_name.to_string();
        let marked = tokio::task::spawn_blocking(move || mark_done(&worktree, &plan_name, &name))
            .await
            .expect("marking a lane done does not panic");
        match marked {
            Ok(commit) => self.end(lane_name, LaneState::Done, code, Some(commit), None, emit),
            // A signal came before the save wrote anything: the loop stops everything next.
            Err(_) if gix::interrupt::is_triggered() => {
                let msg = "its command succeeded; not marked done (interrupted)".to_string();
                self.end(
                    lane_name,
                    LaneState::Interrupted,
                    code,
                    None,
                    Some(msg),
                    emit,
                );
            }
            Err(e) => {
                let msg = format!("its command succeeded, but marking it done failed: {e:#}");
                self.end(lane_name, LaneState::Failed, code, None, Some(msg), emit);
                self.stop_downstream(lane_name);
                self.rescope().await;
            }
        }
        Ok(())
    }

    fn end(
        &mut self,
        lane_name: &str,
        state: LaneState,
        code: Option<i32>,
        commit: Option<String>,
        message: Option<String>,
        emit: &mut dyn FnMut(RunEvent),
    ) {
        let run = self.lanes.get_mut(lane_name).expect("known lane");
        run.state = state;
        let o = outcome(run, state, code, commit, message);
        run.outcome = Some(o.clone());
        emit(RunEvent::Finished(o));
    }

    /// Eager: the lanes running after `failed` are stopped (their input will never be whole).
    fn stop_downstream(&mut self, failed: &str) {
        let downstream = downstream_closure(&self.lanes, failed);
        for name in downstream {
            let run = self.lanes.get_mut(&name).expect("known lane");
            if run.state == LaneState::Running && run.stopping.is_none() {
                run.stopping = Some((
                    LaneState::Skipped,
                    format!("stopped: lane '{failed}' it comes after failed"),
                ));
                if let Some(pid) = run.pid {
                    signal_group(pid, libc::SIGTERM);
                }
            }
        }
    }

    /// A signal: stop every running command (TERM, then KILL after a grace period), wait for
    /// them, and report. Nothing is marked done.
    async fn stop_all(&mut self, emit: &mut dyn FnMut(RunEvent)) -> Result<RunSummary> {
        let running: Vec<String> = self
            .lanes
            .iter()
            .filter(|(_, l)| l.state == LaneState::Running)
            .map(|(n, _)| n.clone())
            .collect();
        for name in &running {
            let run = self.lanes.get_mut(name).expect("known lane");
            run.stopping = Some((LaneState::Interrupted, "stopped by a signal".into()));
            if let Some(pid) = run.pid {
                signal_group(pid, libc::SIGTERM);
            }
        }
        let deadline = tokio::time::Instant::now() + GRACE;
        let mut left: BTreeSet<String> = running.into_iter().collect();
        while !left.is_empty() {
            match tokio::time::timeout_at(deadline, self.exits.1.recv()).await {
                Ok(Some((name, status))) => {
                    left.remove(&name);
                    self.finished(&name, status, emit).await?;
                }
                Ok(None) => break,
                Err(_) => {
                    for name in &left {
                        if let Some(pid) = self.lanes[name].pid {
                            signal_group(pid, libc::SIGKILL);
                        }
                    }
                    while !left.is_empty() {
                        let Some((name, status)) = self.exits.1.recv().await else {
                            break;
                        };
                        left.remove(&name);
                        self.finished(&name, status, emit).await?;
                    }
                }
            }
        }
        for name in self.order.clone() {
            if self.lanes[&name].state == LaneState::Waiting {
                let msg = "not started: interrupted".to_string();
                self.end(&name, LaneState::Interrupted, None, None, Some(msg), emit);
            }
        }
        Ok(self.summary(true))
    }

    /// Eager: keep exactly the running lanes in the live sync's scope.
    async fn rescope(&mut self) {
        let Some(live) = &self.live else { return };
        let running: BTreeSet<String> = self
            .lanes
            .iter()
            .filter(|(_, l)| l.state == LaneState::Running || l.state == LaneState::Waiting)
            .filter(|(_, l)| l.stopping.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        let scope = Scope::Lanes(running);
        watch::off_thread(live, move |l| l.set_scope(scope)).await;
    }

    async fn live_round(&mut self, emit: &mut dyn FnMut(RunEvent)) -> Result<()> {
        let Some(live) = &self.live else {
            return Ok(());
        };
        match watch::off_thread(live, |l| l.round()).await {
            Ok(events) => events.into_iter().for_each(|e| emit(RunEvent::Sync(e))),
            // The loop sees the flag and stops every command.
            Err(_) if gix::interrupt::is_triggered() => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn follow_output(&mut self, emit: &mut dyn FnMut(RunEvent)) {
        for (name, run) in self.lanes.iter_mut() {
            if run.state != LaneState::Running {
                continue;
            }
            if let Some(line) = last_line(&run.job.log, run.output_from) {
                if run.last_line.as_deref() != Some(line.as_str()) {
                    run.last_line = Some(line.clone());
                    emit(RunEvent::Output {
                        lane: name.clone(),
                        line,
                    });
                }
            }
        }
    }
}

async fn recv_change(feed: &mut Option<Feed>) -> Option<watch::Change> {
    match feed {
        Some(f) => f.rx.recv().await,
        None => std::future::pending().await,
    }
}

fn outcome(
    run: &LaneRun,
    state: LaneState,
    exit_code: Option<i32>,
    commit: Option<String>,
    message: Option<String>,
) -> LaneOutcome {
    LaneOutcome {
        name: run.job.name.clone(),
        state,
        exit_code,
        ms: run.started.map(|t| t.elapsed().as_millis() as u64),
        log: run.job.log.clone(),
        commit,
        message,
    }
}

/// Every lane that comes after `lane_name`, directly or not.
fn downstream_closure(lanes: &BTreeMap<String, LaneRun>, lane_name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![lane_name.to_string()];
    while let Some(l) = todo.pop() {
        for (name, run) in lanes {
            if run.job.after.contains(&l) && out.insert(name.clone()) {
                todo.push(name.clone());
            }
        }
    }
    out
}

/// The lane's tip, if the lane is already handed off.
fn lane_is_done(repo: &gix::Repository, plan: &Plan, lane_name: &str) -> Result<Option<String>> {
    match refs::peel(
        repo,
        &crate::plan::refnames::lane_branch(&plan.name, lane_name),
    )? {
        Some(tip) if lane::is_done(repo, plan, lane_name, tip)? => Ok(Some(tip.to_string())),
        _ => Ok(None),
    }
}

/// What `wtc done` does, unless the command already handed off with nothing left to save.
fn mark_done(worktree: &Path, plan: &str, lane_name: &str) -> Result<String> {
    let repo = Workspace::open_worktree(worktree)?;
    let op = watch::hold(&repo, "run")?;
    let branch = crate::plan::refnames::lane_branch(plan, lane_name);
    let tip =
        refs::peel(&repo, &branch)?.ok_or_else(|| crate::ops::save::SaveError::BranchMissing {
            branch: branch.clone(),
        })?;
    let stored = plan::load(&repo, plan)?;
    let settled = snapshot::merge_heads(&repo)?.is_empty() && !snapshot::is_dirty(&repo)?;
    let commit = if settled && lane::is_done(&repo, &stored.plan, lane_name, tip)? {
        tip
    } else {
        crate::ops::save::save(&op, &repo, &branch, lane_name, None, true)?
            .commit
            .expect("a done save always commits")
    };
    crate::ops::publish::publish_lane(&repo, plan, lane_name)?;
    Ok(commit.to_string())
}

/// The exit code (if any) and a phrase for the log and messages.
fn describe_status(st: &ExitStatus) -> (Option<i32>, String) {
    use std::os::unix::process::ExitStatusExt as _;
    match (st.code(), st.signal()) {
        (Some(c), _) => (Some(c), format!("exit code {c}")),
        (None, Some(s)) => (None, format!("killed by signal {s}")),
        (None, None) => (None, "ended".to_string()),
    }
}

/// Send `sig` to the process group `pgid` (the group of a command we started).
fn signal_group(pgid: u32, sig: i32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) with a negative pid signals exactly that process group; the group was
    // created for a command we spawned (`process_group(0)` makes its pid the group id).
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// The last non-empty line after `from` in `log` (reading at most its last 4 KiB).
fn last_line(log: &Path, from: u64) -> Option<String> {
    let mut f = std::fs::File::open(log).ok()?;
    let len = f.metadata().ok()?.len();
    if len <= from {
        return None;
    }
    let start = from.max(len.saturating_sub(4096));
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .rfind(|l| !l.trim().is_empty())
        .map(|l| l.chars().take(200).collect())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
