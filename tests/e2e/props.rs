//! Property tests of `wtc sync` against real git (invariant 1, and git's own merge as the
//! oracle).
//!
//! Each case starts from a random tree (the base fixture plus random operations, saved on
//! lane `up` and fast-forwarded into `down`), then makes random upstream changes (`up`
//! done), random committed changes in `down`, and random local edits in `down`'s worktree:
//! modify, delete, add, chmod +x, file -> directory, directory -> file, symlinks, ignored
//! files. Then `wtc sync`:
//! - default (autosave): every local byte is still in the worktree or in a blob reachable
//!   from a ref; when the sync is clean, only paths the user touched differ from HEAD
//!   (edits the merge does not reach stay uncommitted, as `git merge` leaves them), and
//!   HEAD's tree is exactly
//!   `git merge-tree --write-tree` of the same two commits; when it stops on conflicts, git
//!   agrees that the merge conflicts.
//! - `--no-autosave`: refused with nothing changed (HEAD, index, every file), or the local
//!   edits are carried across untouched and everything else is the merged tree.
//!
//! Bounded: 32 cases per property, one template repository copied per case.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use crate::crash::{assert_no_byte_lost, capture, disk_bytes, walk_files};
use crate::env::{code, crashed, TestEnv};

/// Cases per property (`WTC_PROPS_CASES=N` to explore more locally).
fn cases_count() -> u32 {
    std::env::var("WTC_PROPS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

/// One random change to a worktree. Indices pick among the files present at that moment.
#[derive(Debug, Clone)]
enum Op {
    /// Rewrite line `line` (of six) of a file.
    Modify {
        file: usize,
        line: usize,
        seed: u8,
    },
    Delete {
        file: usize,
    },
    /// A new file `d<dir>/f<name>.txt` (or at the top when `dir` is 3).
    Add {
        dir: u8,
        name: u8,
        seed: u8,
    },
    ToggleExec {
        file: usize,
    },
    FileToDir {
        file: usize,
    },
    DirToFile {
        dir: u8,
    },
    /// A symlink `l<name>` to an existing file (relative).
    Symlink {
        name: u8,
        file: usize,
    },
    /// A file git ignores (`*.log`): never saved, must stay on disk.
    Ignored {
        name: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), 0..6usize, any::<u8>()).prop_map(|(file, line, seed)| Op::Modify { file, line, seed }),
        1 => any::<usize>().prop_map(|file| Op::Delete { file }),
        3 => (0..4u8, 0..4u8, any::<u8>()).prop_map(|(dir, name, seed)| Op::Add { dir, name, seed }),
        1 => any::<usize>().prop_map(|file| Op::ToggleExec { file }),
        1 => any::<usize>().prop_map(|file| Op::FileToDir { file }),
        1 => (0..3u8).prop_map(|dir| Op::DirToFile { dir }),
        1 => (0..3u8, any::<usize>()).prop_map(|(name, file)| Op::Symlink { name, file }),
        1 => (0..2u8).prop_map(|name| Op::Ignored { name }),
    ]
}

fn ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 0..max)
}

/// Six distinct lines, so edits of different lines merge and edits of one line conflict.
fn content(seed: u8) -> String {
    (0..6).map(|i| format!("line {i} of {seed}\n")).collect()
}

/// Regular (non-symlink, non-ignored) files under `wt`, relative, sorted. `.gitignore` is
/// left alone: an incoming change to it may rightly turn an ignored file into an untracked
/// one, which is not what these properties are about.
fn files(wt: &Path) -> Vec<PathBuf> {
    walk_files(wt)
        .into_iter()
        .filter(|p| {
            std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file())
                && p.extension().is_none_or(|e| e != "log")
                && !p.starts_with(wt.join("node_modules"))
                && !p.ends_with(".gitignore")
        })
        .map(|p| p.strip_prefix(wt).expect("under wt").to_owned())
        .collect()
}

