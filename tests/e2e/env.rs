//! `TestEnv`: one isolated, throw-away world per test.
//!
//! Every `git` and `wtc` process a test starts runs with a cleared environment: a
//! private `HOME`, no system or user git config, fixed author/committer identities and
//! dates, `TZ=UTC`, `LC_ALL=C`. Tests therefore see the same hashes and messages on every
//! machine, and nothing a developer has in `~/.gitconfig` can make them pass or fail.
//! Paths under the temporary root are shown as `[ROOT]` in assertion messages so a
//! failure reads the same everywhere.
//!
//! Set `WTC_E2E_KEEP=1` to keep the temporary root of a failing test for inspection.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use crate::hermetic::Hermetic;

/// A process that runs longer than this is a hang, not a slow machine: kill it and fail.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

pub struct TestEnv {
    tmp: Option<tempfile::TempDir>,
    /// The canonical temporary root (`[ROOT]` in messages).
    root: PathBuf,
    /// The isolation every process gets (the helper shared with unit tests and benches).
    hermetic: Hermetic,
}

impl TestEnv {
    pub fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("wtc-e2e-")
            .tempdir()
            .expect("create the temporary root");
        // Canonical, so paths that wtc or git report compare equal to ours.
        let root = tmp
            .path()
            .canonicalize()
            .expect("canonicalize the temporary root");
        let hermetic = Hermetic::new(&root);
        TestEnv {
            tmp: Some(tmp),
            root,
            hermetic,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `rel` under the temporary root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Replaces the temporary root by `[ROOT]`.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.replace(&*self.root.to_string_lossy(), "[ROOT]");
        if let Some(tmp) = &self.tmp {
            text = text.replace(&*tmp.path().to_string_lossy(), "[ROOT]");
        }
        text
    }

    /// A command for `program` in `dir` with the isolated environment.
    pub fn command(&self, program: impl AsRef<OsStr>, dir: &Path) -> Command {
        let mut cmd = self.hermetic.command(program, dir);
        cmd.env("RUST_BACKTRACE", "1");
        cmd
    }

    /// Runs `cmd` to completion (stdin closed), failing the test if it hangs.
    pub fn run(&self, mut cmd: Command, what: &str) -> Output {
        cmd.stdin(Stdio::null());
        let child = self.spawn(cmd, what);
        self.finish(child, what, PROCESS_TIMEOUT)
    }

    fn spawn(&self, mut cmd: Command, what: &str) -> Child {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", self.redact(what)))
    }

