//! Acceptance 4 (issue 2): `wtc squash` merges exactly like git.
//!
//! `fixtures/make_squash_histories.sh` builds lane histories (renames, deletes,
//! executable bits, symlinks, binary files, criss-cross merges) and records git's answer.
//! The test turns each `fx/<lane>` branch into a lane (`wtc add --from`), hands every lane
//! off, moves the target underneath them, squashes, and compares the integration tree
//! with a chain of `git merge-tree --write-tree` folding the same lane tips, in the same
//! order (topological, then name), onto the same target tip.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::env::{s, TestEnv};

const PLAN: &str = "fx";

struct Lane {
    name: String,
    after: Vec<String>,
}

/// Lanes in fold order: Kahn's algorithm, always taking the smallest ready name.
fn fold_order(lanes: &[Lane]) -> Vec<&Lane> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < lanes.len() {
        let next = lanes
            .iter()
            .filter(|l| !done.contains(l.name.as_str()))
            .filter(|l| l.after.iter().all(|a| done.contains(a.as_str())))
            .min_by(|a, b| a.name.cmp(&b.name))
            .expect("the fixture's lanes form a DAG");
        done.insert(&next.name);
        order.push(next);
    }
    order
}

/// git's answer: fold `tips` onto `target` with `git merge-tree --write-tree`, one
/// two-parent commit per step (so later merge bases see earlier lanes). `None` on conflict.
fn git_fold(env: &TestEnv, repo: &Path, target: &str, tips: &[(String, String)]) -> Option<String> {
    let mut acc = target.to_string();
    for (name, tip) in tips {
        let out = env.git_output(
            repo,
            &["merge-tree", "--write-tree", "--no-messages", &acc, tip],
        );
        match out.status.code() {
            Some(0) => {}
            Some(1) => return None,
            _ => panic!("git merge-tree failed\n{}", env.describe(&out)),
        }
        let stdout = String::from_utf8(out.stdout).expect("hex");
        let tree = stdout.lines().next().expect("a tree line");
        acc = env
            .git(
                repo,
                &[
                    "commit-tree",
                    tree,
                    "-p",
                    &acc,
                    "-p",
                    tip,
                    "-m",
                    &format!("fold {name}"),
                ],
            )
            .trim()
            .to_string();
    }
    Some(env.tree(repo, &acc))
}

