//! Issue 10, cases 4 and 8, generated: wtc's fold gives git's verdict (conflict or not) and
//! git's tree on random lane histories full of criss-cross merges and directory renames.
//!
//! Each case builds lanes with real git: random line edits (from a small alphabet, so sides
//! collide), merges of one lane into another (both ways over time: criss-crosses; a
//! conflicting merge is resolved with one side's file), directory renames and files added
//! inside directories. Then the lane tips are folded onto the base twice: by wtc's fold
//! (the library's `ops::merge::fold`, in memory) and by a chain of `git merge-tree
//! --write-tree` in the same order with the same fast-forward rule. Both must conflict, or
//! both must give the same tree.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::env::TestEnv;

const LANES: usize = 3;
const DIRS: [&str; 3] = ["alpha", "beta", "gamma"];

#[derive(Debug, Clone)]
enum Step {
    /// Set line `line` of `DIRS[dir]/f<file>.txt` on lane `lane` to one of a few values.
    Edit {
        lane: usize,
        dir: usize,
        file: usize,
        line: usize,
        value: u8,
    },
    /// Merge lane `from` into lane `into` (conflicts resolved with `into`'s side).
    Merge { into: usize, from: usize },
    /// Rename directory `DIRS[dir]` on lane `lane` (to `<dir>-<n>`), if it is there.
    RenameDir { lane: usize, dir: usize, n: u8 },
    /// Add a file in `DIRS[dir]` on lane `lane`.
    AddFile { lane: usize, dir: usize, n: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..LANES, 0..DIRS.len(), 0..2usize, 0..4usize, 0..3u8).prop_map(
            |(lane, dir, file, line, value)| Step::Edit { lane, dir, file, line, value }
        ),
        5 => (0..LANES, 0..LANES).prop_map(|(into, from)| Step::Merge { into, from }),
        1 => (0..LANES, 0..DIRS.len(), 0..3u8).prop_map(|(lane, dir, n)| Step::RenameDir { lane, dir, n }),
        1 => (0..LANES, 0..DIRS.len(), 0..3u8).prop_map(|(lane, dir, n)| Step::AddFile { lane, dir, n }),
    ]
}

fn lane(i: usize) -> String {
    format!("l{i}")
}

/// Apply `steps` in `repo` (a worktree on branch `l0`), one lane branch per lane.
fn build(env: &TestEnv, repo: &Path, steps: &[Step]) {
    for (k, s) in steps.iter().enumerate() {
        match s {
            Step::Edit {
                lane: l,
                dir,
                file,
                line,
                value,
            } => {
                env.git(repo, &["checkout", "-q", &lane(*l)]);
                let path = repo.join(DIRS[*dir]).join(format!("f{file}.txt"));
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue; // renamed away on this lane
                };
                let mut lines: Vec<String> = text.lines().map(String::from).collect();
                lines[*line] = format!("v{value}");
                env.write(&path, lines.join("\n") + "\n");
                env.git(
                    repo,
                    &["commit", "-q", "--allow-empty", "-am", &format!("step {k}")],
                );
            }
            Step::Merge { into, from } if into != from => {
                env.git(repo, &["checkout", "-q", &lane(*into)]);
                let out = env.git_output(repo, &["merge", "-q", "--no-edit", &lane(*from)]);
                if !out.status.success() {
                    // Resolve every conflict with this lane's side, keeping both sides' adds.
                    let _ = env.git_output(repo, &["checkout", "--ours", "--", "."]);
                    env.git(repo, &["add", "-A"]);
                    let _ = env.git_output(repo, &["commit", "-q", "--no-edit"]);
                    if env
                        .git_output(repo, &["rev-parse", "-q", "--verify", "MERGE_HEAD"])
                        .status
                        .success()
                    {
                        let _ = env.git_output(repo, &["merge", "--abort"]);
                    }
                }
            }
            Step::Merge { .. } => {}
            Step::RenameDir { lane: l, dir, n } => {
                env.git(repo, &["checkout", "-q", &lane(*l)]);
                let from = DIRS[*dir];
                if repo.join(from).is_dir() {
                    let to = format!("{from}-{n}");
                    if !repo.join(&to).exists() {
                        env.git(repo, &["mv", from, &to]);
                        env.git(
                            repo,
                            &["commit", "-qm", &format!("step {k}: rename {from}")],
                        );
                    }
                }
            }
            Step::AddFile { lane: l, dir, n } => {
                env.git(repo, &["checkout", "-q", &lane(*l)]);
                let d = repo.join(DIRS[*dir]);
                if d.is_dir() {
                    env.write(
                        &d.join(format!("new{k}-{n}.txt")),
                        format!("added at step {k}\n"),
                    );
                    env.git(repo, &["add", "-A"]);
                    env.git(repo, &["commit", "-qm", &format!("step {k}: add")]);
                }
            }
        }
    }
}

