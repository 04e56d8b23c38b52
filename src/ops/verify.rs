//! `squash --verify CMD`: run CMD in a temporary checkout of a fold that may exist only in
//! memory; with `--bisect`, find the lanes whose work makes it fail (`ops::bisect` decides
//! which folds to run) and, with `--skip-failing`, which lanes can land without them.
//!
//! A bisection's runs write their output to logs, one per run, under
//! `<git common dir>/wtc/logs/<plan>/verify/` (emptied when a bisection starts).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use gix::ObjectId;
use serde::Serialize;

use crate::ops::bisect::{self, Dag, Outcome, Set};
use crate::ops::merge::{self, Folded, Tip};
use crate::worktree::entry;

/// A `--verify` command that did not pass; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("--verify command {command:?} failed ({status}); nothing was written")]
    Failed { command: String, status: String },
    #[error("--verify command {command:?} fails with the work of {} (found in {} runs); nothing was written", names(&report.culprits), report.runs.len())]
    Culprits {
        command: String,
        report: Box<Bisected>,
        /// `--skip-failing` found nothing to land: the other lanes' work is on the target.
        nothing_left: bool,
    },
    #[error("--verify command {command:?} failed, then passed on the same tree: it is flaky; nothing was written")]
    Flaky {
        command: String,
        report: Box<Bisected>,
    },
    #[error("--verify command {command:?} fails on '{target}' itself, without any lane's work; nothing was written")]
    FailsOnTarget {
        command: String,
        target: String,
        report: Box<Bisected>,
    },
}

fn names(culprits: &[Culprit]) -> String {
    let names: Vec<String> = culprits.iter().map(|c| format!("'{}'", c.name)).collect();
    names.join(", ")
}

impl crate::error::Diagnostic for VerifyError {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::Verify
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            VerifyError::Failed { .. } => "fix the lanes (the command ran on the integrated tree), then squash again; --bisect finds the lanes that break it".into(),
            VerifyError::Culprits { nothing_left: true, .. } => "the other lanes' work is on the target already: fix those lanes (their failing run's log is below) and squash again".into(),
            VerifyError::Culprits { .. } => "fix those lanes (their failing run's log is below) and squash again, or land the other lanes now with --skip-failing".into(),
            VerifyError::Flaky { .. } => "make the command give the same answer every time, then squash again".into(),
            VerifyError::FailsOnTarget { .. } => "the target itself fails the command: fix it there first".into(),
        })
    }
    fn paths(&self) -> Vec<String> {
        match self {
            VerifyError::Culprits { report, .. } => {
                let mut logs: Vec<String> = Vec::new();
                for c in &report.culprits {
                    let log = c.log.display().to_string();
                    if !logs.contains(&log) {
                        logs.push(log);
                    }
                }
                logs
            }
            VerifyError::Flaky { report, .. } | VerifyError::FailsOnTarget { report, .. } => report
                .runs
                .iter()
                .map(|r| r.log.display().to_string())
                .collect(),
            VerifyError::Failed { .. } => Vec::new(),
        }
    }
    fn data(&self) -> Option<(&'static str, serde_json::Value)> {
        match self {
            VerifyError::Culprits { report, .. }
            | VerifyError::Flaky { report, .. }
            | VerifyError::FailsOnTarget { report, .. } => {
                Some(("bisect", serde_json::to_value(report).ok()?))
            }
            VerifyError::Failed { .. } => None,
        }
    }
}

/// One run of the command.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyRun {
    /// The lanes whose fold it ran on (with the lanes they come after).
    pub lanes: Vec<String>,
    pub tree: String,
    pub passed: bool,
    /// The fold of these lanes conflicts: the command was not run (`tree` is empty, `log`
    /// says so); it counts as failing.
    pub conflicts: bool,
    /// Its output (stdout and stderr).
    pub log: PathBuf,
    pub ms: u64,
}

