//! Issue 10, case 1: an edit made while wtc writes a worktree is never lost.
//!
//! A writer thread edits random incoming paths of a lane worktree WHILE `wtc sync` writes
//! thousands of incoming files there, three ways: truncate-and-write in place, write to a
//! temporary file and rename it over the path, and through a file descriptor it opened
//! before and holds open for a moment. After each sync, the last edit of every path must
//! be in the worktree or in a commit reachable from a ref; a path the sync reports as raced
//! keeps the writer's bytes. Repeated until at least 1,000 edits landed during syncs.

use std::collections::BTreeMap;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::env::{code, stdout, TestEnv};

/// Files the upstream lane rewrites in every round.
const FILES: usize = 1500;
const MIN_EDITS: usize = 1000;

#[derive(Debug, Clone, Copy)]
enum How {
    InPlace,
    Rename,
    HeldOpen,
}

/// One edit the writer made: where, what, how.
#[derive(Debug, Clone)]
struct Edit {
    rel: String,
    bytes: Vec<u8>,
    how: How,
    /// When the edit was done, from the writer's start (for the report of a failure).
    at: Duration,
}

fn rel(i: usize) -> String {
    format!("d/{:02}/f{i}.txt", i % 40)
}

/// Edit random files under `root` from the moment the sync starts writing files (its
/// journal record `start` appears) until `stop`; every edit's bytes are unique.
fn writer(root: PathBuf, start: PathBuf, round: usize, stop: Arc<AtomicBool>) -> Vec<Edit> {
    let mut edits = Vec::new();
    while !start.exists() && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_micros(100));
    }
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ (round as u64 + 1);
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut n = 0usize;
    let began = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let i = (next() % FILES as u64) as usize;
        let rel = rel(i);
        let path = root.join(&rel);
        let bytes = format!("agent edit {round}/{n} of {rel}\n").into_bytes();
        n += 1;
        let how = match next() % 3 {
            0 => How::InPlace,
            1 => How::Rename,
            _ => How::HeldOpen,
        };
        let ok = match how {
            How::InPlace => std::fs::write(&path, &bytes).is_ok(),
            How::Rename => {
                let tmp = root.join(format!(".agent-tmp-{n}"));
                std::fs::write(&tmp, &bytes).is_ok() && std::fs::rename(&tmp, &path).is_ok()
            }
            How::HeldOpen => match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(mut f) => {
                    std::thread::sleep(Duration::from_micros(300 + next() % 2000));
                    f.set_len(0).is_ok() && f.rewind().is_ok() && f.write_all(&bytes).is_ok()
                }
                Err(_) => false,
            },
        };
        if ok {
            let at = began.elapsed();
            edits.push(Edit {
                rel,
                bytes,
                how,
                at,
            });
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    edits
}