/// git's fold in wtc's order and fast-forward rule; `None` on conflict.
fn git_fold(env: &TestEnv, repo: &Path, start: &str, tips: &[String]) -> Option<String> {
    let mut acc = start.to_string();
    let mut ff = true;
    for tip in tips {
        if env.is_ancestor(repo, tip, &acc) {
            continue;
        }
        if ff && env.is_ancestor(repo, &acc, tip) {
            acc = tip.clone();
            continue;
        }
        ff = false;
        let out = env.git_output(
            repo,
            &["merge-tree", "--write-tree", "--no-messages", &acc, tip],
        );
        match out.status.code() {
            Some(0) => {}
            Some(1) => return None,
            _ => panic!("git merge-tree failed\n{}", env.describe(&out)),
        }
        let tree = String::from_utf8(out.stdout).expect("hex");
        let tree = tree.lines().next().expect("a tree").to_string();
        acc = env
            .git(
                repo,
                &["commit-tree", &tree, "-p", &acc, "-p", tip, "-m", "fold"],
            )
            .trim()
            .to_string();
    }
    Some(env.tree(repo, &acc))
}

/// wtc's fold through the library, in memory; `None` on conflict.
fn wtc_fold(repo: &Path, start: &str, tips: &[String]) -> Option<String> {
    let real = crate::hermetic::open(repo);
    let mem = wtc::ops::merge::memory_repo(&real);
    let id = |s: &str| gix::ObjectId::from_hex(s.as_bytes()).expect("hex");
    let tips: Vec<wtc::ops::merge::Tip> = tips
        .iter()
        .enumerate()
        .map(|(i, t)| wtc::ops::merge::Tip {
            lane: lane(i),
            commit: id(t),
        })
        .collect();
    match wtc::ops::merge::fold(&mem, id(start), &tips, "target").expect("the fold runs") {
        wtc::ops::merge::Folded::Clean { tree, .. } => Some(tree.to_string()),
        wtc::ops::merge::Folded::Conflict { .. } => None,
    }
}

