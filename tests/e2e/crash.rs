//! Invariants 1 and 3 under SIGKILL: `save`, `sync` (clean, conflicted, `--no-autosave`),
//! `squash` and `clean`, each killed at EVERY fault point it has.
//!
//! `WTC_FAULT_AFTER=N` makes wtc SIGKILL itself at its N-th fault point (src/faults.rs: between
//! every write step); `WTC_FAULT_COUNT=1` makes a normal run print how many points it passed.
//! Each scenario is built once and kept as a template directory; every kill starts from a
//! fresh `cp -a` of it (same absolute path, so linked worktrees stay valid). After each kill:
//! `git fsck --strict` accepts the repository, every ref names a commit, every byte the user
//! had is still in its file or in a blob reachable from a ref, and running the same command
//! again (no fault) finishes the job with exactly the state of an uninterrupted run, or exits
//! non-zero with a `hint:` saying what to do. Never a panic, never a lock that blocks.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::env::{code, crashed, stderr, TestEnv};

/// One file of the user's, as it was before the command: its bytes and git's blob id for them.
pub struct UserFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub blob: String,
}

/// Every file (and symlink) under `dir`, except the `.git` entry at its top and `skip` dirs.
pub fn walk_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, top: bool, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if top && e.file_name() == ".git" {
                continue;
            }
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                walk(&p, false, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, true, &mut out);
    out.sort();
    out
}

/// The bytes git stores for the file at `path`: its content, or a symlink's target.
pub fn disk_bytes(path: &Path) -> Option<Vec<u8>> {
    let md = std::fs::symlink_metadata(path).ok()?;
    if md.file_type().is_symlink() {
        use std::os::unix::ffi::OsStrExt;
        Some(
            std::fs::read_link(path)
                .ok()?
                .as_os_str()
                .as_bytes()
                .to_vec(),
        )
    } else if md.is_file() {
        std::fs::read(path).ok()
    } else {
        None
    }
}

/// Capture every user file under the worktrees `dirs` (with blob ids, hashed by git in one
/// call per worktree).
pub fn capture(env: &TestEnv, repo: &Path, dirs: &[&Path]) -> Vec<UserFile> {
    let mut files = Vec::new();
    for dir in dirs {
        let paths = walk_files(dir);
        let mut input = Vec::new();
        let mut found = Vec::new();
        for p in paths {
            let Some(bytes) = disk_bytes(&p) else {
                continue;
            };
            let tmp = env.path(&format!("tmp/blob-{}", found.len()));
            std::fs::write(&tmp, &bytes).expect("write a blob copy");
            input.extend_from_slice(tmp.to_str().expect("UTF-8").as_bytes());
            input.push(b'\n');
            found.push((p, bytes));
        }
        let ids = env.git_stdin(
            repo,
            &["hash-object", "--no-filters", "--stdin-paths"],
            &input,
        );
        for ((path, bytes), blob) in found.into_iter().zip(ids.lines()) {
            files.push(UserFile {
                path,
                bytes,
                blob: blob.to_string(),
            });
        }
    }
    files
}

/// Every object reachable from any ref (all worktrees' HEADs included).
pub fn reachable_objects(env: &TestEnv, repo: &Path) -> BTreeSet<String> {
    env.git(repo, &["rev-list", "--objects", "--all"])
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default().to_string())
        .collect()
}

/// Invariant 1: each file's bytes are still at its path, or in a blob reachable from a ref.
pub fn assert_no_byte_lost(env: &TestEnv, repo: &Path, files: &[UserFile], when: &str) {
    let mut reachable: Option<BTreeSet<String>> = None;
    for f in files {
        if disk_bytes(&f.path).as_deref() == Some(f.bytes.as_slice()) {
            continue;
        }
        let reachable = reachable.get_or_insert_with(|| reachable_objects(env, repo));
        assert!(
            reachable.contains(&f.blob),
            "{when}: the user's {} is neither in the worktree nor in a commit reachable from a ref",
            env.redact(&f.path.display().to_string())
        );
    }
}

/// Every ref with the tree and parents of its commit (one line each).
fn refs_with_trees(env: &TestEnv, repo: &Path) -> String {
    env.git(
        repo,
        &[
            "for-each-ref",
            "--format=%(objecttype) %(refname) %(tree) %(parent)",
        ],
    )
}

