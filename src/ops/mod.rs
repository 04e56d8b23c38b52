//! The operations behind the commands: each takes a repository and typed options, returns
//! data (serde structs) or a typed error, and never prints.

pub mod join;
pub mod lanes;
pub mod merge;
pub mod publish;
pub mod save;
pub mod squash;
pub mod sync;