#[test]
fn folds_of_criss_cross_and_renamed_histories_agree_with_git() {
    let mut runner = TestRunner::new(Config {
        cases: std::env::var("WTC_PROPS_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(24),
        max_shrink_iters: 16,
        failure_persistence: None,
        rng_seed: crate::env::proptest_seed(),
        ..Config::default()
    });
    use std::cell::Cell;
    let (conflicts, clean, criss) = (Cell::new(0), Cell::new(0), Cell::new(0));
    runner
        .run(&proptest::collection::vec(step(), 10..30), |steps| {
            let env = TestEnv::new();
            let repo = env.path("repo");
            env.git(
                env.root(),
                &["init", "-q", "-b", "main", repo.to_str().expect("UTF-8")],
            );
            // Distinct contents: with identical files, which source a rename pairs with is
            // a tie git and gix break differently (left alone, see README "Works with").
            for d in DIRS {
                for f in 0..2 {
                    env.write(
                        &repo.join(d).join(format!("f{f}.txt")),
                        format!("{d} {f} one\n{d} {f} two\n{d} {f} three\n{d} {f} four\n"),
                    );
                }
            }
            env.git(&repo, &["add", "-A"]);
            env.git(&repo, &["commit", "-qm", "base"]);
            let base = env.rev(&repo, "HEAD");
            for i in 0..LANES {
                env.git(&repo, &["branch", &lane(i)]);
            }
            build(&env, &repo, &steps);
            let tips: Vec<String> = (0..LANES).map(|i| env.rev(&repo, &lane(i))).collect();
            for i in 0..LANES {
                for j in 0..LANES {
                    if i < j {
                        let bases = env.git(&repo, &["merge-base", "--all", &tips[i], &tips[j]]);
                        if bases.lines().count() > 1 {
                            criss.set(criss.get() + 1);
                        }
                    }
                }
            }
            let want = git_fold(&env, &repo, &base, &tips);
            let got = wtc_fold(&repo, &base, &tips);
            match &want {
                Some(_) => clean.set(clean.get() + 1),
                None => conflicts.set(conflicts.get() + 1),
            }
            prop_assert_eq!(
                got,
                want,
                "wtc's fold differs from git's for steps {:?}",
                steps
            );
            Ok(())
        })
        .expect("every generated history folds like git");
    tally!(
        "merge props: {} clean folds, {} conflicting, {} criss-cross pairs, all like git",
        clean.get(),
        conflicts.get(),
        criss.get()
    );
}

/// Paths lanes touch in [`folds_of_lanes_with_mostly_disjoint_changes_agree_with_git`]: some
/// are files where others are directories (`p` and `p/q`), so a shortcut that only compared
/// path strings would merge what git calls a file/directory conflict.
const SHAPES: [&str; 9] = [
    "p",
    "p/q",
    "p/r",
    "s/t",
    "s",
    "u/v/w",
    "u/v",
    "base/a.txt",
    "base/b.txt",
];

/// One lane's change in the disjoint-fold property: write `SHAPES[path]` (as a file, or
/// executable), or delete it.
#[derive(Debug, Clone)]
struct Touch {
    lane: usize,
    path: usize,
    value: u8,
    delete: bool,
}

/// Lanes that mostly add or modify different paths (the case the fold merges without the
/// merge machinery), sometimes the same one, a file where another has a directory, or a
/// deletion: wtc's fold gives git's verdict and git's tree in every case.
#[test]
fn folds_of_lanes_with_mostly_disjoint_changes_agree_with_git() {
    const N: usize = 4;
    let mut runner = TestRunner::new(Config {
        cases: std::env::var("WTC_PROPS_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(24),
        max_shrink_iters: 16,
        failure_persistence: None,
        rng_seed: crate::env::proptest_seed(),
        ..Config::default()
    });
    let touch = (
        0..N,
        0..SHAPES.len(),
        0u8..4,
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(lane, path, value, delete)| Touch {
            lane,
            path,
            value,
            delete,
        });
    use std::cell::Cell;
    let (conflicts, clean) = (Cell::new(0), Cell::new(0));
    runner
        .run(&proptest::collection::vec(touch, 1..8), |touches| {
            let env = TestEnv::new();
            let repo = env.path("repo");
            env.git(
                env.root(),
                &["init", "-q", "-b", "main", repo.to_str().expect("UTF-8")],
            );
            env.write(&repo.join("base/a.txt"), "a\n");
            env.write(&repo.join("base/b.txt"), "b\n");
            env.git(&repo, &["add", "-A"]);
            env.git(&repo, &["commit", "-qm", "base"]);
            let base = env.rev(&repo, "HEAD");
            let mut tips = Vec::new();
            for i in 0..N {
                env.git(&repo, &["checkout", "-q", "-B", &lane(i), &base]);
                for t in touches.iter().filter(|t| t.lane == i) {
                    let rel = SHAPES[t.path];
                    let abs = repo.join(rel);
                    // Clear whatever stands in the way (a file where a directory goes, or
                    // the reverse), as a developer would with git rm.
                    let _ = env.git_output(&repo, &["rm", "-rqf", "--ignore-unmatch", rel]);
                    let mut dir = Path::new(rel).parent();
                    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
                        if repo.join(d).is_file() {
                            env.git(&repo, &["rm", "-qf", d.to_str().expect("UTF-8")]);
                        }
                        dir = d.parent();
                    }
                    if !t.delete {
                        env.write(&abs, format!("{rel} lane {i} value {}\n", t.value));
                        if t.value == 3 {
                            use std::os::unix::fs::PermissionsExt;
                            let x = std::fs::Permissions::from_mode(0o755);
                            std::fs::set_permissions(&abs, x).expect("chmod");
                        }
                    }
                    env.git(&repo, &["add", "-A"]);
                    env.git(&repo, &["commit", "-qm", "touch", "--allow-empty"]);
                }
                tips.push(env.rev(&repo, "HEAD"));
            }
            let want = git_fold(&env, &repo, &base, &tips);
            let got = wtc_fold(&repo, &base, &tips);
            match &want {
                Some(_) => clean.set(clean.get() + 1),
                None => conflicts.set(conflicts.get() + 1),
            }
            prop_assert_eq!(got, want, "wtc's fold differs from git's for {:?}", touches);
            Ok(())
        })
        .expect("every generated set of lanes folds like git");
    tally!(
        "disjoint fold props: {} clean folds, {} conflicting, all like git",
        clean.get(),
        conflicts.get()
    );
}