/// A lane whose work makes the command fail.
#[derive(Debug, Clone, Serialize)]
pub struct Culprit {
    pub name: String,
    /// The other lanes it fails together with (empty: it fails on its own work).
    pub with: Vec<String>,
    /// The log of the failing run on its work.
    pub log: PathBuf,
}

/// What a bisection did and found.
#[derive(Debug, Clone, Serialize)]
pub struct Bisected {
    pub culprits: Vec<Culprit>,
    /// Lanes that come after a culprit: they contain its work and cannot land without it.
    pub held_back: Vec<String>,
    pub runs: Vec<VerifyRun>,
}

/// What `--verify` lets land.
pub struct Verified {
    pub tips: Vec<Tip>,
    pub tree: ObjectId,
    /// With `--bisect`: what it ran and found.
    pub bisect: Option<Bisected>,
}

/// How to verify.
pub struct Verify<'a> {
    pub command: &'a str,
    /// Find the lanes that break it when it fails.
    pub bisect: bool,
    /// ... and land the others.
    pub skip_failing: bool,
    /// Where missing blobs of a partial clone come from.
    pub remote: Option<&'a str>,
}

/// Verify `tree`, the fold of every lane of `tips` (in dependency order) onto `onto`.
pub fn verify(
    mem: &gix::Repository,
    plan: &crate::plan::Plan,
    onto: ObjectId,
    tips: &[Tip],
    tree: ObjectId,
    how: &Verify<'_>,
) -> Result<Verified> {
    if !how.bisect && !how.skip_failing {
        crate::ops::history::ensure_tree_blobs(mem, how.remote, tree)?;
        let status = run(mem, tree, how.command, None)?;
        if !status.success() {
            return Err(VerifyError::Failed {
                command: how.command.to_string(),
                status: status.to_string(),
            }
            .into());
        }
        return Ok(Verified {
            tips: tips.to_vec(),
            tree,
            bisect: None,
        });
    }
    let logs = crate::ops::setup::logs_dir(mem, &plan.name).join("verify");
    match std::fs::remove_dir_all(&logs) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("emptying {}", logs.display()))
        }
        _ => {}
    }
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let index: BTreeMap<&str, usize> = tips
        .iter()
        .enumerate()
        .map(|(i, t)| (t.lane.as_str(), i))
        .collect();
    let after: Vec<Vec<usize>> = tips
        .iter()
        .map(|t| {
            let spec = plan
                .lane(&t.lane)
                .map(|s| s.after.as_slice())
                .unwrap_or(&[]);
            spec.iter()
                .filter_map(|a| index.get(a.as_str()).copied())
                .collect()
        })
        .collect();
    let dag = Dag::new(&after);
    let mut runner = Runner {
        mem,
        plan,
        onto,
        onto_tree: mem.find_commit(onto)?.tree_id()?.detach(),
        tips,
        how,
        logs,
        trees: BTreeMap::from([(tips_set(tips.len()), tree)]),
        results: BTreeMap::new(),
        conflicted: BTreeMap::new(),
        runs: Vec::new(),
    };
    let outcome = bisect::search(&dag, &mut runner, how.skip_failing)?;
    let report = |runner: &Runner<'_>, groups: &[Set]| Bisected {
        culprits: groups
            .iter()
            .flat_map(|g| {
                let log = runner.log_of(&dag.whole(g));
                g.iter().map(move |&i| Culprit {
                    name: tips[i].lane.clone(),
                    with: g
                        .iter()
                        .filter(|&&j| j != i)
                        .map(|&j| tips[j].lane.clone())
                        .collect(),
                    log: log.clone(),
                })
            })
            .collect(),
        held_back: {
            let all: Set = groups.iter().flatten().copied().collect();
            dag.after_any(&all)
                .iter()
                .map(|&i| tips[i].lane.clone())
                .collect()
        },
        runs: runner.runs.clone(),
    };
    let command = how.command.to_string();
    match outcome {
        Outcome::Passes => Ok(Verified {
            tips: tips.to_vec(),
            tree,
            bisect: Some(report(&runner, &[])),
        }),
        Outcome::Flaky => Err(VerifyError::Flaky {
            command,
            report: Box::new(report(&runner, &[])),
        }
        .into()),
        Outcome::TargetFails => Err(VerifyError::FailsOnTarget {
            command,
            target: plan.target.clone(),
            report: Box::new(report(&runner, &[])),
        }
        .into()),
        Outcome::Culprits { groups, landable } => {
            let bisected = report(&runner, &groups);
            let tree = runner.trees.get(&landable).copied();
            // The lanes left may bring nothing the target lacks (they landed before): an
            // integration commit that changes nothing is not one.
            let nothing_left = landable.is_empty() || tree == Some(runner.onto_tree);
            if !how.skip_failing || nothing_left {
                return Err(VerifyError::Culprits {
                    command,
                    report: Box::new(bisected),
                    nothing_left: how.skip_failing,
                }
                .into());
            }
            let tree = tree.expect("the landable set was run");
            Ok(Verified {
                tips: landable.iter().map(|&i| tips[i].clone()).collect(),
                tree,
                bisect: Some(bisected),
            })
        }
    }
}

