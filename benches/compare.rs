//! `cargo bench --bench compare`: wtc against the plain-git way of doing the same job (issue 5).
//!
//! One run times, side by side and interleaved (wtc first in even rounds, git first in odd
//! rounds, so both sides share the machine's noise), four workloads at ~5,000 and ~100,000
//! files. Before each side's timed run of a workload that writes, the disk is synced and left
//! to go quiet ([`settle`]): the side that runs second must not pay for the writeback (and,
//! with online discard, the discards) of the side that ran first. Before each side's run, of
//! every workload, the repository's objects and both programs are read into the page cache
//! ([`Warm`]): neither side reads them from the disk, whichever ran first in the round.
//!
//! - **save**: one WIP commit of 10 changed files (7 modified, 2 new, 1 deleted) in a lane
//!   worktree: `wtc save` vs `git add -A && git commit -q -m x`, each side in its own worktree
//!   holding the same state.
//! - **sync**: a lane (`down`, one commit of its own) merging 7 upstream lanes that each made
//!   20 WIP commits of 10 files (disjoint files, so every merge is clean): `wtc sync` vs
//!   `git merge -q --no-edit` of each upstream branch, one after the other, in a second
//!   worktree of the same starting commit. Both worktrees are reset to that commit before
//!   every round, and the disk synced (untimed: the files a merge replaces sit on disk, as in
//!   a worktree whose files were written long ago). The reset frees no inode: the files it
//!   would delete are moved aside first ([`Bench::reset_aside`]; ext4 without a journal
//!   makes every create skip the inodes freed in the last minute, so deleting the files of
//!   the round before would slow the next round's creates, on both sides).
//! - **squash**: 8 done lanes (20 WIP commits of 10 files each) onto a target that moved by one
//!   commit: `wtc squash` vs the chain `git merge-tree --write-tree` (+ `git commit-tree` per
//!   fold, so later merge bases see earlier lanes, as `tests/e2e/squash_vs_git.rs` does), a
//!   final `git commit-tree` on the target and `git merge --ff-only` in a worktree that has
//!   the target checked out (wtc updates the main worktree, which has it checked out too).
//!   Refs and both worktrees are reset every round (untimed, moving files aside as above).
//! - **status** of 50 lanes (chains of 5, half of them done): `wtc status --json` vs ONE
//!   `git for-each-ref` printing each lane's tip, its `Wtc-State` trailer and
//!   `%(ahead-behind:BASE)` (the commit count wtc reports). That is the cheapest complete git
//!   equivalent (one process); wtc also works out which upstream lanes each lane lacks.
//!
//! Lane commits are written with `git fast-import` (plumbing: upstream lanes need no
//! worktree) and then unpacked into loose objects, as `git commit` or `wtc save` would have
//! left them. The plan and lanes are made with `wtc init` / `wtc add --from`.
//!
//! 7 rounds at 5k files and 5 at 100k (status: 3x as many), each workload after one warm-up
//! round that is checked but not counted (page cache, first touch of the objects). Every
//! round CHECKS that both sides produced the same answer (the same tree for save, sync and
//! squash, plus: one new commit for save, every upstream tip in the history for sync, one
//! commit whose only parent is the target's tip for squash; the same tips, states and
//! commit counts for status) and that `git status` is clean in both worktrees afterwards: a
//! fast wrong answer fails (exit code 1, "WRONG ANSWER" in the output). At the end it prints
//! a Markdown table (stdout) with min/median/max per side, the median speedup (git/wtc),
//! wtc's peak RSS (`ru_maxrss` from `wait4` on each wtc process) and PASS/FAIL against the
//! performance issue's targets: sync >= 10x, squash >= 2x, save >= 2x at 100k files and not
//! slower than git at 5k, status of 50 lanes within 2x of git, sync at most 3x slower from 5k
//! to 100k files, peak memory < 100 MiB at 100k files. A missed
//! target is a FAIL in the table, not a failed command.
//!
//! Fixture repositories come from `fixtures/make_large.sh N DIR`, cached as bare repositories
//! under `${WTC_BENCH_CACHE:-$HOME/.cache/wtc-bench}/large-v<script version>-<N>.git`; each
//! workload works in a `git clone --shared --no-checkout` of it (HEAD detached, an index but
//! no files in the main worktree, so neither side updates a checked-out target) inside a
//! temporary directory, moved aside after the workload and removed at the end of the run
//! unless `WTC_BENCH_KEEP=1` (removing it at once would slow the next workload's file
//! creation, see [`Bench::reset_aside`]). That directory
//! is in `WTC_BENCH_TMP`, else in `/dev/shm` if it has room (both sides then run from
//! memory: no disk noise, and removing 100k-file worktrees stays cheap even on a disk
//! mounted with `discard`), else in the system temporary directory.
//!
//! Options: `WTC_BENCH_QUICK=1` (5k files only, 2 rounds), filter arguments naming workloads
//! and/or sizes, e.g. `cargo bench --bench compare -- sync 100k`, and `deep` (sync and squash
//! at 5k files on a history of 50,000 commits without a commit-graph, and the shallow squash
//! they are compared with; part of every full run). A whole run takes about
//! 3 minutes on 2 cores once the fixtures are cached (building them: ~20 s), after waiting,
//! on ext4, until 6 minutes have passed since the previous run removed its files
//! ([`RECENTLY_FREED`]).
//!
//! Every git and wtc process runs isolated like the e2e tests: cleared environment, private
//! HOME, no system or global git config, fixed identities and dates.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use serde_json::Value;

/// The wtc binary under test: this build's, or `WTC_BENCH_BIN` (to measure another build,
/// e.g. the previous commit's, against the same git in the same kind of run).
fn wtc_bin() -> std::ffi::OsString {
    std::env::var_os("WTC_BENCH_BIN")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_wtc").into())
}
#[path = "../tests/support/hermetic.rs"]
mod hermetic;
/// Commit time in fast-import streams (the same instant as `DATE`).
const EPOCH: u64 = 1_112_911_993;
const SIZES: [usize; 2] = [5_000, 100_000];
const WORKLOADS: [&str; 4] = ["save", "sync", "squash", "status"];
/// The deep-history rows: sync and squash at 5k files on a fixture with this many commits
/// below the import (filter `deep`; part of every full run).
const DEEP_HISTORY: usize = 50_000;
const DEEP_SIZE: usize = 5_000;
/// sync and squash on the deep history: at least this much faster than git ...
const DEEP_SPEEDUP: f64 = 2.0;
/// ... and squash at most this much slower than on the shallow fixture of the same tree.
const DEEP_VS_SHALLOW: f64 = 1.5;
const MIB: f64 = 1024.0 * 1024.0;

// Targets of the performance issue (14): speedups are git's median / wtc's median.
const SYNC_SPEEDUP: f64 = 10.0;
const SQUASH_SPEEDUP: f64 = 2.0;
/// save: >= 2x at 100k files, not slower than git at 5k.
const SAVE_SPEEDUP_LARGE: f64 = 2.0;
const SAVE_SPEEDUP_SMALL: f64 = 1.0;
/// status of 50 lanes: within 2x of the plain-git one-liner.
const STATUS_SPEEDUP: f64 = 0.5;
/// Plain git in a worktree wtc wrote: at most 1.5x its time after a plain git checkout.
const GIT_AFTER_SPEEDUP: f64 = 1.0 / 1.5;
/// Growth of wtc's own median sync time from 5k to 100k files.
const GROWTH_LIMIT: f64 = 3.0;
const RSS_LIMIT_MIB: f64 = 100.0;

// Workload shapes.
const UPSTREAMS: usize = 7;
const SQUASH_LANES: usize = 8;
const STATUS_LANES: usize = 50;
const LANE_COMMITS: usize = 20;
/// Files a lane's commits pick from (8 modified per commit, 2 new ones added).
const LANE_POOL: usize = 40;

