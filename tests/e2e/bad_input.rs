//! Acceptance 5 (issue 2): bad input is refused clearly and changes nothing.
//!
//! Every refusal here must exit non-zero (and not panic), print a message on stderr, and
//! leave the repository exactly as it was: every ref and its value, every worktree's
//! HEAD, the worktree list, wtc's local config, and the lane directories on disk.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::env::{code, crashed, s, stderr, stdout, TestEnv};

/// Runs `wtc ARGS` in `dir`, asserts the refusal contract against `repo`; the output.
fn refused(env: &TestEnv, repo: &Path, dir: &Path, args: &[&str]) -> Output {
    let before = env.snapshot(repo);
    refused_since(env, repo, dir, args, &before)
}

/// [`refused`] against a snapshot taken earlier (for loops over many inputs).
fn refused_since(env: &TestEnv, repo: &Path, dir: &Path, args: &[&str], before: &str) -> Output {
    let out = env.wtc(dir, args);
    assert_refusal(env, &out, args);
    assert_eq!(
        env.snapshot(repo),
        before,
        "`wtc {args:?}` changed the repository"
    );
    out
}

fn assert_refusal(env: &TestEnv, out: &Output, args: &[&str]) {
    let c = code(out);
    assert!(c != 0, "`wtc {args:?}` must fail\n{}", env.describe(out));
    assert!(
        !crashed(out),
        "`wtc {args:?}` crashed\n{}",
        env.describe(out)
    );
    let err = stderr(out);
    assert!(
        !err.trim().is_empty(),
        "`wtc {args:?}` says nothing on stderr\n{}",
        env.describe(out)
    );
}

fn base_repo(env: &TestEnv) -> std::path::PathBuf {
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    repo
}

/// Names every lane and plan refuses (`[a-z0-9][a-z0-9._-]{0,62}`, no `..`, no `.lock`).
fn invalid_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "Bad Name",
        "..",
        "a..b",
        "x.lock",
        "-x",
        "Upper",
        "",
        ".hidden",
        "_x",
        "a/b",
        "a\\b",
        "tab\there",
        "nl\nx",
        "a:b",
        "a~1",
        "a^",
        "a?",
        "a*",
        "a[b",
        "@{x}",
        "é",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.push("a".repeat(64));
    names.push("b".repeat(200));
    names
}

#[test]
fn invalid_plan_names_are_refused() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    let mut names = invalid_names();
    names.push("remotes".into());
    names.push("archive".into());
    let before = env.snapshot(&repo);
    for name in &names {
        // `--` so that `-x` reaches the name check instead of the option parser.
        refused_since(&env, &repo, &repo, &["init", "--", name], &before);
    }
    assert_eq!(
        env.git(&repo, &["for-each-ref", "refs/wtc/"]),
        "",
        "no plan was created"
    );
}

#[test]
fn invalid_lane_names_are_refused() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    let before = env.snapshot(&repo);
    for name in &invalid_names() {
        refused_since(&env, &repo, &repo, &["add", "--", name], &before);
    }
    // The unknown-upstream check cannot be the one that fires here: no `--after`.
    refused(&env, &repo, &repo, &["add", "ok", "--after", "Bad Name"]);
}

/// The limits are exact: 63 characters and `.`, `_`, `-` inside a name are fine.
#[test]
fn longest_and_punctuated_names_are_accepted() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    let plan = format!("p{}", "9".repeat(62));
    env.wtc_json(&repo, &["init", &plan]);
    let lane = format!("l{}", "x".repeat(62));
    let wt = env.add_lane(&repo, &lane, &[]);
    assert!(wt.exists());
    env.add_lane(&repo, "a.b_c-1", &[&lane]);
    env.add_lane(&repo, "0lane", &[]);
    assert!(env.rev_exists(&repo, &format!("refs/heads/wtc/{plan}/a.b_c-1")));
}

#[test]
fn unknown_lane_in_after_is_refused() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    env.add_lane(&repo, "a", &[]);
    let out = refused(&env, &repo, &repo, &["add", "b", "--after", "nope"]);
    assert!(
        stderr(&out).contains("nope"),
        "the message names the unknown lane\n{}",
        env.describe(&out)
    );
    refused(
        &env,
        &repo,
        &repo,
        &["add", "b", "--after", "a", "--after", "nope"],
    );
    assert!(!env.path("repo.wtc/p/b").exists());
}

#[test]
fn unknown_lane_in_wait_is_refused() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    env.add_lane(&repo, "a", &[]);
    let started = std::time::Instant::now();
    let out = refused(&env, &repo, &repo, &["wait", "nope", "--timeout", "5s"]);
    assert_ne!(code(&out), 4, "an unknown lane is an error, not a time-out");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "refused at once, without waiting"
    );
    refused(
        &env,
        &repo,
        &repo,
        &["wait", "a", "nope", "--timeout", "5s"],
    );
}

