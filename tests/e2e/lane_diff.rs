//! Issue 12, item 4: `wtc diff` shows what ONE lane changed, apart from what it synced from
//! upstream lanes, and without LANE the whole integration; git's own `diff` is the oracle.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::env::{code, s, stdout, TestEnv};

/// `git diff` output without the function context git adds after a hunk header.
fn git_patch(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["diff", "--no-color", "--no-renames"];
    all.extend_from_slice(args);
    let out = env.git_output(dir, &all);
    assert!(out.status.success(), "git diff failed");
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| match l.strip_prefix("@@ ") {
            Some(rest) => match rest.find(" @@") {
                Some(i) => format!("@@ {}", &rest[..i + 3]),
                None => l.to_string(),
            },
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// wtc's patch, as lines joined like [`git_patch`].
fn wtc_patch(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["--color", "never", "diff"];
    all.extend_from_slice(args);
    stdout(&env.wtc(dir, &all))
        .lines()
        .collect::<Vec<_>>()
        .join("\n")
}

/// up adds and edits files; down (after up) syncs, then edits one of up's files, deletes a
/// base file, adds its own and makes one executable.
fn two_lanes(env: &TestEnv) -> (PathBuf, PathBuf, PathBuf) {
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let up = env.add_lane(&repo, "up", &[]);
    let down = env.add_lane(&repo, "down", &["up"]);
    env.write(
        &up.join("src/up.ts"),
        "export const up = 1;\nexport const two = 2;\n",
    );
    let config = env.read(&up.join("src/config.ts"));
    env.write(
        &up.join("src/config.ts"),
        config.replace("retries: 3", "retries: 4"),
    );
    env.wtc_json(&up, &["done", "-m", "up's work"]);
    env.wtc_json(&down, &["sync"]);
    env.write(
        &down.join("src/up.ts"),
        "export const up = 1;\nexport const two = 22;\n",
    );
    std::fs::remove_file(down.join("notes/other.txt")).expect("delete");
    env.write(&down.join("src/down.ts"), "export const down = 1;");
    env.write(&down.join("bin.dat"), b"\0\x01binary");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let p = down.join("src/index.ts");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    env.wtc_json(&down, &["save", "-m", "down's work"]);
    (repo, up, down)
}

#[test]
fn a_lanes_diff_is_its_own_work_as_git_shows_it() {
    let env = TestEnv::new();
    let (repo, up, down) = two_lanes(&env);
    let up_tip = env.rev(&repo, "wtc/p/up");
    // down's tip contains up's tip: its own work is exactly `git diff up down`.
    let expected = git_patch(&env, &repo, &[&up_tip, "wtc/p/down"]);
    assert!(!expected.is_empty());
    assert_eq!(wtc_patch(&env, &repo, &["down"]), expected);
    // Standing in the lane, LANE is the lane itself.
    assert_eq!(wtc_patch(&env, &down, &[]), expected);
    // up has no upstream: its diff is against the plan's base.
    let base = env.rev(&repo, "main");
    assert_eq!(
        wtc_patch(&env, &up, &[]),
        git_patch(&env, &repo, &[&base, "wtc/p/up"])
    );

    let doc = env.wtc_json(&repo, &["diff", "down"]);
    assert_eq!(doc["lane"], "down", "{doc}");
    let files: Vec<(String, String)> = doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| (s(&f["path"]).to_string(), s(&f["status"]).to_string()))
        .collect();
    assert_eq!(
        files,
        [
            ("bin.dat", "added"),
            ("notes/other.txt", "deleted"),
            ("src/down.ts", "added"),
            ("src/index.ts", "modified"),
            ("src/up.ts", "modified"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string())),
        "{doc}"
    );
    // Counts as git's --numstat has them.
    let numstat = env.git(&repo, &["diff", "--numstat", &up_tip, "wtc/p/down"]);
    for line in numstat.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let f = doc["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|f| f["path"] == cols[2])
            .unwrap_or_else(|| panic!("{} missing: {doc}", cols[2]));
        if cols[0] == "-" {
            assert_eq!(f["binary"], true, "{doc}");
        } else {
            assert_eq!(f["additions"].to_string(), cols[0], "{doc}");
            assert_eq!(f["deletions"].to_string(), cols[1], "{doc}");
        }
    }
    // Colour only when asked for (stdout is a pipe here).
    let plain = stdout(&env.wtc(&repo, &["diff", "down"]));
    assert!(!plain.contains('\x1b'), "{plain}");
    let coloured = stdout(&env.wtc(&repo, &["--color", "always", "diff", "down"]));
    assert!(
        coloured.contains("\x1b[32m+export const two = 22;"),
        "{coloured}"
    );
    // up's files that down did not touch are up's work, not down's.
    let names = wtc_patch(&env, &repo, &["down", "--name-only"]);
    assert!(!names.contains("src/config.ts"), "{names}");
}

#[test]
fn paths_and_stat_narrow_and_summarise() {
    let env = TestEnv::new();
    let (repo, _up, down) = two_lanes(&env);
    let up_tip = env.rev(&repo, "wtc/p/up");
    assert_eq!(
        wtc_patch(&env, &repo, &["down", "--", "src"]),
        git_patch(&env, &repo, &[&up_tip, "wtc/p/down", "--", "src"])
    );
    // Relative to the current directory, as git takes them.
    assert_eq!(
        wtc_patch(
            &env,
            &down.join("src"),
            &["--name-only", "--", "down.ts", "../notes"]
        ),
        "notes/other.txt\nsrc/down.ts"
    );
    let stat = wtc_patch(&env, &repo, &["down", "--stat"]);
    assert!(stat.contains("5 files changed"), "{stat}");
    assert!(stat.contains("src/up.ts"), "{stat}");
    let out = env.wtc(&repo, &["diff", "down", "--stat", "--name-only"]);
    assert_eq!(code(&out), 2, "{}", env.describe(&out));
}

#[test]
fn without_a_lane_the_diff_is_the_whole_integration() {
    let env = TestEnv::new();
    let (repo, _up, down) = two_lanes(&env);
    env.wtc_json(&down, &["done"]);
    // A lane beside them: the fold is a real merge, its tree exists only in memory.
    let side = env.add_lane(&repo, "side", &[]);
    env.write(&side.join("side.txt"), "side\n");
    env.wtc_json(&side, &["done"]);
    let dry = env.wtc_json(&repo, &["squash", "--dry-run"]);
    let tree = s(&dry["tree"]).to_string();
    let before = wtc_patch(&env, &repo, &[]);
    let doc = env.wtc_json(&repo, &["diff"]);
    assert_eq!(doc["lane"], Value::Null, "{doc}");
    assert_eq!(doc["to"], tree.as_str(), "{doc}");
    // Nothing was written: not even the fold's tree.
    assert!(
        !env.git_output(&repo, &["cat-file", "-e", &tree])
            .status
            .success(),
        "the integration's tree reached the object database"
    );
    env.wtc_json(&repo, &["squash"]);
    assert_eq!(before, git_patch(&env, &repo, &["main^", "main"]));
    let doc = env.wtc_json(&repo, &["diff"]);
    assert_eq!(
        doc["files"],
        json!([]),
        "after the squash nothing is left: {doc}"
    );
}

#[test]
fn an_unknown_lane_is_refused() {
    let env = TestEnv::new();
    let (repo, _up, _down) = two_lanes(&env);
    let (c, doc) = env.wtc_json_code(&repo, &["diff", "dwn"]);
    assert_eq!(c, 1, "{doc}");
    let out = env.wtc(&repo, &["diff", "dwn"]);
    assert!(
        crate::env::stderr(&out).contains("down"),
        "did you mean: {}",
        env.describe(&out)
    );
}