fn main() {
    let mut opts = match Options::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e:#}");
            eprintln!(
                "usage: cargo bench --bench compare [-- [save|sync|squash|status]... [5k|100k]... [deep]]"
            );
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let bench = match Bench::new() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    };
    opts.git_version = bench.git_version();
    opts.tmp_kind = if bench.root.starts_with("/dev/shm") {
        "tmpfs (/dev/shm)".to_string()
    } else {
        bench
            .root
            .parent()
            .unwrap_or(&bench.root)
            .display()
            .to_string()
    };
    eprintln!("wtc:  {}", wtc_bin().to_string_lossy());
    eprintln!("git:  {}", opts.git_version);
    eprintln!("root: {}", bench.root.display());
    if opts.quick {
        eprintln!("WTC_BENCH_QUICK=1: 5k files only, 2 rounds");
    }

    let mut rows: Vec<Row> = Vec::new();
    for &size in &opts.sizes {
        let fixture = match bench.fixture(size) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: fixture for {} files: {e:#}", size);
                drop(bench); // removes the temporary root (exit skips destructors)
                std::process::exit(1);
            }
        };
        for &workload in &opts.workloads {
            let rounds = opts.rounds(size, workload);
            eprintln!("\n== {workload} @ {} files, {rounds} rounds", label(size));
            let world = bench.root.join(format!("{}-{workload}", label(size)));
            let (row, after) = bench.run(&fixture, workload, workload, size, rounds, &world);
            rows.push(row);
            rows.extend(after.into_iter().filter(|r| !r.wtc.is_empty()));
        }
    }

    if opts.deep {
        let fixture = match bench.fixture_with(DEEP_SIZE, DEEP_HISTORY) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: the deep-history fixture: {e:#}");
                drop(bench);
                std::process::exit(1);
            }
        };
        for (workload, name) in [
            ("sync", "sync (deep history)"),
            ("squash", "squash (deep history)"),
        ] {
            let rounds = opts.rounds(DEEP_SIZE, workload);
            eprintln!(
                "\n== {name} @ {} files, {DEEP_HISTORY} commits, {rounds} rounds",
                label(DEEP_SIZE)
            );
            let world = bench.root.join(format!("deep-{workload}"));
            // The plain-git-after rows stay the shallow fixture's.
            let (row, _) = bench.run(&fixture, workload, name, DEEP_SIZE, rounds, &world);
            rows.push(row);
        }
    }

    let table = render(&rows, &opts);
    println!("\n{table}");
    for r in &rows {
        if let (Some((n, secs)), Some(g)) = (r.floor, r.git_median()) {
            println!(
                "floor: {} at {} adds {n} files; creating {n} new files there takes {} on this \
                 file system, so no tool that writes them beats git by more than {:.1}x",
                r.workload,
                label(r.size),
                ms(secs),
                g / secs
            );
        }
    }
    eprintln!("total: {:.0} s", started.elapsed().as_secs_f64());
    if bench.keep {
        eprintln!("kept {}", bench.root.display());
    }
    let wrong: Vec<&Row> = rows.iter().filter(|r| !r.errors.is_empty()).collect();
    if !wrong.is_empty() {
        eprintln!(
            "\nFAILED: {} row(s) did not produce a checked answer:",
            wrong.len()
        );
        for r in wrong {
            for e in &r.errors {
                eprintln!("  {} @ {}: {e}", r.workload, label(r.size));
            }
        }
        drop(bench); // removes the temporary root (exit skips destructors)
        std::process::exit(1);
    }
}

// ---- options -------------------------------------------------------------------------------

struct Options {
    quick: bool,
    /// For the table's footnote.
    git_version: String,
    tmp_kind: String,
    sizes: Vec<usize>,
    workloads: Vec<&'static str>,
    /// Run the deep-history rows.
    deep: bool,
}

impl Options {
    fn parse() -> Result<Self> {
        let quick = std::env::var_os("WTC_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0");
        let mut sizes = Vec::new();
        let mut workloads = Vec::new();
        let mut deep = false;
        // cargo passes `--bench` (and libtest-style flags): ignore every flag.
        for arg in std::env::args().skip(1).filter(|a| !a.starts_with('-')) {
            if arg == "deep" {
                deep = true;
            } else if let Some(w) = WORKLOADS.iter().find(|w| **w == arg) {
                workloads.push(*w);
            } else if let Some(s) = SIZES.iter().find(|s| label(**s) == arg) {
                sizes.push(*s);
            } else {
                bail!("unknown filter '{arg}'");
            }
        }
        let only_deep = deep && sizes.is_empty() && workloads.is_empty();
        // Part of a full run; with filters, only when named.
        let deep = deep || (!quick && sizes.is_empty() && workloads.is_empty());
        if only_deep {
            // `deep` alone: the deep rows, and the shallow squash they are compared with.
            sizes.push(DEEP_SIZE);
            workloads.push("squash");
        }
        if sizes.is_empty() {
            sizes = if quick {
                vec![SIZES[0]]
            } else {
                SIZES.to_vec()
            };
        }
        if workloads.is_empty() {
            workloads = WORKLOADS.to_vec();
        }
        Ok(Options {
            quick,
            git_version: String::new(),
            tmp_kind: String::new(),
            sizes,
            workloads,
            deep,
        })
    }

    fn rounds(&self, size: usize, workload: &str) -> usize {
        let base = if self.quick {
            2
        } else if size <= 10_000 {
            7
        } else {
            5
        };
        // status is fast: more rounds for a steadier median.
        if workload == "status" {
            base * 3
        } else {
            base
        }
    }
}

/// Where the per-run worktrees go: `WTC_BENCH_TMP`, else `/dev/shm` when it is a tmpfs
/// with room (so neither side waits for the disk, and removing 100k-file worktrees does not
/// take minutes on a disk mounted with `discard`), else the system temporary directory.
fn tmp_parent() -> PathBuf {
    if let Some(dir) = std::env::var_os("WTC_BENCH_TMP").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if free_bytes(shm).is_some_and(|free| free >= 6 << 30) {
        return shm.to_owned();
    }
    std::env::temp_dir()
}

/// Free space of the file system holding `dir` (None if it cannot be told or is read-only).
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data; `c` is a valid NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 || st.f_flag & libc::ST_RDONLY != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

fn label(size: usize) -> String {
    if size.is_multiple_of(1000) {
        format!("{}k", size / 1000)
    } else {
        size.to_string()
    }
}

// ---- processes -----------------------------------------------------------------------------

/// One finished process: wall time from spawn to reap, peak RSS, exit code, output.
struct Proc {
    elapsed: Duration,
    maxrss_kib: u64,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Proc {
    fn ok(self, what: &str) -> Result<Proc> {
        if self.code != 0 {
            bail!(
                "`{what}` exited with {}\nstdout: {}\nstderr: {}",
                self.code,
                self.stdout.trim(),
                self.stderr.trim()
            );
        }
        Ok(self)
    }
    fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("wtc printed no JSON document: {:?}", self.stdout))
    }
}

/// Time and memory of one side of one round (several processes for git).
#[derive(Default, Clone, Copy)]
struct Sample {
    secs: f64,
    maxrss_kib: u64,
}

impl Sample {
    fn add(&mut self, p: &Proc) {
        self.secs += p.elapsed.as_secs_f64();
        self.maxrss_kib = self.maxrss_kib.max(p.maxrss_kib);
    }
}

struct Bench {
    tmp: Option<tempfile::TempDir>,
    root: PathBuf,
    hermetic: hermetic::Hermetic,
    cache: PathBuf,
    keep: bool,
    path_var: std::ffi::OsString,
    out: PathBuf,
    err: PathBuf,
}

impl Drop for Bench {
    fn drop(&mut self) {
        let Some(t) = self.tmp.take() else { return };
        if self.keep {
            let _ = t.keep();
            return;
        }
        let on_ext4 = on_ext4(&self.root);
        let _ = t.close();
        if on_ext4 {
            let _ = std::fs::create_dir_all(&self.cache);
            let _ = std::fs::write(self.cache.join(CLEANUP_MARK), unix_now().to_string());
        }
    }
}

/// When the last run removed its worlds from a disk (unix seconds), in the fixture cache.
const CLEANUP_MARK: &str = "last-cleanup";
/// How long ext4 without a journal goes on skipping freed inodes: each create passes over
/// every inode freed in the last 60 s, or 6 minutes while the inode table block holding it is
/// dirty (`recently_deleted` in `fs/ext4/ialloc.c`), and a run's own creates dirty them. A
/// run started right after another removed its ~300,000 files paid for them in its first
/// rows, on both sides but mostly on the faster one: the sync at 5k measured 39 and 96 ms
/// (git 380 and 640 ms) in two such runs, 31 ms (git 387 ms) in one started long after.
const RECENTLY_FREED: u64 = 6 * 60;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Wait until the inodes the last run freed (see [`RECENTLY_FREED`]) no longer slow this
/// run's creates, when its worlds go on ext4 (a journaled one does not skip them; waiting
/// there costs time, not accuracy).
fn wait_for_freed_inodes(cache: &Path, parent: &Path) {
    if !on_ext4(parent) {
        return;
    }
    let Some(then) = std::fs::read_to_string(cache.join(CLEANUP_MARK))
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
    else {
        return;
    };
    let ago = unix_now().saturating_sub(then);
    if ago < RECENTLY_FREED {
        let wait = RECENTLY_FREED - ago;
        eprintln!(
            "waiting {wait} s: the last run removed its files {ago} s ago, and ext4 without a \
             journal makes every create skip the inodes freed in the last 6 minutes"
        );
        std::thread::sleep(std::time::Duration::from_secs(wait));
    }
}

impl Bench {
    fn new() -> Result<Self> {
        let parent = tmp_parent();
        let tmp = tempfile::Builder::new()
            .prefix("wtc-bench-")
            .tempdir_in(&parent)
            .with_context(|| format!("creating the temporary root in {}", parent.display()))?;
        let root = tmp.path().canonicalize()?;
        let hermetic = hermetic::Hermetic::new(&root);
        let cache = match std::env::var_os("WTC_BENCH_CACHE") {
            Some(c) if !c.is_empty() => PathBuf::from(c),
            _ => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
                .join(".cache/wtc-bench"),
        };
        let keep = std::env::var_os("WTC_BENCH_KEEP").is_some_and(|v| !v.is_empty() && v != "0");
        wait_for_freed_inodes(&cache, &parent);
        Ok(Bench {
            out: root.join("tmp/stdout"),
            err: root.join("tmp/stderr"),
            tmp: Some(tmp),
            root,
            hermetic,
            cache,
            keep,
            path_var: std::env::var_os("PATH").unwrap_or_default(),
        })
    }

