//! Running the repository's hooks the way git runs them.
//!
//! gix 0.90 has no hook runner (it only writes the `*.sample` files on init), so this is the
//! small piece of git's `hook.c` wtc needs: the hooks directory is `core.hooksPath` (relative
//! to the worktree's top, as git resolves it) or `<common dir>/hooks`; a hook runs only when
//! its file is executable (else git's "was ignored" hint); it runs in the worktree's top with
//! `GIT_DIR` set, stdin from /dev/null unless fed, and its stdout sent to stderr (stdout is
//! wtc's, `--json` documents included).
//!
//! Which hooks run when is decided by the callers' single homes: the commit writer
//! ([`super::commit`]) for `prepare-commit-msg`, `commit-msg` and `post-commit`, `git push`
//! itself for `pre-push` ([`super::remote::push`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result};

static SKIP_VERIFY: AtomicBool = AtomicBool::new(false);

/// `--no-hooks` / `--no-verify`: skip the hooks that can veto (`commit-msg`, `pre-push`, the
/// opt-in `pre-commit` of `save`), as `git commit --no-verify` and `git push --no-verify` do.
/// Set once by the command line for the whole process.
pub fn skip_verify_hooks() {
    SKIP_VERIFY.store(true, Ordering::Relaxed);
}

/// Do the vetoing hooks run in this process?
pub fn verify_hooks_enabled() -> bool {
    !SKIP_VERIFY.load(Ordering::Relaxed)
}

/// The executable hook `name` of `repo`, if there is one. A hook file that is not executable
/// is ignored with git's hint, as git does.
pub fn find(repo: &gix::Repository, name: &str) -> Result<Option<PathBuf>> {
    let path = hooks_dir(repo)?.join(name);
    let Ok(md) = std::fs::metadata(&path) else {
        return Ok(None);
    };
    if !md.is_file() {
        return Ok(None);
    }
    use std::os::unix::fs::PermissionsExt;
    if md.permissions().mode() & 0o111 == 0 {
        eprintln!(
            "hint: The '{}' hook was ignored because it's not set as executable.",
            path.display()
        );
        return Ok(None);
    }
    Ok(Some(path))
}

/// Where `repo`'s hooks live: `core.hooksPath` (a relative one is relative to the worktree's
/// top, or the git dir in a bare repository) or `<common dir>/hooks`.
pub fn hooks_dir(repo: &gix::Repository) -> Result<PathBuf> {
    let config = repo.config_snapshot();
    if let Some(p) = config
        .trusted_path("core.hooksPath")
        .context("core.hooksPath is not a valid path")?
    {
        return Ok(if p.is_absolute() {
            p
        } else {
            run_dir(repo).join(p)
        });
    }
    Ok(repo.common_dir().join("hooks"))
}

/// Where hooks run: the worktree's top, or the git dir of a bare repository.
fn run_dir(repo: &gix::Repository) -> PathBuf {
    repo.workdir()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo.git_dir().to_path_buf())
}

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// There is no (executable) hook of that name.
    Missing,
    /// It exited 0.
    Passed,
    /// It exited non-zero (or was killed): `status` says how.
    Failed { status: String },
}

/// Run hook `name` with `args` and `env` (commit hooks get `GIT_INDEX_FILE` and
/// `GIT_EDITOR=:`), the way git runs it.
pub fn run(
    repo: &gix::Repository,
    name: &str,
    args: &[OsString],
    env: &[(&str, OsString)],
) -> Result<Ran> {
    let Some(path) = find(repo, name)? else {
        return Ok(Ran::Missing);
    };
    let mut cmd = Command::new(&path);
    cmd.args(args);
    prepare(&mut cmd, repo, env);
    let status = match cmd.status() {
        Ok(s) => s,
        // A script without a `#!` line: git runs it with the shell.
        Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => {
            let mut sh = Command::new("/bin/sh");
            sh.arg(&path).args(args);
            prepare(&mut sh, repo, env);
            sh.status()
                .with_context(|| format!("running the {name} hook {}", path.display()))?
        }
        Err(e) => {
            return Err(e).with_context(|| format!("running the {name} hook {}", path.display()))
        }
    };
    Ok(if status.success() {
        Ran::Passed
    } else {
        Ran::Failed {
            status: status.to_string(),
        }
    })
}

fn prepare(cmd: &mut Command, repo: &gix::Repository, env: &[(&str, OsString)]) {
    cmd.current_dir(run_dir(repo))
        .env("GIT_DIR", repo.git_dir())
        .stdin(Stdio::null())
        .stdout(std::io::stderr());
    for (k, v) in env {
        cmd.env(k, v);
    }
}