fn compare_with_git(scenario: &str) {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture_args(
        "make_squash_histories.sh",
        &[repo.to_str().expect("UTF-8"), scenario],
    );
    let meta = repo.join(".git/fixture");
    let lanes: Vec<Lane> = env
        .read(&meta.join("lanes"))
        .lines()
        .map(|line| {
            let mut words = line.split_whitespace().map(str::to_string);
            let name = words.next().expect("a lane name");
            Lane {
                name,
                after: words.collect(),
            }
        })
        .collect();
    let baseline = env.read(&meta.join("baseline")).trim().to_string();

    env.wtc_json(&repo, &["init", PLAN]);
    let mut worktrees = BTreeMap::new();
    for lane in fold_order(&lanes) {
        let from = format!("fx/{}", lane.name);
        let mut args = vec!["add", lane.name.as_str(), "--from", from.as_str()];
        for a in &lane.after {
            args.extend_from_slice(&["--after", a]);
        }
        let add = env.wtc_json(&repo, &args);
        let wt = std::path::PathBuf::from(s(&add["worktree"]));
        assert_eq!(env.rev(&wt, "HEAD"), env.rev(&repo, &from), "--from {from}");
        // The checkout is faithful: git sees no change (modes, symlinks, binaries).
        env.assert_clean(&wt, &format!("fresh worktree of {}", lane.name));
        worktrees.insert(lane.name.clone(), wt);
    }

    // The target moves underneath the lanes.
    env.git(&repo, &["merge", "-q", "--ff-only", "fx/target"]);

    for (name, wt) in &worktrees {
        let done = env.wtc_json(wt, &["done"]);
        let tip = s(&done["commit"]).to_string();
        let from = format!("fx/{name}");
        assert_eq!(
            env.tree(&repo, &tip),
            env.tree(&repo, &from),
            "`done` on a clean checkout of {from} must not change the tree:\n{}",
            env.git(&repo, &["diff-tree", "-r", &from, &tip])
        );
        assert_eq!(
            env.rev(&repo, &format!("{tip}^")),
            env.rev(&repo, &from),
            "done's parent"
        );
    }

    let target = env.rev(&repo, "main");
    let tips: Vec<(String, String)> = fold_order(&lanes)
        .iter()
        .map(|l| {
            (
                l.name.clone(),
                env.rev(&repo, &format!("refs/heads/wtc/{PLAN}/{}", l.name)),
            )
        })
        .collect();
    let expected = git_fold(&env, &repo, &target, &tips);
    assert_eq!(
        expected.as_deref().unwrap_or("conflict"),
        baseline,
        "folding the done tips agrees with the fixture's fold of fx/* (same trees, same bases)"
    );

    let before = env.snapshot(&repo);
    let dry = env.wtc(&repo, &["squash", "--dry-run"]);
    env.assert_code(
        &dry,
        if expected.is_some() { 0 } else { 3 },
        "wtc squash --dry-run",
    );
    assert_eq!(env.snapshot(&repo), before, "--dry-run writes no ref");

    let (code, squash) = env.wtc_json_code(&repo, &["squash"]);
    let Some(expected) = expected else {
        assert_eq!(code, 3, "git conflicts, so must wtc: {squash}");
        assert_eq!(
            env.snapshot(&repo),
            before,
            "a conflicting squash writes no ref"
        );
        env.assert_clean(&repo, "main worktree after the refused squash");
        return;
    };
    assert_eq!(code, 0, "git merges cleanly, so must wtc: {squash}");
    let commit = s(&squash["commit"]).to_string();
    assert_eq!(squash["parent"], target.as_str(), "{squash}");
    let order: Vec<&str> = squash["lanes"]
        .as_array()
        .expect("lanes")
        .iter()
        .map(|l| s(&l["name"]))
        .collect();
    let actual = env.tree(&repo, &commit);
    assert_eq!(
        actual,
        expected,
        "the integration tree differs from git's (lanes folded by wtc in order {order:?}):\n{}",
        env.git(&repo, &["diff-tree", "-r", &expected, &actual])
    );
    assert_eq!(env.rev(&repo, "main"), commit);
    assert_eq!(
        env.rev(&repo, "main^"),
        target,
        "one commit on top of the moved target"
    );
    // The clean main worktree now matches the integration commit exactly (git checks
    // file modes, symlinks and contents).
    env.assert_clean(&repo, "main worktree after squash");
    assert_eq!(env.tree(&repo, "HEAD"), expected);
    env.assert_fsck(&repo);
}

#[test]
fn renames_and_deletes() {
    compare_with_git("renames");
}

#[test]
fn executable_bits_symlinks_and_binaries() {
    compare_with_git("modes");
}

#[test]
fn criss_cross_merges() {
    compare_with_git("criss-cross");
}

/// Issue 10, case 4, as plain git histories: a criss-cross history git calls a conflict (c
/// and d resolved the same line differently) conflicts for wtc too (the workflow version,
/// `criss_cross_lanes_give_gits_verdict`, is the one the old fold got wrong).
#[test]
fn criss_cross_resolved_differently_conflicts_like_git() {
    compare_with_git("criss-cross-conflict");
}

/// Regression (issue 10, case 8): a directory renamed on one lane while another adds a
/// file in it is a conflict for git (file location), and must be for wtc.
#[test]
fn directory_rename_with_an_added_file_conflicts_like_git() {
    compare_with_git("dir-rename");
}

/// modify/delete: git conflicts, and so does wtc, writing nothing.
#[test]
fn modify_delete_conflicts_like_git() {
    compare_with_git("conflict");
}