/// A cycle cannot be built with `add`: a lane must exist before anything can come after
/// it, a new lane cannot name itself, and an existing lane cannot be added again.
#[test]
fn after_can_never_create_a_cycle() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    refused(&env, &repo, &repo, &["add", "a", "--after", "a"]);
    env.add_lane(&repo, "a", &[]);
    env.add_lane(&repo, "b", &["a"]);
    refused(&env, &repo, &repo, &["add", "a", "--after", "b"]);
    refused(
        &env,
        &repo,
        &repo,
        &["add", "c", "--after", "a", "--after", "c"],
    );
    let status = env.wtc_json(&repo, &["status"]);
    let after = |name: &str| {
        status["lanes"]
            .as_array()
            .expect("lanes")
            .iter()
            .find(|l| l["name"] == name)
            .map(|l| l["after"].clone())
            .unwrap_or_else(|| panic!("{name} in {status}"))
    };
    assert_eq!(after("a"), serde_json::json!([]));
    assert_eq!(after("b"), serde_json::json!(["a"]));
}

/// A plan with a cycle can still arrive (a plan ref is data, e.g. fetched or edited by
/// hand): commands refuse it with a message instead of looping or crashing.
#[test]
fn a_plan_with_a_cycle_is_refused() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    env.add_lane(&repo, "w", &[]);
    let x = env.add_lane(&repo, "x", &["w"]);
    env.add_lane(&repo, "y", &["x"]);

    // Rewrite x's `after = ["w"]` to `after = ["y"]`: x -> y -> x.
    let plan = env.git(&repo, &["show", "refs/wtc/p/plan:plan.toml"]);
    let needle = "after = [\"w\"]";
    assert_eq!(
        plan.matches(needle).count(),
        1,
        "cannot find x's upstream list in:\n{plan}"
    );
    let cyclic = plan.replace(needle, "after = [\"y\"]");
    let blob = env.git_stdin(&repo, &["hash-object", "-w", "--stdin"], cyclic.as_bytes());
    let tree = env.git_stdin(
        &repo,
        &["mktree"],
        format!("100644 blob {}\tplan.toml\n", blob.trim()).as_bytes(),
    );
    let old = env.rev(&repo, "refs/wtc/p/plan");
    let commit = env.git(
        &repo,
        &[
            "commit-tree",
            tree.trim(),
            "-p",
            &old,
            "-m",
            "hand edit: a cycle",
        ],
    );
    env.git(
        &repo,
        &["update-ref", "refs/wtc/p/plan", commit.trim(), &old],
    );

    refused(&env, &repo, &repo, &["squash", "--unfinished"]);
    refused(&env, &repo, &x, &["sync"]);
    refused(&env, &repo, &repo, &["add", "z", "--after", "x"]);
    // Read-only commands may report the cycle any way they like, but must terminate.
    for cmd in ["status", "graph"] {
        let out = env.wtc(&repo, &[cmd]);
        assert!(
            !crashed(&out),
            "wtc {cmd} crashed on a cyclic plan\n{}",
            env.describe(&out)
        );
    }
}

#[test]
fn adding_a_lane_twice_is_refused() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    env.add_lane(&repo, "a", &[]);
    refused(&env, &repo, &repo, &["add", "a"]);
    refused(&env, &repo, &repo, &["add", "a", "--no-worktree"]);
    refused(
        &env,
        &repo,
        &repo,
        &[
            "add",
            "a",
            "--path",
            env.path("elsewhere").to_str().expect("UTF-8"),
        ],
    );
    assert!(!env.path("elsewhere").exists());
}

/// A branch already named like the lane's scratch branch is not silently taken over.
#[test]
fn existing_scratch_branch_is_not_overwritten() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    env.git(&repo, &["branch", "wtc/p/a", "main~1"]);
    refused(&env, &repo, &repo, &["add", "a"]);
}

#[test]
fn init_twice_is_refused() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    refused(&env, &repo, &repo, &["init", "p"]);
    refused(&env, &repo, &repo, &["init", "p", "--target", "main"]);
}

#[test]
fn outside_a_repository_is_refused() {
    let env = TestEnv::new();
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    for args in [
        &["init", "p"][..],
        &["add", "a"],
        &["status"],
        &["save"],
        &["done"],
        &["sync"],
        &["wait", "--all", "--timeout", "1s"],
        &["squash"],
        &["clean"],
    ] {
        let out = env.wtc(&outside, args);
        assert_refusal(&env, &out, args);
        let left: Vec<_> = std::fs::read_dir(&outside).expect("read_dir").collect();
        assert!(
            left.is_empty(),
            "`wtc {args:?}` wrote into a non-repository"
        );
    }
    assert!(!env.path("outside.wtc").exists());
}

#[test]
fn bare_repository_is_refused() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    let bare = env.path("bare.git");
    env.git(
        env.root(),
        &[
            "clone",
            "-q",
            "--mirror",
            repo.to_str().expect("UTF-8"),
            "bare.git",
        ],
    );
    assert!(
        env.rev_exists(&bare, "refs/wtc/p/plan"),
        "the mirror carries the plan"
    );

    refused(&env, &bare, &bare, &["init", "q"]);
    refused(&env, &bare, &bare, &["add", "a"]);
    refused(&env, &bare, &bare, &["--plan", "p", "add", "a"]);
    refused(&env, &bare, &bare, &["save"]);
    refused(&env, &bare, &bare, &["sync"]);
    assert!(!env.path("bare.git.wtc").exists() && !env.path("bare.wtc").exists());
}

