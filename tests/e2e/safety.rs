//! Worktree updates end to end: every kind of change arrives intact, and hostile trees
//! are refused (ARCHITECTURE.md, invariant 4).
//!
//! `sync` and `squash` write files that come from another lane, possibly another
//! machine. They must reproduce git's checkout exactly (deletions, renames, modes,
//! symlinks, binaries, file <-> directory swaps), and must never write outside the
//! worktree or into a git dir: no `..`, no `.git` component, nothing through a symlink.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::env::{crashed, s, TestEnv};

struct Lanes {
    env: TestEnv,
    repo: PathBuf,
    up: PathBuf,
    down: PathBuf,
}

fn setup() -> Lanes {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let up = env.add_lane(&repo, "up", &[]);
    let down = env.add_lane(&repo, "down", &["up"]);
    Lanes {
        env,
        repo,
        up,
        down,
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .expect("stat")
        .permissions()
        .mode()
        & 0o111
        != 0
}

/// Deletes, renames, modes, symlinks, binaries, file -> dir and dir -> file, arriving
/// by sync: the downstream worktree ends exactly at the upstream tree, and git agrees.
#[test]
fn sync_applies_every_kind_of_change() {
    let l = setup();
    let env = &l.env;
    let up = &l.up;
    env.git(up, &["rm", "-q", "src/index.ts"]);
    env.git(up, &["mv", "src/config.ts", "src/settings.ts"]);
    env.git(up, &["rm", "-q", "-r", "notes"]);
    env.write(&up.join("notes"), "notes is a file now\n"); // dir -> file
    env.git(up, &["rm", "-q", "README.md"]);
    env.write(
        &up.join("README.md/index.md"),
        "# README is a directory now\n",
    ); // file -> dir
    env.write(&up.join("bin/run.sh"), "#!/bin/sh\necho run\n");
    std::fs::set_permissions(
        up.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    std::os::unix::fs::symlink("../src/settings.ts", up.join("bin/settings")).expect("symlink");
    std::os::unix::fs::symlink("src", up.join("source")).expect("symlink");
    env.write(
        &up.join("assets/logo.bin"),
        b"\x00\x01\x02\xff\xfe\x00binary\x00",
    );
    env.write(&up.join("deep/a/b/c/d.txt"), "deep\n");
    let done = env.wtc_json(up, &["done"]);
    let up_tip = s(&done["commit"]).to_string();
    // `wtc done` saved what git would have staged.
    assert_eq!(
        env.git(up, &["status", "--porcelain", "--ignored"]),
        "",
        "done left nothing behind"
    );

    let sync = env.wtc_json(&l.down, &["sync"]);
    assert_eq!(sync["result"], "fast-forward", "{sync}");
    let down = &l.down;
    assert_eq!(env.rev(down, "HEAD"), up_tip);
    env.assert_clean(down, "after syncing every kind of change");
    assert!(!down.join("src/index.ts").exists(), "deleted file removed");
    assert!(
        !down.join("src/config.ts").exists(),
        "renamed-away file removed"
    );
    assert_eq!(env.read(&down.join("notes")), "notes is a file now\n");
    assert_eq!(
        env.read(&down.join("README.md/index.md")),
        "# README is a directory now\n"
    );
    assert!(
        is_executable(&down.join("bin/run.sh")),
        "the executable bit arrived"
    );
    assert!(!is_executable(&down.join("deep/a/b/c/d.txt")));
    for (link, target) in [("bin/settings", "../src/settings.ts"), ("source", "src")] {
        let path = down.join(link);
        assert!(
            std::fs::symlink_metadata(&path)
                .expect("stat")
                .file_type()
                .is_symlink(),
            "{link}"
        );
        assert_eq!(
            std::fs::read_link(&path).expect("readlink"),
            Path::new(target)
        );
    }
    assert_eq!(
        env.read_bytes(&down.join("assets/logo.bin")),
        b"\x00\x01\x02\xff\xfe\x00binary\x00"
    );
    // And back: down goes on working, the lanes still agree with git.
    env.write(&down.join("README.md/more.md"), "more\n");
    env.wtc_json(down, &["save"]);
    env.assert_clean(down, "after save");
    env.assert_fsck(&l.repo);
}

/// `wtc save` commits exactly the tree `git add -A && git write-tree` would.
#[test]
fn save_matches_git_add_all() {
    let l = setup();
    let env = &l.env;
    let wt = &l.up;
    env.git(wt, &["rm", "-q", "--cached", "README.md"]); // staged deletion, file still there
    std::fs::remove_file(wt.join("src/index.ts")).expect("rm"); // unstaged deletion
    env.write(&wt.join("src/config.ts"), "export const config = {};\n");
    env.git(wt, &["add", "src/config.ts"]);
    env.write(
        &wt.join("src/config.ts"),
        "export const config = { staged: false };\n",
    ); // index != worktree
    env.write(
        &wt.join("with space/ünïcode name.txt"),
        "spaces and unicode\n",
    );
    env.write(&wt.join("crlf.txt"), "one\r\ntwo\r\n");
    env.write(&wt.join("empty.txt"), "");
    env.write(&wt.join("build/out.log"), "ignored by *.log\n");
    env.write(&wt.join("node_modules/x/index.js"), "ignored directory\n");
    std::fs::create_dir_all(wt.join("empty-dir")).expect("mkdir");
    std::fs::set_permissions(
        wt.join("package.json"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    std::os::unix::fs::symlink("does-not-exist", wt.join("dangling")).expect("symlink");

    // git's answer, computed with a throw-away index so the real one is untouched.
    let index = env.path("tmp/expected-index");
    let mut add = env.command("git", wt);
    add.args(["add", "-A"]).env("GIT_INDEX_FILE", &index);
    let mut read = env.command("git", wt);
    read.args(["read-tree", "HEAD"])
        .env("GIT_INDEX_FILE", &index);
    assert!(env.run(read, "git read-tree").status.success());
    let out = env.run(add, "git add -A");
    assert!(out.status.success(), "{}", env.describe(&out));
    let mut write_tree = env.command("git", wt);
    write_tree
        .args(["write-tree"])
        .env("GIT_INDEX_FILE", &index);
    let out = env.run(write_tree, "git write-tree");
    let expected = String::from_utf8(out.stdout)
        .expect("hex")
        .trim()
        .to_string();

    let save = env.wtc_json(wt, &["save", "-m", "everything"]);
    let commit = s(&save["commit"]).to_string();
    let actual = env.tree(&l.repo, &commit);
    assert_eq!(
        actual,
        expected,
        "wtc save differs from `git add -A`:\n{}",
        env.git(&l.repo, &["diff-tree", "-r", &expected, &actual])
    );
    env.assert_clean(wt, "after save");
    assert_eq!(
        env.read(&wt.join("build/out.log")),
        "ignored by *.log\n",
        "ignored files stay"
    );
    assert_eq!(
        env.git(&l.repo, &["log", "-1", "--format=%s", &commit])
            .trim(),
        "everything",
        "-m is the subject"
    );
}

/// A commit whose tree is `clean`'s root plus `extra` entries, made on top of `lane`'s
/// tip (trailer `Wtc-State: done`) and CAS-moved there: what a hostile or broken clone
/// could publish.
fn publish_hostile_tree(
    env: &TestEnv,
    repo: &Path,
    lane: &str,
    clean: &str,
    extra: &[&str],
) -> String {
    let branch = format!("refs/heads/wtc/p/{lane}");
    let old = env.rev(repo, &branch);
    let mut listing = env.git(repo, &["ls-tree", clean]);
    for line in extra {
        listing += line;
        listing += "\n";
    }
    let tree = env.git_stdin(repo, &["mktree"], listing.as_bytes());
    let commit = env.git(
        repo,
        &[
            "commit-tree",
            tree.trim(),
            "-p",
            &old,
            "-m",
            "hostile\n\nWtc-State: done",
        ],
    );
    env.git(repo, &["update-ref", &branch, commit.trim(), &old]);
    commit.trim().to_string()
}

/// `mktree` line for a directory `name` holding one file `file` with `content`.
fn dir_entry(
    env: &TestEnv,
    repo: &Path,
    name: &str,
    file: &str,
    content: &str,
    mode: &str,
) -> String {
    let blob = env.git_stdin(repo, &["hash-object", "-w", "--stdin"], content.as_bytes());
    let sub = env.git_stdin(
        repo,
        &["mktree"],
        format!("{mode} blob {}\t{file}\n", blob.trim()).as_bytes(),
    );
    format!("040000 tree {}\t{name}", sub.trim())
}

fn assert_refused_sync(l: &Lanes, what: &str) {
    let env = &l.env;
    let head = env.rev(&l.down, "HEAD");
    let git_file = env.read(&l.down.join(".git"));
    let out = env.wtc(&l.down, &["sync"]);
    assert!(
        out.status.code() != Some(0) && !crashed(&out),
        "sync must refuse {what}\n{}",
        env.describe(&out)
    );
    assert_eq!(env.rev(&l.down, "HEAD"), head, "{what}: HEAD unchanged");
    assert_eq!(
        env.read(&l.down.join(".git")),
        git_file,
        "{what}: the .git file is untouched"
    );
    env.assert_clean(&l.down, &format!("after refusing {what}"));
}

/// A `.git` directory inside a lane's tree: sync refuses, squash refuses, and no hook
/// lands in any git dir.
#[test]
fn dot_git_entries_are_refused() {
    let l = setup();
    let env = &l.env;
    let clean = env.rev(&l.repo, "refs/heads/wtc/p/up");
    for name in [".git", ".GIT", ".Git"] {
        let hook = "#!/bin/sh\necho pwned\n";
        let top = dir_entry(env, &l.repo, name, "post-checkout", hook, "100755");
        let inner = dir_entry(env, &l.repo, name, "post-checkout", hook, "100755");
        let sub = env.git_stdin(&l.repo, &["mktree"], format!("{inner}\n").as_bytes());
        let nested = format!("040000 tree {}\tsub", sub.trim());
        publish_hostile_tree(env, &l.repo, "up", &clean, &[&top]);
        assert_refused_sync(&l, &format!("a top-level `{name}` entry"));
        publish_hostile_tree(env, &l.repo, "up", &clean, &[&nested]);
        assert_refused_sync(&l, &format!("a nested `sub/{name}` entry"));
        for dir in [
            l.repo.join(".git"),
            l.repo.join(".git/worktrees/down"),
            l.down.join("sub/.git"),
        ] {
            assert!(
                !dir.join("post-checkout").exists(),
                "{}",
                env.redact(&dir.display().to_string())
            );
        }
    }
    let before = env.snapshot(&l.repo);
    let out = env.wtc(&l.repo, &["squash", "--unfinished"]);
    assert!(
        out.status.code() != Some(0) && !crashed(&out),
        "squash must refuse\n{}",
        env.describe(&out)
    );
    assert_eq!(
        env.snapshot(&l.repo),
        before,
        "a refused squash writes no ref"
    );
    assert!(!l.repo.join(".git/post-checkout").exists());
    assert!(!l.repo.join(".git/hooks/post-checkout").exists());
}

/// `..` as a tree entry would write beside the worktree.
#[test]
fn dot_dot_entries_are_refused() {
    let l = setup();
    let env = &l.env;
    let clean = env.rev(&l.repo, "refs/heads/wtc/p/up");
    let entry = dir_entry(env, &l.repo, "..", "escaped.txt", "outside\n", "100644");
    publish_hostile_tree(env, &l.repo, "up", &clean, &[&entry]);
    assert_refused_sync(&l, "a `..` entry");
    let beside = l.down.parent().expect("parent").join("escaped.txt");
    assert!(!beside.exists(), "nothing written beside the worktree");
    let before = env.snapshot(&l.repo);
    let out = env.wtc(&l.repo, &["squash", "--unfinished"]);
    assert!(
        out.status.code() != Some(0) && !crashed(&out),
        "squash must refuse\n{}",
        env.describe(&out)
    );
    assert_eq!(env.snapshot(&l.repo), before);
    assert!(!env.path("escaped.txt").exists());
}

/// A symlink to a directory outside, later replaced by a real directory with a file:
/// the file must land inside the worktree, never through the old symlink.
#[test]
fn no_write_through_a_symlinked_directory() {
    let l = setup();
    let env = &l.env;
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).expect("mkdir outside");
    std::os::unix::fs::symlink(&outside, l.up.join("d")).expect("symlink");
    env.wtc_json(&l.up, &["done"]);
    env.wtc_json(&l.down, &["sync"]);
    assert!(std::fs::symlink_metadata(l.down.join("d"))
        .expect("stat")
        .file_type()
        .is_symlink());

    std::fs::remove_file(l.up.join("d")).expect("rm symlink");
    env.write(&l.up.join("d/file.txt"), "inside\n");
    env.wtc_json(&l.up, &["done"]);
    let out = env.wtc(&l.down, &["sync"]);
    assert!(!crashed(&out), "{}", env.describe(&out));
    assert!(
        !outside.join("file.txt").exists(),
        "wrote through the symlink\n{}",
        env.describe(&out)
    );
    if out.status.success() {
        assert!(!std::fs::symlink_metadata(l.down.join("d"))
            .expect("stat")
            .file_type()
            .is_symlink());
        assert_eq!(env.read(&l.down.join("d/file.txt")), "inside\n");
        env.assert_clean(&l.down, "after the symlink became a directory");
    }
}

/// A corrupt tree (from a broken or hostile clone) where `e` is both a symlink to a
/// directory outside and a directory holding `e/x/evil.txt`: nothing is written through
/// the symlink, and the refusal is all-or-nothing (no half-applied update).
#[test]
fn corrupt_tree_with_symlink_and_directory_is_refused_atomically() {
    let l = setup();
    let env = &l.env;
    let outside = env.path("outside");
    std::fs::create_dir_all(outside.join("x")).expect("mkdir");
    let link = env.git_stdin(
        &l.repo,
        &["hash-object", "-w", "--stdin"],
        outside.to_str().expect("UTF-8").as_bytes(),
    );
    let inner = dir_entry(env, &l.repo, "x", "evil.txt", "evil\n", "100644");
    let sub = env.git_stdin(&l.repo, &["mktree"], format!("{inner}\n").as_bytes());
    // `e` is a symlink to outside AND a directory `e/x/evil.txt`: a corrupt tree.
    let entries = [
        format!("120000 blob {}\te", link.trim()),
        format!("040000 tree {}\te", sub.trim()),
    ];
    let entries: Vec<&str> = entries.iter().map(String::as_str).collect();
    let clean = env.rev(&l.repo, "refs/heads/wtc/p/up");
    publish_hostile_tree(env, &l.repo, "up", &clean, &entries);
    let head = env.rev(&l.down, "HEAD");
    let out = env.wtc(&l.down, &["sync"]);
    assert!(!crashed(&out), "{}", env.describe(&out));
    assert!(
        !outside.join("x/evil.txt").exists(),
        "wrote through the symlink\n{}",
        env.describe(&out)
    );
    if !out.status.success() {
        // Refused: all or nothing, no half-applied update left behind.
        assert_eq!(env.rev(&l.down, "HEAD"), head, "{}", env.describe(&out));
        assert!(
            std::fs::symlink_metadata(l.down.join("e")).is_err(),
            "a refused sync left part of the update (`e`) behind\n{}",
            env.describe(&out)
        );
        env.assert_clean(&l.down, "after a refused sync of a corrupt tree");
    }
}

/// Squash onto a target worktree with uncommitted edits: refused or done, the user's
/// bytes survive.
#[test]
fn squash_keeps_edits_in_a_dirty_target_worktree() {
    let l = setup();
    let env = &l.env;
    env.write(&l.up.join("README.md"), "# from the lane\n");
    env.write(&l.up.join("lane.txt"), "new file from the lane\n");
    env.wtc_json(&l.up, &["done"]);
    env.wtc_json(&l.down, &["done"]);
    env.write(&l.repo.join("README.md"), "# my uncommitted edit in main\n");
    env.write(&l.repo.join("lane.txt"), "my untracked file in main\n");
    let before = env.snapshot(&l.repo);
    let old_main = env.rev(&l.repo, "main");

    let out = env.wtc(&l.repo, &["squash"]);
    assert!(!crashed(&out), "{}", env.describe(&out));
    assert_eq!(
        env.read(&l.repo.join("README.md")),
        "# my uncommitted edit in main\n",
        "{}",
        env.describe(&out)
    );
    assert_eq!(
        env.read(&l.repo.join("lane.txt")),
        "my untracked file in main\n",
        "{}",
        env.describe(&out)
    );
    if out.status.success() {
        assert_eq!(
            env.rev(&l.repo, "main^"),
            old_main,
            "one commit on top of main"
        );
        assert_eq!(
            env.git(&l.repo, &["show", "main:lane.txt"]),
            "new file from the lane\n"
        );
    } else {
        assert_eq!(
            env.snapshot(&l.repo),
            before,
            "a refused squash changes nothing"
        );
    }
}

/// Regression (issue 10, case 6): names git checks out on Linux (a newline, a backslash,
/// Windows device names, a colon, a trailing dot or space) were saved, then refused by
/// every sync and squash as paths "git itself would never check out": the plan was stuck.
/// Now they round-trip through save, sync and squash.
#[test]
fn every_name_git_checks_out_round_trips() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let up = env.add_lane(&repo, "up", &[]);
    let down = env.add_lane(&repo, "down", &["up"]);
    let names = [
        "odd/new\nline.txt",
        "odd/back\\slash.txt",
        "odd/CON",
        "odd/aux.txt",
        "odd/a:b",
        "odd/trailing.",
        "odd/space ",
        "odd/tab\there",
        "odd/\u{e9}t\u{e9}.txt",
    ];
    for (i, n) in names.iter().enumerate() {
        env.write(&up.join(n), format!("file {i}\n"));
    }
    env.wtc_json(&up, &["done"]);
    env.assert_clean(&up, "after saving the names");
    let listed = env.git(&up, &["ls-tree", "-r", "-z", "--name-only", "HEAD", "odd"]);
    let mut listed: Vec<&str> = listed.split('\0').filter(|s| !s.is_empty()).collect();
    listed.sort();
    let mut expected = names.to_vec();
    expected.sort();
    assert_eq!(listed, expected, "save recorded every name as it is");

    let (code, doc) = env.wtc_json_code(&down, &["sync"]);
    assert_eq!(code, 0, "sync takes every name: {doc}");
    for (i, n) in names.iter().enumerate() {
        assert_eq!(
            env.read(&down.join(n)),
            format!("file {i}\n"),
            "{n:?} in down"
        );
    }
    env.assert_clean(&down, "after syncing the names");

    let (code, doc) = env.wtc_json_code(&repo, &["squash", "--unfinished"]);
    assert_eq!(code, 0, "squash takes every name: {doc}");
    for (i, n) in names.iter().enumerate() {
        assert_eq!(
            env.read(&repo.join(n)),
            format!("file {i}\n"),
            "{n:?} in main"
        );
    }
    env.assert_clean(&repo, "after squashing the names");
    assert_eq!(env.rev(&repo, "main:odd"), env.rev(&up, "HEAD:odd"));
}

/// After a wtc write the cache-tree says the index IS HEAD's tree, and save's status skips
/// the HEAD-vs-index comparison then: a change that only that comparison sees (staged, the
/// worktree equal to the index) must still make git invalidate the cache-tree and be saved,
/// also when git edits the index behind wtc's back in other ways.
#[test]
fn a_staged_only_change_after_a_wtc_write_is_saved() {
    let l = setup();
    let env = &l.env;
    env.write(&l.up.join("src/first.ts"), "first\n");
    env.wtc_json(&l.up, &["save"]); // wtc wrote the index: a whole, valid cache-tree
    env.assert_cache_tree_sound(&l.up);
    // Staged, and the worktree already holds the staged bytes: only HEAD vs index differs.
    env.write(&l.up.join("src/first.ts"), "staged\n");
    env.git(&l.up, &["add", "src/first.ts"]);
    // An entry made with plumbing: a blob the worktree also holds at that path.
    env.write(&l.up.join("plumbed.txt"), "plumbed\n");
    let blob = env.git(&l.up, &["hash-object", "-w", "plumbed.txt"]);
    env.git(
        &l.up,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("100644,{},plumbed.txt", blob.trim()),
        ],
    );
    env.git(&l.up, &["update-index", "--refresh", "-q"]);
    let save = env.wtc_json(&l.up, &["save"]);
    assert!(!save["commit"].is_null(), "{save}");
    assert_eq!(env.git(&l.up, &["show", "HEAD:src/first.ts"]), "staged\n");
    assert_eq!(env.git(&l.up, &["show", "HEAD:plumbed.txt"]), "plumbed\n");
    env.assert_clean(&l.up, "after saving staged-only changes");
    env.assert_cache_tree_sound(&l.up);
    // Nothing left: the next save finds nothing, as git status does.
    let again = env.wtc_json(&l.up, &["save"]);
    assert!(again["commit"].is_null(), "{again}");
}

/// sync run from a directory the update empties (its only file renamed): that directory
/// stays (git >= 2.35 never removes the directory it runs in), and the file moved within it
/// is written there.
#[test]
fn sync_from_a_directory_the_update_empties() {
    let l = setup();
    let env = &l.env;
    env.write(&l.up.join("solo/a.txt"), "alone\n");
    env.git(&l.up, &["add", "-A"]);
    env.git(&l.up, &["commit", "-q", "-m", "solo"]);
    env.wtc_json(&l.down, &["sync"]);
    env.git(&l.up, &["mv", "solo/a.txt", "solo/b.txt"]);
    env.git(&l.up, &["commit", "-q", "-m", "rename"]);
    let here = l.down.join("solo");
    env.wtc_json(&here, &["sync"]);
    assert!(here.is_dir(), "the directory sync ran in is still there");
    assert_eq!(env.read(&here.join("b.txt")), "alone\n");
    assert!(!here.join("a.txt").exists());
    env.assert_clean(&l.down, "after the sync");
}
