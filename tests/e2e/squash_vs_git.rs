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

/// modify/delete: git conflicts, and so does wtc, writing nothing.
#[test]
fn modify_delete_conflicts_like_git() {
    compare_with_git("conflict");
}