#[test]
fn init_on_a_detached_head_is_refused() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.git(&repo, &["checkout", "-q", "--detach", "main"]);
    let out = refused(&env, &repo, &repo, &["init", "p"]);
    assert!(
        stderr(&out).contains("target"),
        "the message says how to name a target\n{}",
        env.describe(&out)
    );
    refused(
        &env,
        &repo,
        &repo,
        &["init", "p", "--target", "no-such-branch"],
    );
    refused(&env, &repo, &repo, &["init", "p", "--target", "HEAD"]);
    // Naming the branch explicitly works while detached.
    let init = env.wtc_json(&repo, &["init", "p", "--target", "main"]);
    assert_eq!(init["target"], "main", "{init}");
}

/// The lane's worktree directory was deleted by hand: status says what happened and what
/// to do; lane commands cannot run there; nothing is changed by trying.
#[test]
fn missing_worktree_directory_is_explained() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    std::fs::remove_dir_all(&a).expect("delete a's worktree");

    let before = env.snapshot(&repo);
    let out = env.wtc(&repo, &["status"]);
    assert!(!crashed(&out), "status crashed\n{}", env.describe(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out)).to_lowercase();
    assert!(
        [
            "missing",
            "not found",
            "does not exist",
            "deleted",
            "gone",
            "no such"
        ]
        .iter()
        .any(|w| text.contains(w)),
        "status says a's worktree is missing\n{}",
        env.describe(&out)
    );
    assert!(
        ["wtc rm", "prune", "wtc add", "--force", "repair"]
            .iter()
            .any(|w| text.contains(w)),
        "status says what to do about it\n{}",
        env.describe(&out)
    );
    assert_eq!(env.snapshot(&repo), before, "status changes nothing");

    let a_arg = a.to_str().expect("UTF-8");
    refused(&env, &repo, env.root(), &["-C", a_arg, "save"]);
    refused(&env, &repo, env.root(), &["-C", a_arg, "sync"]);
    // The downstream lane still works: a's branch is intact.
    let sync = env.wtc_json(&b, &["sync"]);
    assert_eq!(sync["result"], "up-to-date", "{sync}");
}

/// `save`, `done`, `sync` need a lane worktree; from the main worktree they refuse.
#[test]
fn lane_commands_outside_a_lane_are_refused() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    env.add_lane(&repo, "a", &[]);
    env.write(&repo.join("README.md"), "# edited in main\n");
    for args in [&["save"][..], &["done"], &["sync"]] {
        refused(&env, &repo, &repo, args);
    }
    assert_eq!(env.read(&repo.join("README.md")), "# edited in main\n");
}

#[test]
fn unknown_or_ambiguous_plan_is_refused() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    refused(&env, &repo, &repo, &["add", "a"]); // no plan at all
    refused(&env, &repo, &repo, &["status"]);
    env.wtc_json(&repo, &["init", "p1"]);
    env.wtc_json(&repo, &["init", "p2"]);
    let out = refused(&env, &repo, &repo, &["add", "a"]);
    assert!(
        stderr(&out).contains("--plan"),
        "the hint names --plan\n{}",
        env.describe(&out)
    );
    refused(&env, &repo, &repo, &["--plan", "nope", "add", "a"]);
    refused(&env, &repo, &repo, &["--plan", "nope", "status"]);
    env.wtc_json(&repo, &["--plan", "p1", "add", "a"]);
}

#[test]
fn unknown_lane_in_rm_is_refused() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    env.add_lane(&repo, "a", &[]);
    refused(&env, &repo, &repo, &["rm", "nope"]);
    refused(&env, &repo, &repo, &["rm", "--force", "nope"]);
}

/// Usage errors exit 2: unknown commands and flags, malformed durations.
#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    env.add_lane(&repo, "a", &[]);
    for args in [
        &["frobnicate"][..],
        &["status", "--no-such-flag"],
        &["wait", "a", "--timeout", "soon"],
        &["wait", "a", "--timeout", "10 parsecs"],
        &["add"],
    ] {
        let out = refused(&env, &repo, &repo, args);
        env.assert_code(&out, 2, &format!("wtc {}", args.join(" ")));
    }
}

/// With `--json`, errors are one JSON document on stdout that carries the exit code.
#[test]
fn json_errors_are_documents() {
    let env = TestEnv::new();
    let repo = base_repo(&env);
    let (c, doc) = env.wtc_json_code(&repo, &["init", "Bad Name"]);
    assert_ne!(c, 0, "{doc}");
    let error = &doc["error"];
    assert!(!s(&error["message"]).is_empty(), "{doc}");
    assert!(
        error.get("hint").is_some(),
        "the error has a hint field (may be null): {doc}"
    );
    assert_eq!(error["exit_code"], c, "{doc}");
    assert_eq!(env.git(&repo, &["for-each-ref", "refs/wtc/"]), "");
}
