//! Issue 11 (real repositories): submodules. A gitlink is never dropped or turned into a
//! deletion; save records what `git commit -a` records; sync and squash carry gitlinks like
//! `git merge` (the submodule's checkout moves only with `submodule.recurse`); two lanes
//! moving one gitlink differently conflict.

use std::path::{Path, PathBuf};

use crate::env::TestEnv;

const SUB: &str = "vendor/lib";

struct World {
    env: TestEnv,
    repo: PathBuf,
    /// The library's commits: v1, v2, v3 in a line, then `side` (from v1).
    lib: Vec<String>,
}

/// A library with three commits, and `repo` (from `make_base.sh`) with it as the submodule
/// `vendor/lib` at its first commit, initialised in the main worktree.
fn world() -> World {
    let env = TestEnv::new();
    let lib = env.path("lib");
    env.git(env.root(), &["init", "-q", "-b", "main", "lib"]);
    let mut commits = Vec::new();
    for i in 1..=3 {
        env.write(&lib.join("lib.txt"), format!("lib v{i}\n"));
        env.git(&lib, &["add", "-A"]);
        env.git(&lib, &["commit", "-qm", &format!("lib v{i}")]);
        commits.push(env.rev(&lib, "HEAD"));
    }
    // A side line of the library, diverging after its first commit.
    env.git(&lib, &["checkout", "-q", "-b", "side", &commits[0]]);
    env.write(&lib.join("lib.txt"), "lib side\n");
    env.git(&lib, &["commit", "-qam", "lib side"]);
    commits.push(env.rev(&lib, "HEAD"));
    env.git(&lib, &["checkout", "-q", &commits[0]]);
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.git(
        env.root(),
        &["config", "--global", "protocol.file.allow", "always"],
    );
    env.git(
        &repo,
        &["submodule", "add", "-q", &lib.display().to_string(), SUB],
    );
    env.git(&repo, &["commit", "-qm", "add the library"]);
    env.wtc_json(&repo, &["init", "p"]);
    World {
        env,
        repo,
        lib: commits,
    }
}

impl World {
    fn gitlink(&self, dir: &Path, rev: &str) -> Option<String> {
        let line = self.env.git(dir, &["ls-tree", rev, SUB]);
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some("160000"), Some("commit"), Some(id)) => Some(id.to_string()),
            _ => None,
        }
    }

    fn init_submodule(&self, lane: &Path) {
        self.env.git(lane, &["submodule", "update", "-q", "--init"]);
    }

    fn check_out_in_sub(&self, lane: &Path, commit: &str) {
        self.env.git(&lane.join(SUB), &["checkout", "-q", commit]);
    }
}

#[test]
fn a_bump_inside_an_initialised_submodule_is_saved_like_commit_a() {
    let w = world();
    let env = &w.env;
    let a = env.add_lane(&w.repo, "a", &[]);
    // A new lane has the submodule's empty directory (not initialised): nothing to save.
    assert!(a.join(SUB).is_dir());
    assert_eq!(env.status(&a), "");
    assert!(env.wtc_json(&a, &["save"])["commit"].is_null());
    w.init_submodule(&a);
    w.check_out_in_sub(&a, &w.lib[1]);
    // Dirt inside the submodule is the submodule's: `git commit -a` ignores it too.
    env.write(&a.join(SUB).join("scratch.txt"), "not the superproject's\n");
    let doc = env.wtc_json(&a, &["save"]);
    assert!(doc["commit"].is_string(), "the bump was not saved: {doc}");
    assert_eq!(w.gitlink(&a, "HEAD").as_deref(), Some(w.lib[1].as_str()));
    assert_eq!(
        env.git(
            &a,
            &["status", "--porcelain", "--ignore-submodules=untracked"]
        )
        .trim(),
        "",
        "git sees the bump recorded"
    );
}

#[test]
fn an_uninitialised_submodule_keeps_its_gitlink() {
    let w = world();
    let env = &w.env;
    let a = env.add_lane(&w.repo, "a", &[]);
    // An unrelated change: the empty submodule directory is no deletion.
    env.write(&a.join("notes/x.md"), "x\n");
    env.wtc_ok(&a, &["save"]);
    assert_eq!(w.gitlink(&a, "HEAD").as_deref(), Some(w.lib[0].as_str()));
    // A staged bump without checking the submodule out is recorded as staged.
    env.git(
        &a,
        &[
            "update-index",
            "--cacheinfo",
            &format!("160000,{},{SUB}", w.lib[2]),
        ],
    );
    env.wtc_ok(&a, &["done"]);
    assert_eq!(w.gitlink(&a, "HEAD").as_deref(), Some(w.lib[2].as_str()));
    env.wtc_ok(&w.repo, &["squash"]);
    assert_eq!(
        w.gitlink(&w.repo, "main").as_deref(),
        Some(w.lib[2].as_str()),
        "squash lost the submodule"
    );
    env.assert_fsck(&w.repo);
}

