//! Issue 10, cases 7 and 10: a git operation in progress in a lane worktree (a merge that is
//! not wtc's own, cherry-pick, revert, rebase, am, bisect) makes `save`, `sync` and `watch`
//! refuse with a message naming it and how to finish or abort it, writing nothing; a lane
//! worktree with a detached HEAD or a rebase in progress is told what is going on.

use std::path::Path;

use crate::env::{code, stderr, TestEnv};
use crate::watch::Streaming;

/// A lane `down` (after `up`) whose worktree is in the middle of `op`, with `up` ahead so a
/// sync would have work to do. Returns (env, repo, up, down).
fn lane_in(
    op: &str,
) -> (
    TestEnv,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let up = env.add_lane(&repo, "up", &[]);
    let down = env.add_lane(&repo, "down", &["up"]);
    env.write(&up.join("up.txt"), "up's work\n");
    env.wtc_json(&up, &["done"]);
    // A side branch that conflicts with down's own change of README.md.
    env.git(&down, &["checkout", "-q", "-b", "side"]);
    env.write(&down.join("README.md"), "side's readme\n");
    env.git(&down, &["commit", "-qam", "side: readme"]);
    env.git(&down, &["checkout", "-q", "wtc/p/down"]);
    env.write(&down.join("README.md"), "down's readme\n");
    env.git(&down, &["commit", "-qam", "down: readme"]);
    let fails = |args: &[&str]| {
        let out = env.git_output(&down, args);
        assert!(
            !out.status.success(),
            "git {args:?} was meant to stop half-way"
        );
    };
    match op {
        "merge" => fails(&["merge", "-q", "side"]),
        "cherry-pick" => fails(&["cherry-pick", "side"]),
        "revert" => {
            env.write(&down.join("README.md"), "down again\n");
            env.git(&down, &["commit", "-qam", "down: again"]);
            fails(&["revert", "--no-edit", "HEAD~1"]);
        }
        "rebase" => fails(&["rebase", "-q", "side"]),
        "am" => {
            let patch = env.git(&down, &["format-patch", "-1", "--stdout", "side"]);
            let file = env.path("side.patch");
            env.write(&file, patch);
            fails(&["am", "-q", file.to_str().expect("UTF-8")]);
        }
        "bisect" => {
            env.git(&down, &["bisect", "start", "HEAD", "HEAD~1"]);
        }
        other => panic!("unknown operation {other}"),
    }
    (env, repo, up, down)
}

fn state(env: &TestEnv, repo: &Path, down: &Path) -> String {
    format!(
        "{}\n{}\n{}",
        env.snapshot(repo),
        env.git(down, &["status", "--porcelain=v2", "--branch"]),
        env.git(down, &["rev-parse", "HEAD"])
    )
}

#[test]
fn save_and_sync_refuse_an_operation_in_progress() {
    let ops = [
        ("merge", "git merge --abort"),
        ("cherry-pick", "git cherry-pick --abort"),
        ("revert", "git revert --abort"),
        ("rebase", "git rebase --abort"),
        ("am", "git am --abort"),
        ("bisect", "git bisect reset"),
    ];
    for (op, fix) in ops {
        let (env, repo, _up, down) = lane_in(op);
        let before = state(&env, &repo, &down);
        for args in [
            &["save"][..],
            &["sync"][..],
            &["sync", "--no-autosave"][..],
            &["done"][..],
        ] {
            // During a rebase or am HEAD is detached: that is what the lane is told.
            let out = env.wtc(&down, args);
            let what = format!("{op}: wtc {}", args.join(" "));
            assert_eq!(code(&out), 1, "{what}\n{}", env.describe(&out));
            let err = stderr(&out);
            let named = match op {
                "am" => "git am",
                other => other,
            };
            assert!(
                err.contains(named) && err.contains(fix),
                "{what}: the message names the operation and how to finish it\n{err}"
            );
            assert_eq!(state(&env, &repo, &down), before, "{what}: nothing written");
        }
    }
    tally!("in-progress: 6 operations x 4 commands refused, nothing written");
}

#[test]
fn watch_holds_a_lane_with_an_operation_in_progress() {
    let (env, _repo, _up, down) = lane_in("cherry-pick");
    let mut w = Streaming::start(&env, &down, &["watch"]);
    w.started();
    let held = w.wait_for(0, "a held event", |v| v["event"] == "held");
    let message = held["message"].as_str().unwrap_or_default().to_string();
    let hint = held["hint"].as_str().unwrap_or_default().to_string();
    assert!(
        message.contains("cherry-pick") && hint.contains("git cherry-pick --abort"),
        "{held}"
    );
    let (code, _, _) = w.stop("-INT");
    assert_eq!(code, 130);
    assert!(crate::watch::git_dir(&env, &down)
        .join("CHERRY_PICK_HEAD")
        .exists());
}

#[test]
fn a_detached_lane_worktree_is_told_what_is_going_on() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let lane = env.add_lane(&repo, "a", &[]);
    env.git(&lane, &["checkout", "-q", "--detach"]);
    for args in [&["save"][..], &["sync"][..]] {
        let out = env.wtc(&lane, args);
        assert_eq!(code(&out), 1);
        let err = stderr(&out);
        assert!(
            err.contains("detached") && err.contains("git switch wtc/p/"),
            "wtc {args:?}: {err}"
        );
    }
}
