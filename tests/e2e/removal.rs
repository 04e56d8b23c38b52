//! Issue 10, cases 2 and 5: removing lanes never destroys what is not the lane's, nor the
//! lane's own committed work.
//!
//! - A repository, a linked worktree or a dirty submodule worktree inside a lane worktree
//!   survives `rm`/`clean` (refused without `--force`; with it, the rest of the lane goes and
//!   that directory stays where it is, reported). `save` says it cannot save them.
//! - `rm` refuses a lane with commits no integration holds (like `git branch -d`); `--force`
//!   archives them under `refs/wtc/archive/` and says so.

use std::path::Path;

use crate::env::{code, s, stderr, TestEnv};

fn head(env: &TestEnv, dir: &Path) -> String {
    env.rev(dir, "HEAD")
}

#[test]
fn nested_repositories_and_worktrees_are_never_deleted() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let lane = env.add_lane(&repo, "a", &[]);

    // A vendored checkout with a commit and an uncommitted file of its own.
    let vendor = lane.join("vendor/lib");
    env.git(env.root(), &["init", "-q", vendor.to_str().expect("UTF-8")]);
    env.write(&vendor.join("lib.c"), "int lib;\n");
    env.git(&vendor, &["add", "-A"]);
    env.git(&vendor, &["commit", "-qm", "vendored"]);
    let vendor_head = head(&env, &vendor);
    env.write(&vendor.join("wip.c"), "uncommitted in the vendored repo\n");
    // Another worktree of this repository placed inside the lane's.
    env.git(&repo, &["branch", "side"]);
    let inner = lane.join("inner");
    env.git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            inner.to_str().expect("UTF-8"),
            "side",
        ],
    );
    env.write(
        &inner.join("inner-wip.txt"),
        "uncommitted in the inner worktree\n",
    );
    // A submodule initialised in the lane (its git dir lives in the lane's private git dir)
    // with a commit of its own and an uncommitted change.
    let lib = env.path("lib");
    env.git(env.root(), &["init", "-q", lib.to_str().expect("UTF-8")]);
    env.write(&lib.join("lib.txt"), "lib\n");
    env.git(&lib, &["add", "-A"]);
    env.git(&lib, &["commit", "-qm", "lib"]);
    env.git(
        &lane,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            lib.to_str().expect("UTF-8"),
            "sub",
        ],
    );
    let sub = lane.join("sub");
    env.write(&sub.join("lib.txt"), "lib, edited in the lane\n");
    env.git(&sub, &["commit", "-qam", "only in the lane's submodule"]);
    let sub_head = head(&env, &sub);
    env.write(&sub.join("lib.txt"), "uncommitted in the submodule\n");

    // save reports what it cannot save.
    let saved = env.wtc_json(&lane, &["save"]);
    let nested: Vec<&str> = saved["nested"]
        .as_array()
        .expect("nested")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().trim_end_matches('/'))
        .collect();
    assert!(nested.contains(&"vendor/lib"), "{saved}");

    // Without --force: refused, naming them; nothing touched.
    for args in [&["rm", "a"][..], &["clean"][..]] {
        let out = env.wtc(&repo, args);
        assert_eq!(code(&out), 1, "wtc {args:?}\n{}", env.describe(&out));
        let err = stderr(&out);
        assert!(
            err.contains("vendor/lib") && err.contains("inner") && err.contains("sub"),
            "{err}"
        );
        assert!(
            lane.join("src/index.ts").exists(),
            "wtc {args:?} removed nothing"
        );
    }

    // With --force: the lane goes, the nested ones stay, reported.
    let (c, doc) = env.wtc_json_code(&repo, &["rm", "a", "--force"]);
    assert_eq!(c, 0, "{doc}");
    let kept: Vec<String> = doc["kept"]
        .as_array()
        .expect("kept")
        .iter()
        .map(|k| s(&k["path"]).to_string())
        .collect();
    assert_eq!(kept.len(), 3, "{doc}");
    assert!(
        !lane.join("src/index.ts").exists(),
        "the lane's own files are gone"
    );
    assert_eq!(
        head(&env, &vendor),
        vendor_head,
        "the vendored repo keeps its commit"
    );
    assert_eq!(
        env.read(&vendor.join("wip.c")),
        "uncommitted in the vendored repo\n"
    );
    assert_eq!(
        env.read(&inner.join("inner-wip.txt")),
        "uncommitted in the inner worktree\n"
    );
    env.git(&inner, &["status", "--porcelain"]); // still a working worktree
    assert_eq!(
        head(&env, &sub),
        sub_head,
        "the submodule keeps its own commit"
    );
    assert_eq!(
        env.read(&sub.join("lib.txt")),
        "uncommitted in the submodule\n"
    );
    assert_eq!(
        env.git(&sub, &["status", "--porcelain"]).trim(),
        "M lib.txt",
        "the submodule still works as a repository"
    );
    let worktrees = env.git(&repo, &["worktree", "list", "--porcelain"]);
    assert!(
        !worktrees.contains("branch refs/heads/wtc/p/a"),
        "the lane's worktree is unregistered: {worktrees}"
    );
    assert!(
        worktrees.contains("refs/heads/side"),
        "the inner worktree stays registered"
    );
}

#[test]
fn rm_refuses_unintegrated_commits_unless_force_archives_them() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    env.write(&a.join("a.txt"), "a's committed work\n");
    let saved = env.wtc_json(&a, &["save"]);
    let tip = s(&saved["commit"]).to_string();

    let out = env.wtc(&repo, &["rm", "a"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(stderr(&out).contains("commit"), "{}", env.describe(&out));
    assert_eq!(
        env.rev(&repo, "refs/heads/wtc/p/a"),
        tip,
        "refused: branch intact"
    );
    assert!(a.join("a.txt").exists());

    let (c, doc) = env.wtc_json_code(&repo, &["rm", "a", "--force"]);
    assert_eq!(c, 0, "{doc}");
    assert_eq!(doc["archived"], "refs/wtc/archive/p/a", "{doc}");
    assert_eq!(env.rev(&repo, "refs/wtc/archive/p/a"), tip);
    let all = env.git(&repo, &["rev-list", "--all"]);
    assert!(all.lines().any(|l| l == tip), "the work stays reachable");

    // Integrated work needs no --force.
    let b = env.add_lane(&repo, "b", &[]);
    env.write(&b.join("b.txt"), "b\n");
    env.wtc_json(&b, &["done"]);
    env.wtc_json(&repo, &["squash"]);
    let (c, doc) = env.wtc_json_code(&repo, &["rm", "b"]);
    assert_eq!(c, 0, "integrated work is not lost by rm: {doc}");
}
