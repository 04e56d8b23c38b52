//! Issue 11 (real repositories): shallow (`--depth 1`, the CI default) and partial
//! (`--filter=blob:none`) clones land the same integration a full clone lands: same tree,
//! same message and trailers. wtc fetches the history and blobs it needs; a missing merge
//! base is never replaced by the empty tree.

use std::path::{Path, PathBuf};

use crate::env::{code, TestEnv};
use crate::servers::bare_remote;

struct World {
    env: TestEnv,
    bare: PathBuf,
    url: String,
}

/// A remote with plan `p` (lanes a; b after a) whose base is several commits below the
/// remote's `main`, lane a deleting a file and editing another, lane b building on a.
fn world() -> World {
    let env = TestEnv::new();
    let source = env.path("source");
    env.fixture("make_base.sh", &source);
    let bare = bare_remote(&env, &source, &env.path("srv"), "shop.git");
    // file:// so that --depth and --filter take effect for local clones.
    let url = format!("file://{}", bare.display());
    let w = World { env, bare, url };
    let env = &w.env;
    let lead = w.clone("lead", &[]);
    env.wtc_ok(&lead, &["init", "p", "--remote", "origin"]);
    env.wtc_ok(&lead, &["add", "a", "--no-worktree"]);
    env.wtc_ok(&lead, &["add", "b", "--after", "a", "--no-worktree"]);
    // main moves on after the plan started: the base is no longer the tip.
    for i in 0..3 {
        env.write(
            &lead.join(format!("notes/main-{i}.md")),
            format!("main {i}\n"),
        );
        env.git(&lead, &["add", "-A"]);
        env.git(&lead, &["commit", "-qm", &format!("main moves {i}")]);
    }
    env.git(&lead, &["push", "-q", "origin", "main"]);
    let a = w.clone("agent-a", &[]);
    env.wtc_ok(&a, &["join", "p", "a"]);
    env.git(&a, &["rm", "-q", "notes/other.txt"]);
    env.write(
        &a.join("src/config.ts"),
        format!("{}// a\n", env.read(&a.join("src/config.ts"))),
    );
    env.wtc_ok(&a, &["done", "-m", "a: drop the todo list"]);
    w
}

impl World {
    fn clone(&self, name: &str, flags: &[&str]) -> PathBuf {
        let dir = self.env.path(name);
        let mut args = vec!["clone", "-q"];
        args.extend_from_slice(flags);
        let url = self.url.clone();
        let target = dir.display().to_string();
        args.push(&url);
        args.push(&target);
        self.env.git(self.env.root(), &args);
        dir
    }

    /// Lane b done in a clone made with `flags`, then the integration landed from another
    /// such clone; returns the remote's new main.
    fn integrate(&self, flags: &[&str], tag: &str) -> String {
        let env = &self.env;
        let b = self.clone(&format!("agent-b-{tag}"), flags);
        env.wtc_ok(&b, &["join", "p", "b"]);
        // Work of its own first, so the sync is a real merge (it needs the merge base).
        env.write(&b.join("src/b.ts"), "export const b = 1;\n");
        env.wtc_ok(&b, &["save", "-m", "b: add b"]);
        let (c, doc) = env.wtc_json_code(&b, &["sync"]);
        assert_eq!(c, 0, "{tag}: sync in lane b: {doc}");
        assert_eq!(doc["result"], "merged", "{tag}: {doc}");
        assert!(
            !b.join("notes/other.txt").exists(),
            "{tag}: a's deletion did not arrive"
        );
        env.assert_clean(&b, "after the sync");
        env.wtc_ok(&b, &["done"]);
        let ci = self.clone(&format!("ci-{tag}"), flags);
        env.wtc_ok(&ci, &["join", "p"]);
        let verify = "test -f src/b.ts && ! test -e notes/other.txt && grep -q '// a' src/config.ts && test -f notes/main-2.md";
        let out = env.wtc(&ci, &["squash", "--push", "--verify", verify]);
        assert_eq!(
            code(&out),
            0,
            "{tag}: squash --push\n{}",
            env.describe(&out)
        );
        env.rev(&self.bare, "main")
    }
}

fn tree_and_message(env: &TestEnv, repo: &Path, rev: &str) -> (String, String) {
    (
        env.tree(repo, rev),
        env.git(repo, &["log", "-1", "--format=%B", rev]),
    )
}

#[test]
fn shallow_and_partial_clones_land_what_a_full_clone_lands() {
    let mut expected: Option<(String, String)> = None;
    for (tag, flags) in [
        ("full", &[][..]),
        ("depth1", &["--depth", "1"][..]),
        ("blobless", &["--filter=blob:none"][..]),
        ("both", &["--depth", "1", "--filter=blob:none"][..]),
    ] {
        let w = world();
        let before = w.env.rev(&w.bare, "main");
        let landed = w.integrate(flags, tag);
        let env = &w.env;
        assert_eq!(
            env.git(&w.bare, &["rev-parse", &format!("{landed}^")])
                .trim(),
            before,
            "{tag}: one commit on top of the remote's main"
        );
        assert!(
            !env.git(&w.bare, &["ls-tree", "-r", "--name-only", &landed])
                .contains("notes/other.txt"),
            "{tag}: lane a's deletion was lost"
        );
        let got = tree_and_message(env, &w.bare, &landed);
        // Commit ids in the trailers differ between worlds (dates are fixed, but the
        // lanes' commits are made anew); compare messages without them.
        let strip = |(t, m): (String, String)| {
            let m: Vec<String> = m
                .lines()
                .map(|l| match l.split_once(' ') {
                    Some(("Wtc-Lane:", rest)) => {
                        format!("Wtc-Lane: {}", rest.split(' ').next().unwrap_or(""))
                    }
                    _ => l.to_string(),
                })
                .collect();
            (t, m.join("\n"))
        };
        let got = strip(got);
        match &expected {
            None => expected = Some(got),
            Some(e) => assert_eq!(&got, e, "{tag}: not what a full clone lands"),
        }
        env.assert_fsck(&w.bare);
    }
}

#[test]
fn a_shallow_clone_whose_remote_cannot_serve_the_history_changes_nothing() {
    let w = world();
    let env = &w.env;
    let b = w.clone("agent-b", &[]);
    env.wtc_ok(&b, &["join", "p", "b"]);
    env.wtc_ok(&b, &["done"]);
    let ci = w.clone("ci", &["--depth", "1"]);
    env.wtc_ok(&ci, &["join", "p"]);
    // A remote that cannot serve history: git's fetch of it fails.
    env.git(
        &ci,
        &[
            "config",
            "remote.origin.uploadpack",
            "sh -c 'echo no history here >&2; exit 1'",
        ],
    );
    let before = env.snapshot(&ci);
    let out = env.wtc(&ci, &["squash", "--push"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    let err = crate::env::stderr(&out);
    assert!(
        err.contains("shallow clone lacks the history"),
        "{}",
        env.describe(&out)
    );
    assert!(
        err.contains("git fetch --unshallow"),
        "{}",
        env.describe(&out)
    );
    // Fetching updates tracking refs, as `git fetch` does; nothing else may change.
    let local = |snap: String| -> String {
        snap.lines()
            .filter(|l| !l.contains(" refs/wtc/remotes/"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        local(env.snapshot(&ci)),
        local(before),
        "a failed backfill changed the clone"
    );
    assert_eq!(
        env.rev(&w.bare, "main"),
        env.rev(&ci, "main"),
        "the remote moved"
    );
}
