//! Issue 12, item 8: cleanup that knows what landed. `status`, `squash`, `clean` and `rm`
//! give ONE verdict on whether a lane's work is on the target (`ops::landed`): integrated,
//! merged, empty or contained (a cherry-pick). Each test tries to make a lane with real,
//! unlanded work look landed: a cherry-pick edited further on the lane, a change the target
//! reverted, a deletion the target lacks, a mode change only, a downstream lane's own work.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::env::{code, s, stderr, TestEnv};

/// A repository with plan `p` on `main` (checked out in the main worktree).
fn plan(env: &TestEnv) -> PathBuf {
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    repo
}

/// The `landed` verdict `status --json` gives each lane, by name.
fn verdicts(env: &TestEnv, repo: &Path) -> Value {
    let doc = env.wtc_json(repo, &["status"]);
    let mut out = serde_json::Map::new();
    for l in doc["lanes"].as_array().expect("lanes") {
        out.insert(s(&l["name"]).to_string(), l["landed"].clone());
    }
    Value::Object(out)
}

/// `clean` refuses, naming `lanes`, and leaves every lane branch where it was.
#[track_caller]
fn clean_refuses(env: &TestEnv, repo: &Path, lanes: &[&str]) {
    let branches = env.git(repo, &["for-each-ref", "refs/heads/wtc/"]);
    let out = env.wtc(repo, &["clean"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    let named = format!("lanes {} hold", lanes.join(", "));
    assert!(stderr(&out).contains(&named), "{}", env.describe(&out));
    assert_eq!(
        env.git(repo, &["for-each-ref", "refs/heads/wtc/"]),
        branches,
        "a refused clean removed a branch"
    );
    assert!(env.rev_exists(repo, "refs/wtc/p/plan"), "the plan stays");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Cherry-pick `rev` onto the main worktree's `main`, after an unrelated commit there: the
/// suite's fixed dates would otherwise make the pick the very same commit (a fast-forward).
fn cherry_pick(env: &TestEnv, repo: &Path, rev: &str) {
    env.write(&repo.join("unrelated.txt"), "someone else's work\n");
    env.git(repo, &["add", "unrelated.txt"]);
    env.git(repo, &["commit", "-q", "-m", "Unrelated work on main"]);
    env.git(repo, &["cherry-pick", rev]);
    assert!(!env.is_ancestor(repo, rev, "main"), "a real cherry-pick");
}

#[test]
fn a_lane_with_only_an_empty_done_commit_is_already_integrated_and_cleaned() {
    let env = TestEnv::new();
    let repo = plan(&env);
    let base = env.rev(&repo, "main");
    let a = env.add_lane(&repo, "a", &[]);
    env.wtc_json(&a, &["done"]);
    assert_ne!(env.rev(&repo, "wtc/p/a"), base, "done wrote a commit");
    assert_eq!(env.tree(&repo, "wtc/p/a"), env.tree(&repo, "main"));
    let plan_before = env.rev(&repo, "refs/wtc/p/plan");

    for args in [&["squash", "--dry-run"][..], &["squash"]] {
        let (c, doc) = env.wtc_json_code(&repo, args);
        assert_eq!(c, 0, "{args:?}: {doc}");
        assert_eq!(doc["already_integrated"], true, "{doc}");
        assert_eq!(doc["commit"], Value::Null, "{doc}");
        assert_eq!(
            doc["landed"],
            json!([{"name": "a", "how": "empty"}]),
            "{doc}"
        );
    }
    let out = env.wtc(&repo, &["squash"]);
    assert_eq!(code(&out), 0, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("already integrated"),
        "{}",
        env.describe(&out)
    );
    assert_eq!(env.rev(&repo, "main"), base, "nothing landed");
    assert_eq!(
        env.rev(&repo, "refs/wtc/p/plan"),
        plan_before,
        "nothing written, not even the plan"
    );
    env.assert_clean(&repo, "after an already-integrated squash");

    assert_eq!(verdicts(&env, &repo), json!({"a": "empty"}));
    let status = env.wtc_ok(&repo, &["status"]);
    assert!(status.contains("landed (empty)"), "{status}");

    let doc = env.wtc_json(&repo, &["clean"]);
    assert_eq!(doc["removed"], json!(["a"]), "{doc}");
    assert_eq!(doc["archived"], json!([]), "{doc}");
    assert_eq!(
        doc["landed"],
        json!([{"name": "a", "how": "empty"}]),
        "{doc}"
    );
    assert!(!env.rev_exists(&repo, "refs/heads/wtc/p/a"));
    assert!(!a.exists(), "the lane worktree is gone");
}

/// An empty lane beside one with work: squash integrates the work (the empty lane changes
/// nothing) and lists the empty one as landed.
#[test]
fn an_empty_lane_beside_real_work_still_lets_squash_land_the_work() {
    let env = TestEnv::new();
    let repo = plan(&env);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &[]);
    env.wtc_json(&a, &["done"]);
    env.write(&b.join("b.txt"), "b\n");
    env.wtc_json(&b, &["done"]);
    assert_eq!(verdicts(&env, &repo), json!({"a": "empty", "b": null}));
    let doc = env.wtc_json(&repo, &["squash"]);
    assert_eq!(doc["already_integrated"], false, "{doc}");
    assert_eq!(
        doc["landed"],
        json!([{"name": "a", "how": "empty"}]),
        "{doc}"
    );
    assert_eq!(env.git(&repo, &["show", "main:b.txt"]), "b\n");
    // The integration records both lanes' tips (the trailer is looked at first).
    assert_eq!(
        verdicts(&env, &repo),
        json!({"a": "integrated", "b": "integrated"})
    );
    env.wtc_json(&repo, &["clean"]);
}

#[test]
fn a_cherry_picked_lane_has_landed_until_the_lane_changes_it_again() {
    let env = TestEnv::new();
    let repo = plan(&env);
    let a = env.add_lane(&repo, "a", &[]);
    env.write(&a.join("src/feature.ts"), "export const v = 1;\n");
    env.wtc_json(&a, &["save", "-m", "Add the feature"]);
    cherry_pick(&env, &repo, &env.rev(&a, "HEAD"));
    env.wtc_json(&a, &["done"]);
    assert_eq!(verdicts(&env, &repo), json!({"a": "contained"}));
    let main = env.rev(&repo, "main");
    let doc = env.wtc_json(&repo, &["squash"]);
    assert_eq!(doc["already_integrated"], true, "{doc}");
    assert_eq!(
        doc["landed"],
        json!([{"name": "a", "how": "contained"}]),
        "{doc}"
    );
    assert_eq!(
        env.rev(&repo, "main"),
        main,
        "squash and status agree: nothing to land"
    );

    // The lane edits the cherry-picked file further: that edit is on no branch but the lane's.
    env.write(&a.join("src/feature.ts"), "export const v = 2;\n");
    env.wtc_json(&a, &["done"]);
    assert_eq!(verdicts(&env, &repo), json!({"a": null}));
    clean_refuses(&env, &repo, &["a"]);
    let out = env.wtc(&repo, &["rm", "a"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert_eq!(env.read(&a.join("src/feature.ts")), "export const v = 2;\n");
    let tip = env.rev(&repo, "wtc/p/a");
    let doc = env.wtc_json(&repo, &["clean", "--force"]);
    assert_eq!(doc["archived"], json!(["a"]), "{doc}");
    assert_eq!(doc["landed"], json!([]), "{doc}");
    assert_eq!(
        env.rev(&repo, "refs/wtc/archive/p/a"),
        tip,
        "the edit is kept"
    );
}

#[test]
fn a_change_the_target_reverted_has_not_landed() {
    let env = TestEnv::new();
    let repo = plan(&env);
    let a = env.add_lane(&repo, "a", &[]);
    let config = env.read(&a.join("src/config.ts"));
    env.write(
        &a.join("src/config.ts"),
        config.replace("retries: 3", "retries: 5"),
    );
    env.wtc_json(&a, &["done", "-m", "More retries"]);
    cherry_pick(&env, &repo, &env.rev(&a, "HEAD"));
    assert_eq!(verdicts(&env, &repo), json!({"a": "contained"}));
    env.git(&repo, &["revert", "--no-edit", "HEAD"]);
    assert_eq!(verdicts(&env, &repo), json!({"a": null}));
    clean_refuses(&env, &repo, &["a"]);
    let out = env.wtc(&repo, &["rm", "a"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(env.rev_exists(&repo, "refs/heads/wtc/p/a"));
}

#[test]
fn a_lane_that_deleted_a_file_the_target_still_has_has_not_landed() {
    let env = TestEnv::new();
    let repo = plan(&env);
    let a = env.add_lane(&repo, "a", &[]);
    std::fs::remove_file(a.join("notes/other.txt")).expect("delete");
    env.write(&a.join("src/new.ts"), "export const n = 1;\n");
    env.wtc_json(&a, &["done", "-m", "Replace the notes"]);
    // The target gets the addition, not the deletion.
    env.write(&repo.join("src/new.ts"), "export const n = 1;\n");
    env.git(&repo, &["add", "src/new.ts"]);
    env.git(&repo, &["commit", "-q", "-m", "Same new file, by hand"]);
    assert_eq!(verdicts(&env, &repo), json!({"a": null}));
    clean_refuses(&env, &repo, &["a"]);
    // Squash agrees: the deletion is still to land (it is no "nothing to integrate").
    let doc = env.wtc_json(&repo, &["squash", "--dry-run"]);
    assert_eq!(doc["already_integrated"], false, "{doc}");
    assert_eq!(doc["landed"], json!([]), "{doc}");

    env.git(&repo, &["rm", "-q", "notes/other.txt"]);
    env.git(&repo, &["commit", "-q", "-m", "Drop the notes"]);
    assert_eq!(verdicts(&env, &repo), json!({"a": "contained"}));
    let doc = env.wtc_json(&repo, &["clean"]);
    assert_eq!(doc["archived"], json!([]), "{doc}");
}

#[test]
fn a_mode_change_only_has_not_landed_until_the_target_has_the_mode() {
    let env = TestEnv::new();
    let repo = plan(&env);
    let a = env.add_lane(&repo, "a", &[]);
    make_executable(&a.join("src/index.ts"));
    env.wtc_json(&a, &["save", "-m", "Make it executable"]);
    let tree = env.git(&a, &["ls-tree", "HEAD", "src/index.ts"]);
    assert!(tree.starts_with("100755"), "{tree}");
    assert_eq!(verdicts(&env, &repo), json!({"a": null}));
    let out = env.wtc(&repo, &["rm", "a"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    // Same content, a change elsewhere in the file's directory: still the old mode.
    env.write(&repo.join("src/other.ts"), "x\n");
    env.git(&repo, &["add", "src/other.ts"]);
    env.git(&repo, &["commit", "-q", "-m", "Unrelated"]);
    assert_eq!(verdicts(&env, &repo), json!({"a": null}));

    make_executable(&repo.join("src/index.ts"));
    env.git(&repo, &["commit", "-q", "-am", "Executable too"]);
    assert_eq!(verdicts(&env, &repo), json!({"a": "contained"}));
    let (c, doc) = env.wtc_json_code(&repo, &["rm", "a"]);
    assert_eq!(c, 0, "landed work needs no --force: {doc}");
    assert_eq!(doc["archived"], Value::Null, "{doc}");
}

/// The target merged an upstream lane with `git merge`: that lane has landed, the lane after
/// it (which holds the same commits plus its own) has not.
#[test]
fn a_merged_upstream_lane_has_landed_and_its_downstream_lane_has_not() {
    let env = TestEnv::new();
    let repo = plan(&env);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    env.write(&a.join("a.txt"), "a\n");
    env.wtc_json(&a, &["done"]);
    env.wtc_json(&b, &["sync"]);
    env.write(&b.join("b.txt"), "b\n");
    env.wtc_json(&b, &["save"]);
    env.git(&repo, &["merge", "-q", "--no-ff", "--no-edit", "wtc/p/a"]);
    assert_eq!(verdicts(&env, &repo), json!({"a": "merged", "b": null}));
    let out = env.wtc(&repo, &["clean"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("lanes b hold"),
        "only b is unlanded: {}",
        env.describe(&out)
    );
    // b's work is b's own: the target has a's file but not b's, even with b "done" and empty
    // commits on top.
    env.wtc_json(&b, &["done"]);
    env.wtc_json(&b, &["done"]);
    assert_eq!(verdicts(&env, &repo), json!({"a": "merged", "b": null}));
    let doc = env.wtc_json(&repo, &["squash"]);
    assert_eq!(doc["already_integrated"], false, "{doc}");
    assert_eq!(env.git(&repo, &["show", "main:b.txt"]), "b\n");
    let doc = env.wtc_json(&repo, &["clean"]);
    assert_eq!(doc["archived"], json!([]), "{doc}");
}

/// A teammate merged the published lane into the remote's target by hand (a pull request
/// merged on a forge): this clone's `clean` fetches the target before refusing, sees the
/// lane's tip there, and removes it; its own `main` never moved.
#[test]
fn work_merged_into_the_remote_target_elsewhere_has_landed() {
    let env = TestEnv::new();
    let source = env.path("source");
    env.fixture("make_base.sh", &source);
    let bare = crate::servers::bare_remote(&env, &source, &env.path("srv"), "shop.git");
    let url = bare.display().to_string();
    let clone = |name: &str| crate::servers::clone_of(&env, &url, name, &[]);
    let lead = clone("lead");
    let base = env.rev(&lead, "main");
    env.wtc_ok(&lead, &["init", "p", "--remote", "origin"]);
    let a = env.add_lane(&lead, "a", &[]);
    env.write(&a.join("a.txt"), "a\n");
    env.wtc_ok(&a, &["done"]);
    let mate = clone("mate");
    env.git(&mate, &["fetch", "-q", "origin", "refs/wtc/p/lanes/a"]);
    env.git(
        &mate,
        &["merge", "-q", "--no-ff", "--no-edit", "FETCH_HEAD"],
    );
    env.git(&mate, &["push", "-q", "origin", "main"]);

    let doc = env.wtc_json(&lead, &["clean"]);
    assert_eq!(doc["removed"], json!(["a"]), "{doc}");
    assert_eq!(doc["archived"], json!([]), "{doc}");
    assert_eq!(
        doc["landed"],
        json!([{"name": "a", "how": "merged"}]),
        "{doc}"
    );
    assert_eq!(env.rev(&lead, "main"), base, "clean moves no target");
    assert!(!env.rev_exists(&lead, "refs/heads/wtc/p/a"));
}
