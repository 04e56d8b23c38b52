//! Acceptance 2 (issue 2): conflicts are handed to the user the way git does it.
//!
//! A conflicting `sync` leaves exactly what `git merge` would: markers in the files,
//! stages 1/2/3 in the index, `MERGE_HEAD`, exit code 3; `git commit -a --no-edit` after
//! resolving completes the merge and the next sync is clean. A conflicting `squash`
//! writes nothing at all.

use crate::env::{stderr, stdout, TestEnv};

const CONFIG: &str = "src/config.ts";

/// `path` with line `n` (1-based) replaced by `text`.
fn with_line(env: &TestEnv, path: &std::path::Path, n: usize, text: &str) -> String {
    let mut lines: Vec<String> = env.read(path).lines().map(str::to_string).collect();
    lines[n - 1] = text.to_string();
    lines.join("\n") + "\n"
}

#[test]
fn sync_conflict_leaves_a_git_merge_in_progress() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);

    let ours = with_line(&env, &b.join(CONFIG), 2, "  retries: 7, // b");
    let theirs = with_line(&env, &a.join(CONFIG), 2, "  retries: 5, // a");
    env.write(&a.join(CONFIG), &theirs);
    let a_tip = env.wtc_json(&a, &["done"]);
    let a_tip = a_tip["commit"].as_str().expect("done commits").to_string();
    env.write(&b.join(CONFIG), &ours);
    let b_work = env.wtc_json(&b, &["save", "-m", "b: more retries"]);
    let b_work = b_work["commit"].as_str().expect("save commits").to_string();

    let (code, sync) = env.wtc_json_code(&b, &["sync"]);
    assert_eq!(code, 3, "a conflicting sync exits 3: {sync}");
    assert_eq!(sync["result"], "conflict", "{sync}");
    assert_eq!(sync["conflicts"], serde_json::json!([CONFIG]), "{sync}");

    // What git itself would leave.
    let file = env.read(&b.join(CONFIG));
    for marker in [
        "<<<<<<<",
        "=======",
        ">>>>>>>",
        "retries: 7, // b",
        "retries: 5, // a",
    ] {
        assert!(file.contains(marker), "{CONFIG} lacks `{marker}`:\n{file}");
    }
    let unmerged = env.git(&b, &["ls-files", "-u"]);
    let stages: Vec<(&str, &str)> = unmerged
        .lines()
        .map(|l| {
            let (meta, path) = l.split_once('\t').expect("stage line");
            (meta.split_whitespace().nth(2).expect("stage"), path)
        })
        .collect();
    assert_eq!(
        stages,
        vec![("1", CONFIG), ("2", CONFIG), ("3", CONFIG)],
        "{unmerged}"
    );
    let stage = |n: &str| env.git(&b, &["show", &format!(":{n}:{CONFIG}")]);
    assert_eq!(stage("2"), ours, "stage 2 is the lane's version");
    assert_eq!(stage("3"), theirs, "stage 3 is the upstream version");
    assert_eq!(
        env.rev(&b, "MERGE_HEAD"),
        a_tip,
        "MERGE_HEAD names the upstream tip"
    );
    assert_eq!(
        env.rev(&b, "HEAD"),
        b_work,
        "HEAD stays at the lane's own work"
    );
    let git_status = env.git(&b, &["status", "--porcelain"]);
    assert_eq!(
        git_status,
        format!("UU {CONFIG}\n"),
        "git status shows the conflict"
    );

    // The user resolves; plain git finishes the merge.
    // Keep both intentions on one line, as a person would.
    let resolved = {
        let mut lines: Vec<&str> = ours.lines().collect();
        lines[1] = "  retries: 6, // a and b";
        lines.join("\n") + "\n"
    };
    env.write(&b.join(CONFIG), &resolved);
    env.git(&b, &["commit", "-q", "-a", "--no-edit"]);
    let merge = env.rev(&b, "HEAD");
    let parents = env.git(&b, &["rev-list", "--parents", "-n1", "HEAD"]);
    assert_eq!(
        parents.split_whitespace().skip(1).collect::<Vec<_>>(),
        vec![b_work.as_str(), a_tip.as_str()],
        "git commit completed a merge of the lane's work and the upstream tip"
    );
    assert_eq!(
        env.rev(&repo, "refs/heads/wtc/p/b"),
        merge,
        "the merge is on the lane branch"
    );
    env.assert_clean(&b, "after the user's merge commit");

    let (code, sync) = env.wtc_json_code(&b, &["sync"]);
    assert_eq!(code, 0, "the next sync is clean: {sync}");
    assert_eq!(sync["result"], "up-to-date", "{sync}");
    assert_eq!(
        env.rev(&b, "HEAD"),
        merge,
        "an up-to-date sync commits nothing"
    );
    assert_eq!(env.read(&b.join(CONFIG)), resolved, "the resolution stays");
    env.assert_clean(&b, "after the clean sync");
    env.assert_fsck(&repo);
}