fn tips_set(n: usize) -> Set {
    (0..n).collect()
}

/// Runs the command on folds of lane sets, once per distinct tree.
struct Runner<'a> {
    mem: &'a gix::Repository,
    plan: &'a crate::plan::Plan,
    onto: ObjectId,
    onto_tree: ObjectId,
    tips: &'a [Tip],
    how: &'a Verify<'a>,
    logs: PathBuf,
    /// The fold of each set tried that did not conflict.
    trees: BTreeMap<Set, ObjectId>,
    /// The last run on each tree: passed, and its index in `runs`.
    results: BTreeMap<ObjectId, (bool, usize)>,
    /// Sets whose fold conflicts, and the index of their entry in `runs`.
    conflicted: BTreeMap<Set, usize>,
    runs: Vec<VerifyRun>,
}

impl Runner<'_> {
    /// The fold of `set`, or `None` when it conflicts (a subset can, where the whole did not).
    fn fold(&mut self, set: &Set) -> Result<Option<ObjectId>> {
        if let Some(t) = self.trees.get(set) {
            return Ok(Some(*t));
        }
        let sub: Vec<Tip> = set.iter().map(|&i| self.tips[i].clone()).collect();
        let tree = match sub.is_empty() {
            true => self.onto_tree,
            false => match merge::fold(self.mem, self.onto, &sub, &self.plan.target)? {
                Folded::Clean { tree, .. } => tree,
                Folded::Conflict { .. } => return Ok(None),
            },
        };
        self.trees.insert(set.clone(), tree);
        Ok(Some(tree))
    }

    /// The log of the run that judged `set` (every set the search asked about has one).
    fn log_of(&self, set: &Set) -> PathBuf {
        self.trees
            .get(set)
            .and_then(|t| self.results.get(t))
            .map(|&(_, i)| i)
            .or_else(|| self.conflicted.get(set).copied())
            .map(|i| self.runs[i].log.clone())
            .unwrap_or_default()
    }
}