    /// A command for `program` in `dir`, isolated like the e2e tests (the shared helper).
    fn command(&self, program: impl AsRef<OsStr>, dir: &Path) -> Command {
        let mut cmd = self.hermetic.command(program, dir);
        cmd.env("PATH", &self.path_var);
        cmd
    }

    /// Spawn, reap with `wait4` (for `ru_maxrss`), collect output (via files: no pipe
    /// threads competing with the child for the two cores).
    fn exec(&self, mut cmd: Command) -> Result<Proc> {
        let out = File::create(&self.out)?;
        let err = File::create(&self.err)?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let start = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {:?}", cmd.get_program()))?;
        let pid = child.id() as libc::pid_t;
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: pid is our child, not reaped by anyone else (std's Child never waits
            // unless asked); the pointers are valid for the call.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if r == pid {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(anyhow!(e).context("wait4"));
            }
        }
        let elapsed = start.elapsed();
        drop(child);
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        Ok(Proc {
            elapsed,
            maxrss_kib: usage.ru_maxrss.max(0) as u64,
            code,
            stdout: read_lossy(&self.out),
            stderr: read_lossy(&self.err),
        })
    }

    fn git_proc(&self, dir: &Path, args: &[&str]) -> Result<Proc> {
        let mut cmd = self.command("git", dir);
        cmd.args(args);
        self.exec(cmd)
    }

    /// `git ARGS` in `dir`, which must succeed; its stdout, trimmed.
    fn git(&self, dir: &Path, args: &[&str]) -> Result<String> {
        let p = self
            .git_proc(dir, args)?
            .ok(&format!("git {}", args.join(" ")))?;
        Ok(p.stdout.trim().to_string())
    }

    fn wtc_proc(&self, dir: &Path, args: &[&str]) -> Result<Proc> {
        let mut cmd = self.command(wtc_bin(), dir);
        cmd.args(args);
        self.exec(cmd)
    }

    /// What both sides of a workload in `repo` read that a timed run must not read from the
    /// disk (see [`Warm`]): the repository's object directories, its own and its
    /// alternates', and both programs.
    fn warm(&self, repo: &Path) -> Result<Warm> {
        let common = PathBuf::from(self.git(
            repo,
            &["rev-parse", "--path-format=absolute", "--git-common-dir"],
        )?);
        let objects = common.join("objects");
        let mut dirs = vec![objects.clone()];
        if let Ok(alternates) = std::fs::read_to_string(objects.join("info/alternates")) {
            dirs.extend(
                alternates
                    .lines()
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(|l| objects.join(l)),
            );
        }
        let git = std::env::split_paths(&self.path_var)
            .map(|d| d.join("git"))
            .find(|p| p.is_file())
            .context("git is not on PATH")?;
        let exec_path = PathBuf::from(self.git(repo, &["--exec-path"])?).join("git");
        let mut programs = vec![PathBuf::from(wtc_bin()), git];
        if exec_path.is_file() {
            programs.push(exec_path);
        }
        Ok(Warm { dirs, programs })
    }

    /// `wtc --json ARGS` in `dir`, which must succeed; its JSON document.
    fn wtc(&self, dir: &Path, args: &[&str]) -> Result<Value> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.wtc_proc(dir, &all)?
            .ok(&format!("wtc {}", all.join(" ")))?
            .json()
    }

    fn git_version(&self) -> String {
        self.git(&self.root, &["--version"])
            .unwrap_or_else(|e| format!("unknown ({e})"))
    }

    fn tree(&self, dir: &Path, rev: &str) -> Result<String> {
        self.git(dir, &["rev-parse", &format!("{rev}^{{tree}}")])
    }

    /// The worktree and index agree with HEAD (untracked files included).
    fn assert_clean(&self, dir: &Path, side: &str) -> Result<()> {
        let st = self.git(dir, &["status", "--porcelain"])?;
        ensure!(
            st.is_empty(),
            "after the {side} side, `git status` in {} is not clean:\n{}",
            dir.display(),
            first_lines(&st, 20)
        );
        Ok(())
    }

    /// Feed a fast-import stream into `repo`, then turn the pack it wrote into loose objects:
    /// lanes' WIP commits are made by `git commit` or `wtc save`, which write loose objects.
    fn fast_import(&self, repo: &Path, stream: &Stream) -> Result<()> {
        let pack_dir = PathBuf::from(self.git(repo, &["rev-parse", "--git-path", "objects/pack"])?);
        let pack_dir = if pack_dir.is_absolute() {
            pack_dir
        } else {
            repo.join(pack_dir)
        };
        let packs = |dir: &Path| -> Vec<PathBuf> {
            std::fs::read_dir(dir)
                .map(|d| {
                    d.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
                        .collect()
                })
                .unwrap_or_default()
        };
        let before = packs(&pack_dir);
        let mut cmd = self.command("git", repo);
        cmd.args(["fast-import", "--quiet", "--done", "--depth=0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("starting git fast-import")?;
        let mut stdin = child.stdin.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let errs = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        stdin
            .write_all(&stream.buf)
            .and_then(|()| stdin.write_all(b"done\n"))
            .context("writing the fast-import stream")?;
        drop(stdin);
        let status = child.wait()?;
        let errs = errs.join().unwrap_or_default();
        ensure!(status.success(), "git fast-import failed: {errs}");
        for pack in packs(&pack_dir).into_iter().filter(|p| !before.contains(p)) {
            let moved = self.root.join("tmp/lanes.pack");
            std::fs::rename(&pack, &moved)?;
            for ext in ["idx", "rev"] {
                let _ = std::fs::remove_file(pack.with_extension(ext));
            }
            let mut cmd = self.command("git", repo);
            cmd.args(["unpack-objects", "-q"]);
            cmd.stdin(File::open(&moved)?)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit());
            ensure!(cmd.status()?.success(), "git unpack-objects failed");
            std::fs::remove_file(&moved)?;
        }
        Ok(())
    }

    // ---- fixtures --------------------------------------------------------------------------

    /// Run `workload` in `world` on `fixture` for `rounds` rounds, as the row `name`, then
    /// remove `world` (unless kept). The row, and the plain-git-after-sync rows (filled by
    /// sync only); an error is kept in the row.
    fn run(
        &self,
        fixture: &Path,
        workload: &'static str,
        name: &'static str,
        size: usize,
        rounds: usize,
        world: &Path,
    ) -> (Row, [Row; 2]) {
        let t = Instant::now();
        let mut row = Row::new(name, size);
        let mut after = [
            Row::new("git status after sync", size),
            Row::new("git commit after sync", size),
        ];
        let result = match workload {
            "save" => self.save(fixture, world, rounds, &mut row),
            "sync" => self.sync(fixture, world, rounds, &mut row, &mut after),
            "squash" => self.squash(fixture, world, rounds, &mut row),
            "status" => self.status(fixture, world, rounds, &mut row),
            _ => unreachable!(),
        };
        if let Err(e) = result {
            eprintln!("!! {name} @ {}: FAILED: {e:#}", label(size));
            row.errors.push(format!("{e:#}"));
        }
        let t_rm = Instant::now();
        if !self.keep {
            // Out of the way, not removed: removing a world frees thousands of inodes, and on
            // ext4 without a journal every create in the next minute skips each of them (see
            // `Bench::reset_aside`): the next workload would pay for this one. Everything goes
            // when the run ends.
            // (On tmpfs nothing is skipped, and memory is what the worlds would hold.)
            let done = self.root.join("done");
            let parked = match on_tmpfs(&self.root) {
                true => Err(std::io::Error::other("on tmpfs")),
                false => Ok(()),
            };
            let parked = parked
                .and_then(|()| std::fs::create_dir_all(&done))
                .and_then(|()| {
                    let n = std::fs::read_dir(&done)?.count();
                    std::fs::rename(world, done.join(n.to_string()))
                });
            if parked.is_err() {
                let _ = std::fs::remove_dir_all(world);
            }
        }
        eprintln!(
            "   ({:.1} s, of which cleanup {:.1} s)",
            t.elapsed().as_secs_f64(),
            t_rm.elapsed().as_secs_f64()
        );
        (row, after)
    }

    /// The cached bare fixture repository of `size` files (built on first use).
    fn fixture(&self, size: usize) -> Result<PathBuf> {
        self.fixture_with(size, 0)
    }

    /// [`Bench::fixture`] with `history` commits below the import (`make_large.sh`'s HISTORY).
    fn fixture_with(&self, size: usize, history: usize) -> Result<PathBuf> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/make_large.sh");
        let mut cmd = self.command("bash", &self.root);
        cmd.arg(&script).arg("--version");
        let version = self.exec(cmd)?.ok("make_large.sh --version")?;
        let version = version.stdout.trim();
        let name = match history {
            0 => format!("large-v{version}-{size}"),
            h => format!("large-v{version}-{size}-h{h}"),
        };
        let path = self.cache.join(format!("{name}.git"));
        if path.join("HEAD").exists() {
            eprintln!("fixture {}: {} (cached)", label(size), path.display());
            return Ok(path);
        }
        std::fs::create_dir_all(&self.cache)
            .with_context(|| format!("creating {}", self.cache.display()))?;
        let partial = self
            .cache
            .join(format!("{name}.git.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        eprintln!("fixture {}: building {} ...", label(size), path.display());
        let t = Instant::now();
        let mut cmd = self.command("bash", &self.root);
        cmd.arg(&script).arg(size.to_string()).arg(&partial);
        if history > 0 {
            cmd.arg(history.to_string());
        }
        if let Err(e) = self.exec(cmd).and_then(|p| p.ok("make_large.sh")) {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
        std::fs::rename(&partial, &path).or_else(|e| {
            // Another run won the race: use its copy.
            let _ = std::fs::remove_dir_all(&partial);
            if path.join("HEAD").exists() {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        eprintln!(
            "fixture {}: built in {:.1} s",
            label(size),
            t.elapsed().as_secs_f64()
        );
        Ok(path)
    }

    /// A private clone of the fixture for one workload: shares the fixture's objects, no
    /// files in the main worktree (HEAD detached there, so no lane or target is checked
    /// out in it; its index holds HEAD), no remote (wtc stays in local mode), no automatic gc.
    fn clone(&self, fixture: &Path, world: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(world)?;
        top_dir(world);
        let repo = world.join("repo");
        self.git(
            world,
            &[
                "clone",
                "-q",
                "--shared",
                "--no-checkout",
                path_str(fixture)?,
                path_str(&repo)?,
            ],
        )?;
        self.git(&repo, &["remote", "remove", "origin"])?;
        self.git(&repo, &["config", "gc.auto", "0"])?;
        self.git(&repo, &["config", "maintenance.auto", "false"])?;
        let main = self.git(&repo, &["rev-parse", "refs/heads/main"])?;
        self.git(&repo, &["update-ref", "--no-deref", "HEAD", &main])?;
        // An index for HEAD, as every real main worktree has (without one, gix builds an
        // index from HEAD's whole tree for every merge, which no real checkout pays).
        self.git(&repo, &["read-tree", "HEAD"])?;
        Ok(repo)
    }

    /// Small tracked text files of the fixture, in a deterministic order that spreads
    /// consecutive picks across the tree.
    fn text_files(&self, repo: &Path) -> Result<Vec<String>> {
        let listing = self.git(repo, &["ls-tree", "-r", "-l", "refs/heads/main"])?;
        let mut files: Vec<String> = listing
            .lines()
            .filter_map(|line| {
                let (meta, path) = line.split_once('\t')?;
                let mut f = meta.split_whitespace();
                let (mode, kind, _, size) = (f.next()?, f.next()?, f.next()?, f.next()?);
                let small = size.parse::<u64>().ok()? <= 8192;
                (mode == "100644" && kind == "blob" && small && path.contains('/'))
                    .then(|| path.to_string())
            })
            .collect();
        files.sort_by_key(|p| fnv(p.as_bytes()));
        Ok(files)
    }

    // ---- save ------------------------------------------------------------------------------

    fn save(&self, fixture: &Path, world: &Path, rounds: usize, row: &mut Row) -> Result<()> {
        let mut st = Steps::new();
        let repo = self.clone(fixture, world)?;
        let mut files = Pool::new(self.text_files(&repo)?);
        self.wtc(&repo, &["init", "bench", "--target", "main"])?;
        st.mark("clone");
        let wtc_wt = world.join("wtc");
        let git_wt = world.join("git");
        self.wtc(&repo, &["add", "lane", "--path", path_str(&wtc_wt)?])?;
        st.mark("wtc add");
        self.git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "bench/git-save",
                path_str(&git_wt)?,
                "main",
            ],
        )?;
        st.mark("git worktree add");
        // Untimed warm-up, same for both: settle racily-clean index entries of the fresh
        // checkouts and bring both worktrees into the page cache.
        self.assert_clean(&wtc_wt, "wtc add")?;
        self.assert_clean(&git_wt, "git worktree add")?;
        st.mark("git status x2");
        st.print();

        let warm = self.warm(&repo)?;
        for r in 0..=rounds {
            let picks = files.take(8)?;
            let mut changes: Vec<(String, Option<String>)> = picks[..7]
                .iter()
                .map(|p| (p.clone(), Some(content(p, &format!("save round {r}"), 30))))
                .collect();
            changes.push((picks[7].clone(), None));
            for k in 0..2 {
                let p = sibling(&picks[0], &format!("new-save-{r}-{k}.txt"));
                let c = content(&p, "new", 20);
                changes.push((p, Some(c)));
            }
            for wt in [&wtc_wt, &git_wt] {
                apply(wt, &changes)?;
            }
            let before = self.git(&wtc_wt, &["rev-parse", "HEAD"])?;
            let (mut w, mut g) = (Sample::default(), Sample::default());
            for side in order(r) {
                warm.read()?;
                settle();
                if side == Side::Wtc {
                    let p = self.wtc_proc(&wtc_wt, &["--json", "save"])?;
                    w.add(&p);
                    let doc = p.ok("wtc --json save")?.json()?;
                    ensure!(
                        doc["paths"].as_array().map(Vec::len) == Some(10),
                        "wtc save reported {} paths, expected 10: {doc}",
                        doc["paths"]
                    );
                } else {
                    let p = self.git_proc(&git_wt, &["add", "-A"])?;
                    g.add(&p);
                    p.ok("git add -A")?;
                    let p = self.git_proc(&git_wt, &["commit", "-q", "-m", "x"])?;
                    g.add(&p);
                    p.ok("git commit")?;
                }
            }
            row.push(r, w, g);
            // Same answer: the same tree, one new commit on the lane, both worktrees clean.
            let (wt_tree, git_tree) = (self.tree(&wtc_wt, "HEAD")?, self.tree(&git_wt, "HEAD")?);
            ensure!(
                wt_tree == git_tree,
                "WRONG ANSWER in round {r}: wtc saved tree {wt_tree}, git committed tree {git_tree}\n{}",
                self.git(&repo, &["diff", "--stat", &wt_tree, &git_tree]).unwrap_or_default()
            );
            ensure!(
                self.git(&wtc_wt, &["rev-parse", "HEAD^"])? == before,
                "wtc save did not make exactly one commit on top of {before}"
            );
            self.assert_clean(&wtc_wt, "wtc")?;
            self.assert_clean(&git_wt, "git")?;
        }
        Ok(())
    }

    // ---- sync ------------------------------------------------------------------------------

    fn sync(
        &self,
        fixture: &Path,
        world: &Path,
        rounds: usize,
        row: &mut Row,
        after: &mut [Row; 2],
    ) -> Result<()> {
        let mut st = Steps::new();
        let repo = self.clone(fixture, world)?;
        let mut files = Pool::new(self.text_files(&repo)?);
        self.wtc(&repo, &["init", "sync", "--target", "main"])?;
        st.mark("clone");
        let base = self.git(&repo, &["rev-parse", "refs/heads/main"])?;
        let mut s = Stream::default();
        for k in 1..=UPSTREAMS {
            let pool = files.take(LANE_POOL)?;
            s.lane(
                &format!("refs/bench/u{k}"),
                &base,
                &format!("u{k}"),
                &pool,
                LANE_COMMITS,
                false,
            );
        }
        let own = files.take(8)?;
        s.lane("refs/bench/down", &base, "down", &own, 1, false);
        self.fast_import(&repo, &s)?;

        let mut add_down: Vec<String> = vec!["add".into(), "down".into()];
        for k in 1..=UPSTREAMS {
            let from = format!("refs/bench/u{k}");
            self.wtc(
                &repo,
                &["add", &format!("u{k}"), "--no-worktree", "--from", &from],
            )?;
            add_down.extend(["--after".into(), format!("u{k}")]);
        }
        let wtc_wt = world.join("wtc");
        let git_wt = world.join("git");
        add_down.extend(["--from".into(), "refs/bench/down".into()]);
        add_down.extend(["--path".into(), path_str(&wtc_wt)?.to_string()]);
        let args: Vec<&str> = add_down.iter().map(String::as_str).collect();
        st.mark("lanes");
        self.wtc(&repo, &args)?;
        st.mark("wtc add");
        self.git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "bench/git-down",
                path_str(&git_wt)?,
                "refs/bench/down",
            ],
        )?;
        st.mark("git worktree add");
        let start = self.git(&repo, &["rev-parse", "refs/bench/down"])?;
        let upstream_tips: Vec<String> = (1..=UPSTREAMS)
            .map(|k| self.git(&repo, &["rev-parse", &format!("refs/heads/wtc/sync/u{k}")]))
            .collect::<Result<_>>()?;
        self.assert_clean(&wtc_wt, "wtc add")?;
        self.assert_clean(&git_wt, "git worktree add")?;
        st.mark("git status x2");
        st.print();

        let aside = Aside::new(world)?;
        let warm = self.warm(&repo)?;
        for r in 0..=rounds {
            for wt in [&wtc_wt, &git_wt] {
                self.reset_aside(wt, &start, &aside)?;
            }
            let (mut w, mut g) = (Sample::default(), Sample::default());
            for side in order(r) {
                warm.read()?;
                settle();
                if side == Side::Wtc {
                    let p = self.wtc_proc(&wtc_wt, &["--json", "sync"])?;
                    w.add(&p);
                    let doc = p.ok("wtc --json sync")?.json()?;
                    ensure!(
                        doc["result"] == "merged",
                        "wtc sync: expected result \"merged\": {doc}"
                    );
                } else {
                    for k in 1..=UPSTREAMS {
                        let b = format!("refs/heads/wtc/sync/u{k}");
                        let p = self.git_proc(&git_wt, &["merge", "-q", "--no-edit", &b])?;
                        g.add(&p);
                        p.ok(&format!("git merge {b}"))?;
                    }
                }
            }
            row.push(r, w, g);
            let (wt_tree, git_tree) = (self.tree(&wtc_wt, "HEAD")?, self.tree(&git_wt, "HEAD")?);
            ensure!(
                wt_tree == git_tree,
                "WRONG ANSWER in round {r}: wtc synced to tree {wt_tree}, git merged to tree {git_tree}\n{}",
                self.git(&repo, &["diff", "--stat", &wt_tree, &git_tree]).unwrap_or_default()
            );
            for tip in &upstream_tips {
                self.git(&wtc_wt, &["merge-base", "--is-ancestor", tip, "HEAD"])
                    .with_context(|| {
                        format!("after wtc sync, upstream tip {tip} is not in the lane's history")
                    })?;
            }
            self.assert_clean(&wtc_wt, "wtc")?;
            self.assert_clean(&git_wt, "git")?;
            self.git_after(r, &wtc_wt, &git_wt, &own[0], after)?;
        }
        row.floor = Some(self.creation_floor(&wtc_wt, &start, &aside)?);
        Ok(())
    }

    /// `git reset --hard start` in `wt` without freeing an inode: every file that differs
    /// from `start` is first moved into `aside` (the same file system), so git recreates the
    /// ones `start` has and removes none. Why: ext4 without a journal (the disk this suite
    /// runs on) skips every inode freed in the last 60 s on EACH new inode it hands out
    /// (`recently_deleted` in `find_inode_bit`), one cached block lookup per skipped inode;
    /// a reset that deletes the ~300 files a round added makes every later create in that
    /// minute slower, and round after round the next side's creates pay for the bench's
    /// own resets (40-90 ms more for 280 files, measured with `perf`). A journaled ext4 does
    /// not skip them at all. What the timed commands free themselves (git replaces a file by
    /// unlinking it) stays theirs.
    fn reset_aside(&self, wt: &Path, start: &str, aside: &Aside) -> Result<()> {
        let changed = self.git(wt, &["diff", "--name-only", "-z", start, "HEAD"])?;
        for path in changed.split('\0').filter(|p| !p.is_empty()) {
            let from = wt.join(path);
            if from.symlink_metadata().is_ok() {
                aside.keep(&from)?;
            }
        }
        self.git(wt, &["reset", "-q", "--hard", start])?;
        Ok(())
    }

    // ---- squash ----------------------------------------------------------------------------

    fn squash(&self, fixture: &Path, world: &Path, rounds: usize, row: &mut Row) -> Result<()> {
        let st = Steps::new();
        let repo = self.clone(fixture, world)?;
        let mut files = Pool::new(self.text_files(&repo)?);
        self.wtc(&repo, &["init", "squash", "--target", "main"])?;
        let base = self.git(&repo, &["rev-parse", "refs/heads/main"])?;
        let mut s = Stream::default();
        let names: Vec<String> = (1..=SQUASH_LANES).map(|k| format!("l{k}")).collect();
        for name in &names {
            let pool = files.take(LANE_POOL)?;
            s.lane(
                &format!("refs/bench/{name}"),
                &base,
                name,
                &pool,
                LANE_COMMITS,
                true,
            );
        }
        let moved = files.take(8)?;
        s.lane("refs/bench/main-moved", &base, "target", &moved, 1, false);
        self.fast_import(&repo, &s)?;
        for name in &names {
            let from = format!("refs/bench/{name}");
            self.wtc(&repo, &["add", name, "--no-worktree", "--from", &from])?;
        }
        // The target moved underneath the lanes: every fold is a real merge.
        self.git(
            &repo,
            &[
                "update-ref",
                "refs/heads/main",
                "refs/bench/main-moved",
                &base,
            ],
        )?;
        let target0 = self.git(&repo, &["rev-parse", "refs/heads/main"])?;
        let plan0 = self.git(&repo, &["rev-parse", "refs/wtc/squash/plan"])?;
        let tips: Vec<String> = names
            .iter()
            .map(|n| self.git(&repo, &["rev-parse", &format!("refs/heads/wtc/squash/{n}")]))
            .collect::<Result<_>>()?;
        // The target is checked out on both sides, as where a team integrates: wtc updates
        // the main worktree, git's side ends with `git merge --ff-only` in its own worktree.
        self.git(&repo, &["checkout", "-q", "-f", "main"])?;
        let git_wt = world.join("git");
        self.git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "bench/git-main",
                path_str(&git_wt)?,
                &target0,
            ],
        )?;
        self.assert_clean(&repo, "git checkout")?;
        self.assert_clean(&git_wt, "git worktree add")?;
        st.print();

        let aside = Aside::new(world)?;
        let warm = self.warm(&repo)?;
        for r in 0..=rounds {
            self.reset_aside(&repo, &target0, &aside)?;
            self.git(&repo, &["update-ref", "refs/wtc/squash/plan", &plan0])?;
            self.reset_aside(&git_wt, &target0, &aside)?;
            let (mut w, mut g) = (Sample::default(), Sample::default());
            for side in order(r) {
                warm.read()?;
                settle();
                if side == Side::Wtc {
                    let p = self.wtc_proc(&repo, &["--json", "squash"])?;
                    w.add(&p);
                    p.ok("wtc --json squash")?;
                } else {
                    // Fold in wtc's order (topological, then name: l1..l8).
                    let mut acc = target0.clone();
                    let mut tree = String::new();
                    for (i, (name, tip)) in names.iter().zip(&tips).enumerate() {
                        let p = self.git_proc(
                            &repo,
                            &["merge-tree", "--write-tree", "--no-messages", &acc, tip],
                        )?;
                        g.add(&p);
                        let p = p.ok("git merge-tree --write-tree")?;
                        tree = p.stdout.lines().next().unwrap_or_default().to_string();
                        if i + 1 < names.len() {
                            let p = self.git_proc(
                                &repo,
                                &[
                                    "commit-tree",
                                    &tree,
                                    "-p",
                                    &acc,
                                    "-p",
                                    tip,
                                    "-m",
                                    &format!("fold {name}"),
                                ],
                            )?;
                            g.add(&p);
                            acc = p.ok("git commit-tree")?.stdout.trim().to_string();
                        }
                    }
                    let p = self.git_proc(
                        &repo,
                        &[
                            "commit-tree",
                            &tree,
                            "-p",
                            &target0,
                            "-m",
                            "squash: integrate l1..l8",
                        ],
                    )?;
                    g.add(&p);
                    let commit = p.ok("git commit-tree")?.stdout.trim().to_string();
                    let p = self.git_proc(&git_wt, &["merge", "-q", "--ff-only", &commit])?;
                    g.add(&p);
                    p.ok("git merge --ff-only")?;
                }
            }
            row.push(r, w, g);
            let (wt_tree, git_tree) = (
                self.tree(&repo, "refs/heads/main")?,
                self.tree(&repo, "refs/heads/bench/git-main")?,
            );
            ensure!(
                wt_tree == git_tree,
                "WRONG ANSWER in round {r}: wtc squashed to tree {wt_tree}, git folded to tree {git_tree}\n{}",
                self.git(&repo, &["diff", "--stat", &wt_tree, &git_tree]).unwrap_or_default()
            );
            let parents = self.git(
                &repo,
                &["rev-list", "--parents", "-n", "1", "refs/heads/main"],
            )?;
            ensure!(
                parents.split_whitespace().skip(1).collect::<Vec<_>>() == [target0.as_str()],
                "wtc squash: expected ONE commit whose only parent is {target0}, got `{parents}`"
            );
            self.assert_clean(&repo, "wtc squash")?;
            self.assert_clean(&git_wt, "git merge --ff-only")?;
        }
        row.floor = Some(self.creation_floor(&repo, &target0, &aside)?);
        Ok(())
    }

    /// Plain git after wtc: `git status`, then `git commit -a` of one edited file, in the
    /// worktree wtc just wrote (its index as wtc left it: cache-tree, stat data) and in one
    /// where git checked out the same commit. Same answers, and git must not be slower
    /// after wtc by more than the target. Untimed around it: the checkout, the edit.
    fn git_after(
        &self,
        r: usize,
        wtc_wt: &Path,
        git_wt: &Path,
        edit: &str,
        after: &mut [Row; 2],
    ) -> Result<()> {
        let result = self.git(wtc_wt, &["rev-parse", "HEAD"])?;
        self.git(git_wt, &["checkout", "-q", "-f", "--detach", &result])?;
        let (mut w, mut g) = (Sample::default(), Sample::default());
        let mut answers = Vec::new();
        for side in order(r) {
            settle();
            let (wt, sample) = match side {
                Side::Wtc => (wtc_wt, &mut w),
                Side::Git => (git_wt, &mut g),
            };
            let p = self.git_proc(wt, &["status", "--porcelain"])?;
            sample.add(&p);
            answers.push(p.ok("git status")?.stdout.clone());
        }
        ensure!(
            answers[0] == answers[1] && answers[0].is_empty(),
            "git status differs after wtc: {answers:?}"
        );
        after[0].push(r, w, g);
        let text = content(edit, &format!("after round {r}"), 10);
        let (mut w, mut g) = (Sample::default(), Sample::default());
        for side in order(r) {
            let (wt, sample) = match side {
                Side::Wtc => (wtc_wt, &mut w),
                Side::Git => (git_wt, &mut g),
            };
            std::fs::write(wt.join(edit), &text)?;
            settle();
            let p = self.git_proc(wt, &["commit", "-q", "-a", "-m", "after"])?;
            sample.add(&p);
            p.ok("git commit -a")?;
        }
        let (a, b) = (self.tree(wtc_wt, "HEAD")?, self.tree(git_wt, "HEAD")?);
        ensure!(
            a == b,
            "WRONG ANSWER: git commit after wtc made tree {a}, after git {b}"
        );
        after[1].push(r, w, g);
        Ok(())
    }

    /// How long creating the files the worktree `wt` added since `start` takes, here: a
    /// new file (`<path>.floor`, 2 KiB) next to each added path, median of 5 tries, each
    /// after a sync(2); the files are moved aside again (untimed; see [`Bench::reset_aside`]).
    fn creation_floor(&self, wt: &Path, start: &str, aside: &Aside) -> Result<(usize, f64)> {
        let added = self.git(
            wt,
            &["diff", "--name-only", "--diff-filter=A", start, "HEAD"],
        )?;
        let paths: Vec<PathBuf> = added
            .lines()
            .map(|p| wt.join(format!("{p}.floor")))
            .collect();
        let data = vec![b'x'; 2048];
        let mut times = Vec::new();
        for _ in 0..5 {
            settle();
            let t = Instant::now();
            for p in &paths {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(p)
                    .with_context(|| format!("creating {}", p.display()))?;
                f.write_all(&data)?;
            }
            times.push(t.elapsed().as_secs_f64());
            for p in &paths {
                aside.keep(p)?;
            }
        }
        times.sort_by(f64::total_cmp);
        Ok((paths.len(), times[times.len() / 2]))
    }

    // ---- status ----------------------------------------------------------------------------

    fn status(&self, fixture: &Path, world: &Path, rounds: usize, row: &mut Row) -> Result<()> {
        let st = Steps::new();
        let repo = self.clone(fixture, world)?;
        let mut files = Pool::new(self.text_files(&repo)?);
        self.wtc(&repo, &["init", "status", "--target", "main"])?;
        let base = self.git(&repo, &["rev-parse", "refs/heads/main"])?;
        // Chains of 5 lanes (s01 <- s02 <- ... <- s05, s06 <- ...). The 2nd and 3rd lane of
        // a chain started from their upstream's tip (synced); the 4th and 5th from the base
        // (so status reports them behind). Odd lanes are done.
        let mut s = Stream::default();
        let mut adds = Vec::new();
        for k in 1..=STATUS_LANES {
            let name = format!("s{k:02}");
            let after = (k % 5 != 1).then(|| format!("s{:02}", k - 1));
            let from = match (k % 5, &after) {
                (2 | 3, Some(up)) => format!("refs/bench/{up}"),
                _ => base.clone(),
            };
            let pool = files.take(10)?;
            s.lane(
                &format!("refs/bench/{name}"),
                &from,
                &name,
                &pool,
                3,
                k % 2 == 1,
            );
            adds.push((name, after));
        }
        self.fast_import(&repo, &s)?;
        for (name, after) in &adds {
            let from = format!("refs/bench/{name}");
            let mut args = vec![
                "add",
                name.as_str(),
                "--no-worktree",
                "--from",
                from.as_str(),
            ];
            if let Some(a) = after {
                args.extend(["--after", a.as_str()]);
            }
            self.wtc(&repo, &args)?;
        }
        st.print();

        let format = format!(
            "%(refname:lstrip=4) %(objectname) %(ahead-behind:{base}) %(contents:trailers:key=Wtc-State,valueonly,separator=%x2C)"
        );
        let warm = self.warm(&repo)?;
        for r in 0..=rounds {
            let (mut w, mut g) = (Sample::default(), Sample::default());
            let mut wtc_doc = Value::Null;
            let mut git_out = String::new();
            for side in order(r) {
                warm.read()?;
                if side == Side::Wtc {
                    let p = self.wtc_proc(&repo, &["--json", "status"])?;
                    w.add(&p);
                    wtc_doc = p.ok("wtc --json status")?.json()?;
                } else {
                    let p = self.git_proc(
                        &repo,
                        &[
                            "for-each-ref",
                            &format!("--format={format}"),
                            "refs/heads/wtc/status/",
                        ],
                    )?;
                    g.add(&p);
                    git_out = p.ok("git for-each-ref")?.stdout;
                }
            }
            row.push(r, w, g);
            // Same answer: every lane, with the same tip, state and commit count.
            let mut git_lanes = BTreeMap::new();
            for line in git_out.lines() {
                let f: Vec<&str> = line.split(' ').collect();
                ensure!(f.len() >= 3, "unexpected for-each-ref line {line:?}");
                let done = f.get(4).is_some_and(|t| t.trim() == "done");
                git_lanes.insert(f[0].to_string(), (f[1].to_string(), done, f[2].to_string()));
            }
            let lanes = wtc_doc["lanes"]
                .as_array()
                .ok_or_else(|| anyhow!("wtc status printed no lanes: {wtc_doc}"))?;
            ensure!(
                lanes.len() == STATUS_LANES && git_lanes.len() == STATUS_LANES,
                "WRONG ANSWER: wtc lists {} lanes, git {} (expected {STATUS_LANES})",
                lanes.len(),
                git_lanes.len()
            );
            for l in lanes {
                let name = l["name"].as_str().unwrap_or_default();
                let (tip, done, ahead) = git_lanes.get(name).ok_or_else(|| {
                    anyhow!("WRONG ANSWER: wtc lists lane {name:?}, git does not")
                })?;
                let ok = l["tip"].as_str() == Some(tip.as_str())
                    && (l["state"] == "done") == *done
                    && l["commits"].as_u64().map(|c| c.to_string()).as_deref()
                        == Some(ahead.as_str());
                ensure!(
                    ok,
                    "WRONG ANSWER for lane {name}: wtc says {l}, git says tip {tip} done {done} commits {ahead}"
                );
            }
        }
        Ok(())
    }
}