/// The human output of a conflicting sync names the path (and still exits 3).
#[test]
fn sync_conflict_lists_paths_in_human_output() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    env.write(&a.join("README.md"), "# a\n");
    env.wtc_ok(&a, &["done"]);
    env.write(&b.join("README.md"), "# b\n");
    env.wtc_ok(&b, &["save"]);

    let out = env.wtc(&b, &["sync"]);
    env.assert_code(&out, 3, "wtc sync (conflict)");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("README.md"),
        "the conflicted path is listed\n{}",
        env.describe(&out)
    );
    assert!(env.rev_exists(&b, "MERGE_HEAD"));
}

/// Two independent lanes that edit the same lines cannot be squashed: exit 3, and not
/// one ref, file or index entry changes.
#[test]
fn squash_of_conflicting_lanes_changes_nothing() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let c = env.add_lane(&repo, "c", &[]);
    env.write(
        &a.join(CONFIG),
        with_line(&env, &a.join(CONFIG), 3, "  timeoutMs: 10, // a"),
    );
    env.write(
        &c.join(CONFIG),
        with_line(&env, &c.join(CONFIG), 3, "  timeoutMs: 99, // c"),
    );
    env.wtc_ok(&a, &["done"]);
    env.wtc_ok(&c, &["done"]);

    let before = env.snapshot(&repo);
    let config_before = env.read_bytes(&repo.join(CONFIG));
    let index_before = env.git(&repo, &["ls-files", "-s"]);

    let out = env.wtc(&repo, &["squash"]);
    env.assert_code(&out, 3, "wtc squash (conflicting lanes)");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains(CONFIG),
        "the conflicted path is named\n{}",
        env.describe(&out)
    );

    let (code, doc) = env.wtc_json_code(&repo, &["squash"]);
    assert_eq!(code, 3, "{doc}");
    let out = env.wtc(&repo, &["squash", "--dry-run"]);
    env.assert_code(&out, 3, "wtc squash --dry-run (conflicting lanes)");

    assert_eq!(
        env.snapshot(&repo),
        before,
        "a conflicting squash writes no ref"
    );
    assert_eq!(
        env.read_bytes(&repo.join(CONFIG)),
        config_before,
        "the target worktree is untouched"
    );
    assert_eq!(
        env.git(&repo, &["ls-files", "-s"]),
        index_before,
        "the index is untouched"
    );
    env.assert_clean(&repo, "main worktree after the refused squash");
    assert!(
        !env.rev_exists(&repo, "MERGE_HEAD"),
        "squash never starts a merge in the target"
    );
    env.assert_fsck(&repo);
}

/// Two lanes `a` and `b` (after a) whose edits of line 2 collide; `b` has synced into a
/// conflict. Returns (env, repo, b's worktree, b's own work, a's tip).
fn conflicted() -> (
    TestEnv,
    std::path::PathBuf,
    std::path::PathBuf,
    String,
    String,
) {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    env.write(
        &a.join(CONFIG),
        with_line(&env, &a.join(CONFIG), 2, "  retries: 5, // a"),
    );
    let a_tip = env.wtc_json(&a, &["done"])["commit"]
        .as_str()
        .expect("done")
        .to_string();
    env.write(
        &b.join(CONFIG),
        with_line(&env, &b.join(CONFIG), 2, "  retries: 7, // b"),
    );
    let b_work = env.wtc_json(&b, &["save"])["commit"]
        .as_str()
        .expect("save")
        .to_string();
    (env, repo, b, b_work, a_tip)
}

