//! Typed errors that carry an exit code and a hint.
//!
//! Domain code returns `anyhow::Result`; whenever a failure means something to the user (bad
//! input, a conflict, a time-out) it is raised as a [`WtcError`] so the binary can map it to the
//! exit code DESIGN.md promises and print a `hint:` line that says what to do next.

use std::fmt;

/// Exit codes, as the command-line contract defines them.
pub mod exit {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const CONFLICT: i32 = 3;
    pub const TIMEOUT: i32 = 4;
    pub const VERIFY: i32 = 5;
    pub const INTERRUPTED: i32 = 130;
}

/// What kind of failure: decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The user asked for something that cannot be done (unknown lane, dirty worktree...).
    User,
    /// The arguments themselves are malformed (invalid names, bad durations).
    Usage,
    /// Merging produced conflicts; nothing was lost.
    Conflict,
    /// `wait` ran out of time.
    Timeout,
    /// The `--verify` command failed.
    Verify,
    /// A signal stopped us.
    Interrupted,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::User => exit::ERROR,
            Kind::Usage => exit::USAGE,
            Kind::Conflict => exit::CONFLICT,
            Kind::Timeout => exit::TIMEOUT,
            Kind::Verify => exit::VERIFY,
            Kind::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// An error the user can act on.
#[derive(Debug, Clone)]
pub struct WtcError {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
    /// Paths involved (conflicted or overlapping files), for `--json` and the human listing.
    pub paths: Vec<String>,
}

impl WtcError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        WtcError {
            kind,
            message: message.into(),
            hint: None,
            paths: Vec::new(),
        }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn paths(mut self, paths: Vec<String>) -> Self {
        self.paths = paths;
        self
    }
}

impl fmt::Display for WtcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WtcError {}

/// A user error (exit 1).
pub fn user(message: impl Into<String>) -> WtcError {
    WtcError::new(Kind::User, message)
}

/// A usage error (exit 2).
pub fn usage(message: impl Into<String>) -> WtcError {
    WtcError::new(Kind::Usage, message)
}

/// Find the [`WtcError`] in an error chain, if any.
pub fn find(err: &anyhow::Error) -> Option<&WtcError> {
    err.chain().find_map(|e| e.downcast_ref::<WtcError>())
}

/// The exit code for any error: typed errors say theirs, everything else is 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    find(err).map_or(exit::ERROR, |e| e.kind.exit_code())
}

/// Fail with exit 130 if a signal asked us to stop. Called before anything is written, so an
/// interrupted command leaves nothing half-done.
pub fn check_interrupt() -> anyhow::Result<()> {
    if gix::interrupt::is_triggered() {
        return Err(WtcError::new(Kind::Interrupted, "interrupted; nothing was changed").into());
    }
    Ok(())
}