fn apply(env: &TestEnv, wt: &Path, ops: &[Op]) {
    for op in ops {
        let present = files(wt);
        let pick = |i: usize| (!present.is_empty()).then(|| wt.join(&present[i % present.len()]));
        match op {
            Op::Modify { file, line, seed } => {
                if let Some(p) = pick(*file) {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                    while lines.len() < 6 {
                        lines.push(String::new());
                    }
                    lines[*line] = format!("edited {seed}");
                    std::fs::write(&p, lines.join("\n") + "\n").expect("modify");
                }
            }
            Op::Delete { file } => {
                if let Some(p) = pick(*file) {
                    std::fs::remove_file(p).expect("delete");
                }
            }
            Op::Add { dir, name, seed } => {
                let rel = if *dir == 3 {
                    format!("f{name}.txt")
                } else {
                    format!("d{dir}/f{name}.txt")
                };
                let p = wt.join(rel);
                // Only where a plain file can go (no file in place of the directory).
                if p.parent().is_some_and(|d| !d.exists() || d.is_dir()) && !p.is_dir() {
                    env.write(&p, content(*seed));
                }
            }
            Op::ToggleExec { file } => {
                if let Some(p) = pick(*file) {
                    let mode = std::fs::metadata(&p).expect("stat").permissions().mode();
                    let mode = if mode & 0o100 != 0 { 0o644 } else { 0o755 };
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                        .expect("chmod");
                }
            }
            Op::FileToDir { file } => {
                if let Some(p) = pick(*file) {
                    let old = std::fs::read(&p).expect("read");
                    std::fs::remove_file(&p).expect("rm");
                    env.write(&p.join("inner.txt"), old);
                }
            }
            Op::DirToFile { dir } => {
                let p = wt.join(format!("d{dir}"));
                if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(&p).expect("rm -r");
                    env.write(&p, content(*dir));
                }
            }
            Op::Symlink { name, file } => {
                let link = wt.join(format!("l{name}"));
                if let (Some(target), false) = (pick(*file), link.symlink_metadata().is_ok()) {
                    let rel = target.strip_prefix(wt).expect("under wt").to_owned();
                    std::os::unix::fs::symlink(rel, &link).expect("symlink");
                }
            }
            Op::Ignored { name } => env.write(&wt.join(format!("debug{name}.log")), "ignored\n"),
        }
    }
}

/// One random case's inputs.
#[derive(Debug, Clone)]
struct Case {
    base: Vec<Op>,
    up: Vec<Op>,
    down: Vec<Op>,
    local: Vec<Op>,
}

fn cases() -> impl Strategy<Value = Case> {
    (ops(6), ops(8), ops(4), ops(8)).prop_map(|(base, up, down, local)| Case {
        base,
        up,
        down,
        local,
    })
}

/// The template repository (base fixture, plan `p`, lanes `up` and `down` after it),
/// copied to the same path for every case so linked worktrees stay valid.
struct World {
    env: TestEnv,
    work: PathBuf,
    template: PathBuf,
    repo: PathBuf,
    up: PathBuf,
    down: PathBuf,
}

impl World {
    fn new() -> World {
        let env = TestEnv::new();
        let work = env.path("w");
        let repo = work.join("repo");
        env.fixture("make_base.sh", &repo);
        env.wtc_json(&repo, &["init", "p"]);
        let up = env.add_lane(&repo, "up", &[]);
        let down = env.add_lane(&repo, "down", &["up"]);
        env.git(&repo, &["repack", "-adq"]);
        let template = env.path("template");
        cp(&work, &template);
        World {
            env,
            work,
            template,
            repo,
            up,
            down,
        }
    }

    /// A fresh copy of the template with `case` applied, up to the final sync.
    fn prepare(&self, case: &Case) {
        std::fs::remove_dir_all(&self.work).expect("rm the work dir");
        cp(&self.template, &self.work);
        let env = &self.env;
        apply(env, &self.up, &case.base);
        env.wtc_json(&self.up, &["save", "-m", "random base"]);
        env.wtc_json(&self.down, &["sync"]);
        apply(env, &self.up, &case.up);
        env.wtc_json(&self.up, &["done"]);
        apply(env, &self.down, &case.down);
        env.wtc_json(&self.down, &["save", "-m", "down's own work"]);
        apply(env, &self.down, &case.local);
    }

    /// `git merge-tree --write-tree A B`: the merged tree, or `None` on conflicts.
    fn git_merge(&self, a: &str, b: &str) -> Option<String> {
        let out = self
            .env
            .git_output(&self.repo, &["merge-tree", "--write-tree", a, b]);
        match code(&out) {
            0 => Some(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            ),
            1 => None,
            _ => panic!("git merge-tree failed\n{}", self.env.describe(&out)),
        }
    }