impl bisect::Verifier for Runner<'_> {
    fn passes(&mut self, set: &Set, fresh: bool) -> Result<bool> {
        let lanes: Vec<String> = set.iter().map(|&i| self.tips[i].lane.clone()).collect();
        let Some(tree) = self.fold(set)? else {
            // Cannot land as one commit: as good as failing. Recorded as a run of its own,
            // with a log saying why, so a culprit named for it has a log too.
            if !self.conflicted.contains_key(set) {
                let n = self.runs.len() + 1;
                let log = self.logs.join(format!("run-{n}.log"));
                std::fs::write(
                    &log,
                    format!(
                        "the fold of {} onto '{}' conflicts; the command was not run\n",
                        lanes.join(", "),
                        self.plan.target
                    ),
                )
                .with_context(|| format!("writing {}", log.display()))?;
                self.runs.push(VerifyRun {
                    lanes,
                    tree: String::new(),
                    passed: false,
                    conflicts: true,
                    log,
                    ms: 0,
                });
                self.conflicted.insert(set.clone(), n - 1);
            }
            return Ok(false);
        };
        if let Some(&(passed, _)) = self.results.get(&tree).filter(|_| !fresh) {
            return Ok(passed);
        }
        crate::error::check_interrupt()?;
        crate::ops::history::ensure_tree_blobs(self.mem, self.how.remote, tree)?;
        let n = self.runs.len() + 1;
        let log = self.logs.join(format!("run-{n}.log"));
        let started = std::time::Instant::now();
        let label = match lanes.is_empty() {
            true => format!("'{}' alone", self.plan.target),
            false => lanes.join(", "),
        };
        let status = run(
            self.mem,
            tree,
            self.how.command,
            Some((&log, &format!("verify run {n} ({label})"))),
        )?;
        let passed = status.success();
        if crate::progress::enabled() {
            let verdict = if passed { "passed" } else { "failed" };
            crate::progress::println(&format!("verify run {n} ({label}): {verdict}"));
        }
        self.runs.push(VerifyRun {
            lanes,
            tree: tree.to_string(),
            passed,
            conflicts: false,
            log,
            ms: started.elapsed().as_millis() as u64,
        });
        self.results.insert(tree, (passed, n - 1));
        Ok(passed)
    }
}

/// Run `cmd` with `sh -c` in a temporary directory holding `tree` (which may exist only in
/// memory). Its output goes to `log` (with a label for the progress drawing) or, without
/// one, to our stderr (through the progress drawing on a terminal).
fn run(
    mem: &gix::Repository,
    tree: ObjectId,
    cmd: &str,
    log: Option<(&Path, &str)>,
) -> Result<std::process::ExitStatus> {
    let dir = tempfile::Builder::new().prefix("wtc-verify-").tempdir()?;
    entry::export_tree(mem, tree, dir.path())?;
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg(cmd).current_dir(dir.path());
    let task_name = match log {
        Some((_, label)) => format!("{label}: {cmd}"),
        None => format!("verifying: {cmd}"),
    };
    // A spinner names the command while it runs; a unit makes it a task with progress (a
    // spinner), `init(None, None)` would not.
    let _task = crate::progress::enabled().then(|| {
        use gix::progress::Progress as _;
        let mut task = crate::progress::task(task_name);
        task.init(None, Some(gix::progress::unit::label("running")));
        task
    });
    let status = match log {
        Some((log, _)) => {
            let file = std::fs::File::create(log)
                .with_context(|| format!("creating {}", log.display()))?;
            command
                .stdin(std::process::Stdio::null())
                .stdout(file.try_clone()?)
                .stderr(file)
                .status()
        }
        // Its output (stdout and stderr, both on our stderr as without progress) is printed
        // line by line through the drawing.
        None if crate::progress::enabled() => run_printing_lines(&mut command),
        None => command
            .stdout(std::process::Stdio::from(std::io::stderr()))
            .status(),
    }
    .with_context(|| format!("running --verify command {cmd:?}"))?;
    Ok(status)
}

/// Run `command` with its stdout and stderr read line by line and printed through
/// [`crate::progress::println`].
fn run_printing_lines(
    command: &mut std::process::Command,
) -> std::io::Result<std::process::ExitStatus> {
    use std::io::BufRead as _;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pump = |r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(r).lines().map_while(Result::ok) {
                crate::progress::println(&line);
            }
        })
    };
    let out = pump(Box::new(child.stdout.take().expect("piped")));
    let err = pump(Box::new(child.stderr.take().expect("piped")));
    let status = child.wait()?;
    let _ = (out.join(), err.join());
    Ok(status)
}
