//! Issue 11 (real repositories): the commits wtc writes behave like `git commit`'s.
//!
//! Authorship and ONE trailer block on the integration commit (checked with
//! `git interpret-trailers --parse`), the commit hooks (`prepare-commit-msg`, `commit-msg`,
//! `post-commit`, `core.hooksPath`, `--no-hooks`), save's opt-in `pre-commit`, `pre-push` on
//! every push, signing with real ssh and gpg keys (`git verify-commit`), reflog entries and
//! ORIG_HEAD, and git's hint when no identity is configured.

use std::path::{Path, PathBuf};

use crate::env::{code, stderr, TestEnv};

/// A repository from `make_base.sh` with plan `p` and independent lanes `a` and `b`.
fn two_lanes(env: &TestEnv) -> (PathBuf, PathBuf, PathBuf) {
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &[]);
    (repo, a, b)
}

/// Commit everything in `dir` with `git commit`, as `author` when given.
fn commit(
    env: &TestEnv,
    dir: &Path,
    file: &str,
    content: &str,
    message: &str,
    author: Option<&str>,
) {
    env.write(&dir.join(file), content);
    env.git(dir, &["add", "-A"]);
    let mut args = vec!["commit", "-q", "-m", message];
    if let Some(a) = author {
        args.push("--author");
        args.push(a);
    }
    env.git(dir, &args);
}

