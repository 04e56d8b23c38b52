//! `watch`: keep lane worktrees synced, live, as their upstream lanes move.
//!
//! This replaces "copy to the shared volume, then poll for a handoff file every five seconds".
//! A [`Feed`] turns ref changes into wake-ups: `notify` events on the directory of the lane
//! branches (`refs/heads/wtc/<plan>/`, where git creates a lock file and renames it over the
//! ref), on the plan's ref directory and on `packed-refs` in the common git dir. Where events
//! are unavailable it polls every [`POLL_FALLBACK`]; where they work, a slow poll stays on as a
//! safety net. On each wake-up [`LiveSync::round`] re-reads the lane tips and runs the same
//! [`sync::sync`] as `wtc sync` for every watched lane whose inputs (its own tip and the tips
//! of its upstream lanes) changed, upstream lanes first, so one round carries a commit down a
//! whole chain of lanes. In remote mode (`wtc init --remote`) the remote's lane refs are
//! listed (no download) at an interval that backs off while nothing changes, fetched when they
//! moved, and every sync or autosave is published.
//!
//! A lane whose sync would conflict, or whose uncommitted changes overlap incoming ones, is
//! *held*: nothing is written in it (no conflict markers under an agent that is still typing),
//! the reason is reported, and it is not retried until its inputs change (a new upstream tip,
//! or its own branch moving because its agent committed). Other lanes keep flowing. Each
//! watched lane is claimed with a [`PidLock`] in its git dir, so two watchers never race on one
//! worktree. With [`Scope::All`], a round in which lane tips moved ends with the conflict
//! forecast ([`crate::ops::forecast`]), so a pair of lanes that starts to conflict is reported
//! ([`Event::Overlap`]) before either syncs or squashes. Nothing here prints: [`watch`] hands
//! [`Event`]s to its caller, which renders them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use gix::ObjectId;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::{self};
use crate::git::refs;
use crate::git::worktrees::Workspace;
use crate::ops::sync::{self, SyncOptions, SyncResult};
use crate::plan::lanes as lane;
use crate::plan::{self, StoredPlan};
use crate::worktree::operation::Operation;
use crate::worktree::snapshot;

/// How often refs are read when file-system events are unavailable (or `--poll`).
pub const POLL_FALLBACK: Duration = Duration::from_millis(100);
/// How often refs are read anyway when events work: a missed event costs at most this much.
const POLL_SAFETY_NET: Duration = Duration::from_millis(500);
/// How often the loop looks at the interrupt flag and at autosave deadlines.
const TICK: Duration = Duration::from_millis(20);
/// The lock file (`<name>.lock`) that claims a lane worktree for one watcher.
const WATCH_LOCK: &str = "wtc-watch";

/// What happened, one value per line of output (`--json`: one NDJSON object).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// Watching began.
    Started {
        plan: String,
        lanes: Vec<String>,
        mode: FeedMode,
        poll_ms: u64,
        autosave_ms: Option<u64>,
        /// Remote mode: the remote whose lane refs are polled.
        remote: Option<String>,
    },
    /// A lane joined the watch after it started (`--all`: a lane added to the plan).
    Watching { lane: String, worktree: PathBuf },
    /// A lane left the watch (removed from the plan, or its worktree is gone).
    Unwatched { lane: String, reason: String },
    /// A lane was synced (or, after being held, found up to date again).
    Synced {
        lane: String,
        result: SyncResult,
        commit: Option<String>,
        merged: Vec<String>,
        autosaved: Option<String>,
        ms: u64,
    },
    /// A lane could not be synced; nothing was written in it.
    Held {
        lane: String,
        reason: HoldReason,
        message: String,
        hint: Option<String>,
        paths: Vec<String>,
    },
    /// A quiet lane worktree was saved as a WIP commit (`--autosave`).
    Autosaved {
        lane: String,
        commit: String,
        paths: Vec<String>,
        ms: u64,
    },
    /// `--all`: two lanes the DAG does not order started to conflict (the conflict forecast
    /// of `wtc status`, merged in memory): reported the first time this watch sees the pair
    /// conflict, at start included, and again after it stopped conflicting and started anew.
    Overlap {
        lanes: [String; 2],
        /// The paths both lanes changed since their merge base.
        paths: Vec<String>,
        /// Always `true` today (only conflicting pairs are reported); `wtc status` shape.
        conflicts: bool,
    },
    /// Remote mode: listing, fetching or publishing failed (reported once per message; the
    /// watch goes on and tries again later).
    RemoteError { remote: String, message: String },
    /// Watching ended.
    Stopped { reason: String, exit_code: i32 },
}

/// Why a lane is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HoldReason {
    /// Merging the upstream lanes would conflict (or an earlier conflict is unresolved).
    Conflict,
    /// Uncommitted changes stand where incoming changes would be written.
    LocalChanges,
    /// Another process watches this lane.
    WatchedElsewhere,
    /// Anything else (the message says what).
    Error,
}

// ---- claiming a lane: a lock file holding the owner's pid --------------------------------------