/// `sync --dry-run` predicts the conflict (exit 3) and writes nothing.
#[test]
fn dry_run_sync_predicts_a_conflict_and_writes_nothing() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    env.write(
        &a.join(CONFIG),
        with_line(&env, &a.join(CONFIG), 2, "  retries: 5, // a"),
    );
    env.wtc_json(&a, &["done"]);
    env.write(
        &b.join(CONFIG),
        with_line(&env, &b.join(CONFIG), 2, "  retries: 7, // b"),
    );
    env.wtc_json(&b, &["save"]);
    let before = env.snapshot(&repo);
    let file = env.read_bytes(&b.join(CONFIG));

    let (code, doc) = env.wtc_json_code(&b, &["sync", "--dry-run"]);
    assert_eq!(code, 3, "{doc}");
    assert_eq!(doc["conflicts"], serde_json::json!([CONFIG]), "{doc}");
    assert_eq!(env.snapshot(&repo), before);
    assert_eq!(env.read_bytes(&b.join(CONFIG)), file);
    assert!(!env.rev_exists(&b, "MERGE_HEAD"));
    env.assert_clean(&b, "after a dry run");
}

/// While a conflict is unresolved, another `sync` neither loses the markers nor
/// forgets the merge; MERGE_MSG is there for `git commit`.
#[test]
fn sync_during_an_unresolved_conflict_keeps_it() {
    let (env, repo, b, _b_work, a_tip) = conflicted();
    let (code, _) = env.wtc_json_code(&b, &["sync"]);
    assert_eq!(code, 3);
    let merge_msg = env.git(&b, &["rev-parse", "--git-path", "MERGE_MSG"]);
    let merge_msg = b.join(merge_msg.trim());
    assert!(merge_msg.exists(), "MERGE_MSG written for `git commit`");
    let file = env.read_bytes(&b.join(CONFIG));
    let unmerged = env.git(&b, &["ls-files", "-u"]);
    let before = env.snapshot(&repo);

    let out = env.wtc(&b, &["sync"]);
    assert!(
        crate::env::code(&out) != 0 && !crate::env::crashed(&out),
        "a second sync must not pretend all is well\n{}",
        env.describe(&out)
    );
    assert_eq!(env.read_bytes(&b.join(CONFIG)), file, "markers untouched");
    assert_eq!(
        env.git(&b, &["ls-files", "-u"]),
        unmerged,
        "stages untouched"
    );
    assert_eq!(env.rev(&b, "MERGE_HEAD"), a_tip);
    assert_eq!(env.snapshot(&repo), before);
}

/// The sync hint says "`git commit -a` (or `wtc save`)": `wtc save` after resolving
/// records the merge too (both parents), and clears the merge state.
#[test]
fn wtc_save_completes_a_resolved_merge() {
    let (env, repo, b, b_work, a_tip) = conflicted();
    let (code, _) = env.wtc_json_code(&b, &["sync"]);
    assert_eq!(code, 3);
    let resolved = with_line(&env, &repo.join(CONFIG), 2, "  retries: 6, // a and b");
    env.write(&b.join(CONFIG), &resolved);
    env.git(&b, &["add", CONFIG]);

    let save = env.wtc_json(&b, &["save", "-m", "merge a"]);
    let commit = save["commit"].as_str().expect("save commits").to_string();
    let parents = env.git(&b, &["rev-list", "--parents", "-n1", &commit]);
    assert_eq!(
        parents.split_whitespace().skip(1).collect::<Vec<_>>(),
        vec![b_work.as_str(), a_tip.as_str()],
        "wtc save recorded the merge"
    );
    assert!(!env.rev_exists(&b, "MERGE_HEAD"), "merge state cleared");
    env.assert_clean(&b, "after wtc save finished the merge");
    assert_eq!(env.git(&b, &["show", &format!("HEAD:{CONFIG}")]), resolved);
    let sync = env.wtc_json(&b, &["sync"]);
    assert_eq!(sync["result"], "up-to-date", "{sync}");
}

