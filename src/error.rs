//! What every error can say about itself: its [`Kind`] (which decides the exit code), a hint
//! that says what to do next, and the paths involved.
//!
//! Each domain has its own typed errors (`thiserror` enums next to the code that raises them:
//! [`crate::git::Error`], [`crate::worktree::Error`], [`crate::plan::Error`],
//! [`crate::ops::sync::SyncError`], ...), and each implements [`Diagnostic`]. Domain functions
//! return `anyhow::Result` so that git's and the file system's own failures travel with their
//! context; the binary's edge (`cli::error`) walks an error's chain ONCE, finds the typed
//! error in it and turns it into an exit code, a message, a hint and `--json`. Anything
//! untyped there is the environment failing ([`Kind::Environment`]: git, I/O); a panic or a
//! broken internal assumption is [`Kind::Bug`].

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
    /// Git, the file system or the network failed under us (the message says how).
    Environment,
    /// wtc itself is wrong: an internal assumption broke (please report it).
    Bug,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::User | Kind::Environment | Kind::Bug => exit::ERROR,
            Kind::Usage => exit::USAGE,
            Kind::Conflict => exit::CONFLICT,
            Kind::Timeout => exit::TIMEOUT,
            Kind::Verify => exit::VERIFY,
            Kind::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// A typed error that knows its kind, a hint and the paths involved.
pub trait Diagnostic: std::error::Error + Send + Sync + 'static {
    fn kind(&self) -> Kind;
    /// What to do next, as one `hint:` line.
    fn hint(&self) -> Option<String> {
        None
    }
    /// Paths involved (conflicted or overlapping files, lanes), listed under the message.
    fn paths(&self) -> Vec<String> {
        Vec::new()
    }
    /// More for scripts: a named JSON value beside `message` in the `--json` error document
    /// (`squash --bisect`'s report).
    fn data(&self) -> Option<(&'static str, serde_json::Value)> {
        None
    }
}

/// A signal asked wtc to stop before it wrote anything.
#[derive(Debug, Clone, thiserror::Error)]
#[error("interrupted; nothing was changed")]
pub struct Interrupted;

impl Diagnostic for Interrupted {
    fn kind(&self) -> Kind {
        Kind::Interrupted
    }
}

/// An internal assumption broke: a bug in wtc, never the user's doing.
#[derive(Debug, Clone, thiserror::Error)]
#[error("internal error: {0}")]
pub struct Bug(pub String);

impl Diagnostic for Bug {
    fn kind(&self) -> Kind {
        Kind::Bug
    }
    fn hint(&self) -> Option<String> {
        Some("please report it with the command you ran (RUST_BACKTRACE=1 shows more)".into())
    }
}

/// The typed error `cause` is, if it is one of this module's own. Each layer has such a
/// function for its own types that falls back to the layer below, so the edge finds every
/// typed error without any layer naming the types of a layer above it.
pub fn diagnostic<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Diagnostic> {
    diagnostic_of!(cause, |_| None; Interrupted, Bug)
}

/// `diagnostic_of!(cause, fallback; Type, Type...)`: `cause` as a `&dyn Diagnostic` if it is
/// one of the types, else `fallback(cause)`.
#[macro_export]
macro_rules! diagnostic_of {
    ($cause:expr, $fallback:expr; $($t:ty),* $(,)?) => {{
        let cause: &(dyn std::error::Error + 'static) = $cause;
        $(
            if let Some(d) = cause.downcast_ref::<$t>() {
                return Some(d as &dyn $crate::error::Diagnostic);
            }
        )*
        #[allow(clippy::redundant_closure_call)]
        ($fallback)(cause)
    }};
}
pub use diagnostic_of;

/// Fail with exit 130 if a signal asked us to stop. Called before anything is written, so an
/// interrupted command leaves nothing half-done.
pub fn check_interrupt() -> Result<(), Interrupted> {
    if gix::interrupt::is_triggered() {
        return Err(Interrupted);
    }
    Ok(())
}

/// A path for a message: escaped, and cut short when it is very long (a hostile tree can
/// hold a path of megabytes).
pub fn shown_path(path: &gix::bstr::BStr) -> String {
    use gix::bstr::ByteSlice;
    const MAX: usize = 200;
    if path.len() > MAX {
        format!("{:?}... ({} bytes)", path[..MAX].as_bstr(), path.len())
    } else {
        format!("{:?}", path)
    }
}