fn write_hook(dir: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `git interpret-trailers --parse` of the message of `rev`: the trailer block git sees.
fn trailers(env: &TestEnv, repo: &Path, rev: &str) -> Vec<String> {
    let msg = env.git(repo, &["log", "-1", "--format=%B", rev]);
    env.git_stdin(repo, &["interpret-trailers", "--parse"], msg.as_bytes())
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn the_integration_credits_every_author_in_one_trailer_block() {
    let env = TestEnv::new();
    let (repo, a, b) = two_lanes(&env);
    // A hotfix lands on main after the plan started; lane a merges it in. It is already on
    // the target: its author is not credited again.
    commit(
        &env,
        &repo,
        "HOTFIX",
        "fix\n",
        "Hotfix",
        Some("Harry Hotfix <harry@example.test>"),
    );
    env.git(&a, &["merge", "-q", "--no-edit", "main"]);
    commit(
        &env,
        &a,
        "a.txt",
        "a\n",
        "Add a\n\nCo-authored-by: Dana Pair <dana@example.test>\nSigned-off-by: Alice Able <alice@example.test>",
        Some("Alice Able <alice@example.test>"),
    );
    commit(
        &env,
        &b,
        "b.txt",
        "b\n",
        "Add b",
        Some("Bob Baker <bob@example.test>"),
    );
    // A commit by the one who squashes: the integration commit credits them itself.
    commit(&env, &b, "b2.txt", "b2\n", "More b", None);
    env.wtc_ok(&a, &["done"]);
    env.wtc_ok(&b, &["done"]);
    env.wtc_ok(
        &repo,
        &["squash", "-m", "Ship the feature\n\nA longer body.\n\nFixes: #42\nReviewed-by: Rita <rita@example.test>"],
    );
    let msg = env.git(&repo, &["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.starts_with("Ship the feature\n\nA longer body.\n"),
        "{msg}"
    );
    let head = env.rev(&repo, "main");
    let expected = vec![
        "Fixes: #42".to_string(),
        "Reviewed-by: Rita <rita@example.test>".into(),
        "Co-authored-by: Alice Able <alice@example.test>".into(),
        "Co-authored-by: Dana Pair <dana@example.test>".into(),
        "Co-authored-by: Bob Baker <bob@example.test>".into(),
        "Signed-off-by: Alice Able <alice@example.test>".into(),
        "Wtc-Plan: p".into(),
        format!("Wtc-Lane: a {}", env.rev(&repo, "wtc/p/a")),
        format!("Wtc-Lane: b {}", env.rev(&repo, "wtc/p/b")),
    ];
    assert_eq!(
        trailers(&env, &repo, &head),
        expected,
        "the message:\n{msg}"
    );
    assert!(
        !msg.contains("Harry") && !msg.contains("- Hotfix"),
        "a commit already on the target is credited:\n{msg}"
    );
    assert!(
        !msg.contains("Test Author"),
        "the integration's own author is credited:\n{msg}"
    );
    assert_eq!(
        env.git(&repo, &["log", "-1", "--format=%an <%ae>", "main"])
            .trim(),
        "Test Author <author@example.test>"
    );
}

#[test]
fn commit_hooks_run_on_the_integration_like_git_commit() {
    let env = TestEnv::new();
    let (repo, a, b) = two_lanes(&env);
    commit(&env, &a, "a.txt", "a\n", "Add a", None);
    commit(&env, &b, "b.txt", "b\n", "Add b", None);
    env.wtc_ok(&a, &["done"]);
    env.wtc_ok(&b, &["done"]);
    let log = env.path("hooks.log");
    let hooks = repo.join(".githooks");
    // A relative core.hooksPath is relative to the worktree's top, as in git.
    env.git(&repo, &["config", "core.hooksPath", ".githooks"]);
    env.write(&repo.join(".git/info/exclude"), ".githooks/\n");
    write_hook(
        &hooks,
        "prepare-commit-msg",
        &format!(
            "echo \"prepare $# $2\" >> {}\nsed -i '1s/^/[PROJ-1] /' \"$1\"",
            log.display()
        ),
    );
    // Gerrit's way: a Change-Id trailer added to the last paragraph.
    write_hook(
        &hooks,
        "commit-msg",
        &format!(
            "echo commit-msg >> {}\ngit interpret-trailers --in-place --trailer 'Change-Id: I0123456789abcdef' \"$1\"",
            log.display()
        ),
    );
    write_hook(
        &hooks,
        "post-commit",
        &format!("git rev-parse HEAD > {}.post", log.display()),
    );
    // A hook that refuses: nothing moves, the hook's words are shown.
    let refusing = env.path("refusing");
    write_hook(
        &refusing,
        "commit-msg",
        "echo 'commitlint: subject may not end with a period' >&2\nexit 1",
    );
    env.git(
        &repo,
        &["config", "core.hooksPath", &refusing.display().to_string()],
    );
    let before = env.rev(&repo, "main");
    let out = env.wtc(&repo, &["squash"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("commitlint: subject may not end"),
        "{}",
        env.describe(&out)
    );
    assert!(
        stderr(&out).contains("commit-msg hook refused"),
        "{}",
        env.describe(&out)
    );
    assert_eq!(
        env.rev(&repo, "main"),
        before,
        "a refused integration moved main"
    );
    env.assert_clean(&repo, "after a refused integration");

    env.git(&repo, &["config", "core.hooksPath", ".githooks"]);
    let doc = env.wtc_json(&repo, &["squash"]);
    let head = env.rev(&repo, "main");
    assert_eq!(doc["commit"], head.as_str());
    let msg = env.git(&repo, &["log", "-1", "--format=%B", "main"]);
    assert!(msg.starts_with("[PROJ-1] p: integrate a, b"), "{msg}");
    let t = trailers(&env, &repo, &head);
    assert!(
        t.contains(&"Change-Id: I0123456789abcdef".to_string()),
        "{t:?}\n{msg}"
    );
    assert!(
        t.iter().any(|l| l.starts_with("Wtc-Lane: a ")),
        "one block: {t:?}\n{msg}"
    );
    assert_eq!(
        doc["message"].as_str().map(str::trim),
        Some(msg.trim()),
        "--json shows the final message"
    );
    assert_eq!(env.read(&log), "prepare 2 message\ncommit-msg\n");
    assert_eq!(
        env.read(&PathBuf::from(format!("{}.post", log.display())))
            .trim(),
        head
    );
}

#[test]
fn no_hooks_skips_commit_msg_like_no_verify() {
    let env = TestEnv::new();
    let (repo, a, _b) = two_lanes(&env);
    commit(&env, &a, "a.txt", "a\n", "Add a", None);
    env.wtc_ok(&a, &["done"]);
    let hooks = repo.join(".git/hooks");
    let log = env.path("hooks.log");
    write_hook(&hooks, "commit-msg", "exit 1");
    write_hook(
        &hooks,
        "prepare-commit-msg",
        &format!("echo prepare >> {}", log.display()),
    );
    // A hook file that is not executable is ignored, with git's hint.
    std::fs::write(hooks.join("post-commit"), "#!/bin/sh\nexit 1\n").unwrap();
    for flag in ["--no-hooks", "--no-verify"] {
        let out = env.wtc(&repo, &["squash", "--unfinished", "--dry-run", flag]);
        assert_eq!(code(&out), 0, "{flag}: {}", env.describe(&out));
    }
    let out = env.wtc(&repo, &["squash", "--unfinished", "--no-verify"]);
    assert_eq!(code(&out), 0, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("hook was ignored because it's not set as executable"),
        "{}",
        env.describe(&out)
    );
    // prepare-commit-msg is not a veto: git runs it under --no-verify too.
    assert_eq!(env.read(&log), "prepare\n");
}

#[test]
fn save_can_run_pre_commit_first() {
    let env = TestEnv::new();
    let (_repo, a, _b) = two_lanes(&env);
    let hooks = a.join("../../../repo/.git/hooks");
    // A secret scanner over what would be committed, and a formatter.
    write_hook(
        &hooks,
        "pre-commit",
        "if git diff --cached --name-only | grep -q secret; then echo 'found a secret' >&2; exit 1; fi\n\
         [ -f fmt.txt ] && printf 'formatted\\n' > fmt.txt; exit 0",
    );
    env.write(&a.join("secret.txt"), "token\n");
    // Off by default: a plain save commits it.
    let doc = env.wtc_json(&a, &["save"]);
    assert!(doc["commit"].is_string());
    env.git(&a, &["config", "wtc.preCommitOnSave", "true"]);
    env.write(&a.join("secret.txt"), "token 2\n");
    let before = env.rev(&a, "HEAD");
    let out = env.wtc(&a, &["save"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("found a secret"),
        "{}",
        env.describe(&out)
    );
    assert!(
        stderr(&out).contains("pre-commit hook refused the save"),
        "{}",
        env.describe(&out)
    );
    assert_eq!(env.rev(&a, "HEAD"), before, "a refused save committed");
    assert_eq!(env.read(&a.join("secret.txt")), "token 2\n");
    // --no-hooks saves anyway; the formatter's change is part of the next save.
    env.wtc_ok(&a, &["save", "--no-hooks"]);
    env.write(&a.join("fmt.txt"), "unformatted\n");
    env.wtc_ok(&a, &["save"]);
    assert_eq!(env.git(&a, &["show", "HEAD:fmt.txt"]).trim(), "formatted");
    env.assert_clean(&a, "after a save whose pre-commit hook formatted a file");
}

#[test]
fn pre_push_runs_on_every_push_unless_told_not_to() {
    let env = TestEnv::new();
    let source = env.path("source");
    env.fixture("make_base.sh", &source);
    let bare = crate::servers::bare_remote(&env, &source, &env.path("srv"), "shop.git");
    let lead = env.path("lead");
    env.git(
        env.root(),
        &["clone", "-q", &bare.display().to_string(), "lead"],
    );
    let log = env.path("pre-push.log");
    write_hook(
        &lead.join(".git/hooks"),
        "pre-push",
        &format!(
            "echo \"args $1 $2\" >> {log}\nwhile read lref lsha rref rsha; do echo \"$rref\" >> {log}; done\n\
             if [ -f {block} ]; then echo 'secret scanner: push refused'; exit 1; fi",
            log = log.display(),
            block = env.path("block").display()
        ),
    );
    env.wtc_ok(&lead, &["init", "p", "--remote", "origin"]);
    // Regression: `init --remote` published the plan only with the next command (the
    // repository's config snapshot did not show the remote it had just recorded).
    assert_eq!(
        env.rev(&bare, "refs/wtc/p/plan"),
        env.rev(&lead, "refs/wtc/p/plan")
    );
    let plan_pushes = env.read(&log);
    assert!(
        plan_pushes.contains("args origin "),
        "publishing the plan ran no pre-push:\n{plan_pushes}"
    );
    assert!(plan_pushes.contains("refs/wtc/p/plan"), "{plan_pushes}");
    let a = env.add_lane(&lead, "a", &[]);
    env.write(&env.path("block"), "");
    env.write(&a.join("a.txt"), "a\n");
    let out = env.wtc(&a, &["save"]);
    assert_eq!(
        code(&out),
        1,
        "a refused publish must fail\n{}",
        env.describe(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("secret scanner: push refused"),
        "{}",
        env.describe(&out)
    );
    assert!(
        err.contains("pre-push hook refused"),
        "{}",
        env.describe(&out)
    );
    assert!(
        !env.rev_exists(&bare, "refs/wtc/p/lanes/a")
            || env.rev(&bare, "refs/wtc/p/lanes/a") != env.rev(&a, "HEAD")
    );
    // The work is saved locally all the same, and --no-hooks (or wtc.prePush=false) publishes.
    env.wtc_ok(&a, &["save", "--no-hooks"]);
    assert_eq!(env.rev(&bare, "refs/wtc/p/lanes/a"), env.rev(&a, "HEAD"));
    env.write(&a.join("a.txt"), "a2\n");
    env.git(&lead, &["config", "wtc.prePush", "false"]);
    env.wtc_ok(&a, &["save"]);
    assert_eq!(env.rev(&bare, "refs/wtc/p/lanes/a"), env.rev(&a, "HEAD"));
    env.git(&lead, &["config", "wtc.prePush", "true"]);
    std::fs::remove_file(env.path("block")).unwrap();
    env.wtc_ok(&a, &["done"]);
    env.wtc_ok(&lead, &["squash", "--push"]);
    let all = env.read(&log);
    assert!(
        all.contains("refs/heads/main"),
        "squash --push ran no pre-push:\n{all}"
    );
    assert_eq!(env.rev(&bare, "main"), env.rev(&lead, "main"));
}

/// An ssh signing key made for the test, and the config that signs with it.
fn ssh_signing(env: &TestEnv, repo: &Path) -> PathBuf {
    let key = env.path("signing-key");
    let out = env
        .command("ssh-keygen", env.root())
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = env.read(&PathBuf::from(format!("{}.pub", key.display())));
    let allowed = env.path("allowed-signers");
    env.write(
        &allowed,
        format!("{} {}", crate::hermetic::COMMITTER_EMAIL, public),
    );
    for (k, v) in [
        ("gpg.format", "ssh".to_string()),
        ("user.signingKey", key.display().to_string()),
        ("commit.gpgSign", "true".into()),
        ("gpg.ssh.allowedSignersFile", allowed.display().to_string()),
    ] {
        env.git(repo, &["config", k, &v]);
    }
    key
}

#[test]
fn integration_commits_are_signed_with_ssh_keys_like_git_commit() {
    let env = TestEnv::new();
    let (repo, a, _b) = two_lanes(&env);
    commit(&env, &a, "a.txt", "a\n", "Add a", None);
    ssh_signing(&env, &repo);
    env.wtc_ok(&a, &["done"]);
    // WIP commits are not signed unless asked (they never reach the target).
    let wip = env.git(&repo, &["cat-file", "commit", "wtc/p/a"]);
    assert!(
        !wip.contains("gpgsig"),
        "a WIP commit was signed by default:\n{wip}"
    );
    env.wtc_ok(&repo, &["squash", "--unfinished"]);
    let out = env.git_output(&repo, &["verify-commit", "main"]);
    assert!(
        out.status.success(),
        "git verify-commit refused the integration commit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // With wtc.signSaves, saves are signed too.
    env.git(&repo, &["config", "wtc.signSaves", "true"]);
    env.write(&a.join("more.txt"), "more\n");
    env.wtc_ok(&a, &["save"]);
    let out = env.git_output(&a, &["verify-commit", "HEAD"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_failing_signer_moves_nothing() {
    let env = TestEnv::new();
    let (repo, a, _b) = two_lanes(&env);
    commit(&env, &a, "a.txt", "a\n", "Add a", None);
    env.wtc_ok(&a, &["done"]);
    ssh_signing(&env, &repo);
    env.git(&repo, &["config", "user.signingKey", "/nonexistent/key"]);
    let before = env.snapshot(&repo);
    let main = env.rev(&repo, "main");
    let out = env.wtc(&repo, &["squash", "--unfinished"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("signing the integration commit failed"),
        "{}",
        env.describe(&out)
    );
    assert_eq!(env.rev(&repo, "main"), main);
    assert_eq!(
        env.snapshot(&repo),
        before,
        "a failed signing changed the repository"
    );
}

#[test]
fn integration_commits_are_signed_with_gpg_keys_like_git_commit() {
    let env = TestEnv::new();
    let (repo, a, _b) = two_lanes(&env);
    let gnupg = env.path("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        let out = env
            .command("gpg", env.root())
            .env("GNUPGHOME", &gnupg)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg runs");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let uid = format!(
        "{} <{}>",
        crate::hermetic::COMMITTER_NAME,
        crate::hermetic::COMMITTER_EMAIL
    );
    gpg(&["--quick-generate-key", &uid, "ed25519", "sign", "never"]);
    commit(&env, &a, "a.txt", "a\n", "Add a", None);
    env.wtc_ok(&a, &["done"]);
    env.git(&repo, &["config", "commit.gpgSign", "true"]);
    // No user.signingKey: the committer identity picks the key, as in git.
    let mut cmd = env.command(env!("CARGO_BIN_EXE_wtc"), &repo);
    cmd.env("GNUPGHOME", &gnupg)
        .args(["squash", "--unfinished"]);
    let out = env.run(cmd, "wtc squash (gpg)");
    assert_eq!(code(&out), 0, "{}", env.describe(&out));
    let mut verify = env.command("git", &repo);
    verify
        .env("GNUPGHOME", &gnupg)
        .args(["verify-commit", "main"]);
    let out = env.run(verify, "git verify-commit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = env
        .command("gpgconf", env.root())
        .env("GNUPGHOME", &gnupg)
        .args(["--kill", "all"])
        .output();
}

#[test]
fn moves_get_reflog_entries_and_orig_head_like_git_merge() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    env.write(&a.join("a.txt"), "a\n");
    env.wtc_ok(&a, &["done"]);
    let last = |dir: &Path, r: &str| {
        env.git(dir, &["reflog", "-1", "--format=%gs", r])
            .trim()
            .to_string()
    };
    assert_eq!(last(&a, "wtc/p/a"), "wtc done");
    assert_eq!(
        last(&a, "HEAD"),
        "wtc done",
        "HEAD's reflog, as git commit writes it"
    );
    env.write(&a.join("a2.txt"), "a\n");
    env.wtc_ok(&a, &["save", "-m", "More a"]);
    assert_eq!(last(&a, "HEAD"), "wtc save: More a");
    env.wtc_ok(&a, &["done"]);
    let b_before = env.rev(&b, "HEAD");
    env.wtc_ok(&b, &["sync"]);
    assert_eq!(last(&b, "wtc/p/b"), "wtc sync: fast-forward to a");
    assert_eq!(last(&b, "HEAD"), "wtc sync: fast-forward to a");
    assert_eq!(env.rev(&b, "ORIG_HEAD"), b_before);
    env.write(&b.join("b.txt"), "b\n");
    env.wtc_ok(&b, &["done"]);
    let main_before = env.rev(&repo, "main");
    env.wtc_ok(&repo, &["squash"]);
    assert_eq!(last(&repo, "main"), "wtc squash: integrate plan p (a, b)");
    assert_eq!(last(&repo, "HEAD"), "wtc squash: integrate plan p (a, b)");
    assert_eq!(env.rev(&repo, "ORIG_HEAD"), main_before);
    // ORIG_HEAD undoes it, as after `git merge`.
    env.git(&repo, &["reset", "-q", "--hard", "ORIG_HEAD"]);
    assert_eq!(env.rev(&repo, "main"), main_before);
}

#[test]
fn a_missing_identity_gets_gits_hint_and_nothing_is_written() {
    let env = TestEnv::new();
    let (repo, a, b) = two_lanes(&env);
    env.write(&a.join("a.txt"), "a\n");
    let before = env.snapshot(&repo);
    let mut cmd = env.command(env!("CARGO_BIN_EXE_wtc"), &a);
    for var in [
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "EMAIL",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("save");
    let out = env.run(cmd, "wtc save without an identity");
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("identity is not configured"),
        "{}",
        env.describe(&out)
    );
    assert!(
        err.contains("git config --global user.email \"you@example.com\""),
        "{}",
        env.describe(&out)
    );
    assert!(err.contains("omit --global"), "{}", env.describe(&out));
    assert_eq!(env.snapshot(&repo), before);
    // A fast-forward needs no identity (git never refuses a ref update for one): the
    // reflog names the user as git would.
    env.wtc_ok(&a, &["save"]);
    let c = env.add_lane(&repo, "c", &["a"]);
    let mut cmd = env.command(env!("CARGO_BIN_EXE_wtc"), &c);
    for var in [
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "EMAIL",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("USER", "agent").arg("sync");
    let out = env.run(cmd, "wtc sync without an identity");
    assert_eq!(code(&out), 0, "{}", env.describe(&out));
    assert_eq!(env.rev(&c, "HEAD"), env.rev(&a, "HEAD"));
    let who = env.git(&c, &["reflog", "-1", "--format=%gn", "HEAD"]);
    assert_eq!(who.trim(), "agent");
    let _ = b;
}

/// A lane with a long history (started at an old revision, or just busy) lists a bounded
/// number of subjects in the integration message and counts the rest.
#[test]
fn the_integration_message_lists_a_bounded_number_of_subjects() {
    let env = crate::env::TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let lane = env.add_lane(&repo, "busy", &[]);
    for i in 0..25 {
        env.write(&lane.join(format!("f{i}.txt")), "x\n");
        env.git(&lane, &["add", "-A"]);
        env.git(&lane, &["commit", "-qm", &format!("Step {i}")]);
    }
    env.wtc_json(&lane, &["done"]);
    let doc = env.wtc_json(&repo, &["squash", "--dry-run"]);
    let message = doc["message"].as_str().expect("a message");
    let listed = message.lines().filter(|l| l.starts_with("- Step ")).count();
    assert_eq!(listed, 20, "{message}");
    assert!(
        message.contains("- Step 0\n") && message.contains("- Step 19\n"),
        "{message}"
    );
    assert!(message.contains("- ... and 5 more\n"), "{message}");
}

/// squash checks the checked-out target before the hooks run, and again once it holds the
/// lock; the second check may reuse the first only while nothing it read has moved. A hook
/// that writes a file where the integration would write one makes the target dirty in
/// between: squash refuses, nothing moves, and the hook's bytes stay.
#[test]
fn a_hook_that_dirties_the_target_in_between_is_caught_by_the_locked_check() {
    let env = TestEnv::new();
    let (repo, a, b) = two_lanes(&env);
    commit(&env, &a, "a.txt", "a\n", "Add a", None);
    commit(&env, &b, "b.txt", "b\n", "Add b", None);
    env.wtc_ok(&a, &["done"]);
    env.wtc_ok(&b, &["done"]);
    let hooks = env.path("dirtying");
    let target_file = repo.join("a.txt");
    write_hook(
        &hooks,
        "commit-msg",
        &format!(
            "printf 'the hook wrote this\\n' > '{}'",
            target_file.display()
        ),
    );
    env.git(
        &repo,
        &["config", "core.hooksPath", &hooks.display().to_string()],
    );
    let before = env.rev(&repo, "main");
    let out = env.wtc(&repo, &["squash"]);
    assert_ne!(code(&out), 0, "{}", env.describe(&out));
    assert!(stderr(&out).contains("a.txt"), "{}", env.describe(&out));
    assert_eq!(env.rev(&repo, "main"), before, "nothing moved");
    assert_eq!(
        std::fs::read_to_string(&target_file).unwrap(),
        "the hook wrote this\n"
    );
}

/// Without a fixed date, a commit wtc writes carries the local time zone's offset exactly as
/// `git commit` records it in the same environment (libc's view of `TZ`, here a POSIX zone
/// string that needs no time zone database, and one with half an hour in it).
#[test]
fn commit_dates_carry_the_local_offset_like_git_commit() {
    let env = TestEnv::new();
    let (_repo, a, _b) = two_lanes(&env);
    let local = |mut cmd: std::process::Command| {
        cmd.env_remove("GIT_AUTHOR_DATE")
            .env_remove("GIT_COMMITTER_DATE")
            .env("TZ", "XYZ-5:30");
        cmd
    };
    env.write(&a.join("dated.txt"), "when\n");
    let mut save = local(env.command(env!("CARGO_BIN_EXE_wtc"), &a));
    save.args(["save", "-m", "dated"]);
    let out = env.run(save, "wtc save");
    env.assert_code(&out, 0, "wtc save");
    let ours = env.git(&a, &["log", "-1", "--format=%ai %ci"]);
    let mut git = local(env.command("git", &a));
    git.args(["commit", "-q", "--allow-empty", "-m", "git's"]);
    let out = env.run(git, "git commit");
    env.assert_code(&out, 0, "git commit");
    let theirs = env.git(&a, &["log", "-1", "--format=%ai %ci"]);
    let offsets = |dates: &str| -> Vec<String> {
        dates
            .split_whitespace()
            .filter(|w| w.starts_with('+') || w.starts_with('-'))
            .map(String::from)
            .collect()
    };
    assert_eq!(offsets(&ours), ["+0530", "+0530"], "wtc: {ours}");
    assert_eq!(offsets(&ours), offsets(&theirs), "git: {theirs}");
}