/// Setup time per step, printed as one line.
struct Steps {
    start: Instant,
    last: Instant,
    parts: Vec<String>,
}

impl Steps {
    fn new() -> Self {
        let now = Instant::now();
        Steps {
            start: now,
            last: now,
            parts: Vec::new(),
        }
    }
    fn mark(&mut self, what: &str) {
        let now = Instant::now();
        self.parts
            .push(format!("{what} {:.1}", (now - self.last).as_secs_f64()));
        self.last = now;
    }
    fn print(&self) {
        let parts = if self.parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.parts.join(", "))
        };
        eprintln!(
            "   setup {:.1} s{parts}",
            self.start.elapsed().as_secs_f64()
        );
    }
}

// ---- rounds and results --------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Wtc,
    Git,
}

/// wtc first in even rounds, git first in odd rounds.
fn order(round: usize) -> [Side; 2] {
    if round.is_multiple_of(2) {
        [Side::Wtc, Side::Git]
    } else {
        [Side::Git, Side::Wtc]
    }
}

struct Row {
    workload: &'static str,
    size: usize,
    wtc: Vec<Sample>,
    git: Vec<Sample>,
    errors: Vec<String>,
    /// The files the result adds, and the median time creating that many new files takes
    /// in the same directories of the same file system: a cost every tool that writes the
    /// result pays, so git's median over it bounds any tool's speedup.
    floor: Option<(usize, f64)>,
}

