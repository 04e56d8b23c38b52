//! `squash --verify CMD --bisect / --skip-failing` (issue 12, item 9): the lanes whose work
//! makes CMD fail are named (1-minimal, respecting the DAG), the runs and the failing run's
//! log are reported, nothing is written; `--skip-failing` lands the others as ONE commit and
//! leaves the culprits in the plan for a later squash.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::env::{code, s, stderr, TestEnv};

/// Fails (printing the offending files) when any file of the tree says BROKEN.
const CHECK: &str = "if grep -rl BROKEN . ; then exit 1; fi";

/// A plan `p` with lanes a, b, c (after b), d, e, f (after c), each adding `<lane>.txt`
/// (c's says BROKEN) and done. Returns the main worktree and the lanes' worktrees.
fn plan_with_a_broken_lane(env: &TestEnv) -> (PathBuf, Vec<(String, PathBuf)>) {
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let mut lanes = Vec::new();
    for (lane, after) in [
        ("a", None),
        ("b", None),
        ("c", Some("b")),
        ("d", None),
        ("e", None),
        ("f", Some("c")),
    ] {
        let after: Vec<&str> = after.into_iter().collect();
        let wt = env.add_lane(&repo, lane, &after);
        if !after.is_empty() {
            env.wtc_json(&wt, &["sync"]);
        }
        let text = match lane {
            "c" => "c is BROKEN\n".to_string(),
            _ => format!("{lane} works\n"),
        };
        env.write(&wt.join(format!("{lane}.txt")), text);
        env.wtc_json(&wt, &["done"]);
        lanes.push((lane.to_string(), wt));
    }
    (repo, lanes)
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| match x {
            Value::String(s) => s.clone(),
            other => s(&other["name"]).to_string(),
        })
        .collect()
}

#[test]
fn bisect_names_the_lane_that_breaks_the_build_and_writes_nothing() {
    let env = TestEnv::new();
    let (repo, _) = plan_with_a_broken_lane(&env);
    let before = env.snapshot(&repo);
    let (rc, doc) = env.wtc_json_code(&repo, &["squash", "--verify", CHECK, "--bisect"]);
    assert_eq!(rc, 5, "{doc}");
    let b = &doc["error"]["bisect"];
    assert_eq!(names(&b["culprits"]), ["c"], "{doc}");
    assert_eq!(b["culprits"][0]["with"], serde_json::json!([]), "{doc}");
    assert_eq!(names(&b["held_back"]), ["f"], "{doc}");
    // The failing run's log holds the command's output: the file it found.
    let log = PathBuf::from(s(&b["culprits"][0]["log"]));
    let text = env.read(&log);
    assert!(text.contains("c.txt"), "{text}");
    let runs = b["runs"].as_array().unwrap();
    // all, the re-run, about log2(7) bisection steps, the claim's proof
    assert!(runs.len() <= 8, "{} runs: {doc}", runs.len());
    assert!(!runs[0]["passed"].as_bool().unwrap() && !runs[1]["passed"].as_bool().unwrap());
    assert_eq!(
        runs[0]["tree"], runs[1]["tree"],
        "the failing fold is run again"
    );
    for r in runs {
        assert!(Path::new(s(&r["log"])).is_file(), "{r}");
        let lanes = names(&r["lanes"]);
        for (l, up) in [("c", "b"), ("f", "c")] {
            assert!(
                !lanes.contains(&l.to_string()) || lanes.contains(&up.to_string()),
                "{r}"
            );
        }
    }
    assert!(
        doc["error"]["paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| s(p) == log.to_str().unwrap()),
        "{doc}"
    );
    assert_eq!(env.snapshot(&repo), before, "a bisection writes nothing");

    // Human: the culprit and its log are named, and what to do next.
    let out = env.wtc(&repo, &["squash", "--verify", CHECK, "--bisect"]);
    assert_eq!(code(&out), 5, "{}", env.describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("'c'") && err.contains("--skip-failing"),
        "{err}"
    );
    assert!(err.contains("run-"), "{err}");
    assert_eq!(env.snapshot(&repo), before);
}

#[test]
fn skip_failing_lands_the_others_as_one_commit_and_the_culprit_lands_later() {
    let env = TestEnv::new();
    let (repo, lanes) = plan_with_a_broken_lane(&env);
    let old_main = env.rev(&repo, "main");
    let doc = env.wtc_json(&repo, &["squash", "--verify", CHECK, "--skip-failing"]);
    assert_eq!(names(&doc["lanes"]), ["a", "b", "d", "e"], "{doc}");
    assert_eq!(names(&doc["skipped"]), ["c", "f"], "{doc}");
    assert_eq!(names(&doc["bisect"]["culprits"]), ["c"], "{doc}");
    let commit = s(&doc["commit"]).to_string();
    assert_eq!(env.rev(&repo, "main"), commit);
    assert_eq!(
        env.rev(&repo, "main^"),
        old_main,
        "ONE commit on the old tip"
    );
    for (file, there) in [
        ("a", true),
        ("b", true),
        ("c", false),
        ("d", true),
        ("e", true),
        ("f", false),
    ] {
        assert_eq!(repo.join(format!("{file}.txt")).exists(), there, "{file}");
    }
    let message = env.git(&repo, &["log", "-1", "--format=%B", "main"]);
    assert!(
        message.contains("Wtc-Lane: a ") && !message.contains("Wtc-Lane: c "),
        "{message}"
    );
    env.assert_clean(&repo, "the target after --skip-failing");

    // The skipped lanes stay in the plan, untouched, not landed.
    let status = env.wtc_json(&repo, &["status"]);
    for l in status["lanes"].as_array().unwrap() {
        let landed = !l["landed"].is_null();
        let name = s(&l["name"]);
        assert_eq!(landed, !["c", "f"].contains(&name), "{name}: {status}");
    }
    // Again before c is fixed: what is left to land is on the target already, so no
    // integration commit that changes nothing; exit 5, nothing written.
    let before = env.snapshot(&repo);
    let (rc, doc) = env.wtc_json_code(&repo, &["squash", "--verify", CHECK, "--skip-failing"]);
    assert_eq!(rc, 5, "{doc}");
    assert!(
        s(&doc["error"]["hint"]).contains("on the target already"),
        "{doc}"
    );
    assert_eq!(names(&doc["error"]["bisect"]["culprits"]), ["c"], "{doc}");
    assert_eq!(env.rev(&repo, "main"), commit);
    assert_eq!(env.snapshot(&repo), before);
    // c's agent fixes it; f takes the fix; the next squash lands both as one more commit.
    let wt = |name: &str| &lanes.iter().find(|(l, _)| l == name).unwrap().1;
    env.write(&wt("c").join("c.txt"), "c works now\n");
    env.wtc_json(wt("c"), &["done"]);
    env.wtc_json(wt("f"), &["sync"]);
    env.wtc_json(wt("f"), &["done"]);
    let again = env.wtc_json(&repo, &["squash", "--verify", CHECK, "--skip-failing"]);
    assert_eq!(env.rev(&repo, "main^"), commit, "{again}");
    assert_eq!(names(&again["skipped"]), Vec::<String>::new(), "{again}");
    assert_eq!(env.read(&repo.join("c.txt")), "c works now\n");
    assert!(repo.join("f.txt").exists());
    env.assert_fsck(&repo);
}

#[test]
fn a_pair_that_breaks_only_together_is_named_together() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    for lane in ["x", "y", "z"] {
        let wt = env.add_lane(&repo, lane, &[]);
        env.write(&wt.join(format!("{lane}.txt")), "ok\n");
        env.wtc_json(&wt, &["done"]);
    }
    let cmd = "! { test -f x.txt && test -f z.txt; }";
    let (rc, doc) = env.wtc_json_code(&repo, &["squash", "--verify", cmd, "--bisect", "--dry-run"]);
    assert_eq!(rc, 5, "{doc}");
    let culprits = &doc["error"]["bisect"]["culprits"];
    assert_eq!(names(culprits), ["x", "z"], "{doc}");
    assert_eq!(names(&culprits[0]["with"]), ["z"], "{doc}");
    // --skip-failing with --dry-run: says what would land, writes nothing.
    let before = env.snapshot(&repo);
    let dry = env.wtc_json(
        &repo,
        &["squash", "--verify", cmd, "--skip-failing", "--dry-run"],
    );
    assert_eq!(names(&dry["lanes"]), ["y"], "{dry}");
    assert_eq!(names(&dry["skipped"]), ["x", "z"], "{dry}");
    assert!(dry["commit"].is_null());
    assert_eq!(env.snapshot(&repo), before);
}