/// A lock file (`<resource>.lock`) containing the owner's pid; removed when dropped, and by the
/// signal handler on a second Ctrl-C (it is a registered gix tempfile).
pub struct PidLock {
    file: gix::lock::File,
}

/// The outcome of [`PidLock::claim`].
pub enum Claim {
    Taken(PidLock),
    /// A live process holds it (`pid` is `None` when the file does not say).
    Held {
        pid: Option<u32>,
        path: PathBuf,
    },
}

impl PidLock {
    /// Create `<resource>.lock` with our pid in it. A lock left by a dead process is taken
    /// over; one held by a live process is reported.
    pub fn claim(resource: &Path) -> Result<Claim> {
        let lock_path = with_lock_suffix(resource);
        for attempt in 0..2 {
            match gix::lock::File::acquire_to_update_resource(
                resource,
                gix::lock::acquire::Fail::Immediately,
                None,
                0,
            ) {
                Ok(mut file) => {
                    writeln!(file, "{}", std::process::id())
                        .and_then(|_| file.flush())
                        .with_context(|| format!("writing {}", lock_path.display()))?;
                    return Ok(Claim::Taken(PidLock { file }));
                }
                Err(e) if !lock_path.exists() => {
                    return Err(anyhow::anyhow!("{e}"))
                        .with_context(|| format!("creating {}", lock_path.display()));
                }
                Err(_) => {
                    let owner = read_pid(&lock_path);
                    let stale = match owner {
                        Some(pid) => !pid_alive(pid),
                        // Being written right now, or garbage left by a crash: stale once old.
                        None => file_age(&lock_path) > Duration::from_secs(2),
                    };
                    if stale && attempt == 0 && read_pid(&lock_path) == owner {
                        match std::fs::remove_file(&lock_path) {
                            Ok(()) => continue,
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                            Err(e) => {
                                return Err(e).with_context(|| {
                                    format!("removing the stale lock {}", lock_path.display())
                                })
                            }
                        }
                    }
                    return Ok(Claim::Held {
                        pid: owner,
                        path: lock_path,
                    });
                }
            }
        }
        Ok(Claim::Held {
            pid: read_pid(&lock_path),
            path: lock_path,
        })
    }

    pub fn path(&self) -> &Path {
        self.file.lock_path()
    }
}

fn with_lock_suffix(resource: &Path) -> PathBuf {
    let mut name = resource.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn file_age(path: &Path) -> Duration {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .unwrap_or_default()
}

/// Does process `pid` exist? (`kill(pid, 0)`: only ESRCH means it does not.)
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is delivered.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The error for a lane that another process already claimed.
pub fn watched_elsewhere(lane: &str, pid: Option<u32>, path: &Path) -> super::Error {
    super::Error::WatchedElsewhere {
        lane: lane.to_string(),
        who: pid.map_or("another process".to_string(), |p| format!("process {p}")),
        lock: path.to_owned(),
    }
}

// ---- change feed: notify events, with polling where they are unavailable -----------------------

/// How changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedMode {
    /// File-system events (inotify, FSEvents...), plus a slow safety-net poll.
    Events,
    /// Reading the refs every [`POLL_FALLBACK`].
    Poll,
}

/// Something that may need a look.
#[derive(Debug)]
pub enum Change {
    /// A lane ref, the plan or `packed-refs` may have moved.
    Refs,
    /// A file in this lane's worktree changed (`--autosave`).
    Files(String),
}

/// A directory we want events for, watched through its nearest existing ancestor until it
/// exists (git creates `refs/heads/wtc/<plan>/` with the first loose lane ref and may remove it
/// when refs are packed).
struct Anchor {
    want: PathBuf,
    floor: PathBuf,
    current: Option<PathBuf>,
}

impl Anchor {
    fn target(&self) -> PathBuf {
        let mut dir = self.want.as_path();
        while !dir.is_dir() && dir != self.floor {
            match dir.parent() {
                Some(p) => dir = p,
                None => break,
            }
        }
        dir.to_owned()
    }
}

/// Wake-ups for [`watch`] and `run --eager`: ref changes and (for autosave) worktree changes.
pub struct Feed {
    tx: mpsc::UnboundedSender<Change>,
    pub rx: mpsc::UnboundedReceiver<Change>,
    refs: Option<notify::RecommendedWatcher>,
    anchors: Vec<Anchor>,
    worktrees: BTreeMap<String, WorktreeWatch>,
    mode: FeedMode,
}

enum WorktreeWatch {
    /// Events arrive while the watcher is alive.
    Events {
        _watcher: notify::RecommendedWatcher,
    },
    /// No events for this worktree: autosave looks every time its idle period passes.
    Poll,
}