impl Row {
    fn new(workload: &'static str, size: usize) -> Self {
        Row {
            workload,
            size,
            wtc: Vec::new(),
            git: Vec::new(),
            errors: Vec::new(),
            floor: None,
        }
    }

    /// Record one round; round 0 is the untimed warm-up (checked, not counted).
    fn push(&mut self, round: usize, w: Sample, g: Sample) {
        eprintln!(
            "   {}: wtc {:>9}  git {:>9}  ({:.1}x)  wtc rss {:.1} MiB",
            if round == 0 {
                "warm-up".to_string()
            } else {
                format!("round {round}")
            },
            ms(w.secs),
            ms(g.secs),
            g.secs / w.secs,
            w.maxrss_kib as f64 / 1024.0
        );
        if round > 0 {
            self.wtc.push(w);
            self.git.push(g);
        }
    }

    fn wtc_median(&self) -> Option<f64> {
        stats(&self.wtc).map(|s| s.1)
    }

    fn git_median(&self) -> Option<f64> {
        stats(&self.git).map(|s| s.1)
    }

    fn wtc_rss_mib(&self) -> Option<f64> {
        self.wtc
            .iter()
            .map(|s| s.maxrss_kib)
            .max()
            .map(|k| k as f64 * 1024.0 / MIB)
    }
}