#[test]
fn sync_and_squash_carry_gitlinks_like_git_merge() {
    let w = world();
    let env = &w.env;
    let a = env.add_lane(&w.repo, "a", &[]);
    let b = env.add_lane(&w.repo, "b", &["a"]);
    let c = env.add_lane(&w.repo, "c", &["a"]);
    w.init_submodule(&a);
    w.check_out_in_sub(&a, &w.lib[1]);
    env.wtc_ok(&a, &["done"]);
    // b: submodule initialised at the old commit, no submodule.recurse: like `git merge`,
    // the gitlink moves, the submodule's checkout stays, and the sync says so.
    w.init_submodule(&b);
    let (code, doc) = env.wtc_json_code(&b, &["sync"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(w.gitlink(&b, "HEAD").as_deref(), Some(w.lib[1].as_str()));
    assert_eq!(doc["submodules"][0]["state"], "stale", "{doc}");
    assert_eq!(env.rev(&b.join(SUB), "HEAD"), w.lib[0]);
    let staged = env.git(&b, &["ls-files", "-s", SUB]);
    assert!(
        staged.contains(&w.lib[1]),
        "the index has the new gitlink: {staged}"
    );
    // c: with submodule.recurse the checkout follows, as git's recursing merge does.
    w.init_submodule(&c);
    env.git(&c, &["config", "submodule.recurse", "true"]);
    let (code, doc) = env.wtc_json_code(&c, &["sync"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["submodules"][0]["state"], "checked-out", "{doc}");
    assert_eq!(env.rev(&c.join(SUB), "HEAD"), w.lib[1]);
    env.assert_clean(&c, "after a recursing sync");
    env.git(&c, &["config", "--unset", "submodule.recurse"]);
    // As after `git merge`: `git submodule update` brings b's checkout along (else its
    // next save records the old commit, as `git commit -a` would).
    env.git(&b, &["submodule", "update", "-q"]);
    env.wtc_ok(&b, &["done"]);
    env.wtc_ok(&c, &["done"]);
    let out = env.wtc(&w.repo, &["squash", "--unfinished"]);
    assert_eq!(crate::env::code(&out), 0, "{}", env.describe(&out));
    assert_eq!(
        w.gitlink(&w.repo, "main").as_deref(),
        Some(w.lib[1].as_str())
    );
}

#[test]
fn a_gitlink_moved_differently_on_two_lanes_is_a_conflict() {
    let w = world();
    let env = &w.env;
    let a = env.add_lane(&w.repo, "a", &[]);
    let b = env.add_lane(&w.repo, "b", &[]);
    for (lane, to) in [(&a, 1), (&b, 3)] {
        env.git(
            lane,
            &[
                "update-index",
                "--cacheinfo",
                &format!("160000,{},{SUB}", w.lib[to]),
            ],
        );
        env.wtc_ok(lane, &["done"]);
    }
    // git's verdict on the same two lanes.
    let out = env.git_output(
        &w.repo,
        &["merge-tree", "--write-tree", "wtc/p/a", "wtc/p/b"],
    );
    assert_eq!(out.status.code(), Some(1), "git calls it a conflict");
    let before = env.snapshot(&w.repo);
    let (code, doc) = env.wtc_json_code(&w.repo, &["squash"]);
    assert_eq!(code, 3, "{doc}");
    assert!(doc.to_string().contains(SUB), "{doc}");
    assert_eq!(
        env.snapshot(&w.repo),
        before,
        "a conflicting squash wrote something"
    );
    // A lane after both syncs into the conflict, exit 3, gitlink stages in the index.
    let d = env.add_lane(&w.repo, "d", &["a", "b"]);
    let (code, doc) = env.wtc_json_code(&d, &["sync"]);
    assert_eq!(code, 3, "{doc}");
    let stages = env.git(&d, &["ls-files", "-u", SUB]);
    assert!(
        stages.contains(&w.lib[1]) && stages.contains(&w.lib[3]),
        "{stages}"
    );
}

#[test]
fn a_submodule_moved_forward_on_two_lanes_fast_forwards_like_git() {
    let w = world();
    let env = &w.env;
    let a = env.add_lane(&w.repo, "a", &[]);
    let b = env.add_lane(&w.repo, "b", &[]);
    for (lane, to) in [(&a, 1), (&b, 2)] {
        env.git(
            lane,
            &[
                "update-index",
                "--cacheinfo",
                &format!("160000,{},{SUB}", w.lib[to]),
            ],
        );
        env.wtc_ok(lane, &["done"]);
    }
    // git fast-forwards the submodule to the commit that contains the other.
    let tree = env.git(
        &w.repo,
        &["merge-tree", "--write-tree", "wtc/p/a", "wtc/p/b"],
    );
    let git_tree = tree.lines().next().unwrap_or_default().to_string();
    let (code, doc) = env.wtc_json_code(&w.repo, &["squash"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(env.tree(&w.repo, "main"), git_tree, "git's tree");
    assert_eq!(
        w.gitlink(&w.repo, "main").as_deref(),
        Some(w.lib[2].as_str())
    );
}