impl Feed {
    /// Watch the refs of `plan` in the common git dir `common`; `force_poll` skips events.
    pub fn new(common: &Path, plan: &str, force_poll: bool) -> Feed {
        let (tx, rx) = mpsc::unbounded_channel();
        let refs_floor = common.join("refs");
        let anchors = vec![
            Anchor {
                want: common.join(crate::plan::refnames::lane_branch_dir(plan)),
                floor: refs_floor.clone(),
                current: None,
            },
            Anchor {
                want: common.join(crate::plan::refnames::plan_ref_dir(plan)),
                floor: refs_floor,
                current: None,
            },
        ];
        let mut feed = Feed {
            tx,
            rx,
            refs: None,
            anchors,
            worktrees: BTreeMap::new(),
            mode: FeedMode::Poll,
        };
        if !force_poll {
            if let Some(mut w) = feed.refs_watcher(common) {
                if notify::Watcher::watch(&mut w, common, notify::RecursiveMode::NonRecursive)
                    .is_ok()
                {
                    feed.refs = Some(w);
                    feed.mode = FeedMode::Events;
                    feed.rearm();
                }
            }
        }
        feed
    }

    fn refs_watcher(&self, common: &Path) -> Option<notify::RecommendedWatcher> {
        let tx = self.tx.clone();
        let common = common.to_owned();
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let relevant = match &res {
                // An error (e.g. a queue overflow) may hide a change: look.
                Err(_) => true,
                Ok(ev) if matches!(ev.kind, notify::EventKind::Access(_)) => false,
                // In the common dir itself only `packed-refs` matters (the main worktree's
                // index and HEAD live there too).
                Ok(ev) => ev.paths.iter().any(|p| {
                    p.parent() != Some(common.as_path())
                        || p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("packed-refs"))
                }),
            };
            if relevant {
                let _ = tx.send(Change::Refs);
            }
        })
        .ok()
    }

    pub fn mode(&self) -> FeedMode {
        self.mode
    }

    /// How often refs are read even without events.
    pub fn poll_interval(&self) -> Duration {
        match self.mode {
            FeedMode::Events => POLL_SAFETY_NET,
            FeedMode::Poll => POLL_FALLBACK,
        }
    }

    /// Point each ref-directory watch at the deepest existing directory; called before every
    /// look at the refs, so a directory git created (or removed) since is followed.
    pub fn rearm(&mut self) {
        let Some(w) = self.refs.as_mut() else { return };
        for a in &mut self.anchors {
            let target = a.target();
            if a.current.as_ref() == Some(&target) && target.is_dir() {
                continue;
            }
            if let Some(old) = a.current.take() {
                let _ = notify::Watcher::unwatch(w, &old);
            }
            if notify::Watcher::watch(w, &target, notify::RecursiveMode::NonRecursive).is_ok() {
                a.current = Some(target);
            }
        }
    }

    /// Report changes under a lane's worktree (ignoring `.git`), for autosave.
    pub fn watch_worktree(&mut self, lane: &str, root: &Path, force_poll: bool) {
        if self.worktrees.contains_key(lane) {
            return;
        }
        let watch = if force_poll {
            WorktreeWatch::Poll
        } else {
            let tx = self.tx.clone();
            let name = lane.to_string();
            let base = root.to_owned();
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let relevant = match &res {
                    Err(_) => true,
                    Ok(ev) if matches!(ev.kind, notify::EventKind::Access(_)) => false,
                    Ok(ev) => ev.paths.iter().any(|p| !inside_dot_git(&base, p)),
                };
                if relevant {
                    let _ = tx.send(Change::Files(name.clone()));
                }
            })
            .ok()
            .and_then(|mut w| {
                notify::Watcher::watch(&mut w, root, notify::RecursiveMode::Recursive)
                    .ok()
                    .map(|_| w)
            })
            .map_or(WorktreeWatch::Poll, |w| WorktreeWatch::Events {
                _watcher: w,
            })
        };
        self.worktrees.insert(lane.to_string(), watch);
    }

    pub fn unwatch_worktree(&mut self, lane: &str) {
        self.worktrees.remove(lane);
    }

    /// Lanes whose worktree has no events (autosave checks them every idle period).
    pub fn polled_worktrees(&self) -> Vec<String> {
        self.worktrees
            .iter()
            .filter(|(_, w)| matches!(w, WorktreeWatch::Poll))
            .map(|(l, _)| l.clone())
            .collect()
    }
}

fn inside_dot_git(root: &Path, path: &Path) -> bool {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().any(|c| c.as_os_str() == ".git")
}

// ---- live sync: which lanes to sync, and syncing them -----------------------------------------

/// Which lanes to keep synced.
#[derive(Debug, Clone)]
pub enum Scope {
    /// These lanes (each must have a worktree in this clone).
    Lanes(BTreeSet<String>),
    /// Every lane of the plan with a worktree in this clone, including lanes added later.
    All,
}

/// A lane's inputs: its own tip, then the tips of its upstream lanes. A change means a look.
type Inputs = Vec<(String, Option<ObjectId>)>;

struct Slot {
    worktree: PathBuf,
    repo: gix::ThreadSafeRepository,
    _lock: PidLock,
    /// The inputs at the last attempt (`None`: never tried).
    settled: Option<Inputs>,
    held: bool,
}