/// A directory beside a workload's worktrees where resets put the files they would delete
/// (see [`Bench::reset_aside`]); removed with the workload's directory.
struct Aside {
    dir: PathBuf,
    next: std::cell::Cell<u64>,
}

impl Aside {
    fn new(world: &Path) -> Result<Aside> {
        let dir = world.join("aside");
        std::fs::create_dir_all(&dir)?;
        Ok(Aside {
            dir,
            next: std::cell::Cell::new(0),
        })
    }

    /// Move `path` here (a rename: its inode stays allocated).
    fn keep(&self, path: &Path) -> Result<()> {
        let n = self.next.get();
        self.next.set(n + 1);
        let to = self.dir.join(n.to_string());
        std::fs::rename(path, &to)
            .with_context(|| format!("moving {} to {}", path.display(), to.display()))
    }
}

/// Is `path` on a tmpfs (memory)?
fn on_tmpfs(path: &Path) -> bool {
    fs_type(path) == Some(libc::TMPFS_MAGIC)
}

/// Is `path` on ext4?
fn on_ext4(path: &Path) -> bool {
    fs_type(path) == Some(libc::EXT4_SUPER_MAGIC)
}

/// The type of the file system `path` is on (`statfs`'s `f_type`).
fn fs_type(path: &Path) -> Option<libc::__fsword_t> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: a NUL-terminated path and room for the result, read only when it succeeded.
    #[allow(unsafe_code)]
    unsafe {
        (libc::statfs(c.as_ptr(), st.as_mut_ptr()) == 0).then(|| st.assume_init().f_type)
    }
}

