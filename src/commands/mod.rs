//! One module per command: an `XxxArgs` struct whose doc comments are the `--help`, and a
//! `run` function that resolves arguments, calls the domain and fills a [`Report`].

pub mod add;
pub mod agents_md;
pub mod clean;
pub mod complete;
pub mod context;
pub mod demo;
pub mod diff;
pub mod env;
pub mod init;
pub mod join;
pub mod rm;
pub mod run;
pub mod save;
pub mod squash;
pub mod status;
pub mod sync;
pub mod ui;
pub mod wait;
pub mod watch;

pub use context::Ctx;

use std::path::PathBuf;

/// What the command line itself refuses (which lane or plan a command is about).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{} is not a lane worktree", path.display())]
    NotALane { path: PathBuf },
    #[error("lane '{lane}' is being rebased in {}", path.display())]
    LaneRebasing { lane: String, path: PathBuf },
    #[error("HEAD is detached (at {at}) in {}, so it is not on a lane branch", path.display())]
    Detached {
        path: PathBuf,
        at: String,
        plan: String,
    },
    #[error("this worktree is lane '{lane}' of plan '{plan}', not of plan '{wanted}'")]
    OtherPlan {
        lane: String,
        plan: String,
        wanted: String,
    },
}

impl crate::error::Diagnostic for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::User
    }
    fn hint(&self) -> Option<String> {
        match self {
            Error::NotALane { .. } => Some(
                "run this inside a lane's worktree (`wtc status` lists them), or pass -C DIR"
                    .into(),
            ),
            Error::LaneRebasing { .. } => Some(
                "finish the rebase with `git rebase --continue` (or give it up with `git rebase --abort`), then run wtc again".into(),
            ),
            Error::Detached { plan, .. } => Some(format!(
                "switch back to the lane's branch (`git switch {}`; `wtc status` lists the lanes), then run wtc again",
                crate::plan::refnames::lane_branch_short(plan, "LANE")
            )),
            Error::OtherPlan { .. } => None,
        }
    }
}
pub use ui::{Report, Style, Ui};

/// Parse `500ms`, `10s`, `2m`, `1h` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 500ms, 30s, 5m, 1h)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("'{s}' has an unknown unit (use ms, s, m or h)")),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// The exit code an error means (see [`crate::error::Kind`]).
pub fn exit_code(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(diagnostic)
        .map_or(crate::error::exit::ERROR, |d| d.kind().exit_code())
}

/// The typed error `cause` is, if it is one of this layer's (or a lower one's).
pub fn diagnostic<'a>(
    cause: &'a (dyn std::error::Error + 'static),
) -> Option<&'a dyn crate::error::Diagnostic> {
    crate::error::diagnostic_of!(cause, crate::live::diagnostic; Error)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
