//! Races (invariant 2): two `sync` in one worktree, `save` against an agent's `git commit`,
//! `squash` while a lane saves, eight lanes handing off at the same moment.
//!
//! Whoever loses a race either runs after the winner or is refused with a clear message;
//! no commit either side reported is lost, no index is corrupted (`git status` works and
//! ends clean), and `git fsck` accepts the repository afterwards.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::env::{code, crashed, s, stderr, TestEnv};

const WAIT: Duration = Duration::from_secs(60);

fn lanes(names: &[(&str, &[&str])]) -> (TestEnv, PathBuf, Vec<PathBuf>) {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let wts = names
        .iter()
        .map(|(name, after)| env.add_lane(&repo, name, after))
        .collect();
    (env, repo, wts)
}

/// Start every `(dir, args)` at once (all spawned before any is waited for).
fn all_at_once(env: &TestEnv, runs: &[(&Path, Vec<&str>)]) -> Vec<Output> {
    let children: Vec<_> = runs
        .iter()
        .map(|(dir, args)| env.wtc_spawn(dir, args))
        .collect();
    children
        .into_iter()
        .zip(runs)
        .map(|(child, (_, args))| env.finish(child, &args.join(" "), WAIT))
        .collect()
}

/// A losing wtc says why: another wtc holds the worktree, or a ref/lock moved under it.
fn assert_clear_loss(env: &TestEnv, out: &Output, what: &str) {
    assert!(!crashed(out), "{what} crashed\n{}", env.describe(out));
    let err = stderr(out);
    assert!(
        err.contains("another wtc command")
            || err.contains("moved while")
            || err.contains("index.lock")
            || err.contains("another git command"),
        "{what} lost the race without a clear message\n{}",
        env.describe(out)
    );
    assert!(
        err.contains("hint:"),
        "{what}: no hint\n{}",
        env.describe(out)
    );
}

/// Two `wtc sync` in one worktree at once, five rounds: one wins; the other runs after it
/// ("up to date") or is refused naming the other command. The worktree ends at a tip that
/// contains the upstream lane, clean but for the untracked file the merge does not touch.
#[test]
fn two_syncs_in_one_worktree() {
    let (env, repo, wts) = lanes(&[("up", &[]), ("down", &["up"])]);
    let (up, down) = (&wts[0], &wts[1]);
    let (mut refused, mut waited) = (0, 0);
    for round in 0..5 {
        for i in 0..60 {
            env.write(
                &up.join(format!("r{round}/f{i}.txt")),
                format!("{round} {i}\n"),
            );
        }
        let tip = s(&env.wtc_json(up, &["done"])["commit"]).to_string();
        env.write(&down.join(format!("mine{round}.txt")), "dirty\n");
        let outs = all_at_once(&env, &[(down, vec!["sync"]), (down, vec!["sync"])]);
        let ok = outs.iter().filter(|o| code(o) == 0).count();
        waited += usize::from(ok == 2);
        assert!(
            ok >= 1,
            "round {round}: no sync succeeded\n{}",
            env.describe(&outs[0])
        );
        for o in outs.iter().filter(|o| code(o) != 0) {
            assert_clear_loss(&env, o, "the second sync");
            refused += 1;
        }
        assert_eq!(
            env.status(down),
            format!("?? mine{round}.txt\n"),
            "round {round}: after two syncs only the local file is uncommitted"
        );
        env.wtc_ok(down, &["save"]);
        assert!(env.is_ancestor(down, &tip, "HEAD"), "round {round}");
        assert_eq!(env.read(&down.join(format!("mine{round}.txt"))), "dirty\n");
    }
    env.assert_fsck(&repo);
    tally!(
        "concurrency: two syncs in one worktree x5: {waited} rounds where one waited for the other, {refused} refused clearly"
    );
}

