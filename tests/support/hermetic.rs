//! The one hermetic-git helper: unit tests (`src/`, via `#[path]`), the e2e binary and the
//! benches all start git and wtc through it, so nothing in a developer's `~/.gitconfig`, the
//! system config or the environment can make a test pass or fail.
//!
//! Every process gets a cleared environment with: `PATH`, a private `HOME` and `TMPDIR`,
//! `GIT_CONFIG_NOSYSTEM=1`, a private global config (`init.defaultBranch=main`, no automatic gc), discovery
//! stopped at the temporary root (`GIT_CEILING_DIRECTORIES`), fixed author and committer
//! names, emails and (unless asked otherwise) dates, `GIT_TERMINAL_PROMPT=0`, `TZ=UTC`,
//! `LC_ALL=C`. In-process gix repositories are opened with [`open`] (isolated options).

#![allow(dead_code)] // each user (unit tests, e2e, benches) needs a different subset

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Author and committer date of every commit (git and gix both parse it).
pub const DATE: &str = "2005-04-07 22:13:13 +0000";
pub const AUTHOR_NAME: &str = "Test Author";
pub const AUTHOR_EMAIL: &str = "author@example.test";
pub const COMMITTER_NAME: &str = "Test Committer";
pub const COMMITTER_EMAIL: &str = "committer@example.test";

/// The private global git config every test process sees. `gc.auto = 0`: a commit that
/// starts a detached `git gc --auto` leaves it running into the test's next command (it
/// removes emptied object directories while that command writes objects there, and a
/// benchmark round would time it); an explicit `git gc` still runs.
pub const GLOBAL_CONFIG: &str =
    "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n[gc]\n\tauto = 0\n";

/// An isolated world under `root`: `root/home` (with its `gitconfig`) and `root/tmp`.
#[derive(Debug, Clone)]
pub struct Hermetic {
    pub root: PathBuf,
    /// `false`: commits get the real time (benchmarks of live propagation need distinct
    /// commits of identical content).
    pub fixed_dates: bool,
}

impl Hermetic {
    /// Prepare `root` (which must exist) as an isolated world.
    pub fn new(root: &Path) -> Hermetic {
        for dir in ["home", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).expect("create a directory under the root");
        }
        std::fs::write(root.join("home/gitconfig"), GLOBAL_CONFIG)
            .expect("write the private global git config");
        Hermetic {
            root: root.to_owned(),
            fixed_dates: true,
        }
    }

    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    pub fn global_config(&self) -> PathBuf {
        self.root.join("home/gitconfig")
    }

    /// A command for `program` in `dir` with the isolated environment.
    pub fn command(&self, program: impl AsRef<OsStr>, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir);
        self.isolate(&mut cmd);
        cmd
    }

    /// Clear `cmd`'s environment and set the isolated one.
    pub fn isolate<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("TMPDIR", self.root.join("tmp"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.global_config())
            // Repository discovery never leaves the temporary root.
            .env("GIT_CEILING_DIRECTORIES", &self.root)
            .env("GIT_AUTHOR_NAME", AUTHOR_NAME)
            .env("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
            .env("GIT_COMMITTER_NAME", COMMITTER_NAME)
            .env("GIT_COMMITTER_EMAIL", COMMITTER_EMAIL)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("TZ", "UTC")
            .env("LC_ALL", "C");
        if self.fixed_dates {
            cmd.env("GIT_AUTHOR_DATE", DATE)
                .env("GIT_COMMITTER_DATE", DATE);
        }
        cmd
    }

    /// `git ARGS` in `dir`; its trimmed stdout. Panics with git's stderr if git fails.
    #[track_caller]
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = {
            let _spawning = spawning();
            self.command("git", dir)
                .args(args)
                .output()
                .expect("git runs")
        };
        assert!(
            out.status.success(),
            "git {args:?} failed in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// Tests run on many threads of one process, and a child process started on one thread
/// holds a copy of every descriptor the process has open until it execs: a file another
/// thread closes meanwhile stays open in the child, so a write lease asked for on it is
/// refused as if someone held it open. Spawns hold this lock shared ([`spawning`]); a test that asserts
/// what a lease decides holds it exclusively ([`leases_decide`]).
static SPAWNS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held while a child process is started (see [`SPAWNS`]).
pub fn spawning() -> std::sync::RwLockReadGuard<'static, ()> {
    SPAWNS.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by a test whose assertions depend on what a write lease decides: no child process
/// starts meanwhile (see [`SPAWNS`]).
#[allow(dead_code)]
pub fn leases_decide() -> std::sync::RwLockWriteGuard<'static, ()> {
    SPAWNS.write().unwrap_or_else(|e| e.into_inner())
}

/// One isolated world for the whole test process (unit tests whose repositories live in
/// their own temporary directories and only need git to ignore the user's configuration).
pub fn shared() -> &'static Hermetic {
    static SHARED: std::sync::OnceLock<(tempfile::TempDir, Hermetic)> = std::sync::OnceLock::new();
    let (_, h) = SHARED.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("wtc-hermetic-")
            .tempdir()
            .expect("create the hermetic root");
        let h = Hermetic::new(dir.path());
        (dir, h)
    });
    h
}

/// Open a repository in-process with gix, ignoring the environment and every config outside
/// the repository (the in-process counterpart of [`Hermetic::isolate`]).
pub fn open(dir: &Path) -> gix::Repository {
    gix::open_opts(dir, gix::open::Options::isolated()).expect("open the test repository")
}
