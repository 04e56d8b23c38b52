//! Issue 11 (real repositories): the way companies configure git. Each case asserts git's
//! own answer on the same set-up: ownership (`safe.directory`), SHA-256, `core.fileMode`,
//! `core.symlinks`, `core.ignoreCase`, sparse checkouts (cone and non-cone, sparse index).

use std::path::Path;

use crate::env::{code, stderr, TestEnv};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid() == 0
    }
}

#[test]
fn a_repository_owned_by_someone_else_is_refused_like_git() {
    if !is_root() {
        tally!("setups: ownership needs root to chown a repository to another user; not run here");
        return;
    }
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    let before = env.snapshot(&repo);
    let chown = |owner: &str| {
        let ok = std::process::Command::new("chown")
            .args(["-R", owner])
            .arg(&repo)
            .status()
            .expect("chown runs");
        assert!(ok.success());
    };
    chown("65534:65534");
    let git = env.git_output(&repo, &["status"]);
    assert!(!git.status.success(), "git itself refuses it");
    for args in [&["init", "p"][..], &["status"][..]] {
        let out = env.wtc(&repo, args);
        assert_eq!(code(&out), 1, "{}", env.describe(&out));
        let err = stderr(&out);
        assert!(
            err.contains("detected dubious ownership"),
            "{}",
            env.describe(&out)
        );
        assert!(
            err.contains(&format!(
                "git config --global --add safe.directory {}",
                repo.display()
            )),
            "{}",
            env.describe(&out)
        );
    }
    chown("0:0");
    assert_eq!(
        env.snapshot(&repo),
        before,
        "wtc wrote into a repository git refuses"
    );
    chown("65534:65534");
    // Listed in safe.directory (global config), it is the user's to work in.
    env.git(
        env.root(),
        &[
            "config",
            "--global",
            "--add",
            "safe.directory",
            &repo.display().to_string(),
        ],
    );
    env.wtc_ok(&repo, &["init", "p"]);
}

#[test]
fn a_sha256_repository_is_refused_saying_so() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.git(
        env.root(),
        &["init", "-q", "--object-format=sha256", "repo"],
    );
    env.write(&repo.join("f"), "x\n");
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "x"]);
    let before = env.snapshot(&repo);
    let out = env.wtc(&repo, &["init", "p"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("is a sha256 repository"),
        "{}",
        env.describe(&out)
    );
    assert!(
        !stderr(&out).contains("not inside a git repository"),
        "{}",
        env.describe(&out)
    );
    assert_eq!(env.snapshot(&repo), before);
}