#[test]
fn a_flaky_command_and_a_failing_target_are_told_apart_from_culprits() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    for lane in ["x", "y"] {
        let wt = env.add_lane(&repo, lane, &[]);
        env.write(&wt.join(format!("{lane}.txt")), "ok\n");
        env.wtc_json(&wt, &["done"]);
    }
    let before = env.snapshot(&repo);
    // Fails the first time only.
    let counter = env.path("count");
    let flaky = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); echo $((n+1)) > {c}; test $n -ge 1",
        c = counter.display()
    );
    let (rc, doc) = env.wtc_json_code(&repo, &["squash", "--verify", &flaky, "--skip-failing"]);
    assert_eq!(rc, 5, "{doc}");
    assert!(s(&doc["error"]["message"]).contains("flaky"), "{doc}");
    assert_eq!(
        doc["error"]["bisect"]["runs"].as_array().unwrap().len(),
        2,
        "{doc}"
    );
    // Fails everywhere, the target too: no lane is blamed.
    let (rc, doc) = env.wtc_json_code(&repo, &["squash", "--verify", "false", "--skip-failing"]);
    assert_eq!(rc, 5, "{doc}");
    assert!(
        s(&doc["error"]["message"]).contains("'main' itself"),
        "{doc}"
    );
    assert_eq!(
        doc["error"]["bisect"]["culprits"],
        serde_json::json!([]),
        "{doc}"
    );
    assert_eq!(env.snapshot(&repo), before, "nothing written");
    // Bad input: --bisect needs --verify.
    let out = env.wtc(&repo, &["squash", "--bisect"]);
    assert_eq!(code(&out), 2, "{}", env.describe(&out));
    assert!(stderr(&out).contains("--verify"), "{}", stderr(&out));
    // Passing at once: one run, everything lands.
    let doc = env.wtc_json(&repo, &["squash", "--verify", "true", "--bisect"]);
    assert_eq!(doc["bisect"]["runs"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(names(&doc["lanes"]), ["x", "y"]);
}