/// Write everything out (sync(2)) before a timed round: in a user's worktree the files a
/// merge replaces were written long ago and sit on disk, not dirty in the page cache from the
/// untimed reset just before (replacing a file on disk costs a tool more: its blocks are
/// freed).
/// Files both sides of a workload read, read (untimed) before each side's timed run, so
/// that neither reads them from the disk. Without it, which side found them cached was up
/// to the machine: a VM whose kernel pages out file pages left unused for a few seconds
/// (DAMON's `pageout` scheme, as on the machines this suite runs on) had dropped some of the
/// objects and program pages by the time the side that runs first in a round started, and
/// the side that ran second found them read again by the first. wtc's sync at 5k files then
/// took ~9 ms longer when its objects and binary were cold and git's seven merges ~25 ms
/// (measured with both 4 s after a reset): a cost of the harness's timing, not of the work.
/// Both sides now start each run with the same objects and their own program cached; the
/// worktree files each side reads are the ones the round's reset just wrote.
struct Warm {
    /// Object directories: every file below them (loose objects, packs, indexes).
    dirs: Vec<PathBuf>,
    /// The wtc and git executables.
    programs: Vec<PathBuf>,
}

impl Warm {
    fn read(&self) -> Result<()> {
        let mut buf = vec![0u8; 1 << 20];
        let mut read_all = |path: &Path| -> Result<()> {
            let mut f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
            while std::io::Read::read(&mut f, &mut buf)? > 0 {}
            Ok(())
        };
        for p in &self.programs {
            read_all(p)?;
        }
        let mut todo: Vec<PathBuf> = self.dirs.clone();
        while let Some(dir) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                match e.file_type() {
                    Ok(t) if t.is_dir() => todo.push(e.path()),
                    Ok(t) if t.is_file() => read_all(&e.path())?,
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn settle() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::sync()
    };
    disk_quiet();
}

/// Wait (at most 20 s) until the block devices have had nothing in flight and written
/// nothing for 300 ms. `sync` returns once the data is written, but a file system mounted
/// with online discard (or a journal commit) keeps the disk busy after that, above all after
/// a world of 100k files was removed; a round measured then pays for the previous one, on
/// both sides but not equally.
fn disk_quiet() {
    let sample = || -> Option<(u64, u64)> {
        let stats = std::fs::read_to_string("/proc/diskstats").ok()?;
        let (mut done, mut in_flight) = (0u64, 0u64);
        for line in stats.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 14 || f[2].starts_with("loop") || f[2].starts_with("ram") {
                continue;
            }
            let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
            // reads and writes completed (discards count as writes here, or in f[14]), and
            // I/Os in progress.
            done += n(3) + n(7) + f.get(14).and_then(|v| v.parse().ok()).unwrap_or(0);
            in_flight += n(11);
        }
        Some((done, in_flight))
    };
    let start = std::time::Instant::now();
    let Some(mut last) = sample() else { return };
    let mut quiet_since = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
        let Some(now) = sample() else { return };
        if now.0 != last.0 || now.1 != 0 {
            quiet_since = std::time::Instant::now();
        } else if quiet_since.elapsed() >= Duration::from_millis(300) {
            return;
        }
        last = now;
    }
}

/// Make `dir` a top of a directory hierarchy for ext4's block allocator (`chattr +T`,
/// `FS_TOPDIR_FL`): the directories made in it (the repository, wtc's worktree, git's
/// worktree) are spread over block groups of their own, as unrelated directory trees are,
/// instead of packed next to each other. Why: git's merges unlink every file they replace
/// (~300 per round), and on ext4 without a journal each file created in the next minute
/// in the same block group scans past every inode freed there (`recently_deleted` in
/// `find_inode_bit`). With both worktrees packed together, wtc's new files spilled into
/// the block group of git's worktree and paid for git's deletions: `perf` showed that
/// scan as a third of 280 creates that took 91 ms, and the creation floor of the sync row
/// doubled whenever the save workload ran first (its world pushed the next one's
/// directories together). Each side now pays for its own deletions only. Best effort: a
/// file system without the flag (tmpfs, XFS) keeps its own layout.
fn top_dir(dir: &Path) {
    use std::os::unix::io::AsRawFd as _;
    const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
    const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
    const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;
    let Ok(d) = File::open(dir) else { return };
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS/SETFLAGS read and write one int through the pointer given, on
    // a descriptor we hold open; a file system that has no such flags returns an error.
    #[allow(unsafe_code)]
    unsafe {
        if libc::ioctl(d.as_raw_fd(), FS_IOC_GETFLAGS, &mut flags) == 0 {
            flags |= FS_TOPDIR_FL;
            libc::ioctl(d.as_raw_fd(), FS_IOC_SETFLAGS, &flags);
        }
    }
}

/// (min, median, max) of the times.
fn stats(samples: &[Sample]) -> Option<(f64, f64, f64)> {
    if samples.is_empty() {
        return None;
    }
    let mut t: Vec<f64> = samples.iter().map(|s| s.secs).collect();
    t.sort_by(f64::total_cmp);
    let n = t.len();
    let median = if n % 2 == 1 {
        t[n / 2]
    } else {
        (t[n / 2 - 1] + t[n / 2]) / 2.0
    };
    Some((t[0], median, t[n - 1]))
}

fn ms(secs: f64) -> String {
    let ms = secs * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{secs:.1} s")
    }
}

fn triple(samples: &[Sample]) -> String {
    match stats(samples) {
        Some((lo, med, hi)) => format!("{} / **{}** / {}", ms(lo), ms(med), ms(hi)),
        None => "-".into(),
    }
}