/// The lanes being kept in sync, and the state needed to sync only what changed. Its methods
/// block (gix, file I/O): call them off the async runtime, e.g. through [`Shared`].
pub struct LiveSync {
    repo: gix::ThreadSafeRepository,
    plan: StoredPlan,
    scope: Scope,
    /// Save a dirty worktree before merging into it (else carry local changes across and
    /// hold the lane when they overlap incoming ones).
    autosave: bool,
    lanes: BTreeMap<String, Slot>,
    /// Lanes another process watches: reported once, claimed when it lets go.
    elsewhere: BTreeMap<String, Option<u32>>,
    reconcile: bool,
    remote: Option<RemotePoll>,
    /// [`Scope::All`]: the conflict forecast as this watch last saw it.
    forecast: Forecast,
}

/// What the last conflict forecast of a watch saw (see [`Event::Overlap`]).
#[derive(Default)]
struct Forecast {
    /// The lane tips it was computed from (`None`: not yet): unmoved tips, no new forecast.
    tips: Option<Vec<(String, Option<ObjectId>)>>,
    /// The pairs that conflicted then.
    conflicting: BTreeSet<[String; 2]>,
}

/// Remote mode: when to list the remote's refs next.
struct RemotePoll {
    name: String,
    base: Duration,
    delay: Duration,
    next: Instant,
    last_error: Option<String>,
}

impl RemotePoll {
    fn failed(&mut self, e: &anyhow::Error, events: &mut Vec<Event>) {
        let message = format!("{e:#}");
        if self.last_error.as_ref() != Some(&message) {
            events.push(Event::RemoteError {
                remote: self.name.clone(),
                message: message.clone(),
            });
            self.last_error = Some(message);
        }
    }
}

/// A [`LiveSync`] shared with blocking tasks.
pub type Shared = Arc<Mutex<LiveSync>>;

impl LiveSync {
    /// Load the plan and claim the lanes of `scope`. Refuses (with a clear error) when a lane
    /// is already watched by a live process, or when a named lane has no worktree here.
    /// `remote_interval`: in remote mode, the first pause between two listings of the remote.
    pub fn new(
        repo: &gix::Repository,
        plan_name: &str,
        scope: Scope,
        autosave: bool,
        remote_interval: Duration,
    ) -> Result<LiveSync> {
        let plan = plan::load(repo, plan_name)?;
        let remote = crate::plan::settings::remote_of(repo, plan_name).map(|name| RemotePoll {
            name,
            base: remote_interval,
            delay: remote_interval,
            next: Instant::now() + remote_interval,
            last_error: None,
        });
        let mut live = LiveSync {
            repo: repo.clone().into_sync(),
            plan,
            scope,
            autosave,
            lanes: BTreeMap::new(),
            elsewhere: BTreeMap::new(),
            reconcile: false,
            remote,
            forecast: Forecast::default(),
        };
        live.claim(repo, true, &mut Vec::new())?;
        Ok(live)
    }

    pub fn plan(&self) -> &plan::Plan {
        &self.plan.plan
    }

    /// Remote mode: the remote this watch polls and publishes to.
    pub fn remote(&self) -> Option<&str> {
        self.remote.as_ref().map(|r| r.name.as_str())
    }