    /// The tree the sync should produce from `ours` (None: git sees conflicts).
    fn expected_tree(&self, ours: &str, theirs: &str) -> Option<String> {
        let env = &self.env;
        if env.is_ancestor(&self.repo, theirs, ours) {
            Some(env.tree(&self.repo, ours))
        } else if env.is_ancestor(&self.repo, ours, theirs) {
            Some(env.tree(&self.repo, theirs))
        } else {
            self.git_merge(ours, theirs)
        }
    }

    /// The one known divergence from git, in gix 0.90's merge: one side renames a file and
    /// changes its mode, the other edits it; git takes the changed mode, gix keeps the other
    /// side's. True when `expected` and `actual` differ only in modes, of paths that do not
    /// exist in `base` (rename targets).
    fn only_rename_modes_differ(&self, base: &str, expected: &str, actual: &str) -> bool {
        let env = &self.env;
        let in_base: BTreeSet<String> = env
            .git(&self.repo, &["ls-tree", "-r", "--name-only", base])
            .lines()
            .map(str::to_string)
            .collect();
        let diff = env.git(&self.repo, &["diff-tree", "-r", expected, actual]);
        diff.lines().all(|l| {
            let (meta, path) = l.split_once('\t').unwrap_or((l, ""));
            let f: Vec<&str> = meta.split(' ').collect();
            f.len() == 5 && f[2] == f[3] && f[0] != f[1] && !in_base.contains(path)
        })
    }

    /// HEAD's tree is git's merge `expected` of `ours` and `theirs` (or differs from it only
    /// as [`World::only_rename_modes_differ`] allows: then `Ok(true)`).
    fn is_git_merge(
        &self,
        ours: &str,
        theirs: &str,
        head: &str,
        expected: Option<String>,
        what: &str,
    ) -> Result<bool, TestCaseError> {
        let env = &self.env;
        let Some(expected) = expected else {
            return Err(TestCaseError::fail(format!(
                "git conflicts, wtc merged\n{what}"
            )));
        };
        let actual = env.tree(&self.repo, head);
        if actual == expected {
            return Ok(false);
        }
        let base = env.git(&self.repo, &["merge-base", ours, theirs]);
        prop_assert!(
            self.only_rename_modes_differ(base.trim(), &expected, &actual),
            "HEAD's tree is not git's merge\n{}",
            what
        );
        Ok(true)
    }

    fn sync(&self, args: &[&str]) -> (i32, Value, std::process::Output) {
        let mut all = vec!["--json", "sync"];
        all.extend_from_slice(args);
        // A valid cache-tree in the index, as a plain `git commit` leaves it: the sync must
        // leave it sound (only the nodes it could keep valid still marked so).
        let _ = self.env.git_output(&self.down, &["write-tree"]);
        let out = self.env.wtc(&self.down, &all);
        assert!(!crashed(&out), "{}", self.env.describe(&out));
        self.env.assert_cache_tree_sound(&self.down);
        let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (code(&out), doc, out)
    }
}

fn cp(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp runs");
    assert!(st.success(), "cp -a");
}

fn bump(counter: &std::cell::Cell<usize>) {
    counter.set(counter.get() + 1);
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases_count(),
        max_shrink_iters: 24,
        failure_persistence: None,
        rng_seed: crate::env::proptest_seed(),
        ..Config::default()
    })
}

/// Paths `git status` lists (untracked files one by one).
fn status_paths(env: &TestEnv, wt: &Path) -> BTreeSet<String> {
    env.status(wt)
        .lines()
        .map(|l| l[3..].trim_matches('"').to_string())
        .collect()
}