/// The Markdown table, with a verdict per row.
fn render(rows: &[Row], opts: &Options) -> String {
    let mut out = String::new();
    out.push_str("| workload | files | wtc min / **median** / max | git min / **median** / max | speedup (git/wtc) | wtc peak RSS | target | result |\n");
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |\n");
    let mut fails = 0;
    let mut passes = 0;
    for r in rows {
        let speedup = match (r.wtc_median(), r.git_median()) {
            (Some(w), Some(g)) if w > 0.0 => Some(g / w),
            _ => None,
        };
        let mut targets = Vec::new();
        let mut ok = r.errors.is_empty() && speedup.is_some();
        let mut why = Vec::new();
        if !r.errors.is_empty() {
            why.push(if r.errors.iter().any(|e| e.contains("WRONG ANSWER")) {
                "wrong answer"
            } else {
                "error"
            });
        }
        let min_speedup = match r.workload {
            "save" if r.size >= 100_000 => Some(SAVE_SPEEDUP_LARGE),
            "save" => Some(SAVE_SPEEDUP_SMALL),
            "sync" => Some(SYNC_SPEEDUP),
            "squash" => Some(SQUASH_SPEEDUP),
            "status" => Some(STATUS_SPEEDUP),
            "git status after sync" | "git commit after sync" => Some(GIT_AFTER_SPEEDUP),
            "sync (deep history)" | "squash (deep history)" => Some(DEEP_SPEEDUP),
            _ => None,
        };
        if let Some(min) = min_speedup {
            targets.push(match min < 1.0 {
                true => format!(
                    "within {}x of git",
                    format!("{:.1}", 1.0 / min).trim_end_matches(".0")
                ),
                false => format!(">= {min:.0}x"),
            });
            if speedup.is_some_and(|s| s < min) {
                ok = false;
                why.push("speed");
            }
        }
        if r.size >= 100_000 {
            targets.push(format!("< {RSS_LIMIT_MIB:.0} MiB"));
            if r.wtc_rss_mib().is_some_and(|m| m >= RSS_LIMIT_MIB) {
                ok = false;
                why.push("memory");
            }
        }
        let verdict = if ok {
            passes += 1;
            "PASS".to_string()
        } else {
            fails += 1;
            format!("**FAIL** ({})", why.join(", "))
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.workload,
            thousands(r.size),
            triple(&r.wtc),
            triple(&r.git),
            speedup
                .map(|s| format!("{s:.1}x"))
                .unwrap_or_else(|| "-".into()),
            r.wtc_rss_mib()
                .map(|m| format!("{m:.1} MiB"))
                .unwrap_or_else(|| "-".into()),
            targets.join(", "),
            verdict
        ));
    }
    // Growth rows: the same change at 100k files costs at most 3x what it costs at 5k.
    // The growth bound is sync's (a sync that looks only at changed paths pays for the tree
    // only in the index read and write); save's growth is shown for information.
    for workload in ["save", "sync"] {
        let find = |size| {
            rows.iter()
                .find(|r| r.workload == workload && r.size == size)
        };
        let (Some(small), Some(large)) = (find(SIZES[0]), find(SIZES[1])) else {
            continue;
        };
        let w = ratio(small.wtc_median(), large.wtc_median());
        let g = ratio(small.git_median(), large.git_median());
        let fmt = |x: Option<f64>| x.map(|x| format!("{x:.1}x")).unwrap_or_else(|| "-".into());
        if workload == "save" {
            out.push_str(&format!(
                "| {workload} growth | {} -> {} | {} | {} | | | (information) | |\n",
                label(SIZES[0]),
                label(SIZES[1]),
                fmt(w),
                fmt(g),
            ));
            continue;
        }
        let ok = w.is_some_and(|w| w <= GROWTH_LIMIT);
        if ok {
            passes += 1;
        } else {
            fails += 1;
        }
        out.push_str(&format!(
            "| {workload} growth | {} -> {} | {} | {} | | | <= {GROWTH_LIMIT:.0}x | {} |\n",
            label(SIZES[0]),
            label(SIZES[1]),
            fmt(w),
            fmt(g),
            if ok {
                "PASS"
            } else {
                "**FAIL** (grows with the tree)"
            }
        ));
    }
    // squash on the deep history costs at most 1.5x what it costs on the shallow one.
    let deep = rows.iter().find(|r| r.workload == "squash (deep history)");
    let shallow = rows
        .iter()
        .find(|r| r.workload == "squash" && r.size == DEEP_SIZE);
    if let (Some(deep), Some(shallow)) = (deep, shallow) {
        let ratio = ratio(shallow.wtc_median(), deep.wtc_median());
        let ok = ratio.is_some_and(|r| r <= DEEP_VS_SHALLOW);
        if ok {
            passes += 1;
        } else {
            fails += 1;
        }
        out.push_str(&format!(
            "| squash deep / shallow history | {} | {} | | | | <= {DEEP_VS_SHALLOW:.1}x | {} |\n",
            thousands(DEEP_SIZE),
            ratio
                .map(|r| format!("{r:.1}x"))
                .unwrap_or_else(|| "-".into()),
            if ok {
                "PASS"
            } else {
                "**FAIL** (the history walk costs)"
            }
        ));
    }
    let rounds: Vec<String> = opts
        .sizes
        .iter()
        .map(|&size| format!("{} rounds at {}", opts.rounds(size, "save"), label(size)))
        .collect();
    out.push_str(&format!(
        "\nMedians of {} after one warm-up round (status: 3x as many), wtc and git \
         interleaved; speedup = git median / wtc median. {passes} PASS, {fails} FAIL.\n\
         Machine: {} CPU(s), {}; worktrees in {}.\n",
        rounds.join(", "),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        opts.git_version,
        opts.tmp_kind,
    ));
    out
}

/// `b / a`, when both are known and `a` is not zero.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    }
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---- generated changes ---------------------------------------------------------------------

/// Files handed out once each, so workloads and lanes never touch the same file.
struct Pool {
    files: Vec<String>,
    next: usize,
}

impl Pool {
    fn new(files: Vec<String>) -> Self {
        Pool { files, next: 0 }
    }
    fn take(&mut self, n: usize) -> Result<Vec<String>> {
        ensure!(
            self.next + n <= self.files.len(),
            "the fixture has only {} small text files",
            self.files.len()
        );
        let out = self.files[self.next..self.next + n].to_vec();
        self.next += n;
        Ok(out)
    }
}

/// A fast-import stream of lane histories.
#[derive(Default)]
struct Stream {
    buf: Vec<u8>,
    commits: u64,
}

impl Stream {
    /// `commits` commits on `refname` starting at `from`: commit j modifies 8 files of
    /// `pool` (round robin) and adds 2 new ones next to them: 10 files per commit. With
    /// `done`, the last commit carries the handoff trailer.
    fn lane(
        &mut self,
        refname: &str,
        from: &str,
        lane: &str,
        pool: &[String],
        commits: usize,
        done: bool,
    ) {
        for j in 0..commits {
            let mut changes: Vec<(String, String)> = (0..8)
                .map(|t| {
                    let p = pool[(j * 8 + t) % pool.len()].clone();
                    let c = content(&p, &format!("{lane} commit {j}"), 30);
                    (p, c)
                })
                .collect();
            for t in 0..2 {
                let p = sibling(&changes[0].0, &format!("{lane}-new-{j}-{t}.txt"));
                let c = content(&p, lane, 12);
                changes.push((p, c));
            }
            let msg = if done && j + 1 == commits {
                format!("done: {lane}\n\nWtc-State: done\n")
            } else {
                format!("wip: {lane} ({} files)\n", changes.len())
            };
            self.commits += 1;
            let t = EPOCH + 3600 + self.commits * 60;
            let mut c = format!(
                "commit {refname}\nauthor Lane Agent <agent@example.test> {t} +0000\ncommitter Lane Agent <agent@example.test> {t} +0000\ndata {}\n{msg}",
                msg.len()
            );
            if j == 0 {
                c.push_str(&format!("from {from}\n"));
            }
            for (p, content) in &changes {
                c.push_str(&format!(
                    "M 100644 inline {p}\ndata {}\n{content}\n",
                    content.len()
                ));
            }
            c.push('\n');
            self.buf.extend_from_slice(c.as_bytes());
        }
    }
}

/// Source-like text for `path`, different for every `tag`.
fn content(path: &str, tag: &str, lines: usize) -> String {
    let mut s = format!("// {path}: {tag}\n");
    let mut h = fnv(format!("{path}{tag}").as_bytes());
    for l in 0..lines {
        h = h
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        s.push_str(&format!(
            "    let value_{l} = compute({}, \"{tag}\") + {};\n",
            h >> 44,
            (h >> 20) & 0xfff
        ));
    }
    s
}

/// Write (or delete, for `None`) files in a worktree.
fn apply(wt: &Path, changes: &[(String, Option<String>)]) -> Result<()> {
    for (path, content) in changes {
        let abs = wt.join(path);
        match content {
            Some(c) => {
                if let Some(dir) = abs.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&abs, c).with_context(|| format!("writing {}", abs.display()))?;
            }
            None => {
                std::fs::remove_file(&abs).with_context(|| format!("deleting {}", abs.display()))?
            }
        }
    }
    Ok(())
}

/// `dir/name` for a new file next to `path` (the pools hold only nested paths).
fn sibling(path: &str, name: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{name}"),
        None => name.to_string(),
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow!("{} is not UTF-8", p.display()))
}

fn read_lossy(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn first_lines(s: &str, n: usize) -> String {
    let mut out: Vec<&str> = s.lines().take(n).collect();
    if s.lines().count() > n {
        out.push("...");
    }
    out.join("\n")
}