    /// The watched lanes and their worktrees.
    pub fn worktrees(&self) -> Vec<(String, PathBuf)> {
        self.lanes
            .iter()
            .map(|(l, s)| (l.clone(), s.worktree.clone()))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Change which lanes are kept in sync (claims and releases happen in the next round).
    pub fn set_scope(&mut self, scope: Scope) {
        self.scope = scope;
        self.reconcile = true;
    }

    /// Look at the refs once: sync every watched lane whose inputs changed, upstreams first.
    /// Errors only when the whole watch must stop (interrupted, the plan is gone).
    pub fn round(&mut self) -> Result<Vec<Event>> {
        let repo = self.repo.to_thread_local();
        let mut events = Vec::new();
        self.poll_remote(&repo, &mut events);
        let plan_tip = refs::peel(
            &repo,
            &crate::plan::refnames::plan_ref(&self.plan.plan.name),
        )?;
        if plan_tip != Some(self.plan.commit) {
            self.plan = plan::load(&repo, &self.plan.plan.name)?;
            self.reconcile = true;
        }
        if self.reconcile || !self.elsewhere.is_empty() {
            self.claim(&repo, false, &mut events)?;
        }
        let plan = &self.plan.plan;
        let mut tips: BTreeMap<String, Option<ObjectId>> =
            lane::tips(&repo, plan)?.into_iter().collect();
        for spec in plan.topo_order()? {
            let Some(slot) = self.lanes.get_mut(&spec.name) else {
                continue;
            };
            let inputs = inputs(plan, &spec.name, &tips);
            if slot.settled.as_ref() == Some(&inputs) {
                continue;
            }
            let started = Instant::now();
            let lane_repo = slot.repo.to_thread_local();
            let opts = SyncOptions {
                autosave: self.autosave,
                dry_run: false,
                hold_conflicts: true,
                with_target: false,
            };
            let synced = hold(&lane_repo, "watch")
                .and_then(|op| sync::sync(&op, &lane_repo, plan, &spec.name, opts));
            match synced {
                Ok(s) if s.result == SyncResult::Conflict => {
                    slot.held = true;
                    events.push(Event::Held {
                        lane: spec.name.clone(),
                        reason: HoldReason::Conflict,
                        message: format!(
                            "merging {} would conflict; nothing was changed",
                            s.merged.join(", ")
                        ),
                        hint: Some(
                            "run `wtc sync` in the lane to get conflict markers and resolve them, \
                             or change the lanes; watching resumes when the lane or its upstreams move"
                                .into(),
                        ),
                        paths: s.conflicts,
                    });
                }
                Ok(s) => {
                    let changed = s.result != SyncResult::UpToDate || s.autosaved.is_some();
                    if changed {
                        publish(
                            &lane_repo,
                            &plan.name,
                            &spec.name,
                            &mut self.remote,
                            &mut events,
                        );
                    }
                    let mut raced = s.raced.clone();
                    raced.extend(s.kept.iter().cloned());
                    if changed || slot.held {
                        events.push(Event::Synced {
                            lane: spec.name.clone(),
                            result: s.result,
                            commit: s.commit,
                            merged: s.merged,
                            autosaved: s.autosaved,
                            ms: started.elapsed().as_millis() as u64,
                        });
                    }
                    slot.held = !raced.is_empty();
                    if slot.held {
                        // The agent typed into files while they were written: its bytes
                        // are kept; hold the lane until it (or its upstreams) move.
                        events.push(Event::Held {
                            lane: spec.name.clone(),
                            reason: HoldReason::LocalChanges,
                            message: format!(
                                "{} file(s) changed while the sync wrote them; the agent's version is kept in the worktree",
                                raced.len()
                            ),
                            hint: Some(
                                "`git diff` shows the edit against the incoming version; `wtc save` keeps it".into(),
                            ),
                            paths: raced,
                        });
                    }
                }
                Err(e) if is_interrupt(&e) => return Err(e),
                Err(e) => {
                    slot.held = true;
                    events.push(held(&spec.name, &e));
                }
            }
            // Our own write moved this lane's tip: read it back so it does not look like news.
            let own = refs::peel(
                &repo,
                &crate::plan::refnames::lane_branch(&plan.name, &spec.name),
            )?;
            tips.insert(spec.name.clone(), own);
            slot.settled = Some(self::inputs(plan, &spec.name, &tips));
        }
        if matches!(self.scope, Scope::All) {
            self.forecast(&repo, &tips, &mut events)?;
        }
        Ok(events)
    }

    /// `--all`, after a round: when any lane tip moved since the last forecast, forecast
    /// again and report each pair that conflicts now and did not before. Pairs whose tips did
    /// not move are answered from the forecast's cache, so this merges only what moved.
    fn forecast(
        &mut self,
        repo: &gix::Repository,
        tips: &BTreeMap<String, Option<ObjectId>>,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        let plan = &self.plan.plan;
        // In dependency order, as `wtc status` lists lanes and pairs.
        let now: Vec<(String, Option<ObjectId>)> = plan
            .topo_order()?
            .into_iter()
            .map(|l| (l.name.clone(), tips.get(&l.name).copied().flatten()))
            .collect();
        if self.forecast.tips.as_ref() == Some(&now) {
            return Ok(());
        }
        let overlaps = match crate::ops::forecast::overlaps(repo, plan, &now) {
            Ok(o) => o,
            Err(e) if is_interrupt(&e) => return Err(e),
            // Advisory only (`wtc status` shows the error): syncing goes on, and the forecast
            // is tried again when a tip moves.
            Err(_) => {
                self.forecast.tips = Some(now);
                return Ok(());
            }
        };
        let mut conflicting = BTreeSet::new();
        for o in overlaps.into_iter().filter(|o| o.conflicts) {
            if !self.forecast.conflicting.contains(&o.lanes) {
                events.push(Event::Overlap {
                    lanes: o.lanes.clone(),
                    paths: o.paths,
                    conflicts: o.conflicts,
                });
            }
            conflicting.insert(o.lanes);
        }
        self.forecast = Forecast {
            tips: Some(now),
            conflicting,
        };
        Ok(())
    }

    /// Save `lane`'s worktree as a WIP commit if it holds changes (`--autosave`).
    pub fn autosave(&mut self, lane_name: &str) -> Result<Vec<Event>> {
        let Some(slot) = self.lanes.get(lane_name) else {
            return Ok(Vec::new());
        };
        let started = Instant::now();
        let repo = slot.repo.to_thread_local();
        let branch = crate::plan::refnames::lane_branch(&self.plan.plan.name, lane_name);
        let attempt = || -> Result<Option<crate::ops::save::Saved>> {
            if !snapshot::is_dirty(&repo)? {
                return Ok(None);
            }
            let op = hold(&repo, "watch --autosave")?;
            error::check_interrupt()?;
            let msg = format!("wip: {lane_name} (autosaved by wtc watch)");
            Ok(Some(crate::ops::save::save(
                &op,
                &repo,
                &branch,
                lane_name,
                Some(&msg),
                false,
            )?))
        };
        let mut events = Vec::new();
        match attempt() {
            Ok(Some(crate::ops::save::Saved {
                commit: Some(c),
                paths,
                ..
            })) => {
                events.push(Event::Autosaved {
                    lane: lane_name.to_string(),
                    commit: c.to_string(),
                    paths,
                    ms: started.elapsed().as_millis() as u64,
                });
                let plan = &self.plan.plan.name;
                publish(&repo, plan, lane_name, &mut self.remote, &mut events);
            }
            Ok(_) => {}
            Err(e) if is_interrupt(&e) => return Err(e),
            Err(e) => events.push(held(lane_name, &e)),
        }
        Ok(events)
    }

    /// Remote mode, when due: list the remote's refs of the plan (no download); fetch when
    /// any differs from what this clone last fetched. The pause grows x1.5 (up to 8x) while
    /// nothing changes and restarts at the base interval after a change.
    fn poll_remote(&mut self, repo: &gix::Repository, events: &mut Vec<Event>) {
        let plan = self.plan.plan.name.clone();
        let Some(rp) = self.remote.as_mut() else {
            return;
        };
        if Instant::now() < rp.next {
            return;
        }
        let moved = || -> Result<bool> {
            let published = crate::ops::publish::list(repo, &rp.name, &plan)?;
            for (name, id) in &published {
                let Some(tracking) =
                    crate::plan::refnames::tracking_of_published(&rp.name, &plan, name)
                else {
                    continue;
                };
                if refs::peel(repo, &tracking)? != Some(*id) {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        match moved().and_then(|m| {
            if m {
                crate::ops::publish::refresh(repo, &rp.name, &plan)?;
            }
            Ok(m)
        }) {
            Ok(true) => {
                rp.delay = rp.base;
                rp.last_error = None;
            }
            Ok(false) => {
                rp.delay = rp.delay.mul_f64(1.5).min(rp.base * 8);
                rp.last_error = None;
            }
            Err(e) => {
                rp.delay = rp.base * 8;
                rp.failed(&e, events);
            }
        }
        rp.next = Instant::now() + rp.delay;
    }

    /// Bring the claimed lanes in line with the scope and the plan: release lanes that left,
    /// claim lanes that joined. `strict` (at start): any lane that cannot be claimed is an error.
    fn claim(
        &mut self,
        repo: &gix::Repository,
        strict: bool,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        self.reconcile = false;
        let plan = &self.plan.plan;
        let ws = Workspace { repo: repo.clone() };
        let worktrees = ws.worktrees()?;
        let worktree_of = |lane: &str| {
            let branch = crate::plan::refnames::lane_branch(&plan.name, lane);
            worktrees
                .iter()
                .find(|w| w.branch.as_deref() == Some(branch.as_str()) && w.exists)
                .map(|w| w.path.clone())
        };
        let mut wanted = BTreeMap::new();
        match &self.scope {
            Scope::Lanes(names) => {
                for name in names {
                    if plan.lane(name).is_none() {
                        if strict {
                            plan.require_lane(name)?;
                        }
                        continue;
                    }
                    match worktree_of(name) {
                        Some(path) => {
                            wanted.insert(name.clone(), path);
                        }
                        None if strict => {
                            return Err(super::Error::NoWorktree { lane: name.clone() }.into())
                        }
                        None => {}
                    }
                }
            }
            Scope::All => {
                for spec in &plan.lanes {
                    if let Some(path) = worktree_of(&spec.name) {
                        wanted.insert(spec.name.clone(), path);
                    }
                }
            }
        }
        let gone: Vec<String> = self
            .lanes
            .keys()
            .filter(|l| !wanted.contains_key(*l))
            .cloned()
            .collect();
        for lane in gone {
            self.lanes.remove(&lane);
            let reason = if plan.lane(&lane).is_none() {
                "removed from the plan"
            } else {
                "no longer watched"
            };
            events.push(Event::Unwatched {
                lane,
                reason: reason.into(),
            });
        }
        self.elsewhere.retain(|l, _| wanted.contains_key(l));
        for (name, path) in wanted {
            if self.lanes.contains_key(&name) {
                continue;
            }
            let lane_repo = Workspace::open_worktree(&path)?;
            match PidLock::claim(&lane_repo.git_dir().join(WATCH_LOCK))? {
                Claim::Taken(lock) => {
                    self.elsewhere.remove(&name);
                    if !strict {
                        events.push(Event::Watching {
                            lane: name.clone(),
                            worktree: path.clone(),
                        });
                    }
                    self.lanes.insert(
                        name,
                        Slot {
                            worktree: path,
                            repo: lane_repo.into_sync(),
                            _lock: lock,
                            settled: None,
                            held: false,
                        },
                    );
                }
                Claim::Held { pid, path } => {
                    let err = watched_elsewhere(&name, pid, &path);
                    if strict {
                        return Err(err.into());
                    }
                    if self.elsewhere.insert(name.clone(), pid) != Some(pid) {
                        events.push(Event::Held {
                            lane: name,
                            reason: HoldReason::WatchedElsewhere,
                            message: err.to_string(),
                            hint: crate::error::Diagnostic::hint(&err),
                            paths: Vec::new(),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Remote mode: publish a lane this watch just moved.
fn publish(
    repo: &gix::Repository,
    plan: &str,
    lane_name: &str,
    remote: &mut Option<RemotePoll>,
    events: &mut Vec<Event>,
) {
    let Some(rp) = remote.as_mut() else { return };
    if let Err(e) = crate::ops::publish::publish_lane(repo, plan, lane_name) {
        rp.failed(&e.context(format!("publishing lane '{lane_name}'")), events);
    }
}

fn inputs(plan: &plan::Plan, lane_name: &str, tips: &BTreeMap<String, Option<ObjectId>>) -> Inputs {
    std::iter::once(lane_name)
        .chain(
            plan.upstream_closure(lane_name)
                .into_iter()
                .map(|l| l.name.as_str()),
        )
        .map(|l| (l.to_string(), tips.get(l).copied().flatten()))
        .collect()
}

/// Begin the locked operation (see [`crate::worktree::operation`]) of one sync or save in a
/// lane worktree, waiting a moment while another wtc (an agent's `wtc save`) works there.
/// Held only for that operation, so the agent's own commands are never locked out for longer.
pub fn hold(repo: &gix::Repository, command: &str) -> Result<Operation> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match Operation::begin(repo, command) {
            Ok(op) => return Ok(op),
            Err(_) if Instant::now() < deadline && !gix::interrupt::is_triggered() => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_interrupt(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.downcast_ref::<crate::error::Interrupted>().is_some())
}

/// The event for a sync or save that failed: typed errors keep their hint and paths, and
/// the reason comes from the error's type, never from its wording.
fn held(lane_name: &str, e: &anyhow::Error) -> Event {
    let reason = if e.chain().any(|c| {
        matches!(
            c.downcast_ref::<crate::ops::sync::SyncError>(),
            Some(crate::ops::sync::SyncError::LocalChanges { .. })
        )
    }) {
        HoldReason::LocalChanges
    } else if e
        .chain()
        .any(|c| super::diagnostic(c).is_some_and(|d| d.kind() == crate::error::Kind::Conflict))
    {
        HoldReason::Conflict
    } else {
        HoldReason::Error
    };
    let typed = e.chain().find_map(super::diagnostic);
    Event::Held {
        lane: lane_name.to_string(),
        reason,
        message: match typed {
            Some(t) => t.to_string(),
            None => format!("{e:#}"),
        },
        hint: typed.and_then(|t| t.hint()),
        paths: typed.map(|t| t.paths()).unwrap_or_default(),
    }
}

/// Run `f` on the shared [`LiveSync`] in a blocking task and wait for it.
pub async fn off_thread<T: Send + 'static>(
    live: &Shared,
    f: impl FnOnce(&mut LiveSync) -> T + Send + 'static,
) -> T {
    let live = Arc::clone(live);
    tokio::task::spawn_blocking(move || {
        let mut guard = live.lock().expect("a sync task panicked");
        f(&mut guard)
    })
    .await
    .expect("a sync task panicked")
}

// ---- the watch loop ----------------------------------------------------------------------------

/// What `wtc watch` was asked to do.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub scope: Scope,
    /// Save a lane's worktree once it has been quiet this long.
    pub autosave: Option<Duration>,
    /// Read the refs every [`POLL_FALLBACK`] instead of using file-system events.
    pub poll: bool,
    /// Remote mode: the first pause between two listings of the remote's refs.
    pub remote_interval: Duration,
}

/// Why watching ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT/SIGTERM/SIGHUP: the loop stopped between two syncs.
    Interrupted,
    /// Every watched lane left (removed from the plan, worktree removed).
    NothingLeft,
}

/// Keep the lanes of `opts.scope` synced until a signal arrives. `emit` gets every event as it
/// happens; the watched lanes are claimed before the first one ([`LiveSync::new`] errors end
/// the watch before it starts).
pub async fn watch(
    repo: &gix::Repository,
    plan_name: &str,
    opts: WatchOptions,
    emit: &mut dyn FnMut(Event),
) -> Result<Stop> {
    let live = LiveSync::new(
        repo,
        plan_name,
        opts.scope.clone(),
        opts.autosave.is_some(),
        opts.remote_interval,
    )?;
    let feed = Feed::new(repo.common_dir(), plan_name, opts.poll);
    emit(Event::Started {
        plan: plan_name.to_string(),
        lanes: live.worktrees().into_iter().map(|(l, _)| l).collect(),
        mode: feed.mode(),
        poll_ms: feed.poll_interval().as_millis() as u64,
        autosave_ms: opts.autosave.map(|d| d.as_millis() as u64),
        remote: live.remote().map(str::to_string),
    });
    let single = matches!(opts.scope, Scope::Lanes(_));
    // Remote mode: rounds (which list the remote when due) at least every remote interval.
    let poll_every = match live.remote() {
        Some(_) => feed.poll_interval().min(opts.remote_interval),
        None => feed.poll_interval(),
    };
    let mut w = Watcher {
        live: Arc::new(Mutex::new(live)),
        feed,
        opts,
        quiet_since: BTreeMap::new(),
    };
    let mut refs_due = true;
    let mut next_poll = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        if gix::interrupt::is_triggered() {
            return Ok(Stop::Interrupted);
        }
        if refs_due {
            refs_due = false;
            if let Some(stop) = w.refs_round(single, emit).await? {
                return Ok(stop);
            }
        }
        if let Some(stop) = w.autosave_quiet_lanes(emit).await? {
            return Ok(stop);
        }
        tokio::select! {
            Some(c) = w.feed.rx.recv() => w.note(c, &mut refs_due),
            _ = tick.tick() => {}
        }
        // Take everything already queued, so a burst of events costs one round.
        while let Ok(c) = w.feed.rx.try_recv() {
            w.note(c, &mut refs_due);
        }
        if Instant::now() >= next_poll {
            refs_due = true;
            next_poll = Instant::now() + poll_every;
        }
    }
}

/// The state of one [`watch`] loop.
struct Watcher {
    live: Shared,
    feed: Feed,
    opts: WatchOptions,
    /// Lanes with file activity not yet autosaved: when the last activity was seen.
    quiet_since: BTreeMap<String, Instant>,
}

impl Watcher {
    fn note(&mut self, c: Change, refs_due: &mut bool) {
        match c {
            Change::Refs => *refs_due = true,
            Change::Files(lane_name) => {
                self.quiet_since.insert(lane_name, Instant::now());
            }
        }
    }

    /// One look at the refs (and the syncs it calls for). `Some` when the watch must end.
    async fn refs_round(
        &mut self,
        single: bool,
        emit: &mut dyn FnMut(Event),
    ) -> Result<Option<Stop>> {
        self.feed.rearm();
        match off_thread(&self.live, |l| l.round()).await {
            Err(e) if is_interrupt(&e) => return Ok(Some(Stop::Interrupted)),
            other => other?.into_iter().for_each(&mut *emit),
        }
        let (worktrees, empty) = {
            let l = self.live.lock().expect("a sync task panicked");
            (l.worktrees(), l.is_empty())
        };
        if single && empty {
            return Ok(Some(Stop::NothingLeft));
        }
        if self.opts.autosave.is_some() {
            follow_worktrees(
                &mut self.feed,
                &worktrees,
                self.opts.poll,
                &mut self.quiet_since,
            );
        }
        Ok(None)
    }

    /// `--autosave`: save every lane whose worktree has been quiet for the idle period.
    async fn autosave_quiet_lanes(&mut self, emit: &mut dyn FnMut(Event)) -> Result<Option<Stop>> {
        let Some(idle) = self.opts.autosave else {
            return Ok(None);
        };
        let due: Vec<String> = self
            .quiet_since
            .iter()
            .filter(|(_, t)| t.elapsed() >= idle)
            .map(|(l, _)| l.clone())
            .collect();
        for lane_name in due {
            self.quiet_since.remove(&lane_name);
            if gix::interrupt::is_triggered() {
                return Ok(Some(Stop::Interrupted));
            }
            let l = lane_name.clone();
            match off_thread(&self.live, move |live| live.autosave(&l)).await {
                Err(e) if is_interrupt(&e) => return Ok(Some(Stop::Interrupted)),
                other => other?.into_iter().for_each(&mut *emit),
            }
            // Polled worktrees are looked at again after the next idle period.
            if self.feed.polled_worktrees().contains(&lane_name) {
                self.quiet_since.insert(lane_name, Instant::now());
            }
        }
        Ok(None)
    }
}

/// Keep one worktree watch per watched lane (autosave).
fn follow_worktrees(
    feed: &mut Feed,
    worktrees: &[(String, PathBuf)],
    poll: bool,
    quiet_since: &mut BTreeMap<String, Instant>,
) {
    let names: BTreeSet<&str> = worktrees.iter().map(|(l, _)| l.as_str()).collect();
    let stale: Vec<String> = feed
        .worktrees
        .keys()
        .filter(|l| !names.contains(l.as_str()))
        .cloned()
        .collect();
    for l in stale {
        feed.unwatch_worktree(&l);
        quiet_since.remove(&l);
    }
    for (lane_name, path) in worktrees {
        if !feed.worktrees.contains_key(lane_name) {
            feed.watch_worktree(lane_name, path, poll);
            // Whatever is there already gets saved after one idle period.
            quiet_since.insert(lane_name.clone(), Instant::now());
        }
    }
}
