//! Lane set-up: one shell command run in each new lane worktree (install dependencies,
//! generate files), after its `.worktreeinclude` copy, with the lane's environment.
//!
//! The command is this machine's own: `git config wtc.setup` ([`crate::plan::settings::setup`])
//! or the `setup` of a local `wtc run` FILE, handed in by the caller. It never comes from the
//! plan or from anything fetched (invariant 6): the plan holds names only, and nothing here
//! reads it for a command. The command runs as `sh -c CMD` in the new worktree with
//! `WTC_PLAN`, `WTC_LANE`, `WTC_WORKTREE`, `WTC_LANE_INDEX` and `WTC_PORT` set, stdin from
//! /dev/null, stdout and stderr into `<git common dir>/wtc/logs/<plan>/<lane>.setup.log`.
//! A failure leaves the lane as it is (branch, worktree, plan entry) and is a [`SetupFailed`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::error::{Diagnostic, Kind};
use crate::plan::Plan;

/// Where wtc keeps the logs of `plan`'s commands: `<git common dir>/wtc/logs/<plan>`.
pub fn logs_dir(repo: &gix::Repository, plan: &str) -> PathBuf {
    repo.common_dir().join("wtc").join("logs").join(plan)
}

/// The set-up log of lane `lane`.
pub fn log_path(repo: &gix::Repository, plan: &str, lane: &str) -> PathBuf {
    logs_dir(repo, plan).join(format!("{lane}.setup.log"))
}

/// The lane's set-up command failed (or could not start); the lane exists all the same.
#[derive(Debug, thiserror::Error)]
#[error("the set-up of lane '{lane}' failed ({how}); its log: {}", log.display())]
pub struct SetupFailed {
    pub lane: String,
    pub how: String,
    pub log: PathBuf,
    pub worktree: PathBuf,
}

impl Diagnostic for SetupFailed {
    fn kind(&self) -> Kind {
        Kind::User
    }
    fn hint(&self) -> Option<String> {
        Some(format!(
            "the lane exists, its worktree is {}: fix the set-up and run it there by hand, or remove the lane with `wtc rm {}`",
            self.worktree.display(),
            self.lane
        ))
    }
    fn paths(&self) -> Vec<String> {
        vec![self.log.display().to_string()]
    }
}

/// A set-up ready to run: everything it needs was checked before the lane was written.
#[derive(Debug, Clone)]
pub struct Setup {
    pub command: String,
    lane: String,
    worktree: PathBuf,
    env: Vec<(&'static str, String)>,
    log: PathBuf,
}

/// A set-up that ran and succeeded.
#[derive(Debug, Clone, Serialize)]
pub struct SetupRan {
    pub command: String,
    pub log: PathBuf,
}

impl SetupRan {
    /// The line that tells the user.
    pub fn note(&self) -> String {
        format!(
            "set-up `{}` done; its log: {}",
            self.command,
            self.log.display()
        )
    }
}

impl Setup {
    /// Prepare `command` for lane `lane` of `plan` (which names the lane already), whose
    /// worktree will be `worktree`. Fails (before anything is written) when the lane's
    /// environment cannot be made, e.g. a `wtc.portBase` out of range.
    pub fn prepare(
        repo: &gix::Repository,
        plan: &Plan,
        lane: &str,
        worktree: &Path,
        command: &str,
    ) -> Result<Setup> {
        Ok(Setup {
            command: command.to_string(),
            lane: lane.to_string(),
            worktree: worktree.to_owned(),
            env: crate::plan::settings::lane_environment(repo, plan, lane, worktree)?,
            log: log_path(repo, &plan.name, lane),
        })
    }

    /// Run it in the worktree, its output into the log.
    pub fn run(self) -> Result<SetupRan> {
        if let Some(dir) = self.log.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let header = format!(
            "# wtc: set-up of lane '{}'\n# in {}\n# sh -c {}\n",
            self.lane,
            self.worktree.display(),
            self.command
        );
        std::fs::write(&self.log, header)
            .with_context(|| format!("writing {}", self.log.display()))?;
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let started = Instant::now();
        let status = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .current_dir(&self.worktree)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            // The command's own git commands must see the new worktree, not wherever wtc was
            // pointed at.
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .status();
        let how = match &status {
            Ok(s) if s.success() => None,
            Ok(s) => Some(match s.code() {
                Some(c) => format!("exit code {c}"),
                None => format!("ended by a signal ({s})"),
            }),
            Err(e) => Some(format!("could not start `sh`: {e}")),
        };
        let footer = format!(
            "# wtc: {} after {:.2}s\n",
            how.as_deref().unwrap_or("exit code 0"),
            started.elapsed().as_secs_f64()
        );
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&self.log) {
            let _ = std::io::Write::write_all(&mut f, footer.as_bytes());
        }
        match how {
            None => Ok(SetupRan {
                command: self.command,
                log: self.log,
            }),
            Some(how) => Err(SetupFailed {
                lane: self.lane,
                how,
                log: self.log,
                worktree: self.worktree,
            }
            .into()),
        }
    }
}