/// Marker lines without their labels (git's and wtc's name the sides differently).
fn unlabelled(text: &str) -> String {
    text.lines()
        .map(|l| {
            for m in ["<<<<<<<", "|||||||", "=======", ">>>>>>>"] {
                if l.starts_with(m) {
                    return m.to_string();
                }
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Issue 11: `merge.conflictStyle` shapes sync's markers exactly as it shapes `git merge`'s,
/// and MERGE_MSG comments with `core.commentChar`, so `git commit` strips them.
#[test]
fn conflict_style_and_comment_char_follow_the_config() {
    for style in ["merge", "diff3", "zdiff3"] {
        let env = TestEnv::new();
        let repo = env.path("repo");
        env.fixture("make_base.sh", &repo);
        env.git(&repo, &["config", "merge.conflictStyle", style]);
        env.git(&repo, &["config", "core.commentChar", ";"]);
        env.wtc_json(&repo, &["init", "p"]);
        let a = env.add_lane(&repo, "a", &[]);
        let b = env.add_lane(&repo, "b", &["a"]);
        // Both sides change lines 2-4, sharing the first and last of them (what zdiff3
        // moves out of the conflict).
        let mut theirs = with_line(&env, &a.join(CONFIG), 2, "  retries: 5, // same");
        env.write(&a.join(CONFIG), &theirs);
        theirs = with_line(&env, &a.join(CONFIG), 3, "  timeout: 1, // a");
        env.write(&a.join(CONFIG), &theirs);
        env.wtc_ok(&a, &["done"]);
        let mut ours = with_line(&env, &b.join(CONFIG), 2, "  retries: 5, // same");
        env.write(&b.join(CONFIG), &ours);
        ours = with_line(&env, &b.join(CONFIG), 3, "  timeout: 2, // b");
        env.write(&b.join(CONFIG), &ours);
        env.wtc_ok(&b, &["save", "-m", "b"]);
        let before = env.rev(&b, "HEAD");
        let (code, _) = env.wtc_json_code(&b, &["sync"]);
        assert_eq!(code, 3, "{style}");
        let wtc_file = env.read(&b.join(CONFIG));
        let msg = env.read(&b.join("../../../repo/.git/worktrees/b/MERGE_MSG"));
        assert!(
            msg.contains("\n; Conflicts:\n;\tsrc/config.ts\n"),
            "{style}: {msg}"
        );
        // git's answer from the same state.
        env.git(&b, &["merge", "--abort"]);
        env.git(&b, &["reset", "-q", "--hard", &before]);
        let out = env.git_output(&b, &["merge", "--no-edit", "wtc/p/a"]);
        assert!(
            !out.status.success(),
            "{style}: git merge must conflict too"
        );
        let git_file = env.read(&b.join(CONFIG));
        assert_eq!(
            unlabelled(&wtc_file),
            unlabelled(&git_file),
            "{style}:\nwtc:\n{wtc_file}\ngit:\n{git_file}"
        );
        if style == "diff3" {
            assert!(wtc_file.contains("|||||||"), "{wtc_file}");
        }
        // Resolved and committed with an editor, the comment lines go.
        env.git(&b, &["merge", "--abort"]);
        env.git(&b, &["reset", "-q", "--hard", &before]);
        env.wtc_json_code(&b, &["sync"]);
        env.write(&b.join(CONFIG), &ours);
        let mut commit = env.command("git", &b);
        commit.env("GIT_EDITOR", "true").args(["commit", "-qa"]);
        let out = env.run(commit, "git commit");
        assert!(out.status.success(), "{}", env.describe(&out));
        let committed = env.git(&b, &["log", "-1", "--format=%B"]);
        assert!(!committed.contains("Conflicts"), "{style}: {committed}");
    }
}

/// Issue 11: merge drivers (`merge.<name>.driver`) run as git runs them, and a driver's
/// non-zero exit is a conflict with its result left in the file (git's answer), not an error.
#[test]
fn merge_drivers_run_like_git_and_a_failing_one_is_a_conflict() {
    for (driver, conflicts) in [
        ("cp %B %A", false),
        ("printf 'driver result\\n' > %A; exit 1", true),
    ] {
        let env = TestEnv::new();
        let repo = env.path("repo");
        env.fixture("make_base.sh", &repo);
        let log = env.path("driver.log");
        env.write(&repo.join(".gitattributes"), "*.ts merge=custom\n");
        env.git(&repo, &["add", ".gitattributes"]);
        env.git(&repo, &["commit", "-qm", "merge driver"]);
        env.git(
            &repo,
            &[
                "config",
                "merge.custom.driver",
                &format!("echo \"%L %P\" >> {}; {driver}", log.display()),
            ],
        );
        env.wtc_json(&repo, &["init", "p"]);
        let a = env.add_lane(&repo, "a", &[]);
        let b = env.add_lane(&repo, "b", &["a"]);
        let c = env.add_lane(&repo, "c", &[]);
        env.write(
            &a.join(CONFIG),
            with_line(&env, &a.join(CONFIG), 2, "  retries: 5, // a"),
        );
        env.wtc_ok(&a, &["done"]);
        env.write(
            &b.join(CONFIG),
            with_line(&env, &b.join(CONFIG), 2, "  retries: 7, // b"),
        );
        env.wtc_ok(&b, &["save", "-m", "b"]);
        env.write(
            &c.join(CONFIG),
            with_line(&env, &c.join(CONFIG), 2, "  retries: 9, // c"),
        );
        env.wtc_ok(&c, &["done"]);
        let before = env.rev(&b, "HEAD");
        let (code, doc) = env.wtc_json_code(&b, &["sync"]);
        let wtc_file = env.read(&b.join(CONFIG));
        let wtc_stages = env.git(&b, &["ls-files", "-u"]);
        assert_eq!(
            env.read(&log),
            format!("7 '{CONFIG}'\n"),
            "the driver's %L and %P"
        );
        // git's answer from the same state.
        let _ = env.git_output(&b, &["merge", "--abort"]);
        env.git(&b, &["reset", "-q", "--hard", &before]);
        let out = env.git_output(&b, &["merge", "--no-edit", "wtc/p/a"]);
        assert_eq!(!out.status.success(), conflicts, "{driver}: git's verdict");
        assert_eq!(wtc_file, env.read(&b.join(CONFIG)), "{driver}: git's file");
        assert_eq!(
            wtc_stages,
            env.git(&b, &["ls-files", "-u"]),
            "{driver}: git's stages"
        );
        if conflicts {
            assert_eq!(code, 3, "{driver}: {doc}");
            assert_eq!(doc["conflicts"], serde_json::json!([CONFIG]), "{doc}");
            // squash: a conflict too, and nothing written.
            let _ = env.git_output(&b, &["merge", "--abort"]);
            env.git(&b, &["reset", "-q", "--hard", &before]);
            let snapshot = env.snapshot(&repo);
            let (code, doc) = env.wtc_json_code(&repo, &["squash", "--unfinished"]);
            assert_eq!(code, 3, "{doc}");
            assert_eq!(env.snapshot(&repo), snapshot);
        } else {
            assert_eq!(code, 0, "{driver}: {doc}");
        }
    }
}

/// Issue 11: with `rerere.enabled`, wtc does not replay resolutions itself (a documented
/// gap), but the conflict it leaves is git's: `git rerere` applies a resolution recorded in
/// an earlier `git merge` of the same conflict.
#[test]
fn git_rerere_replays_a_recorded_resolution_on_a_wtc_conflict() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.git(&repo, &["config", "rerere.enabled", "true"]);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    env.write(
        &a.join(CONFIG),
        with_line(&env, &a.join(CONFIG), 2, "  retries: 5, // a"),
    );
    env.wtc_ok(&a, &["done"]);
    env.write(
        &b.join(CONFIG),
        with_line(&env, &b.join(CONFIG), 2, "  retries: 7, // b"),
    );
    env.wtc_ok(&b, &["save", "-m", "b"]);
    let before = env.rev(&b, "HEAD");
    // Record a resolution once, with git.
    let out = env.git_output(&b, &["merge", "--no-edit", "wtc/p/a"]);
    assert!(!out.status.success());
    let resolved = with_line(&env, &b.join(CONFIG), 2, "  retries: 6, // both");
    let resolved = resolved
        .lines()
        .filter(|l| {
            !l.starts_with("<<<<<<<")
                && !l.starts_with("=======")
                && !l.starts_with(">>>>>>>")
                && !l.contains("retries: 7")
                && !l.contains("retries: 5")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    env.write(&b.join(CONFIG), &resolved);
    env.git(&b, &["rerere"]);
    env.git(&b, &["reset", "-q", "--hard", &before]);
    // The same conflict, from wtc: git rerere resolves it.
    let (code, _) = env.wtc_json_code(&b, &["sync"]);
    assert_eq!(code, 3);
    env.git(&b, &["rerere"]);
    assert_eq!(
        env.read(&b.join(CONFIG)),
        resolved,
        "git rerere did not replay the resolution"
    );
}
