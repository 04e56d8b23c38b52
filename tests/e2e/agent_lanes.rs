//! Agent-ready lanes (issue 12): `wtc env` (and the same variables for `wtc run` commands),
//! `.worktreeinclude` (ignored files a new lane worktree gets from the main one), the lane
//! set-up command (`wtc.setup`, a run FILE's `setup`), `wtc agents-md`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::env::{code, stderr, stdout, TestEnv};

#[test]
fn env_gives_each_lane_its_own_port_block() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    // Evaluated by a real shell, as `eval "$(wtc env)"` is meant to be.
    let mut sh = env.command("sh", &b);
    sh.env("WTC", env!("CARGO_BIN_EXE_wtc"))
        .args(["-c", r#"eval "$("$WTC" env)" && printf '%s|%s|%s|%s|%s\n' "$WTC_PLAN" "$WTC_LANE" "$WTC_WORKTREE" "$WTC_LANE_INDEX" "$WTC_PORT""#]);
    let out = env.run(sh, "eval wtc env");
    assert_eq!(code(&out), 0, "{}", env.describe(&out));
    let b_dir = b.display().to_string();
    assert_eq!(stdout(&out).trim(), format!("p|b|{b_dir}|1|20010"));
    let doc = env.wtc_json(&a, &["env"]);
    assert_eq!(doc["variables"]["WTC_PORT"], "20000", "{doc}");
    assert_eq!(doc["variables"]["WTC_LANE_INDEX"], "0", "{doc}");

    env.git(&repo, &["config", "wtc.portBase", "30000"]);
    assert_eq!(env.wtc_json(&b, &["env"])["variables"]["WTC_PORT"], "30010");
    for bad in ["80", "x", "65530"] {
        env.git(&repo, &["config", "wtc.portBase", bad]);
        let out = env.wtc(&b, &["env"]);
        assert_eq!(code(&out), 1, "{bad}: {}", env.describe(&out));
        assert!(
            stderr(&out).contains("wtc.portBase"),
            "{bad}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "nothing to eval on an error");
    }
    env.git(&repo, &["config", "--unset", "wtc.portBase"]);
    // Not in a lane: a clear error, no export lines.
    let out = env.wtc(&repo, &["env"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn run_commands_get_the_lane_environment() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    let file = env.path("run.toml");
    env.write(
        &file,
        "plan = \"r\"\n[[lane]]\nname = \"a\"\nrun = \"echo $WTC_LANE $WTC_LANE_INDEX $WTC_PORT > seen.txt\"\n[[lane]]\nname = \"b\"\nafter = [\"a\"]\nrun = \"echo $WTC_LANE $WTC_LANE_INDEX $WTC_PORT > seen.txt\"\n",
    );
    let doc = env.wtc_json(&repo, &["run", file.to_str().unwrap(), "--no-squash"]);
    for (lane, expect) in [("a", "a 0 20000\n"), ("b", "b 1 20010\n")] {
        let tip = format!("refs/heads/wtc/r/{lane}:seen.txt");
        assert_eq!(env.git(&repo, &["show", &tip]), expect, "{doc}");
    }
}

#[test]
fn agents_md_teaches_the_lane_protocol_and_a_stand_in_agent_follows_it() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    // Outside a lane: the generic section.
    let generic = env.wtc_json(&repo, &["agents-md"]);
    assert!(generic["lane"].is_null(), "{generic}");
    let text = generic["markdown"].as_str().unwrap();
    for must in ["wtc sync", "wtc done", "Exit code 3", "git commit"] {
        assert!(text.contains(must), "{must}: {text}");
    }
    // A stand-in agent, run through a run FILE as a real agent CLI would be: it reads the
    // section wtc gives it, does its work, commits, and syncs as the section says.
    let agent = env.path("agent.sh");
    env.write(
        &agent,
        r#"set -e
wtc agents-md > AGENT_NOTES.md.tmp
grep -q "lane \`$WTC_LANE\` of the wtc plan \`$WTC_PLAN\`" AGENT_NOTES.md.tmp
rm AGENT_NOTES.md.tmp
echo "work of $WTC_LANE" > "$WTC_LANE.txt"
git add -A && git commit -qm "$WTC_LANE: its part"
wtc sync
"#,
    );
    let file = env.path("run.toml");
    let cmd = format!("sh {}", agent.display());
    env.write(
        &file,
        format!("plan = \"a\"\n[[lane]]\nname = \"schema\"\nrun = \"{cmd}\"\n[[lane]]\nname = \"services\"\nafter = [\"schema\"]\nrun = \"{cmd}\"\n"),
    );
    let before = env.rev(&repo, "main");
    let mut run = env.command(env!("CARGO_BIN_EXE_wtc"), &repo);
    run.env("PATH", crate::git_like::path_with_wtc()).args([
        "--json",
        "run",
        file.to_str().unwrap(),
    ]);
    let out = env.run(run, "wtc run");
    assert_eq!(code(&out), 0, "{}", env.describe(&out));
    assert_eq!(
        env.git(&repo, &["show", "main:services.txt"]),
        "work of services\n"
    );
    assert_eq!(
        env.git(&repo, &["show", "main:schema.txt"]),
        "work of schema\n"
    );
    let range = format!("{before}..main");
    assert_eq!(
        env.git(&repo, &["rev-list", "--count", &range]).trim(),
        "1",
        "ONE commit"
    );
    // In a lane: the section names it, its plan and the lanes before it.
    let lane = env.path("repo.wtc/a/services");
    let doc = env.wtc_json(&lane, &["agents-md"]);
    assert_eq!(doc["lane"], "services", "{doc}");
    assert!(
        doc["markdown"]
            .as_str()
            .unwrap()
            .contains("comes after `schema`"),
        "{doc}"
    );
}

/// A repository whose main worktree holds ignored files of every kind, with a
/// `.worktreeinclude` that names some of them (and some files it must never copy), and a
/// plan `p`. Returns (repo, a directory outside it that must stay empty).
fn repo_with_ignored_files(env: &TestEnv, include: &str) -> (PathBuf, PathBuf) {
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    // Ignored through info/exclude, which every worktree of the clone shares (the fixture's
    // .gitignore already ignores node_modules/ and *.log).
    env.write(
        &repo.join(".git/info/exclude"),
        ".env\nenv-link\noutside-link\nnested/\n*.local\nbuild/\n",
    );
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    env.write(&repo.join(".env"), "SECRET=1\n");
    std::fs::set_permissions(repo.join(".env"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(".env", repo.join("env-link")).unwrap();
    std::os::unix::fs::symlink(&outside, repo.join("outside-link")).unwrap();
    env.write(
        &repo.join("node_modules/pkg/index.js"),
        "module.exports = 1;\n",
    );
    std::fs::create_dir_all(repo.join("node_modules/.bin")).unwrap();
    std::os::unix::fs::symlink("../pkg/index.js", repo.join("node_modules/.bin/tool")).unwrap();
    env.write(&repo.join("config/db.local"), "db=local\n");
    env.write(
        &repo.join("build/keep.cfg"),
        "named inside an ignored directory\n",
    );
    env.write(&repo.join("build/out.bin"), "ignored, not named\n");
    env.write(&repo.join("debug.log"), "ignored, not named\n");
    env.write(&repo.join("notes.tmp"), "untracked, not ignored\n");
    env.write(&repo.join("README.md"), "tracked, edited in main\n");
    env.git(&repo, &["init", "-q", "nested"]);
    env.write(&repo.join("nested/file.txt"), "another repository's\n");
    env.write(&repo.join(".worktreeinclude"), include);
    (repo, outside)
}

const INCLUDE: &str = "# what a lane needs\n.env\nenv-link\noutside-link\nnode_modules/\nconfig/*.local\n/build/keep.cfg\n*.tmp\nREADME.md\nnested/\ndebug.nope\n";

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().expect("a string").to_string())
        .collect()
}

fn entries_of(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn worktreeinclude_copies_named_ignored_files_and_nothing_else() {
    let env = TestEnv::new();
    let (repo, outside) = repo_with_ignored_files(&env, INCLUDE);
    let doc = env.wtc_json(&repo, &["add", "a"]);
    let lane = PathBuf::from(doc["worktree"].as_str().unwrap());
    assert_eq!(
        strings(&doc["included"]),
        [
            ".env",
            "build/keep.cfg",
            "config/db.local",
            "env-link",
            "node_modules/",
            "outside-link"
        ],
        "{doc}"
    );
    let skipped = doc["include_skipped"].to_string();
    assert!(
        skipped.contains("nested") && skipped.contains("nested repository"),
        "{doc}"
    );
    // Copied: bytes and mode bits; symlinks as symlinks (never followed), inside and on top.
    assert_eq!(env.read(&lane.join(".env")), "SECRET=1\n");
    let mode = std::fs::metadata(lane.join(".env"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::read_link(lane.join("env-link")).unwrap(),
        Path::new(".env")
    );
    assert_eq!(
        std::fs::read_link(lane.join("outside-link")).unwrap(),
        outside
    );
    assert_eq!(
        std::fs::read_link(lane.join("node_modules/.bin/tool")).unwrap(),
        Path::new("../pkg/index.js")
    );
    assert_eq!(
        env.read(&lane.join("node_modules/pkg/index.js")),
        "module.exports = 1;\n"
    );
    assert_eq!(env.read(&lane.join("config/db.local")), "db=local\n");
    // Not copied: ignored but not named, named but not ignored, tracked, another repository.
    assert_eq!(entries_of(&lane.join("build")), ["keep.cfg"]);
    for absent in ["debug.log", "notes.tmp", "nested"] {
        assert!(!lane.join(absent).exists(), "{absent} was copied");
    }
    assert_eq!(
        env.read(&lane.join("README.md")),
        "# shop\n\nA demo shop.\n",
        "tracked: from the checkout"
    );
    assert!(entries_of(&outside).is_empty(), "wrote through a symlink");
    // Invisible to git and never saved.
    assert_eq!(
        env.git(&lane, &["status", "--porcelain"]),
        "",
        "copied files show in git status"
    );
    let ignored = env.git(&lane, &["status", "--porcelain", "--ignored"]);
    assert!(
        ignored.contains("!! .env") && ignored.contains("!! node_modules/"),
        "{ignored}"
    );
    let saved = env.wtc_json(&lane, &["save"]);
    assert!(
        saved["commit"].is_null(),
        "save committed copied files: {saved}"
    );
    let done = env.wtc_json(&lane, &["done"]);
    let tree = env.git(
        &lane,
        &[
            "ls-tree",
            "-r",
            "--name-only",
            done["commit"].as_str().unwrap(),
        ],
    );
    assert!(
        !tree.contains(".env") && !tree.contains("node_modules"),
        "{tree}"
    );
    // The human output names what was copied and what was not.
    let out = env.wtc(&repo, &["add", "b"]);
    assert_eq!(code(&out), 0, "{}", env.describe(&out));
    assert!(
        stderr(&out)
            .contains("copied from the main worktree (.worktreeinclude): .env, build/keep.cfg, config/db.local"),
        "{}",
        env.describe(&out)
    );
    assert!(
        stderr(&out).contains("not copied: nested"),
        "{}",
        env.describe(&out)
    );
    // --no-worktree: nothing to copy into.
    let doc = env.wtc_json(&repo, &["add", "c", "--no-worktree"]);
    assert_eq!(doc["included"], serde_json::json!([]), "{doc}");
    env.assert_fsck(&repo);
}

#[test]
fn worktreeinclude_never_overwrites_nor_writes_through_a_symlink() {
    let env = TestEnv::new();
    let (repo, outside) =
        repo_with_ignored_files(&env, ".env\ncache/\nlinked/x.local\nnode_modules/\n");
    env.write(&repo.join("cache/blob.bin"), "cached\n");
    env.write(&repo.join("linked/x.local"), "x\n");
    env.write(&repo.join(".git/info/exclude"), ".env\ncache/\n*.local\n");
    // A commit whose checkout tracks `.env`, has symlinks (to the outside directory) where
    // the main worktree has real directories, and no longer ignores node_modules/.
    let tmp = env.path("side");
    env.git(
        &repo,
        &["worktree", "add", "-q", "--detach", tmp.to_str().unwrap()],
    );
    env.write(&tmp.join(".env"), "tracked on side\n");
    std::os::unix::fs::symlink(&outside, tmp.join("cache")).unwrap();
    std::os::unix::fs::symlink(&outside, tmp.join("linked")).unwrap();
    env.write(&tmp.join(".gitignore"), "*.log\n");
    env.git(
        &tmp,
        &["add", "-f", ".env", "cache", "linked", ".gitignore"],
    );
    env.git(
        &tmp,
        &["commit", "-q", "-m", "side: tracked .env and symlinks"],
    );
    let side = env.rev(&tmp, "HEAD");
    env.git(
        &repo,
        &["worktree", "remove", "--force", tmp.to_str().unwrap()],
    );

    let doc = env.wtc_json(&repo, &["add", "a", "--from", &side]);
    let lane = PathBuf::from(doc["worktree"].as_str().unwrap());
    assert_eq!(strings(&doc["included"]), Vec::<String>::new(), "{doc}");
    assert_eq!(
        env.read(&lane.join(".env")),
        "tracked on side\n",
        "overwritten"
    );
    let skipped = doc["include_skipped"].as_array().unwrap();
    let why = |p: &str| {
        skipped
            .iter()
            .find(|s| s["path"] == p)
            .map(|s| s["why"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{p} is not reported: {doc}"))
    };
    assert!(why(".env").contains("tracked"), "{doc}");
    assert!(why("cache").contains("tracked"), "{doc}");
    assert!(why("linked/x.local").contains("symlink"), "{doc}");
    assert!(why("node_modules").contains("not ignored"), "{doc}");
    assert!(
        !lane.join("node_modules").exists(),
        "it would show in git status"
    );
    assert!(
        entries_of(&outside).is_empty(),
        "wrote through a symlink: {:?}",
        entries_of(&outside)
    );
    assert_eq!(env.git(&lane, &["status", "--porcelain"]), "");
}

#[test]
fn worktreeinclude_patterns_reaching_outside_are_refused_and_malformed_lines_harmless() {
    let env = TestEnv::new();
    let (repo, outside) = repo_with_ignored_files(&env, ".env\n../outside/*\n");
    let plan_before = env.rev(&repo, "refs/wtc/p/plan");
    let (c, doc) = env.wtc_json_code(&repo, &["add", "a"]);
    assert_eq!(c, 1, "{doc}");
    let msg = doc["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(".worktreeinclude:2") && msg.contains("outside"),
        "{doc}"
    );
    // Nothing changed: no branch, no worktree, the same plan.
    assert!(
        !env.rev_exists(&repo, "refs/heads/wtc/p/a"),
        "the branch was created"
    );
    assert!(
        !env.path("repo.wtc/p/a").exists(),
        "the worktree was created"
    );
    assert_eq!(env.rev(&repo, "refs/wtc/p/plan"), plan_before);
    // Lines git's parser drops, absolute-looking and escaped names: never an error, never a
    // write outside the new worktree.
    env.write(
        &repo.join(".worktreeinclude"),
        b"\xff\xfe\n[\n\\\n!\n   \n/etc/passwd\n\\.\\./outside\n**/../x\n.env\n".as_slice(),
    );
    let out = env.wtc(&repo, &["add", "a"]);
    assert_eq!(
        code(&out),
        1,
        "`**/../x` reaches outside too: {}",
        env.describe(&out)
    );
    env.write(
        &repo.join(".worktreeinclude"),
        b"\xff\xfe\n[\n\\\n!\n   \n/etc/passwd\n\\.\\./outside\n.env\n".as_slice(),
    );
    let doc = env.wtc_json(&repo, &["add", "a"]);
    assert_eq!(strings(&doc["included"]), [".env"], "{doc}");
    assert!(entries_of(&outside).is_empty());
    // A symlinked .worktreeinclude is not read (git does not follow a symlinked .gitignore).
    std::fs::remove_file(repo.join(".worktreeinclude")).unwrap();
    env.write(&outside.join("include"), ".env\n");
    std::os::unix::fs::symlink(outside.join("include"), repo.join(".worktreeinclude")).unwrap();
    let out = env.wtc(&repo, &["add", "b"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        env.describe(&out)
    );
    assert!(!env.rev_exists(&repo, "refs/heads/wtc/p/b"));
}

#[test]
fn setup_runs_in_each_new_lane_after_the_include_copy_with_its_environment() {
    let env = TestEnv::new();
    let (repo, _) = repo_with_ignored_files(&env, ".env\n");
    env.git(
        &repo,
        &[
            "config",
            "wtc.setup",
            r#"mkdir -p node_modules && echo "$WTC_PLAN $WTC_LANE $WTC_LANE_INDEX $WTC_PORT $WTC_WORKTREE $(pwd) $(cat .env)" > node_modules/.setup && echo to-the-log"#,
        ],
    );
    for (lane, index, port) in [("a", 0, 20000), ("b", 1, 20010)] {
        let doc = env.wtc_json(&repo, &["add", lane]);
        let dir = doc["worktree"].as_str().unwrap();
        assert_eq!(
            env.read(&Path::new(dir).join("node_modules/.setup")),
            format!("p {lane} {index} {port} {dir} {dir} SECRET=1\n"),
            "{doc}"
        );
        let log = PathBuf::from(doc["setup"]["log"].as_str().unwrap());
        assert_eq!(log, repo.join(format!(".git/wtc/logs/p/{lane}.setup.log")));
        assert!(env.read(&log).contains("to-the-log"), "{}", env.read(&log));
        assert_eq!(env.git(Path::new(dir), &["status", "--porcelain"]), "");
    }
    let out = env.wtc(&repo, &["add", "c"]);
    assert!(
        stderr(&out).contains("set-up `mkdir -p node_modules"),
        "{}",
        env.describe(&out)
    );
    // No worktree, no set-up; an empty value means none.
    let doc = env.wtc_json(&repo, &["add", "d", "--no-worktree"]);
    assert!(doc["setup"].is_null(), "{doc}");
    env.git(&repo, &["config", "wtc.setup", ""]);
    let doc = env.wtc_json(&repo, &["add", "e"]);
    assert!(doc["setup"].is_null(), "{doc}");
    assert!(!repo.join(".git/wtc/logs/p/e.setup.log").exists());
    // A key without a value is an error naming it, and nothing is changed.
    env.git(&repo, &["config", "--unset", "wtc.setup"]);
    let config = env.read(&repo.join(".git/config"));
    env.write(
        &repo.join(".git/config"),
        format!("{config}[wtc]\n\tsetup\n"),
    );
    let out = env.wtc(&repo, &["add", "f"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(stderr(&out).contains("wtc.setup"), "{}", env.describe(&out));
    assert!(!env.rev_exists(&repo, "refs/heads/wtc/p/f"));
}

#[test]
fn a_failing_setup_keeps_the_lane_exits_1_and_names_its_log() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    env.git(&repo, &["config", "wtc.setup", "echo broken >&2; exit 3"]);
    let out = env.wtc(&repo, &["add", "a"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    let log = repo.join(".git/wtc/logs/p/a.setup.log");
    let err = stderr(&out);
    assert!(
        err.contains("set-up of lane 'a' failed (exit code 3)")
            && err.contains(&log.display().to_string()),
        "{}",
        env.describe(&out)
    );
    assert!(env.read(&log).contains("broken"), "{}", env.read(&log));
    let (c, doc) = env.wtc_json_code(&repo, &["add", "b"]);
    assert_eq!(c, 1, "{doc}");
    assert_eq!(
        doc["error"]["paths"],
        serde_json::json!([repo
            .join(".git/wtc/logs/p/b.setup.log")
            .display()
            .to_string()]),
        "{doc}"
    );
    assert!(
        doc["error"]["hint"].as_str().unwrap().contains("wtc rm b"),
        "{doc}"
    );
    // The lanes exist: branch, worktree, plan entry; they work.
    for lane in ["a", "b"] {
        assert!(env.rev_exists(&repo, &format!("refs/heads/wtc/p/{lane}")));
        let dir = env.path(&format!("repo.wtc/p/{lane}"));
        assert!(dir.join("README.md").exists(), "{lane}: no worktree");
        env.wtc_json(&dir, &["save"]);
    }
    let status = env.wtc_json(&repo, &["status"]);
    assert!(status.to_string().contains("\"b\""), "{status}");
}

/// Invariant 6: nothing from the plan is executed, whatever keys it carries.
#[test]
fn a_plan_carrying_a_setup_key_never_runs_it() {
    let env = TestEnv::new();
    let source = env.path("source");
    env.fixture("make_base.sh", &source);
    let bare = crate::servers::bare_remote(&env, &source, &env.path("srv"), "shop.git");
    let clone = |name: &str| crate::servers::clone_of(&env, bare.to_str().unwrap(), name, &[]);
    let lead = clone("lead");
    env.wtc_ok(&lead, &["init", "p", "--remote", "origin"]);
    env.wtc_ok(&lead, &["add", "a", "--no-worktree"]);
    // A hostile (or newer) clone publishes a plan with set-up commands in it.
    let plan = env.git(&lead, &["show", "refs/wtc/p/plan:plan.toml"]);
    let smuggled = plan.replacen(
        "[[lane]]",
        "setup = \"touch pwned\"\n[wtc]\nsetup = \"touch pwned\"\n\n[[lane]]",
        1,
    ) + "setup = \"touch pwned\"\n";
    let blob = env.git_stdin(
        &lead,
        &["hash-object", "-w", "--stdin"],
        smuggled.as_bytes(),
    );
    let tree = env.git_stdin(
        &lead,
        &["mktree"],
        format!("100644 blob {}\tplan.toml\n", blob.trim()).as_bytes(),
    );
    let old = env.rev(&lead, "refs/wtc/p/plan");
    let commit = env.git(
        &lead,
        &["commit-tree", tree.trim(), "-p", &old, "-m", "smuggle"],
    );
    env.git(
        &lead,
        &["update-ref", "refs/wtc/p/plan", commit.trim(), &old],
    );
    // Adding a lane to that plan runs nothing of it, and publishes it (keys kept as data)...
    let doc = env.wtc_json(&lead, &["add", "b"]);
    assert!(doc["setup"].is_null(), "{doc}");
    // ...nor does joining it from another clone with a new worktree...
    let other = clone("other");
    let doc = env.wtc_json(&other, &["join", "p", "a", "--path", "../lane-a"]);
    assert!(doc["setup"].is_null(), "{doc}");
    // ...while this machine's own wtc.setup runs, and only it.
    env.git(&other, &["config", "wtc.setup", "touch configured-ran"]);
    env.wtc_json(&lead, &["add", "c", "--no-worktree"]);
    let doc = env.wtc_json(&other, &["join", "p", "c", "--path", "../lane-c"]);
    assert!(doc["setup"]["log"].is_string(), "{doc}");
    assert!(env.path("lane-c/configured-ran").exists());
    let mut found = Vec::new();
    let mut todo = vec![env.root().to_owned()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else if e.file_name() == "pwned" {
                found.push(e.path());
            }
        }
    }
    assert!(found.is_empty(), "the plan's set-up ran: {found:?}");
    assert!(
        env.git(&other, &["show", "refs/wtc/p/plan:plan.toml"])
            .contains("touch pwned"),
        "the keys travel as data"
    );
}

#[test]
fn a_run_file_setup_applies_to_the_lanes_it_creates() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    // The FILE's setup replaces this one.
    env.git(&repo, &["config", "wtc.setup", "exit 9"]);
    let file = env.path("run.toml");
    env.write(
        &file,
        "plan = \"r\"\nsetup = \"mkdir -p node_modules && echo $WTC_LANE > node_modules/.ready\"\n[[lane]]\nname = \"a\"\nrun = \"cat node_modules/.ready > ran.txt\"\n[[lane]]\nname = \"b\"\nafter = [\"a\"]\nrun = \"cat node_modules/.ready > ran.txt\"\n",
    );
    let doc = env.wtc_json(&repo, &["run", file.to_str().unwrap(), "--no-squash"]);
    for lane in ["a", "b"] {
        let tip = format!("refs/heads/wtc/r/{lane}:ran.txt");
        assert_eq!(
            env.git(&repo, &["show", &tip]),
            format!("{lane}\n"),
            "{doc}"
        );
    }
    // A failing set-up stops the run, names its log, and leaves the lane.
    let file = env.path("broken.toml");
    env.write(
        &file,
        "plan = \"s\"\nsetup = \"exit 4\"\n[[lane]]\nname = \"a\"\nrun = \"touch ran\"\n",
    );
    let (c, doc) = env.wtc_json_code(&repo, &["run", file.to_str().unwrap()]);
    assert_eq!(c, 1, "{doc}");
    assert_eq!(
        doc["error"]["paths"],
        serde_json::json!([repo
            .join(".git/wtc/logs/s/a.setup.log")
            .display()
            .to_string()]),
        "{doc}"
    );
    assert!(env.rev_exists(&repo, "refs/heads/wtc/s/a"));
    assert!(
        !env.path("repo.wtc/s/a/ran").exists(),
        "the lane's command ran"
    );
    // `setup = ""` means none, even with wtc.setup set.
    let file = env.path("none.toml");
    env.write(
        &file,
        "plan = \"t\"\nsetup = \"\"\n[[lane]]\nname = \"a\"\nrun = \"true\"\n",
    );
    env.wtc_json(&repo, &["run", file.to_str().unwrap(), "--no-squash"]);
}

/// `sync --target`: the target's new commits (a hotfix on main) reach a lane and flow on to
/// the lanes after it; squash still lands ONE commit on the target's tip; a hotfix that
/// collides with a lane's edit is a conflict like any other, labelled with the target.
#[test]
fn sync_target_brings_the_targets_new_commits_into_the_lanes() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    env.write(&a.join("a.txt"), "a\n");
    env.wtc_json(&a, &["save", "-m", "a's work"]);
    env.write(&b.join("b.txt"), "b\n");
    env.wtc_json(&b, &["save", "-m", "b's work"]);
    // The target moves on underneath the lanes.
    env.write(&repo.join("hotfix.txt"), "fixed\n");
    env.git(&repo, &["add", "hotfix.txt"]);
    env.git(&repo, &["commit", "-qm", "Hotfix"]);
    let hotfix = env.rev(&repo, "main");

    let status = env.wtc_json(&repo, &["status"]);
    assert_eq!(status["lanes"][0]["behind_target"], 1, "{status}");
    let shown = env.wtc(&repo, &["status"]);
    assert!(
        stdout(&shown).contains("1 behind main"),
        "{}",
        stdout(&shown)
    );
    // Without --target nothing comes from main; with it, the hotfix does.
    let plain = env.wtc_json(&a, &["sync"]);
    assert_eq!(plain["result"], "up-to-date", "{plain}");
    let dry = env.wtc_json(&a, &["sync", "--target", "--dry-run"]);
    assert_eq!(dry["merged"], serde_json::json!(["main (target)"]), "{dry}");
    assert!(!a.join("hotfix.txt").exists(), "a dry run writes nothing");
    let synced = env.wtc_json(&a, &["sync", "--target"]);
    assert_eq!(synced["result"], "merged", "{synced}");
    assert_eq!(
        synced["merged"],
        serde_json::json!(["main (target)"]),
        "{synced}"
    );
    assert_eq!(
        std::fs::read_to_string(a.join("hotfix.txt")).unwrap(),
        "fixed\n"
    );
    assert!(env.is_ancestor(&a, &hotfix, "HEAD"));
    let again = env.wtc_json(&a, &["sync", "--target"]);
    assert_eq!(again["result"], "up-to-date", "{again}");
    let status = env.wtc_json(&repo, &["status"]);
    assert_eq!(status["lanes"][0]["behind_target"], 0, "{status}");
    assert_eq!(
        status["lanes"][1]["behind_target"], 1,
        "b has not synced yet: {status}"
    );
    // It flows on: b gets it through a.
    env.wtc_json(&b, &["sync"]);
    assert_eq!(
        std::fs::read_to_string(b.join("hotfix.txt")).unwrap(),
        "fixed\n"
    );
    env.wtc_json(&a, &["done"]);
    env.wtc_json(&b, &["done"]);
    let squashed = env.wtc_json(&repo, &["squash"]);
    assert!(squashed["commit"].is_string(), "{squashed}");
    let parents = env.git(&repo, &["rev-list", "--parents", "-n", "1", "main"]);
    assert_eq!(
        parents.split_whitespace().skip(1).collect::<Vec<_>>(),
        [hotfix.as_str()],
        "ONE commit on the target's tip"
    );
    for (f, want) in [
        ("a.txt", "a\n"),
        ("b.txt", "b\n"),
        ("hotfix.txt", "fixed\n"),
    ] {
        assert_eq!(env.git(&repo, &["show", &format!("main:{f}")]), want);
    }
}

#[test]
fn sync_target_conflicts_are_labelled_with_the_target() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    env.write(&a.join("same.txt"), "the lane's line\n");
    env.wtc_json(&a, &["save", "-m", "lane edit"]);
    env.write(&repo.join("same.txt"), "the hotfix's line\n");
    env.git(&repo, &["add", "same.txt"]);
    env.git(&repo, &["commit", "-qm", "Hotfix"]);
    let out = env.wtc(&a, &["sync", "--target"]);
    assert_eq!(code(&out), 3, "{}", env.describe(&out));
    let text = std::fs::read_to_string(a.join("same.txt")).unwrap();
    assert!(text.contains(">>>>>>> main (target)"), "{text}");
    // A target branch that does not exist: a clear error, nothing changed.
    let env2 = TestEnv::new();
    let repo2 = env2.path("repo");
    env2.fixture("make_base.sh", &repo2);
    env2.git(&repo2, &["branch", "release"]);
    env2.wtc_json(&repo2, &["init", "q", "--target", "release"]);
    let lane = env2.add_lane(&repo2, "x", &[]);
    env2.git(&repo2, &["branch", "-D", "release"]);
    let head = env2.rev(&lane, "HEAD");
    let out = env2.wtc(&lane, &["sync", "--target"]);
    assert_eq!(code(&out), 1, "{}", env2.describe(&out));
    assert!(stderr(&out).contains("release"), "{}", env2.describe(&out));
    assert_eq!(env2.rev(&lane, "HEAD"), head);
}

/// The conflict forecast: `wtc status` lists every pair of lanes the DAG does not order
/// whose changes meet, and whether merging them conflicts; pairs the DAG orders are never
/// listed; verdicts are cached by the pair's tips (a corrupt cache is ignored, a moved tip
/// is judged again), and nothing is written to any worktree.
#[test]
fn status_forecasts_conflicts_between_unordered_lanes() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.write(&repo.join("shared.txt"), "one\n");
    env.write(&repo.join("doc.txt"), "top\n\n\n\n\n\n\nbottom\n");
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "files the lanes share"]);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &[]);
    let c = env.add_lane(&repo, "c", &["a"]);
    let e = env.add_lane(&repo, "e", &[]);
    env.write(&a.join("shared.txt"), "a's line\n");
    env.wtc_json(&a, &["save"]);
    env.write(&b.join("shared.txt"), "b's line\n");
    env.wtc_json(&b, &["save"]);
    env.wtc_json(&c, &["sync"]);
    env.write(&c.join("c.txt"), "c\n");
    env.wtc_json(&c, &["save"]);
    env.write(&b.join("doc.txt"), "TOP\n\n\n\n\n\n\nbottom\n");
    env.wtc_json(&b, &["save"]);
    env.write(&e.join("doc.txt"), "top\n\n\n\n\n\n\nBOTTOM\n");
    env.wtc_json(&e, &["save"]);
    let before = env.git(&b, &["status", "--porcelain"]);

    let doc = env.wtc_json(&repo, &["status"]);
    let overlaps = doc["overlaps"].as_array().expect("overlaps").clone();
    let find = |x: &str, y: &str| {
        overlaps
            .iter()
            .find(|o| o["lanes"] == serde_json::json!([x, y]))
            .cloned()
    };
    let ab = find("a", "b").expect("a and b overlap");
    assert_eq!(ab["paths"], serde_json::json!(["shared.txt"]), "{ab}");
    assert_eq!(ab["conflicts"], true);
    // c carries a's change (it synced a), so it meets b on the same path.
    assert_eq!(find("b", "c").expect("b and c")["conflicts"], true);
    // b and e change the same file in different places: they meet, cleanly.
    let be = find("b", "e").expect("b and e");
    assert_eq!(be["paths"], serde_json::json!(["doc.txt"]), "{be}");
    assert_eq!(be["conflicts"], false);
    assert!(
        find("a", "c").is_none(),
        "the DAG orders a and c: {overlaps:?}"
    );
    assert!(
        find("a", "e").is_none() && find("c", "e").is_none(),
        "{overlaps:?}"
    );
    let shown = env.wtc(&repo, &["status"]);
    assert!(
        stdout(&shown).contains("overlap: a and b both change shared.txt: would conflict"),
        "{}",
        stdout(&shown)
    );
    assert_eq!(
        env.git(&b, &["status", "--porcelain"]),
        before,
        "nothing written"
    );

    // Cached by tips: the same answer again, also from a corrupt cache; a moved tip is new.
    let cache = PathBuf::from(env.git(&repo, &["rev-parse", "--git-common-dir"]).trim())
        .join("wtc/forecast/p.json");
    let cache = if cache.is_absolute() {
        cache
    } else {
        repo.join(cache)
    };
    assert!(cache.exists());
    assert_eq!(
        env.wtc_json(&repo, &["status"])["overlaps"],
        doc["overlaps"]
    );
    std::fs::write(&cache, "{ not json").unwrap();
    assert_eq!(
        env.wtc_json(&repo, &["status"])["overlaps"],
        doc["overlaps"]
    );
    env.write(&b.join("shared.txt"), "a's line\n"); // b now agrees with a
    env.wtc_json(&b, &["save"]);
    let after = env.wtc_json(&repo, &["status"]);
    let ab = after["overlaps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["lanes"] == serde_json::json!(["a", "b"]))
        .cloned()
        .expect("they still both change shared.txt");
    assert_eq!(
        ab["conflicts"], false,
        "the same change merges cleanly: {ab}"
    );
}

/// `squash --dry-run` names the conflicting pair, the lane folded before whose own change
/// meets the conflicting lane's, not every lane folded before it; status forecast the same.
#[test]
fn squash_dry_run_names_the_conflicting_pair() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.write(&repo.join("same.txt"), "one\n");
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "a shared file"]);
    env.wtc_json(&repo, &["init", "p"]);
    let lanes: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .map(|l| env.add_lane(&repo, l, &[]))
        .collect();
    env.write(&lanes[0].join("same.txt"), "a's\n");
    env.write(&lanes[1].join("other.txt"), "b's\n");
    env.write(&lanes[2].join("same.txt"), "c's\n");
    for wt in &lanes {
        env.wtc_json(wt, &["done"]);
    }
    let status = env.wtc_json(&repo, &["status"]);
    assert_eq!(
        status["overlaps"],
        serde_json::json!([{"lanes": ["a", "c"], "paths": ["same.txt"], "conflicts": true}]),
        "{status}"
    );
    let before = env.rev(&repo, "main");
    let out = env.wtc(&repo, &["squash", "--dry-run"]);
    assert_eq!(code(&out), 3, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("lane 'c' conflicts with 'a';"),
        "{}",
        env.describe(&out)
    );
    assert!(!stderr(&out).contains("'b'"), "{}", env.describe(&out));
    assert_eq!(env.rev(&repo, "main"), before);
}
