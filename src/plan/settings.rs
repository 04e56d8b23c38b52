//! Machine-local settings: git config `wtc.*`, never the plan (which every clone shares).
//!
//! `wtc.<plan>.remote` records which remote a plan meets at in this clone. Settings the git
//! layer reads itself are named there and listed here, so this is the one index of them:
//! `wtc.signSaves` ([`SIGN_SAVES`]) and `wtc.prePush` ([`PRE_PUSH`]). The operations read
//! `wtc.preCommitOnSave` ([`PRE_COMMIT_ON_SAVE`]).

use anyhow::{Context as _, Result};
use gix::bstr::ByteSlice;

pub use crate::git::commit::SIGN_SAVES;
pub use crate::git::remote::PRE_PUSH;

/// `git config wtc.preCommitOnSave true`: `wtc save`/`done` run the pre-commit hook first.
pub const PRE_COMMIT_ON_SAVE: &str = "wtc.preCommitOnSave";

/// The config key that records a plan's remote.
fn remote_key(plan: &str) -> String {
    format!("wtc.{plan}.remote")
}

/// Which remote `plan` meets at in this clone, if it is in remote mode.
pub fn remote_of(repo: &gix::Repository, plan: &str) -> Option<String> {
    repo.config_snapshot()
        .string(remote_key(plan).as_str())
        .map(|v| v.to_str_lossy().into_owned())
        .filter(|v| !v.is_empty())
}

/// Record (or, with `None`, forget) the remote `plan` meets at in this clone.
pub fn set_remote(repo: &gix::Repository, plan: &str, remote: Option<&str>) -> Result<()> {
    let mut config = repo
        .config_file_mut(repo.common_dir().join("config"))
        .context("opening the repository's config")?;
    match remote {
        Some(r) => {
            config.set_raw_value_by("wtc", Some(plan.as_bytes().as_bstr()), "remote", r)?;
        }
        None => {
            if let Ok(mut section) = config.section_mut("wtc", Some(plan.as_bytes().as_bstr())) {
                section.remove("remote");
            }
        }
    }
    config.commit().context("writing the repository's config")?;
    Ok(())
}