/// fsck accepts the repository and every ref names a commit (plan refs are commits too).
pub fn assert_repository_sound(env: &TestEnv, repo: &Path, when: &str) {
    env.assert_fsck(repo);
    for line in refs_with_trees(env, repo).lines() {
        assert!(
            line.starts_with("commit "),
            "{when}: a ref names something else than a commit: {line}"
        );
    }
}

/// A command to kill at every fault point, from a template directory.
struct Scenario {
    name: &'static str,
    env: TestEnv,
    /// The directory that holds the repository and its lane worktrees (restored per kill).
    work: PathBuf,
    template: PathBuf,
    repo: PathBuf,
    /// Where the command runs.
    dir: PathBuf,
    args: Vec<&'static str>,
    /// The exit code of an uninterrupted run (3 for a sync that stops on conflicts).
    code: i32,
    /// Worktrees whose files are the user's bytes, with their git dirs.
    worktrees: Vec<(PathBuf, PathBuf)>,
    /// The wtc binary, hard-linked into the test root so a concurrent `cargo build`
    /// replacing target/debug/wtc cannot pull it away mid-test.
    wtc: PathBuf,
}

#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    recovered: usize,
    explained: usize,
}

impl Scenario {
    /// Keep the built scenario as the template every kill starts from. Its objects are
    /// packed first: a few files copy much faster than hundreds of loose objects.
    fn freeze(
        name: &'static str,
        env: TestEnv,
        dir: PathBuf,
        args: &[&'static str],
        code: i32,
        worktrees: Vec<PathBuf>,
    ) -> Scenario {
        let work = env.path("w");
        let template = env.path("template");
        let repo = work.join("repo");
        env.git(&repo, &["repack", "-adq"]);
        env.git(&repo, &["prune-packed"]);
        let worktrees = worktrees
            .into_iter()
            .map(|wt| {
                let git_dir = env.git(&wt, &["rev-parse", "--absolute-git-dir"]);
                let git_dir = PathBuf::from(git_dir.trim());
                (wt, git_dir)
            })
            .collect();
        let wtc = env.path("wtc");
        let bin = Path::new(env!("CARGO_BIN_EXE_wtc"));
        if std::fs::hard_link(bin, &wtc).is_err() {
            std::fs::copy(bin, &wtc).expect("copy the wtc binary");
        }
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(&work)
            .arg(&template)
            .status()
            .expect("cp runs");
        assert!(st.success(), "cp -a to the template");
        Scenario {
            name,
            repo,
            env,
            work,
            template,
            dir,
            args: args.to_vec(),
            code,
            worktrees,
            wtc,
        }
    }

    fn restore(&self) {
        if self.work.exists() {
            std::fs::remove_dir_all(&self.work).expect("remove the work directory");
        }
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(&self.template)
            .arg(&self.work)
            .status()
            .expect("cp runs");
        assert!(st.success(), "cp -a of the template");
    }

    fn run(&self, fault: Option<usize>) -> Output {
        let mut cmd = self.env.command(&self.wtc, &self.dir);
        cmd.args(&self.args).env("WTC_FAULT_COUNT", "1");
        if let Some(n) = fault {
            cmd.env("WTC_FAULT_AFTER", n.to_string());
        }
        self.env.run(cmd, &format!("wtc {}", self.args.join(" ")))
    }

    /// What an uninterrupted run leaves: every ref with its tree and parents, the worktree
    /// list, every worktree's status and files, merge state and lock files.
    fn final_state(&self) -> String {
        let env = &self.env;
        let mut s = String::from("## refs\n");
        s += &refs_with_trees(env, &self.repo);
        s += "## worktrees\n";
        for line in env
            .git(&self.repo, &["worktree", "list", "--porcelain"])
            .lines()
        {
            if line.starts_with("worktree ") || line.starts_with("branch ") {
                s += line;
                s += "\n";
            }
        }
        for (wt, git_dir) in &self.worktrees {
            let name = env.redact(&wt.display().to_string());
            if !wt.exists() {
                s += &format!("## {name}: gone\n");
                continue;
            }
            s += &format!("## {name}\n");
            s += &env.status(wt);
            for f in ["MERGE_HEAD", "index.lock", "wtc.lock", "wtc-update"] {
                if git_dir.join(f).exists() {
                    s += &format!("{f} exists\n");
                }
            }
            for f in walk_files(wt) {
                let mode = std::fs::symlink_metadata(&f)
                    .map(|m| m.permissions().mode() & 0o111 != 0)
                    .unwrap_or(false);
                s += &format!(
                    "{} x={mode} {:?}\n",
                    f.strip_prefix(wt).expect("under the worktree").display(),
                    disk_bytes(&f).map(|b| String::from_utf8_lossy(&b).into_owned())
                );
            }
        }
        s
    }

    /// Kill the command at every one of its fault points; check and rerun after each.
    fn kill_everywhere(&self) -> Tally {
        let env = &self.env;
        self.restore();
        let dirs: Vec<&Path> = self.worktrees.iter().map(|(w, _)| w.as_path()).collect();
        let user = capture(env, &self.repo, &dirs);
        let golden = self.run(None);
        env.assert_code(
            &golden,
            self.code,
            &format!("{}: the uninterrupted run", self.name),
        );
        let points: usize = stderr(&golden)
            .lines()
            .find_map(|l| l.strip_prefix("wtc-fault-points: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no fault count printed\n{}", env.describe(&golden)));
        let expected = self.final_state();
        assert_repository_sound(env, &self.repo, &format!("{}: uninterrupted", self.name));
        assert_no_byte_lost(
            env,
            &self.repo,
            &user,
            &format!("{}: uninterrupted", self.name),
        );
        let mut tally = Tally::default();
        for n in 1..=points {
            self.restore();
            let when = format!("{} killed at fault point {n}/{points}", self.name);
            let out = self.run(Some(n));
            assert_eq!(
                out.status.signal(),
                Some(9),
                "{when}: expected a SIGKILL\n{}",
                env.describe(&out)
            );
            tally.kills += 1;
            assert_repository_sound(env, &self.repo, &when);
            assert_no_byte_lost(env, &self.repo, &user, &when);
            for wt in dirs.iter().filter(|w| w.exists()) {
                env.status(wt); // git can read every index
            }

            let again = self.run(None);
            let when = format!("{when}, then run again");
            assert!(
                !crashed(&again),
                "{when}: crashed\n{}",
                env.describe(&again)
            );
            assert_no_byte_lost(env, &self.repo, &user, &when);
            if code(&again) == self.code {
                // Equal to the uninterrupted run's state, which fsck accepted.
                assert_eq!(
                    self.final_state(),
                    expected,
                    "{when}: finished in another state than an uninterrupted run\n{}",
                    env.describe(&again)
                );
                tally.recovered += 1;
            } else {
                assert!(
                    code(&again) != 0 && stderr(&again).contains("hint:"),
                    "{when}: neither finished nor said what to do\n{}",
                    env.describe(&again)
                );
                assert_repository_sound(env, &self.repo, &when);
                eprintln!("crash[{}]: {when}: {}", self.name, env.describe(&again));
                tally.explained += 1;
            }
        }
        tally!(
            "crash[{}]: {} kills, {} recovered, {} explained",
            self.name,
            tally.kills,
            tally.recovered,
            tally.explained
        );
        tally
    }
}

/// How many files each lane's change adds (spread over directories), so updates are long.
const FILES: usize = 24;

/// A repository at `w/repo` with plan `p`, lanes `up` and `down` (after up).
fn lanes() -> (TestEnv, PathBuf, PathBuf, PathBuf) {
    let env = TestEnv::new();
    let repo = env.path("w/repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let up = env.add_lane(&repo, "up", &[]);
    let down = env.add_lane(&repo, "down", &["up"]);
    (env, repo, up, down)
}

fn replace_line(env: &TestEnv, path: &Path, n: usize, line: &str) {
    let text = env.read(path);
    let mut lines: Vec<&str> = text.lines().collect();
    lines[n - 1] = line;
    env.write(path, lines.join("\n") + "\n");
}

/// Many new files (in several directories, one executable, one symlink) under `gen/TAG`.
fn many_files(env: &TestEnv, wt: &Path, tag: &str) {
    for i in 0..FILES {
        let text = format!("{tag} file {i}\n").repeat(i + 1);
        env.write(&wt.join(format!("gen/{tag}/d{}/f{i}.txt", i % 4)), text);
    }
    let script = wt.join(format!("gen/{tag}/run.sh"));
    env.write(&script, "#!/bin/sh\necho run\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("d0/f0.txt", wt.join(format!("gen/{tag}/link"))).expect("symlink");
}

/// `up`'s work: many files, a deletion, a file that becomes a directory, line 2 of the
/// config, an executable bit.
fn up_work(env: &TestEnv, up: &Path) {
    many_files(env, up, "up");
    std::fs::remove_file(up.join("src/index.ts")).expect("rm");
    std::fs::remove_file(up.join("README.md")).expect("rm");
    env.write(
        &up.join("README.md/index.md"),
        "# README is a directory now\n",
    );
    replace_line(env, &up.join("src/config.ts"), 2, "  retries: 5,");
    std::fs::set_permissions(
        up.join("package.json"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
}

#[test]
fn save_killed_at_every_fault_point() {
    let (env, _repo, up, _down) = lanes();
    up_work(&env, &up);
    env.write(&up.join("debug.log"), "ignored, never saved\n");
    let s = Scenario::freeze(
        "save",
        env,
        up.clone(),
        &["save", "-m", "up's work"],
        0,
        vec![up],
    );
    let t = s.kill_everywhere();
    assert!(t.kills >= 30, "{t:?}");
}

/// `up` done with its work; `down` has a commit of its own (line 9 of the config).
fn sync_lanes() -> (TestEnv, PathBuf, PathBuf, PathBuf) {
    let (env, repo, up, down) = lanes();
    up_work(&env, &up);
    env.wtc_json(&up, &["done"]);
    replace_line(&env, &down.join("src/config.ts"), 9, "  owner: \"growth\",");
    env.wtc_json(&down, &["save", "-m", "down's owner"]);
    (env, repo, up, down)
}

#[test]
fn sync_killed_at_every_fault_point() {
    let (env, _repo, _up, down) = sync_lanes();
    env.write(&down.join("src/draft.ts"), "export const draft = 1;\n");
    env.write(
        &down.join("notes/other.txt"),
        "first note\nsecond note\nmine\n",
    );
    env.write(&down.join("debug.log"), "ignored\n");
    let s = Scenario::freeze("sync", env, down.clone(), &["sync"], 0, vec![down]);
    let t = s.kill_everywhere();
    assert!(t.kills >= 40, "{t:?}");
    // A kill half-way through writing a file (B's start over A's rest) is wtc's own
    // unfinished write, finished by the next run: never left for the user to sort out.
    assert_eq!(t.explained, 0, "{t:?}");
}

#[test]
fn conflicted_sync_killed_at_every_fault_point() {
    let (env, _repo, _up, down) = sync_lanes();
    replace_line(
        &env,
        &down.join("src/config.ts"),
        2,
        "  retries: 9, // mine",
    );
    env.write(&down.join("src/draft.ts"), "export const draft = 1;\n");
    let s = Scenario::freeze("sync-conflict", env, down.clone(), &["sync"], 3, vec![down]);
    let t = s.kill_everywhere();
    assert!(t.kills >= 40, "{t:?}");
}

#[test]
fn sync_without_autosave_killed_at_every_fault_point() {
    let (env, _repo, up, down) = lanes();
    up_work(&env, &up);
    env.wtc_json(&up, &["done"]);
    env.write(&down.join("src/draft.ts"), "export const draft = 1;\n");
    env.write(
        &down.join("notes/other.txt"),
        "first note\nsecond note\nmine\n",
    );
    env.write(&down.join("debug.log"), "ignored\n");
    let s = Scenario::freeze(
        "sync-no-autosave",
        env,
        down.clone(),
        &["sync", "--no-autosave"],
        0,
        vec![down],
    );
    let t = s.kill_everywhere();
    assert!(t.kills >= 30, "{t:?}");
}

/// Both lanes done with many files each; `main` checked out with an untracked and an
/// ignored file of its own.
fn done_lanes() -> (TestEnv, PathBuf, PathBuf, PathBuf) {
    let (env, repo, up, down) = lanes();
    up_work(&env, &up);
    env.wtc_json(&up, &["done"]);
    env.wtc_json(&down, &["sync"]);
    many_files(&env, &down, "down");
    env.wtc_json(&down, &["done"]);
    env.write(&repo.join("main-notes.txt"), "untracked in main\n");
    env.write(&repo.join("main.log"), "ignored in main\n");
    (env, repo, up, down)
}

#[test]
fn squash_killed_at_every_fault_point() {
    let (env, repo, _up, _down) = done_lanes();
    let s = Scenario::freeze("squash", env, repo.clone(), &["squash"], 0, vec![repo]);
    let t = s.kill_everywhere();
    assert!(t.kills >= 40, "{t:?}");
    // A kill half-way through writing a file (B's start over A's rest) is wtc's own
    // unfinished write, finished by the next run: never left for the user to sort out.
    assert_eq!(t.explained, 0, "{t:?}");
}

#[test]
fn clean_killed_at_every_fault_point() {
    let (env, repo, up, down) = done_lanes();
    env.wtc_json(&repo, &["squash"]);
    env.write(&down.join("late.txt"), "written after the handoff\n");
    let s = Scenario::freeze(
        "clean",
        env,
        repo.clone(),
        &["clean", "--force", "--keep-archive"],
        0,
        vec![repo, up, down],
    );
    let t = s.kill_everywhere();
    assert!(t.kills >= 10, "{t:?}");
}

impl Scenario {
    /// Kill the command at the first fault point after which `pred` holds; that point.
    fn kill_at_first(&self, pred: impl Fn(&Scenario) -> bool) -> usize {
        for n in 1..200 {
            self.restore();
            let out = self.run(Some(n));
            assert_eq!(
                out.status.signal(),
                Some(9),
                "{}: no fault point matched before the command ended\n{}",
                self.name,
                self.env.describe(&out)
            );
            if pred(self) {
                return n;
            }
        }
        panic!("{}: no fault point matched", self.name);
    }

    fn update_record(&self) -> PathBuf {
        let (_, git_dir) = &self.worktrees[0];
        git_dir.join("wtc-update")
    }

    /// The uninterrupted run's final state (the template is restored first and after).
    fn golden(&self) -> String {
        self.restore();
        let out = self.run(None);
        self.env
            .assert_code(&out, self.code, "the uninterrupted run");
        let state = self.final_state();
        self.restore();
        state
    }
}

/// Regression (half-applied sync): a sync killed while writing the incoming files left the
/// worktree between two trees, and the next `wtc sync` autosaved the upstream files it found
/// as this lane's own WIP commit. Now the update is recorded first (`<git-dir>/wtc-update`)
/// and the next wtc finishes it: same state as an uninterrupted sync, no stray WIP commit.
#[test]
fn sync_killed_mid_update_is_finished_not_autosaved() {
    let (env, _repo, _up, down) = sync_lanes();
    let s = Scenario::freeze(
        "sync-mid-update",
        env,
        down.clone(),
        &["sync"],
        0,
        vec![down],
    );
    let golden = s.golden();
    s.kill_at_first(|s| {
        s.update_record().exists() && s.work.join("repo.wtc/p/down/gen/up/d0/f0.txt").exists()
    });
    let again = s.run(None);
    s.env.assert_code(&again, 0, "wtc sync after the kill");
    assert!(
        stderr(&again).contains("finished the worktree update of an interrupted `wtc sync`"),
        "{}",
        s.env.describe(&again)
    );
    assert_eq!(s.final_state(), golden);
    let subjects = s.env.git(&s.dir, &["log", "--format=%s", "main..HEAD"]);
    assert!(!subjects.contains("autosave"), "{subjects}");
}

/// Regression (half-applied conflicted sync): conflict markers written before the kill were
/// autosaved by the next sync as a WIP commit. Now the next sync finishes the conflicted
/// update: markers, stages and MERGE_HEAD, exit 3, and no commit holds a marker.
#[test]
fn conflicted_sync_killed_mid_update_leaves_no_committed_markers() {
    let (env, _repo, _up, down) = sync_lanes();
    replace_line(
        &env,
        &down.join("src/config.ts"),
        2,
        "  retries: 9, // mine",
    );
    env.wtc_json(&down, &["save", "-m", "down's retries"]);
    let s = Scenario::freeze(
        "sync-conflict-mid",
        env,
        down.clone(),
        &["sync"],
        3,
        vec![down],
    );
    let golden = s.golden();
    let config = s.dir.join("src/config.ts");
    // (While a file is rewritten it is briefly moved aside: absent is "not yet".)
    s.kill_at_first(|s| {
        s.update_record().exists()
            && std::fs::read_to_string(&config).is_ok_and(|t| t.contains("<<<<<<<"))
    });
    let again = s.run(None);
    s.env.assert_code(&again, 3, "wtc sync after the kill");
    assert_eq!(s.final_state(), golden);
    let commits = s.env.git(&s.dir, &["rev-list", "--all"]);
    for c in commits.lines() {
        let grep = s
            .env
            .git_output(&s.dir, &["grep", "-q", "-F", "<<<<<<<", c]);
        assert!(!grep.status.success(), "commit {c} holds conflict markers");
    }
}

/// Regression (squash killed after moving the target): the plan never recorded the
/// integration, `squash` again found "nothing to integrate" and `clean` refused because the
/// lanes looked unintegrated: no way forward. Now `squash` recognises its own integration
/// commit on the target and records it; `clean` then works.
#[test]
fn squash_killed_before_recording_the_plan_is_completed_by_squash() {
    let (env, repo, _up, _down) = done_lanes();
    let old_main = env.rev(&repo, "main");
    let s = Scenario::freeze(
        "squash-record",
        env,
        repo.clone(),
        &["squash"],
        0,
        vec![repo],
    );
    let golden = s.golden();
    s.kill_at_first(|s| {
        let plan = s.env.git(&s.repo, &["show", "refs/wtc/p/plan:plan.toml"]);
        s.env.rev(&s.repo, "main") != old_main && !plan.contains("integrated")
    });
    let again = s.run(None);
    s.env.assert_code(&again, 0, "wtc squash after the kill");
    assert_eq!(s.final_state(), golden);
    assert_eq!(s.env.rev(&s.repo, "main^"), old_main);
    let twice = s.run(None);
    s.env.assert_code(&twice, 0, "wtc squash once more");
    assert!(
        stderr(&twice).contains("already integrates"),
        "{}",
        s.env.describe(&twice)
    );
    assert_eq!(
        s.final_state(),
        golden,
        "a squash run again commits nothing"
    );
    let clean = s.env.wtc(&s.repo, &["clean"]);
    s.env
        .assert_code(&clean, 0, "wtc clean after the recovered squash");
}

/// The user edits a file the killed sync had already written: finishing the update would
/// overwrite it, so the next sync refuses, names the path and says what to do; the edit is
/// intact. Once it is moved aside, the sync finishes.
#[test]
fn edit_after_a_killed_sync_is_never_overwritten() {
    let (env, _repo, _up, down) = sync_lanes();
    let s = Scenario::freeze(
        "sync-edit-after",
        env,
        down.clone(),
        &["sync"],
        0,
        vec![down],
    );
    let golden = s.golden();
    let written = s.dir.join("gen/up/d0/f0.txt");
    s.kill_at_first(|s| s.update_record().exists() && written.exists());
    s.env.write(&written, "my edit after the crash\n");
    let again = s.run(None);
    assert!(
        code(&again) == 1 && stderr(&again).contains("hint:") && !crashed(&again),
        "{}",
        s.env.describe(&again)
    );
    assert!(
        stderr(&again).contains("gen/up/d0/f0.txt"),
        "{}",
        s.env.describe(&again)
    );
    assert_eq!(s.env.read(&written), "my edit after the crash\n");
    std::fs::rename(&written, s.env.path("moved-aside.txt")).expect("move aside");
    let last = s.run(None);
    s.env
        .assert_code(&last, 0, "wtc sync once the edit is moved aside");
    assert_eq!(s.final_state(), golden);
}

/// `join PLAN LANE` in place (issue 9: the same journaled transition as sync): a clone of the
/// remote checks the lane out in its own worktree, which holds an untracked and an ignored
/// file of the user's. Killed at every fault point, the next `join` finishes it (or says
/// what to do) and the user's files are intact.
#[test]
fn join_in_place_killed_at_every_fault_point() {
    let env = TestEnv::new();
    let source = env.path("source");
    env.fixture("make_base.sh", &source);
    let bare = crate::servers::bare_remote(&env, &source, &env.path("srv"), "shop.git");
    let url = bare.display().to_string();
    let lead = env.path("lead");
    env.git(
        env.root(),
        &["clone", "-q", &url, &lead.display().to_string()],
    );
    env.wtc_json(&lead, &["init", "p", "--remote", "origin"]);
    let up = env.add_lane(&lead, "up", &[]);
    up_work(&env, &up);
    env.wtc_json(&up, &["save", "-m", "up's work"]);
    let repo = env.path("w/repo");
    std::fs::create_dir_all(env.path("w")).expect("mkdir w");
    env.git(
        env.root(),
        &["clone", "-q", &url, &repo.display().to_string()],
    );
    env.write(&repo.join("my-notes.txt"), "untracked, mine\n");
    env.write(&repo.join("build.log"), "ignored, mine\n");
    let s = Scenario::freeze(
        "join-in-place",
        env,
        repo.clone(),
        &["join", "p", "up"],
        0,
        vec![repo],
    );
    let t = s.kill_everywhere();
    assert!(t.kills >= 30, "{t:?}");
}