    /// Waits for a child started by [`TestEnv::wtc_spawn`], at most `timeout`.
    pub fn finish(&self, mut child: Child, what: &str, timeout: Duration) -> Output {
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        // Drain both pipes while waiting, so a chatty child never blocks on a full pipe.
        let out = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let err = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        });
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("poll a child process") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{}` did not finish within {timeout:?}", self.redact(what));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Output {
            status,
            stdout: out.join().expect("stdout reader"),
            stderr: err.join().expect("stderr reader"),
        }
    }

    // ---- git ---------------------------------------------------------------------------

    /// `git ARGS` in `dir`; its output whatever the exit code.
    pub fn git_output(&self, dir: &Path, args: &[&str]) -> Output {
        let mut cmd = self.command("git", dir);
        cmd.args(args);
        self.run(cmd, &format!("git {}", args.join(" ")))
    }

    /// The cache-tree (TREE extension) of `wt`'s index is sound: `git write-tree`, which
    /// trusts every node marked valid, gives the tree git computes from the entries alone
    /// (on a copy of the index without the extension). A stale node would make git's next
    /// commit record a wrong tree. Indexes with conflict stages have no tree to compare.
    pub fn assert_cache_tree_sound(&self, wt: &Path) {
        let repo = crate::hermetic::open(wt);
        let file = gix::index::File::at(
            repo.index_path(),
            repo.object_hash(),
            false,
            Default::default(),
        )
        .expect("the index reads");
        if file.tree().is_none() || file.entries().iter().any(|e| e.stage_raw() != 0) {
            return;
        }
        let mut plain = file.clone();
        plain.remove_tree();
        let copy = repo.git_dir().join("plain-index-for-test");
        let mut buf = Vec::new();
        plain
            .write_to(&mut buf, Default::default())
            .expect("encodes");
        std::fs::write(&copy, buf).expect("writes the copy");
        let mut cmd = self.command("git", wt);
        cmd.args(["write-tree"]).env("GIT_INDEX_FILE", &copy);
        let truth = self.run(cmd, "git write-tree (no cache-tree)");
        let _ = std::fs::remove_file(&copy);
        assert!(truth.status.success(), "{}", self.describe(&truth));
        let truth = String::from_utf8_lossy(&truth.stdout).trim().to_string();
        assert_eq!(
            self.git(wt, &["write-tree"]).trim(),
            truth,
            "the cache-tree wtc left in {} is stale",
            self.redact(&wt.display().to_string())
        );
    }

    /// `git ARGS` in `dir`; its stdout. Panics (with stderr) if git fails.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git_output(dir, args);
        assert!(
            out.status.success(),
            "git {} failed in {}\n{}",
            args.join(" "),
            self.redact(&dir.display().to_string()),
            self.describe(&out)
        );
        String::from_utf8(out.stdout).expect("git prints UTF-8 here")
    }

    /// `git ARGS` in `dir` with `input` on stdin; its stdout. Panics if git fails.
    pub fn git_stdin(&self, dir: &Path, args: &[&str], input: &[u8]) -> String {
        let mut cmd = self.command("git", dir);
        cmd.args(args).stdin(Stdio::piped());
        let what = format!("git {}", args.join(" "));
        let mut child = self.spawn(cmd, &what);
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(input)
            .expect("write git's stdin");
        let out = self.finish(child, &what, PROCESS_TIMEOUT);
        assert!(
            out.status.success(),
            "{what} failed\n{}",
            self.describe(&out)
        );
        String::from_utf8(out.stdout).expect("git prints UTF-8 here")
    }

    /// `git rev-parse --verify REV` (full hash).
    pub fn rev(&self, dir: &Path, rev: &str) -> String {
        self.git(dir, &["rev-parse", "--verify", "-q", rev])
            .trim()
            .to_string()
    }

    /// Whether `rev` resolves in `dir`.
    pub fn rev_exists(&self, dir: &Path, rev: &str) -> bool {
        self.git_output(dir, &["rev-parse", "--verify", "-q", rev])
            .status
            .success()
    }

    /// The tree of `rev`.
    pub fn tree(&self, dir: &Path, rev: &str) -> String {
        self.rev(dir, &format!("{rev}^{{tree}}"))
    }

    pub fn is_ancestor(&self, dir: &Path, ancestor: &str, of: &str) -> bool {
        let out = self.git_output(dir, &["merge-base", "--is-ancestor", ancestor, of]);
        match out.status.code() {
            Some(0) => true,
            Some(1) => false,
            _ => panic!(
                "git merge-base --is-ancestor failed\n{}",
                self.describe(&out)
            ),
        }
    }

    /// `git status --porcelain` (untracked files listed one by one).
    pub fn status(&self, dir: &Path) -> String {
        self.git(dir, &["status", "--porcelain", "--untracked-files=all"])
    }

    pub fn assert_clean(&self, dir: &Path, when: &str) {
        let status = self.status(dir);
        assert!(
            status.is_empty(),
            "{when}: `git status` in {} is not clean:\n{status}",
            self.redact(&dir.display().to_string())
        );
    }

    /// `git fsck --strict` accepts the repository (dangling objects are fine).
    pub fn assert_fsck(&self, dir: &Path) {
        let out = self.git_output(dir, &["fsck", "--strict", "--no-progress"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let bad: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("dangling ") && !l.starts_with("Checking "))
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert!(
            out.status.success() && bad.is_empty(),
            "git fsck --strict complains\n{}",
            self.describe(&out)
        );
    }

    /// Everything a refused command must leave untouched: every ref with its value, HEAD
    /// of every worktree, the worktree list, wtc's local config and the lane directories.
    pub fn snapshot(&self, repo: &Path) -> String {
        let mut s = String::new();
        s += "## refs\n";
        s += &self.git(repo, &["for-each-ref", "--format=%(objectname) %(refname)"]);
        s += "## HEAD\n";
        let head = self.git_output(repo, &["symbolic-ref", "-q", "HEAD"]);
        s += &String::from_utf8_lossy(&head.stdout);
        let head = self.git_output(repo, &["rev-parse", "-q", "--verify", "HEAD"]);
        s += &String::from_utf8_lossy(&head.stdout);
        s += "## worktrees\n";
        s += &self.git(repo, &["worktree", "list", "--porcelain"]);
        s += "## wtc config\n";
        let config = self.git_output(repo, &["config", "--get-regexp", r"^wtc\."]);
        s += &String::from_utf8_lossy(&config.stdout);
        s += "## lane directories\n";
        let git_dir = self.git(repo, &["rev-parse", "--absolute-git-dir"]);
        let top = Path::new(git_dir.trim());
        // `<parent of main worktree>/<repo>.wtc`; for a bare repository its own name.
        let top = if top.file_name() == Some(OsStr::new(".git")) {
            top.parent().expect("a worktree above .git")
        } else {
            top
        };
        let name = top
            .file_name()
            .expect("a named repository")
            .to_string_lossy();
        let lanes = top.with_file_name(format!("{name}.wtc"));
        for entry in list_tree(&lanes, 3) {
            s += &entry;
            s += "\n";
        }
        self.redact(&s)
    }

    // ---- wtc ---------------------------------------------------------------------------

    /// `wtc ARGS` in `dir`, whatever the exit code.
    pub fn wtc(&self, dir: &Path, args: &[&str]) -> Output {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_wtc"), dir);
        cmd.args(args);
        self.run(cmd, &format!("wtc {}", args.join(" ")))
    }

    /// `wtc ARGS` in `dir` in the background (see [`TestEnv::finish`]).
    pub fn wtc_spawn(&self, dir: &Path, args: &[&str]) -> Child {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_wtc"), dir);
        cmd.args(args).stdin(Stdio::null());
        self.spawn(cmd, &format!("wtc {}", args.join(" ")))
    }

    /// `wtc ARGS` in `dir`, which must succeed; its stdout.
    pub fn wtc_ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.wtc(dir, args);
        self.assert_code(&out, 0, &format!("wtc {}", args.join(" ")));
        String::from_utf8(out.stdout).expect("wtc prints UTF-8")
    }

    /// `wtc --json ARGS` in `dir`: its exit code and its JSON document (`"version": 1`).
    pub fn wtc_json_code(&self, dir: &Path, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.wtc(dir, &all);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "wtc {} did not print one JSON document on stdout ({e})\n{}",
                all.join(" "),
                self.describe(&out)
            )
        });
        assert_eq!(
            doc["version"],
            1,
            "wtc {}: JSON without \"version\": 1\n{}",
            all.join(" "),
            self.describe(&out)
        );
        crate::json_docs::check(&doc);
        (code(&out), doc)
    }

    /// `wtc --json ARGS` in `dir`, which must succeed; its JSON document.
    pub fn wtc_json(&self, dir: &Path, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.wtc(dir, &all);
        self.assert_code(&out, 0, &format!("wtc {}", all.join(" ")));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "wtc {} did not print one JSON document on stdout ({e})\n{}",
                all.join(" "),
                self.describe(&out)
            )
        });
        assert_eq!(
            doc["version"],
            1,
            "JSON without \"version\": 1\n{}",
            self.describe(&out)
        );
        crate::json_docs::check(&doc);
        doc
    }

    /// Creates a lane from the main worktree; returns its worktree (from `add --json`).
    pub fn add_lane(&self, repo: &Path, lane: &str, after: &[&str]) -> PathBuf {
        let mut args = vec!["add", lane];
        for a in after {
            args.extend_from_slice(&["--after", a]);
        }
        let doc = self.wtc_json(repo, &args);
        PathBuf::from(
            doc["worktree"]
                .as_str()
                .unwrap_or_else(|| panic!("`wtc add` JSON has no worktree string: {doc}")),
        )
    }

    // ---- assertions and files ----------------------------------------------------------

    /// The exit code, stdout and stderr of `out`, for assertion messages.
    pub fn describe(&self, out: &Output) -> String {
        self.redact(&format!(
            "exit code: {:?}\n--- stdout\n{}--- stderr\n{}---",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    pub fn assert_code(&self, out: &Output, expected: i32, what: &str) {
        assert_eq!(
            out.status.code(),
            Some(expected),
            "`{}` exited with an unexpected code\n{}",
            self.redact(what),
            self.describe(out)
        );
    }

    /// Runs `bash fixtures/NAME DIR` with the isolated environment; its stdout.
    pub fn fixture(&self, name: &str, dir: &Path) -> String {
        self.fixture_args(name, &[dir.to_str().expect("UTF-8 path")])
    }

    /// Runs `bash fixtures/NAME ARGS...` with the isolated environment; its stdout.
    pub fn fixture_args(&self, name: &str, args: &[&str]) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name);
        let mut cmd = self.command("bash", &self.root);
        cmd.arg(&script).args(args);
        let out = self.run(cmd, &format!("fixtures/{name} {}", args.join(" ")));
        assert!(
            out.status.success(),
            "fixture {name} failed\n{}",
            self.describe(&out)
        );
        String::from_utf8(out.stdout).expect("fixtures print UTF-8")
    }

    /// Writes `content` to `path`, creating parent directories.
    pub fn write(&self, path: &Path, content: impl AsRef<[u8]>) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directories");
        }
        std::fs::write(path, content)
            .unwrap_or_else(|e| panic!("write {}: {e}", self.redact(&path.display().to_string())));
    }

    pub fn read(&self, path: &Path) -> String {
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.redact(&path.display().to_string())))
    }

    pub fn read_bytes(&self, path: &Path) -> Vec<u8> {
        std::fs::read(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.redact(&path.display().to_string())))
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os("WTC_E2E_KEEP").is_some() {
            if let Some(tmp) = self.tmp.take() {
                eprintln!("kept the test root: {}", tmp.keep().display());
            }
        }
    }
}

/// Whether `out` shows a crash: a Rust panic (exit 101) or wtc's "internal bug" report.
pub fn crashed(out: &Output) -> bool {
    let err = stderr(out);
    code(out) == 101 || code(out) < 0 || err.contains("panicked") || err.contains("internal bug")
}

/// The exit code (-1 when killed by a signal).
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether two paths name the same existing file or directory.
pub fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Sorted relative paths under `dir`, `depth` levels deep (empty if `dir` is missing).
fn list_tree(dir: &Path, depth: usize) -> Vec<String> {
    let mut found = Vec::new();
    fn walk(base: &Path, dir: &Path, depth: usize, found: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            found.push(
                path.strip_prefix(base)
                    .expect("under base")
                    .display()
                    .to_string(),
            );
            if depth > 1 && path.is_dir() && !path.is_symlink() {
                walk(base, &path, depth - 1, found);
            }
        }
    }
    walk(dir, dir, depth, &mut found);
    found.sort();
    found
}

/// The lines of `git worktree list --porcelain` grouped per worktree.
pub fn parse_worktrees(porcelain: &str) -> Vec<Vec<(String, String)>> {
    porcelain
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            block
                .lines()
                .map(|line| match line.split_once(' ') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (line.to_string(), String::new()),
                })
                .collect()
        })
        .collect()
}

/// A JSON value that must be a string.
pub fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a JSON string, got {v}"))
}

/// The seed of every property and fuzz run: fixed, so CI is reproducible (a failure found
/// once fails again); `WTC_PROPS_SEED=N` explores other cases, and a failure names its seed.
pub fn proptest_seed() -> proptest::test_runner::RngSeed {
    let seed = std::env::var("WTC_PROPS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_2026_u64);
    proptest::test_runner::RngSeed::Fixed(seed)
}