/// Lanes `a` and `b` (after `a`) in a fresh repository from `make_base.sh`, after `setup`
/// configured it.
fn lanes(
    env: &TestEnv,
    setup: impl Fn(&Path),
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    setup(&repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    (repo, a, b)
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The mode git's own `git add` gives `file` in `repo` (an index line's first field).
fn git_mode(env: &TestEnv, repo: &Path, rev_path: &str) -> String {
    env.git(repo, &["ls-tree", "HEAD", rev_path])
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn file_mode_false_ignores_the_exec_bit_like_git() {
    let env = TestEnv::new();
    let (repo, a, b) = lanes(&env, |repo| {
        env.write(&repo.join("tool.sh"), "echo v1\n");
        env.write(&repo.join("run.sh"), "echo run\n");
        chmod(&repo.join("run.sh"), 0o755);
        env.git(repo, &["add", "-A"]);
        env.git(repo, &["commit", "-qm", "scripts"]);
        env.git(repo, &["config", "core.fileMode", "false"]);
    });
    // A chmod git does not see is nothing to save.
    chmod(&b.join("tool.sh"), 0o755);
    chmod(&b.join("run.sh"), 0o644);
    assert_eq!(env.status(&b), "", "git sees no change");
    let doc = env.wtc_json(&b, &["save"]);
    assert!(doc["commit"].is_null(), "a chmod was saved: {doc}");
    // An edit keeps the index's mode, and a new executable file is a plain file, as `git
    // add` records them with core.fileMode=false.
    env.write(&b.join("run.sh"), "echo run 2\n");
    env.write(&b.join("new.sh"), "echo new\n");
    chmod(&b.join("new.sh"), 0o755);
    env.wtc_ok(&b, &["save"]);
    assert_eq!(git_mode(&env, &b, "run.sh"), "100755");
    assert_eq!(git_mode(&env, &b, "new.sh"), "100644");
    assert_eq!(git_mode(&env, &b, "tool.sh"), "100644");
    // An upstream change to a file chmod-ed here is no obstacle (git status shows none).
    env.write(&a.join("tool.sh"), "echo v2\n");
    env.wtc_ok(&a, &["done"]);
    let (code, doc) = env.wtc_json_code(&b, &["sync"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(env.read(&b.join("tool.sh")), "echo v2\n");
    env.assert_clean(&b, "after a sync over a chmod git ignores");
    let _ = repo;
}

#[test]
fn symlinks_false_checks_links_out_as_files_like_git() {
    let env = TestEnv::new();
    let (repo, a, b) = lanes(&env, |repo| {
        std::os::unix::fs::symlink("package.json", repo.join("link")).unwrap();
        env.git(repo, &["add", "-A"]);
        env.git(repo, &["commit", "-qm", "a link"]);
        env.git(repo, &["config", "core.symlinks", "false"]);
    });
    for lane in [&a, &b] {
        let md = std::fs::symlink_metadata(lane.join("link")).unwrap();
        assert!(
            md.is_file(),
            "core.symlinks=false: the link is a file in a new lane"
        );
        assert_eq!(env.read(&lane.join("link")), "package.json");
        assert_eq!(env.status(lane), "");
    }
    // Upstream retargets the link (git keeps the link mode for the file holding it) and
    // adds another; both arrive as files holding their targets, and stay links in git.
    env.write(&a.join("link"), "README.md");
    env.git(&a, &["add", "link"]);
    let blob = env.git_stdin(&a, &["hash-object", "-w", "--stdin"], b"src/index.ts");
    env.git(
        &a,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("120000,{},newlink", blob.trim()),
        ],
    );
    env.git(&a, &["commit", "-qm", "links"]);
    env.git(&a, &["checkout", "--", "newlink"]);
    env.wtc_ok(&a, &["done"]);
    let (code, doc) = env.wtc_json_code(&b, &["sync"]);
    assert_eq!(code, 0, "{doc}");
    for (name, target) in [("link", "README.md"), ("newlink", "src/index.ts")] {
        let md = std::fs::symlink_metadata(b.join(name)).unwrap();
        assert!(md.is_file(), "{name} must be a file");
        assert_eq!(env.read(&b.join(name)), target);
        assert_eq!(git_mode(&env, &b, name), "120000");
    }
    env.assert_clean(&b, "after a sync of links with core.symlinks=false");
    // Saving keeps them links.
    env.write(&b.join("link"), "notes/todo.md");
    env.wtc_ok(&b, &["save"]);
    assert_eq!(git_mode(&env, &b, "link"), "120000");
    assert_eq!(
        env.git(&b, &["cat-file", "-p", "HEAD:link"]),
        "notes/todo.md"
    );
    let _ = repo;
}

#[test]
fn ignore_case_true_saves_what_git_add_would() {
    let env = TestEnv::new();
    let (_repo, _a, b) = lanes(&env, |repo| {
        env.write(&repo.join("Foo.txt"), "tracked\n");
        env.git(repo, &["add", "-A"]);
        env.git(repo, &["commit", "-qm", "Foo"]);
        env.git(repo, &["config", "core.ignoreCase", "true"]);
    });
    // On a case-sensitive file system a case variant of a tracked file is another file,
    // but with core.ignoreCase git treats it as the tracked one: `git add -A` adds nothing.
    env.write(&b.join("foo.txt"), "variant\n");
    assert_eq!(env.status(&b), "", "git sees no change");
    let doc = env.wtc_json(&b, &["save"]);
    assert!(
        doc["commit"].is_null(),
        "saved what git add would not: {doc}"
    );
}

/// `git ls-files -t` tags: `S` marks a skip-worktree entry.
fn skip_worktree(env: &TestEnv, dir: &Path, path: &str) -> bool {
    env.git(dir, &["ls-files", "-t", "--", path])
        .starts_with("S ")
}

fn sparse_world(env: &TestEnv) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    lanes(env, |repo| {
        env.write(&repo.join("docs/guide.md"), "guide v1\n");
        env.write(&repo.join("docs/deep/more.md"), "more v1\n");
        env.git(repo, &["add", "-A"]);
        env.git(repo, &["commit", "-qm", "docs"]);
    })
}

/// Upstream (lane a) changes files inside and outside b's checkout and adds one of each.
fn change_both_sides(env: &TestEnv, a: &Path) {
    env.write(&a.join("docs/guide.md"), "guide v2\n");
    env.write(&a.join("docs/new.md"), "new doc\n");
    env.write(&a.join("src/index.ts"), "export const x = 2;\n");
    env.write(&a.join("src/new.ts"), "export const y = 1;\n");
    env.wtc_ok(a, &["done"]);
}

#[test]
fn a_sparse_checkout_keeps_skip_worktree_paths_out_cone_and_non_cone() {
    for cone in [true, false] {
        let env = TestEnv::new();
        let (_repo, a, b) = sparse_world(&env);
        if cone {
            env.git(&b, &["sparse-checkout", "set", "--cone", "src"]);
        } else {
            env.git(
                &b,
                &["sparse-checkout", "set", "--no-cone", "/*", "!/docs/"],
            );
        }
        assert!(!b.join("docs").exists());
        change_both_sides(&env, &a);
        // Local work inside the checkout, left alone by the sync (the merge does not touch it).
        env.write(&b.join("src/mine.ts"), "mine\n");
        let (code, doc) = env.wtc_json_code(&b, &["sync"]);
        assert_eq!(
            code, 0,
            "cone={cone}: outside paths are no local changes: {doc}"
        );
        assert_eq!(env.read(&b.join("src/index.ts")), "export const x = 2;\n");
        assert_eq!(env.read(&b.join("src/new.ts")), "export const y = 1;\n");
        assert!(
            !b.join("docs").exists(),
            "cone={cone}: materialised outside the checkout"
        );
        for p in ["docs/guide.md", "docs/new.md", "docs/deep/more.md"] {
            assert!(
                skip_worktree(&env, &b, p),
                "cone={cone}: {p} lost skip-worktree"
            );
        }
        assert!(!skip_worktree(&env, &b, "src/new.ts"));
        assert_eq!(
            env.status(&b),
            "?? src/mine.ts\n",
            "cone={cone}: only the local file is uncommitted after a sparse sync"
        );
        assert_eq!(env.git(&b, &["show", "HEAD:docs/new.md"]), "new doc\n");
        // A save keeps them out too, and git's own sparse-checkout still works on it.
        env.write(&b.join("src/mine.ts"), "mine 2\n");
        env.wtc_ok(&b, &["save"]);
        assert!(skip_worktree(&env, &b, "docs/guide.md"));
        if cone {
            env.git(&b, &["sparse-checkout", "add", "docs"]);
        } else {
            env.git(&b, &["sparse-checkout", "disable"]);
        }
        assert_eq!(env.read(&b.join("docs/new.md")), "new doc\n");
        assert_eq!(env.read(&b.join("docs/guide.md")), "guide v2\n");
        env.assert_clean(&b, "after widening the sparse checkout");
    }
}

#[test]
fn a_sparse_index_is_refused_clearly() {
    let env = TestEnv::new();
    let (_repo, a, b) = sparse_world(&env);
    env.git(
        &b,
        &["sparse-checkout", "set", "--cone", "--sparse-index", "src"],
    );
    change_both_sides(&env, &a);
    let before = env.snapshot(&b);
    let out = env.wtc(&b, &["sync"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("sparse index"),
        "{}",
        env.describe(&out)
    );
    assert!(
        stderr(&out).contains("--no-sparse-index"),
        "{}",
        env.describe(&out)
    );
    assert_eq!(env.snapshot(&b), before);
}