/// `wtc save` while an agent runs `git commit` in the same worktree, eight rounds. Every
/// commit either side reports is an ancestor of the branch; a loser reports an error; the
/// index stays readable and a last save leaves the worktree clean with every file committed.
#[test]
fn save_while_git_commits() {
    let (env, repo, wts) = lanes(&[("agent", &[])]);
    let wt = &wts[0];
    let mut reported = Vec::new();
    for round in 0..8 {
        env.write(
            &wt.join(format!("git{round}.txt")),
            format!("by git {round}\n"),
        );
        env.write(
            &wt.join(format!("wtc{round}.txt")),
            format!("by wtc {round}\n"),
        );
        env.git(wt, &["add", &format!("git{round}.txt")]);
        let mut git = env.command("git", wt);
        git.args(["commit", "-q", "-m", &format!("agent commit {round}")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let git = git.spawn().expect("git commit starts");
        let save = env.wtc_spawn(wt, &["--json", "save", "-m", &format!("save {round}")]);
        let git = env.finish(git, "git commit", WAIT);
        let save = env.finish(save, "wtc save", WAIT);
        if git.status.success() {
            // The agent's commit is on the branch (now or under a later save).
            let log = env.git(wt, &["log", "--format=%H %s", "wtc/p/agent"]);
            let line = log
                .lines()
                .find(|l| l.ends_with(&format!("agent commit {round}")))
                .unwrap_or_else(|| panic!("round {round}: git's commit is lost\n{log}"));
            reported.push(line[..40].to_string());
        } else {
            assert!(
                !String::from_utf8_lossy(&git.stderr).is_empty(),
                "git failed silently"
            );
        }
        if code(&save) == 0 {
            let doc: serde_json::Value = serde_json::from_slice(&save.stdout).expect("json");
            if let Some(c) = doc["commit"].as_str() {
                reported.push(c.to_string());
            }
        } else {
            // `--json`: the message is in the error document on stdout.
            let doc: serde_json::Value = serde_json::from_slice(&save.stdout).expect("json");
            let msg = doc["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !crashed(&save)
                    && (msg.contains("moved while") || msg.contains("index.lock"))
                    && doc["error"]["hint"].is_string(),
                "wtc save lost the race without a clear message\n{}",
                env.describe(&save)
            );
        }
        env.status(wt); // the index is readable
    }
    let tip = env.rev(&repo, "wtc/p/agent");
    for c in &reported {
        assert!(
            env.is_ancestor(&repo, c, &tip),
            "reported commit {c} is lost"
        );
    }
    env.wtc_json(wt, &["save"]);
    env.assert_clean(wt, "after a final save");
    for round in 0..8 {
        for who in ["git", "wtc"] {
            let shown = env.git(&repo, &["show", &format!("wtc/p/agent:{who}{round}.txt")]);
            assert_eq!(shown, format!("by {who} {round}\n"));
        }
    }
    env.assert_fsck(&repo);
    tally!(
        "concurrency: save vs git commit x8: {} of 16 committed, all on the branch; the others reported an error",
        reported.len()
    );
}

/// `wtc squash` in main while lane `up` saves new work: the integration records either
/// up's old tip or its new one, main moves by exactly one commit, and the saved commit
/// stays on up's branch whatever the order.
#[test]
fn squash_while_a_lane_saves() {
    let (env, repo, wts) = lanes(&[("up", &[]), ("down", &["up"])]);
    let (up, down) = (&wts[0], &wts[1]);
    env.write(&up.join("up.txt"), "up\n");
    let old_up = s(&env.wtc_json(up, &["done"])["commit"]).to_string();
    env.wtc_json(down, &["sync"]);
    env.write(&down.join("down.txt"), "down\n");
    env.wtc_json(down, &["done"]);
    let old_main = env.rev(&repo, "main");
    env.write(&up.join("late.txt"), "late work\n");
    let outs = all_at_once(
        &env,
        &[
            (&repo, vec!["--json", "squash", "--unfinished"]),
            (up, vec!["--json", "save", "-m", "late"]),
        ],
    );
    let (squash, save) = (&outs[0], &outs[1]);
    env.assert_code(save, 0, "wtc save");
    env.assert_code(squash, 0, "wtc squash --unfinished");
    let saved = serde_json::from_slice::<serde_json::Value>(&save.stdout).expect("json");
    let new_up = s(&saved["commit"]).to_string();
    assert_eq!(env.rev(&repo, "wtc/p/up"), new_up, "the save landed");
    assert_eq!(env.rev(&repo, "main^"), old_main, "one commit on main");
    let msg = env.git(&repo, &["log", "-1", "--format=%B", "main"]);
    let recorded = msg
        .lines()
        .find_map(|l| l.strip_prefix("Wtc-Lane: up "))
        .expect("up's trailer")
        .trim()
        .to_string();
    assert!(recorded == old_up || recorded == new_up, "{msg}");
    let late = env.git_output(&repo, &["show", "main:late.txt"]);
    assert_eq!(
        late.status.success(),
        recorded == new_up,
        "late.txt iff the new tip"
    );
    env.assert_fsck(&repo);
}

/// Eight lanes run `wtc done` at the same moment; then `wait --all` and `squash` succeed
/// and main has every lane's file in ONE commit.
#[test]
fn eight_lanes_done_at_once() {
    let names: Vec<String> = (0..8).map(|i| format!("l{i}")).collect();
    let specs: Vec<(&str, &[&str])> = names.iter().map(|n| (n.as_str(), &[][..])).collect();
    let (env, repo, wts) = lanes(&specs);
    for (name, wt) in names.iter().zip(&wts) {
        env.write(&wt.join(format!("{name}.txt")), format!("{name}\n"));
    }
    let runs: Vec<(&Path, Vec<&str>)> = wts.iter().map(|w| (w.as_path(), vec!["done"])).collect();
    for (out, name) in all_at_once(&env, &runs).iter().zip(&names) {
        env.assert_code(out, 0, &format!("wtc done in {name}"));
    }
    let old_main = env.rev(&repo, "main");
    let out = env.wtc(&repo, &["wait", "--all", "--timeout", "20s"]);
    env.assert_code(&out, 0, "wtc wait --all");
    env.wtc_json(&repo, &["squash"]);
    assert_eq!(env.rev(&repo, "main^"), old_main);
    for name in &names {
        assert_eq!(
            env.git(&repo, &["show", &format!("main:{name}.txt")]),
            format!("{name}\n")
        );
    }
    env.assert_fsck(&repo);
}

/// Hold `<git-dir>/wtc.lock` of `wt` as a live process (this test's pid): a wtc started
/// there waits, after loading the plan, until [`release`] removes it.
fn hold_wtc_lock(env: &TestEnv, wt: &Path) -> PathBuf {
    let lock = crate::watch::git_dir(env, wt).join("wtc.lock");
    std::fs::write(&lock, format!("{}\ntest\n", std::process::id())).expect("write wtc.lock");
    lock
}

/// Regression (issue 10, case 9): the loser of two `wtc squash` at once reported that "the
/// integration landed" though its commit did not. Now it says "already integrated by X"
/// (exit 0) when X holds all its lanes' work, and names what X lacks otherwise (exit 1).
#[test]
fn the_loser_of_a_squash_race_says_what_happened() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &[]);
    env.write(&a.join("a.txt"), "a\n");
    env.wtc_json(&a, &["done"]);
    env.write(&b.join("b.txt"), "b\n");
    env.wtc_json(&b, &["done"]);
    // The target is checked out nowhere, so a squash from a lane worktree needs no lock
    // of the main worktree.
    env.git(&repo, &["checkout", "-q", "--detach"]);

    // 1: the loser waits (its plan loaded), the winner integrates everything meanwhile.
    let lock = hold_wtc_lock(&env, &repo);
    let loser = env.wtc_spawn(&repo, &["squash", "--json"]);
    std::thread::sleep(Duration::from_millis(500));
    let winner = env.wtc_json(&a, &["squash"]);
    let x = crate::env::s(&winner["commit"]).to_string();
    std::fs::remove_file(&lock).expect("release");
    let out = env.finish(loser, "the losing squash", Duration::from_secs(60));
    env.assert_code(
        &out,
        0,
        "the loser when the winner holds all its lanes' work",
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["already_integrated"], true, "{doc}");
    assert_eq!(doc["commit"], x.as_str(), "{doc}");
    assert_eq!(env.rev(&repo, "main"), x, "the target moved once");

    // 2: the winner lands, then a lane moves on before the loser wakes: what the winner
    // integrated lacks that lane's newest work, and the loser names it (exit 1).
    env.write(&a.join("a2.txt"), "more a\n");
    env.wtc_json(&a, &["done"]);
    let lock = hold_wtc_lock(&env, &repo);
    let loser = env.wtc_spawn(&repo, &["squash", "--json"]); // its plan loaded, waits
    std::thread::sleep(Duration::from_millis(500));
    let winner = env.wtc_json(&a, &["squash"]);
    let y = crate::env::s(&winner["commit"]).to_string();
    env.write(&b.join("b2.txt"), "more b\n");
    env.wtc_json(&b, &["done"]);
    std::fs::remove_file(&lock).expect("release");
    let out = env.finish(loser, "the losing squash", Duration::from_secs(60));
    env.assert_code(
        &out,
        1,
        "the loser when the winner lacks a lane's newest work",
    );
    let lost: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let message = lost["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("meanwhile") && message.contains(&y[..9]) && message.contains('b'),
        "the loser names the winner's commit and the lane it lacks: {lost}"
    );
    assert_eq!(
        env.rev(&repo, "main"),
        y,
        "the target moved once, by the winner"
    );
    assert_eq!(env.rev(&repo, "main^"), x);
}
