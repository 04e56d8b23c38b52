//! Issue 11 (real repositories): smudge and clean filters, git-lfs included (the
//! distribution's `git-lfs`, a process filter that may ask to delay its output).
//!
//! Whenever wtc writes worktree files (sync, squash's checked-out target, `--verify`'s
//! temporary tree, add) the worktree holds the smudged bytes and `git status` is clean, while
//! commits hold the cleaned blobs (LFS pointers). A failing filter is an error naming the
//! file and the filter, and leaves the worktree untouched; one that fails while an
//! interrupted update is being finished says exactly how to go on.

use std::path::{Path, PathBuf};

use crate::env::{code, stderr, TestEnv};

/// Random-looking bytes no filter would mistake for text.
fn payload(seed: u8, len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ seed as u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn lfs_repo(env: &TestEnv) -> PathBuf {
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.git(&repo, &["lfs", "install", "--local"]);
    env.git(&repo, &["lfs", "track", "*.bin"]);
    env.git(&repo, &["add", ".gitattributes"]);
    env.git(&repo, &["commit", "-qm", "track *.bin with LFS"]);
    repo
}

fn is_pointer(env: &TestEnv, dir: &Path, rev_path: &str) -> bool {
    env.git(dir, &["cat-file", "-p", rev_path])
        .starts_with("version https://git-lfs.github.com/spec/v1")
}

#[test]
fn lfs_files_flow_through_save_sync_squash_verify_and_add() {
    let env = TestEnv::new();
    let repo = lfs_repo(&env);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    let big = payload(1, 200_000);
    env.write(&a.join("assets/model.bin"), &big);
    env.wtc_ok(&a, &["done"]);
    assert!(
        is_pointer(&env, &a, "HEAD:assets/model.bin"),
        "save stored the bytes, not a pointer"
    );
    env.assert_clean(&a, "after saving an LFS file");
    // sync writes the smudged bytes (git-lfs may delay: wtc asks it not to).
    let (c, doc) = env.wtc_json_code(&b, &["sync"]);
    assert_eq!(c, 0, "{doc}");
    assert_eq!(env.read_bytes(&b.join("assets/model.bin")), big);
    env.assert_clean(&b, "after syncing an LFS file");
    // A change on top, then squash into the checked-out main, with --verify looking at the
    // real bytes in its temporary tree.
    let bigger = payload(2, 300_000);
    env.write(&b.join("assets/model.bin"), &bigger);
    env.wtc_ok(&b, &["done"]);
    let verify = "test \"$(head -c 7 assets/model.bin)\" != version && test $(wc -c < assets/model.bin) -eq 300000";
    env.wtc_ok(&repo, &["squash", "--verify", verify]);
    assert!(is_pointer(&env, &repo, "main:assets/model.bin"));
    assert_eq!(env.read_bytes(&repo.join("assets/model.bin")), bigger);
    env.assert_clean(
        &repo,
        "after squashing an LFS file into the checked-out main",
    );
    // A lane added now checks the real bytes out too.
    env.wtc_json(&repo, &["init", "q"]);
    let c2 = PathBuf::from(
        env.wtc_json(&repo, &["--plan", "q", "add", "c"])["worktree"]
            .as_str()
            .expect("a worktree")
            .to_string(),
    );
    assert_eq!(env.read_bytes(&c2.join("assets/model.bin")), bigger);
    env.assert_clean(&c2, "in a new lane");
}

/// A plain smudge/clean pair (`tr`), so the stored and the checked-out bytes differ.
fn rot13(repo: &Path, env: &TestEnv) {
    env.git(
        repo,
        &["config", "filter.rot.clean", "tr a-zA-Z n-za-mN-ZA-M"],
    );
    env.git(
        repo,
        &["config", "filter.rot.smudge", "tr a-zA-Z n-za-mN-ZA-M"],
    );
    env.git(repo, &["config", "filter.rot.required", "true"]);
    env.write(&repo.join(".gitattributes"), "*.rot filter=rot\n");
    env.git(repo, &["add", ".gitattributes"]);
    env.git(repo, &["commit", "-qm", "rot13 filter"]);
}

#[test]
fn smudge_filters_run_and_a_failing_one_leaves_the_worktree_untouched() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    rot13(&repo, &env);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    env.write(&a.join("secret.rot"), "hello world\n");
    env.wtc_ok(&a, &["done"]);
    assert_eq!(
        env.git(&a, &["cat-file", "-p", "HEAD:secret.rot"]),
        "uryyb jbeyq\n"
    );
    env.wtc_ok(&b, &["sync"]);
    assert_eq!(env.read(&b.join("secret.rot")), "hello world\n");
    env.assert_clean(&b, "after syncing a filtered file");

    // The filter breaks; upstream changes a plain file and a filtered one.
    env.write(&a.join("notes/plain.md"), "plain\n");
    env.write(&a.join("secret.rot"), "hello again\n");
    env.wtc_ok(&a, &["done"]);
    env.git(
        &repo,
        &[
            "config",
            "filter.rot.smudge",
            "sh -c 'echo rot is broken >&2; exit 7'",
        ],
    );
    let before = env.snapshot(&b);
    let files_before = env.read(&b.join("secret.rot"));
    let out = env.wtc(&b, &["sync"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("secret.rot") && err.contains("rot filter"),
        "{}",
        env.describe(&out)
    );
    assert_eq!(
        env.snapshot(&b),
        before,
        "a failing filter changed the worktree"
    );
    assert_eq!(env.read(&b.join("secret.rot")), files_before);
    assert!(
        !b.join("notes/plain.md").exists(),
        "half an update was written"
    );
    let git_dir = PathBuf::from(env.git(&b, &["rev-parse", "--absolute-git-dir"]).trim());
    assert!(
        !git_dir.join("wtc-update").exists(),
        "a journal record blocks the worktree"
    );
    assert!(!b.join(".wtc-aside").exists());
    // Later commands work, and a fixed filter syncs.
    env.write(&b.join("mine.txt"), "mine\n");
    env.wtc_ok(&b, &["save"]);
    env.git(
        &repo,
        &["config", "filter.rot.smudge", "tr a-zA-Z n-za-mN-ZA-M"],
    );
    env.wtc_ok(&b, &["sync"]);
    assert_eq!(env.read(&b.join("secret.rot")), "hello again\n");
    env.assert_clean(&b, "after the filter was fixed");
}

#[test]
fn a_filter_failing_while_an_interrupted_update_is_finished_says_how_to_go_on() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    rot13(&repo, &env);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    for i in 0..5 {
        env.write(&a.join(format!("f{i}.rot")), format!("file {i}\n"));
    }
    env.wtc_ok(&a, &["done"]);
    // Kill the sync right after its journal record is written (its first fault point after
    // the index lock): count the points, then stop at the one the record follows.
    let git_dir = PathBuf::from(env.git(&b, &["rev-parse", "--absolute-git-dir"]).trim());
    let mut killed = false;
    for n in 1..60 {
        let mut cmd = env.command(env!("CARGO_BIN_EXE_wtc"), &b);
        cmd.env("WTC_FAULT_AFTER", n.to_string()).arg("sync");
        let out = env.run(cmd, "wtc sync (killed)");
        if git_dir.join("wtc-update").exists() {
            killed = true;
            assert_ne!(code(&out), 0);
            break;
        }
        assert!(
            code(&out) != 0,
            "the sync finished before a journal record was ever left behind"
        );
    }
    assert!(killed, "no fault point leaves a journal record");
    env.git(&repo, &["config", "filter.rot.smudge", "sh -c 'exit 3'"]);
    let out = env.wtc(&b, &["save"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("interrupted wtc update of this worktree cannot be finished"),
        "{}",
        env.describe(&out)
    );
    assert!(err.contains("rot filter"), "{}", env.describe(&out));
    assert!(
        err.contains("wtc-update") && err.contains("run any wtc command to finish it"),
        "{}",
        env.describe(&out)
    );
    // Fixed, the next command finishes the update.
    env.git(
        &repo,
        &["config", "filter.rot.smudge", "tr a-zA-Z n-za-mN-ZA-M"],
    );
    env.wtc_ok(&b, &["save"]);
    assert!(!git_dir.join("wtc-update").exists());
    for i in 0..5 {
        assert_eq!(
            env.read(&b.join(format!("f{i}.rot"))),
            format!("file {i}\n")
        );
    }
    env.assert_clean(&b, "after finishing the interrupted update");
}
