//! Long-running work: `watch` keeps lanes synced as their upstreams move, `run` starts one
//! agent command per lane in DAG order.

pub mod run;
pub mod wait;
pub mod watch;

use std::path::PathBuf;

use crate::error::{Diagnostic, Kind};

/// What `run` and `watch` refuse.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the run file {}: {reason}", file.display())]
    RunFileUnreadable { file: PathBuf, reason: String },
    #[error("the run file {} is {bytes} bytes, more than the {max} wtc accepts", file.display())]
    RunFileTooBig { file: PathBuf, bytes: u64, max: u64 },
    #[error("the run file {} is not valid: {reason}", file.display())]
    RunFileSyntax { file: PathBuf, reason: String },
    #[error("{}: {problem}", file.display())]
    RunFileInvalid {
        file: PathBuf,
        problem: RunFileProblem,
    },
    #[error("plan '{plan}' is already being run by {who}")]
    PlanBusy {
        plan: String,
        who: String,
        lock: PathBuf,
    },
    #[error("lane '{lane}' is already watched by {who}")]
    WatchedElsewhere {
        lane: String,
        who: String,
        lock: PathBuf,
    },
    #[error("lane '{lane}' has no worktree in this clone")]
    NoWorktree { lane: String },
    #[error("timed out after {after:?} waiting for {}", pending.join(", "))]
    Timeout {
        after: std::time::Duration,
        pending: Vec<String>,
    },
    #[error("lane '{lane}' was removed from the plan while waiting")]
    LaneRemoved { lane: String },
    #[error("--plan/WTC_PLAN says '{given}' but {} is about plan '{plan}'", file.display())]
    RunPlanMismatch {
        given: String,
        file: PathBuf,
        plan: String,
    },
    #[error("plan '{plan}' integrates into '{target}', but the run file says target = \"{file_target}\"")]
    RunTargetMismatch {
        plan: String,
        target: String,
        file_target: String,
    },
    #[error("lane '{lane}' comes after [{}] in plan '{plan}', but the run file says [{}]", plan_after.join(", "), file_after.join(", "))]
    RunAfterMismatch {
        lane: String,
        plan: String,
        plan_after: Vec<String>,
        file_after: Vec<String>,
    },
    #[error("lane '{lane}' has no worktree in this clone")]
    RunLaneNoWorktree { lane: String },
    #[error("interrupted{stopped}; nothing was integrated")]
    RunInterrupted { stopped: String },
    #[error("{message}")]
    RunFailed { message: String, logs: Vec<String> },
}

/// What is wrong inside a run file.
#[derive(Debug, thiserror::Error)]
pub enum RunFileProblem {
    #[error(transparent)]
    Name(#[from] crate::plan::Error),
    #[error("no lanes: add one `[[lane]]` table per lane")]
    NoLanes,
    #[error("lane '{0}' is listed twice")]
    Twice(String),
    #[error("lane '{0}' has an empty `run` command")]
    EmptyCommand(String),
    #[error("lane '{lane}' comes after '{up}', which is not a lane of this file")]
    UnknownAfter { lane: String, up: String },
    #[error("{0}")]
    Cycle(String),
}

impl Diagnostic for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::RunFileInvalid {
                problem: RunFileProblem::Name(e),
                ..
            } => e.kind(),
            Error::Timeout { .. } => Kind::Timeout,
            Error::RunInterrupted { .. } => Kind::Interrupted,
            _ => Kind::User,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            Error::RunFileSyntax { .. } => Some(
                "it needs `plan = \"NAME\"` and one `[[lane]]` table per lane with `name`, \
                 optional `after = [..]` and `run = \"COMMAND\"`"
                    .into(),
            ),
            Error::RunFileInvalid {
                problem: RunFileProblem::Name(e),
                ..
            } => e.hint(),
            Error::PlanBusy { lock, .. } => Some(format!(
                "wait for that `wtc run` to finish; if none is running, remove {}",
                lock.display()
            )),
            Error::WatchedElsewhere { lock, .. } => Some(format!(
                "stop that `wtc watch` (or `wtc run --eager`) first; if none is running, remove {}",
                lock.display()
            )),
            Error::NoWorktree { .. } => {
                Some("create one with `wtc add`, or watch from the lane's own clone".into())
            }
            Error::RunAfterMismatch { .. } => Some("make the run file match the plan (`wtc graph` shows it), or use a new plan name".into()),
            Error::RunLaneNoWorktree { .. } => Some("`wtc run` runs each command in its lane's worktree; remove the lane with `wtc rm` and run again to recreate it".into()),
            Error::RunInterrupted { .. } => Some("lanes already done stay done; run FILE again to continue".into()),
            Error::RunFailed { .. } => Some("fix it and run the same FILE again: lanes already done are not run again".into()),
            _ => None,
        }
    }
    fn paths(&self) -> Vec<String> {
        match self {
            Error::WatchedElsewhere { lock, .. } => vec![lock.display().to_string()],
            Error::Timeout { pending, .. } => pending.clone(),
            Error::RunFailed { logs, .. } => logs.clone(),
            _ => Vec::new(),
        }
    }
}

/// The typed error `cause` is, if it is one of this layer's (or a lower one's).
pub fn diagnostic<'a>(
    cause: &'a (dyn std::error::Error + 'static),
) -> Option<&'a dyn crate::error::Diagnostic> {
    crate::error::diagnostic_of!(cause, crate::ops::diagnostic; Error)
}