#[test]
fn sync_with_autosave_keeps_every_byte_and_merges_like_git() {
    let w = World::new();
    // Clean merges, conflicts, fast-forwards or up to date, gix's rename-mode divergence.
    let stats: [std::cell::Cell<usize>; 4] = Default::default();
    runner()
        .run(&cases(), |case| {
            w.prepare(&case);
            let env = &w.env;
            let user = capture(env, &w.repo, &[&w.down]);
            let before = env.rev(&w.down, "HEAD");
            let up_tip = env.rev(&w.repo, "refs/heads/wtc/p/up");
            let edited = status_paths(env, &w.down);
            let (code, doc, out) = w.sync(&[]);
            let what = format!("{case:#?}\n{}", env.describe(&out));
            assert_no_byte_lost(env, &w.repo, &user, &what);
            prop_assert!(code == 0 || code == 3, "{}", what);
            let ours = doc["autosaved"]
                .as_str()
                .map_or(before.clone(), str::to_string);
            let expected = w.expected_tree(&ours, &up_tip);
            if code == 0 {
                let now = status_paths(env, &w.down);
                prop_assert!(
                    now.is_subset(&edited),
                    "paths changed that the user never touched: {:?}\n{}",
                    now.difference(&edited).collect::<Vec<_>>(),
                    what
                );
                let head = env.rev(&w.down, "HEAD");
                prop_assert!(env.is_ancestor(&w.repo, &up_tip, &head), "{}", what);
                if w.is_git_merge(&ours, &up_tip, &head, expected, &what)? {
                    bump(&stats[3]);
                }
                bump(&stats[if doc["result"] == "merged" { 0 } else { 2 }]);
            } else {
                prop_assert!(expected.is_none(), "wtc conflicts, git merges\n{}", what);
                prop_assert_eq!(env.rev(&w.down, "MERGE_HEAD"), up_tip, "{}", what);
                bump(&stats[1]);
            }
            env.git(&w.down, &["status"]);
            Ok(())
        })
        .expect("sync with autosave");
    tally!(
        "props: sync (autosave): {} cases checked ({} merged like git, {} conflicted like git, {} fast-forward/up to date; {} differ from git only in the mode of a renamed file)",
        cases_count(),
        stats[0].get(),
        stats[1].get(),
        stats[2].get(),
        stats[3].get()
    );
}

/// Everything `--no-autosave` must leave alone when it refuses.
fn state(env: &TestEnv, wt: &Path) -> String {
    let mut s = env.rev(wt, "HEAD");
    s += &env.git(wt, &["ls-files", "-s"]);
    for f in walk_files(wt) {
        let mode = std::fs::symlink_metadata(&f).map_or(0, |m| m.permissions().mode());
        s += &format!("{} {mode:o} {:?}\n", f.display(), disk_bytes(&f));
    }
    s
}

#[test]
fn sync_without_autosave_refuses_or_carries_local_edits() {
    let w = World::new();
    let stats: [std::cell::Cell<usize>; 3] = Default::default(); // refused, carried across cleanly, carried across with conflicts
    runner()
        .run(&cases(), |case| {
            w.prepare(&case);
            let env = &w.env;
            let before_state = state(env, &w.down);
            let before = env.rev(&w.down, "HEAD");
            let up_tip = env.rev(&w.repo, "refs/heads/wtc/p/up");
            let edited = status_paths(env, &w.down);
            let local: Vec<(PathBuf, Option<Vec<u8>>)> = walk_files(&w.down)
                .into_iter()
                .filter(|p| {
                    let rel = p.strip_prefix(&w.down).expect("under down");
                    edited.contains(&rel.display().to_string())
                })
                .map(|p| {
                    let bytes = disk_bytes(&p);
                    (p, bytes)
                })
                .collect();
            let (code, _doc, out) = w.sync(&["--no-autosave"]);
            let what = format!("{case:#?}\n{}", env.describe(&out));
            if code != 0 && code != 3 {
                prop_assert_eq!(code, 1, "{}", what);
                prop_assert_eq!(
                    state(env, &w.down),
                    before_state,
                    "a refusal changed something\n{}",
                    what
                );
                bump(&stats[0]);
                return Ok(());
            }
            for (path, bytes) in &local {
                prop_assert_eq!(
                    &disk_bytes(path),
                    bytes,
                    "a local edit was touched\n{}",
                    what
                );
            }
            let expected = w.expected_tree(&before, &up_tip);
            if code == 0 {
                let head = env.rev(&w.down, "HEAD");
                w.is_git_merge(&before, &up_tip, &head, expected, &what)?;
                let now = status_paths(env, &w.down);
                prop_assert!(
                    now.is_subset(&edited),
                    "paths changed that the user never touched: {:?}\n{}",
                    now.difference(&edited).collect::<Vec<_>>(),
                    what
                );
                bump(&stats[1]);
            } else {
                prop_assert!(expected.is_none(), "wtc conflicts, git merges\n{}", what);
                bump(&stats[2]);
            }
            env.git(&w.down, &["status"]);
            Ok(())
        })
        .expect("sync --no-autosave");
    tally!(
        "props: sync --no-autosave: {} cases checked ({} refused with nothing changed, {} carried across, {} carried across into conflicts)",
        cases_count(),
        stats[0].get(),
        stats[1].get(),
        stats[2].get()
    );
}