/// git's verdict for wtc's fold, chained exactly like wtc folds: fast-forward while
/// possible, skip tips already contained, then `git merge-tree --write-tree` with one
/// two-parent commit per step. `None` on conflict, else the tree.
fn git_fold_like_wtc(env: &TestEnv, repo: &Path, start: &str, tips: &[String]) -> Option<String> {
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
        let tree = tree.lines().next().expect("a tree line").to_string();
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

/// Regression (issue 10, case 4), built the way agents build it: lanes a; b after a; c
/// after a; d after b and c. d's sync conflicts on the line b and c both changed and
/// resolves it with c's version; then c goes back to a's. git's fold finds two merge bases
/// for d's step and a conflict; wtc squashed it silently (exit 0), dropping c's last
/// change. Now squash and sync give git's verdict.
#[test]
fn criss_cross_lanes_give_gits_verdict() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    let c = env.add_lane(&repo, "c", &["a"]);
    let d = env.add_lane(&repo, "d", &["b", "c"]);
    let config = "src/config.ts";
    let set = |wt: &Path, v: &str| {
        let text = env.read(&wt.join(config));
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines[1] = format!("  retries: {v},");
        env.write(&wt.join(config), lines.join("\n") + "\n");
    };
    set(&a, "1");
    env.wtc_json(&a, &["done", "-m", "a: retries 1"]);
    env.wtc_json(&b, &["sync"]);
    set(&b, "2");
    env.wtc_json(&b, &["done", "-m", "b: retries 2"]);
    env.wtc_json(&c, &["sync"]);
    set(&c, "3");
    env.wtc_json(&c, &["save", "-m", "c: retries 3"]);
    let (code, _) = env.wtc_json_code(&d, &["sync"]);
    assert_eq!(code, 3, "d's sync: b and c changed the same line");
    set(&d, "3");
    env.git(&d, &["add", config]);
    env.wtc_json(&d, &["save", "-m", "d: keep c's retries"]);
    set(&c, "1");
    env.wtc_json(&c, &["done", "-m", "c: back to a's retries"]);
    env.wtc_json(&d, &["done"]);

    let lane = |l: &str| env.rev(&repo, &format!("refs/heads/wtc/p/{l}"));
    let tips: Vec<String> = ["a", "b", "c", "d"].iter().map(|l| lane(l)).collect();
    let main = env.rev(&repo, "main");
    let expected = git_fold_like_wtc(&env, &repo, &main, &tips);
    assert!(
        expected.is_none(),
        "git's fold conflicts here (two merge bases for d)"
    );
    let before = env.snapshot(&repo);
    let (code, doc) = env.wtc_json_code(&repo, &["squash"]);
    assert_eq!(code, 3, "git conflicts, so must wtc: {doc}");
    assert_eq!(
        env.snapshot(&repo),
        before,
        "a conflicting squash writes nothing"
    );

    // The same fold in a lane after c and d: sync gives the same verdict.
    let e = env.add_lane(&repo, "e", &["c", "d"]);
    let start = env.rev(&e, "HEAD");
    assert!(git_fold_like_wtc(&env, &repo, &start, &tips).is_none());
    let (code, doc) = env.wtc_json_code(&e, &["sync", "--dry-run"]);
    assert_eq!(code, 3, "sync --dry-run gives git's verdict: {doc}");
}

/// Regression (issue 10, case 8) for sync: a lane after one that renamed a directory and
/// one that added a file in it gets git's "file location" conflict: exit 3, the file at
/// git's suggested place with one index stage, so `git status` shows it unmerged.
#[test]
fn directory_rename_sync_conflicts_like_git() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let add = env.add_lane(&repo, "add", &[]);
    let ren = env.add_lane(&repo, "ren", &[]);
    let down = env.add_lane(&repo, "down", &["add", "ren"]);
    env.write(&add.join("notes/added.txt"), "added in notes/\n");
    env.wtc_json(&add, &["done"]);
    env.git(&ren, &["mv", "notes", "docs"]);
    env.wtc_json(&ren, &["done"]);
    let tips: Vec<String> = ["add", "ren"]
        .iter()
        .map(|l| env.rev(&repo, &format!("refs/heads/wtc/p/{l}")))
        .collect();
    let start = env.rev(&down, "HEAD");
    assert!(
        git_fold_like_wtc(&env, &repo, &start, &tips).is_none(),
        "git: CONFLICT (file location)"
    );
    let (code, doc) = env.wtc_json_code(&down, &["sync"]);
    assert_eq!(code, 3, "{doc}");
    let unmerged = env.git(&down, &["diff", "--name-only", "--diff-filter=U"]);
    assert!(
        unmerged
            .lines()
            .any(|l| l == "docs/added.txt" || l == "notes/added.txt"),
        "the moved file is unmerged in the index: {unmerged:?} {doc}"
    );
    assert!(env.rev_exists(&down, "MERGE_HEAD"));
}
