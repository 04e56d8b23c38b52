//! The operations behind the commands: each takes a repository and typed options, returns
//! data (serde structs) or a typed error, and never prints.

pub mod bisect;
pub mod clean;
pub mod diff;
pub mod forecast;
pub mod history;
pub mod init;
pub mod join;
pub mod landed;
pub mod lanes;
pub mod merge;
pub mod message;
pub mod publish;
pub mod save;
pub mod setup;
pub mod squash;
pub mod sync;
pub mod verify;

/// The typed error `cause` is, if it is one of this layer's (or a lower one's).
pub fn diagnostic<'a>(
    cause: &'a (dyn std::error::Error + 'static),
) -> Option<&'a dyn crate::error::Diagnostic> {
    crate::error::diagnostic_of!(
        cause,
        crate::plan::diagnostic;
        sync::SyncError,
        save::SaveError,
        squash::SquashError,
        publish::PublishError,
        join::JoinError,
        lanes::LaneError,
        setup::SetupFailed,
        clean::CleanError,
        init::InitError,
        history::HistoryError,
        merge::MergeError,
        diff::DiffError,
        verify::VerifyError,
    )
}