#[test]
fn edits_during_large_syncs_are_never_lost() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    for i in 0..FILES {
        env.write(&repo.join(rel(i)), format!("base {i}\n"));
    }
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "many files"]);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    let wtc = env!("CARGO_BIN_EXE_wtc");
    let git_dir = PathBuf::from(env.git(&b, &["rev-parse", "--absolute-git-dir"]).trim());

    let (mut during, mut raced_total, mut rounds) = (0usize, 0usize, 0usize);
    let mut kept_total = 0usize;
    let mut by_how: BTreeMap<&'static str, usize> = BTreeMap::new();
    let started = Instant::now();
    while during < MIN_EDITS || rounds < 5 {
        rounds += 1;
        assert!(
            rounds <= 60,
            "only {during} edits landed during syncs in 60 rounds"
        );
        for i in 0..FILES {
            env.write(&a.join(rel(i)), format!("upstream {rounds} {i}\n"));
        }
        env.git(&a, &["add", "-A"]);
        env.git(&a, &["commit", "-qm", &format!("upstream round {rounds}")]);

        let stop = Arc::new(AtomicBool::new(false));
        let child = {
            let mut cmd = env.command(wtc, &b);
            cmd.args(["sync", "--json"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().expect("start wtc sync")
        };
        let handle = {
            let (root, stop) = (b.clone(), Arc::clone(&stop));
            let start = git_dir.join("wtc-update");
            std::thread::spawn(move || writer(root, start, rounds, stop))
        };
        let out = env.finish(child, "wtc sync", Duration::from_secs(120));
        stop.store(true, Ordering::Relaxed);
        let edits = handle.join().expect("the writer thread");
        during += edits.len();
        for e in &edits {
            let key = match e.how {
                How::InPlace => "in place",
                How::Rename => "rename",
                How::HeldOpen => "held open",
            };
            *by_how.entry(key).or_default() += 1;
        }
        let c = code(&out);
        assert!(
            c == 0 || c == 3 || c == 1,
            "round {rounds}: unexpected exit\n{}",
            env.describe(&out)
        );
        let doc: Value = serde_json::from_str(&stdout(&out)).unwrap_or(Value::Null);
        let raced: Vec<String> = doc["raced"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        raced_total += raced.len();
        // An older edit the writer itself superseded while it was being put back (a write
        // through a held descriptor, then a rename over the path) is kept beside the path.
        for k in doc["kept"].as_array().into_iter().flatten() {
            let k = k.as_str().expect("a path");
            let bytes = std::fs::read(b.join(k)).expect("the kept file exists");
            assert!(
                edits.iter().any(|e| e.bytes == bytes),
                "round {rounds}: kept {k} holds no edit of the writer"
            );
            kept_total += 1;
        }
        assert!(
            !b.join(".wtc-aside").exists(),
            "round {rounds}: files moved aside were left behind"
        );
        assert_last_edits_kept(&env, &b, &edits, rounds, &out);
        // Every raced path holds the writer's bytes, and git shows them as a change.
        if !raced.is_empty() {
            let diff = env.git(&b, &["diff", "--name-only"]);
            for p in &raced {
                assert!(
                    diff.lines().any(|l| l == p),
                    "round {rounds}: raced {p} shows no diff"
                );
            }
        }
        // Next round: drop the writer's edits on purpose and catch up with `a`.
        let _ = env.git_output(&b, &["merge", "--abort"]);
        env.git(&b, &["reset", "-q", "--hard", "refs/heads/wtc/p/a"]);
        env.git(&b, &["clean", "-qfdx", "d"]);
        let _ = std::fs::remove_dir_all(b.join(".agent-tmp"));
    }
    tally!(
        "races: {during} edits during {rounds} syncs of {FILES} files ({by_how:?}), {raced_total} raced and kept, {kept_total} older versions kept beside, 0 lost ({:.0?})",
        started.elapsed()
    );
}

/// The last edit of each path is in the worktree file, or in a blob reachable from a ref.
/// A failure reports everything seen about the path: its edits, what is there now, and
/// the sync's own report.
#[track_caller]
fn assert_last_edits_kept(
    env: &TestEnv,
    wt: &Path,
    edits: &[Edit],
    round: usize,
    sync: &std::process::Output,
) {
    let mut last: BTreeMap<&str, &Edit> = BTreeMap::new();
    for e in edits {
        last.insert(&e.rel, e);
    }
    let mut missing = Vec::new();
    for (rel, e) in &last {
        if std::fs::read(wt.join(rel)).is_ok_and(|b| b == e.bytes) {
            continue;
        }
        missing.push(*e);
    }
    if missing.is_empty() {
        return;
    }
    let reachable: std::collections::BTreeSet<String> = env
        .git(wt, &["rev-list", "--objects", "--all"])
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default().to_string())
        .collect();
    for e in missing {
        let blob = env.git_stdin(wt, &["hash-object", "--stdin"], &e.bytes);
        if reachable.contains(blob.trim()) {
            continue;
        }
        let path = wt.join(&e.rel);
        let now = std::fs::read(&path).map(|b| String::from_utf8_lossy(&b).into_owned());
        let history: Vec<String> = edits
            .iter()
            .filter(|x| x.rel == e.rel)
            .map(|x| {
                format!(
                    "  {:>9.3?} {:?}: {}",
                    x.at,
                    x.how,
                    String::from_utf8_lossy(&x.bytes).trim_end()
                )
            })
            .collect();
        let dir = path.parent().expect("a file in a directory");
        let name = e.rel.rsplit('/').next().unwrap_or_default();
        let beside: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|d| d.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(name) && n != name)
            .collect();
        panic!(
            "round {round}: the edit of {} ({:?}) is neither in the worktree nor in a reachable \
             commit\nnow at the path: {now:?}\nbeside it: {beside:?}\nedits of the path \
             (from the writer's start):\n{}\nthe sync:\n{}",
            e.rel,
            e.how,
            history.join("\n"),
            env.describe(sync)
        );
    }
}
