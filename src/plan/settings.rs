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

/// `git config wtc.worktreeDir TEMPLATE`: where `wtc add` puts a lane's worktree by default.
pub const WORKTREE_DIR: &str = "wtc.worktreeDir";
/// `git config wtc.remote NAME`: the remote `wtc join` meets at by default (a plan's own
/// recorded remote, `wtc.<plan>.remote`, wins).
pub const REMOTE: &str = "wtc.remote";
/// `git config wtc.autosave false`: `wtc sync` behaves as `--no-autosave` by default.
pub const AUTOSAVE: &str = "wtc.autosave";

/// A `wtc.*` setting git config holds with a value wtc cannot use; nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("git config {key} is {value:?}: {why}")]
pub struct InvalidSetting {
    pub key: &'static str,
    pub value: String,
    pub why: String,
}

impl crate::error::Diagnostic for InvalidSetting {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::User
    }
    fn hint(&self) -> Option<String> {
        Some(format!(
            "set it with `git config {} VALUE` or remove it with `git config --unset {}` (in the scope that sets it: `git config --show-origin {}`)",
            self.key, self.key, self.key
        ))
    }
}

fn string(repo: &gix::Repository, key: &str) -> Option<String> {
    repo.config_snapshot()
        .string(key)
        .map(|v| v.to_str_lossy().into_owned())
}

/// The worktree path `wtc.worktreeDir` gives lane `lane` of `plan` (`None`: not set). The
/// template's `{repo}` (the main worktree's directory name), `{plan}` and `{lane}` are
/// replaced; a relative result is relative to the main worktree's parent directory.
pub fn worktree_dir(
    repo: &gix::Repository,
    main: &std::path::Path,
    plan: &str,
    lane: &str,
) -> Result<Option<std::path::PathBuf>, InvalidSetting> {
    let Some(template) = string(repo, WORKTREE_DIR) else {
        return Ok(None);
    };
    let invalid = |why: &str| InvalidSetting {
        key: WORKTREE_DIR,
        value: template.clone(),
        why: why.to_string(),
    };
    if !template.contains("{lane}") {
        return Err(invalid(
            "it must contain {lane}, or every lane would get the same directory",
        ));
    }
    let name = main
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into());
    let path = template
        .replace("{repo}", &name)
        .replace("{plan}", plan)
        .replace("{lane}", lane);
    if let Some(open) = path.find('{') {
        let rest = &path[open..];
        let end = rest.find('}').map_or(rest.len(), |e| e + 1);
        return Err(invalid(&format!(
            "{} is not a placeholder (use {{repo}}, {{plan}} and {{lane}})",
            &rest[..end]
        )));
    }
    let path = std::path::PathBuf::from(path);
    Ok(Some(match path.is_absolute() {
        true => path,
        false => main.parent().unwrap_or(main).join(path),
    }))
}

/// `wtc.remote`, if set (and not empty).
pub fn default_remote(repo: &gix::Repository) -> Option<String> {
    string(repo, REMOTE).filter(|r| !r.is_empty())
}

/// `wtc.autosave` (default true): whether `wtc sync` autosaves local edits on incoming paths.
pub fn autosave(repo: &gix::Repository) -> Result<bool, InvalidSetting> {
    match repo.config_snapshot().try_boolean(AUTOSAVE) {
        Ok(None) => Ok(true),
        Ok(Some(b)) => Ok(b),
        Err(_) => Err(InvalidSetting {
            key: AUTOSAVE,
            value: string(repo, AUTOSAVE).unwrap_or_default(),
            why: "not a boolean (true or false)".into(),
        }),
    }
}

/// `git config wtc.portBase N`: the first port of lane 0's block (`wtc env`'s `WTC_PORT`).
pub const PORT_BASE: &str = "wtc.portBase";
/// Ports per lane: lane I gets `portBase + PORTS_PER_LANE * I` and the ports after it.
pub const PORTS_PER_LANE: u32 = 10;

/// `wtc.portBase` (default 20000): 1024..=65535, room for the lanes' blocks checked by the
/// caller that knows how many lanes there are.
pub fn port_base(repo: &gix::Repository) -> Result<u32, InvalidSetting> {
    let Some(value) = string(repo, PORT_BASE) else {
        return Ok(20_000);
    };
    match value.trim().parse::<u32>() {
        Ok(n) if (1024..=65535).contains(&n) => Ok(n),
        _ => Err(InvalidSetting {
            key: PORT_BASE,
            value,
            why: "not a port number from 1024 to 65535".into(),
        }),
    }
}

/// The environment of lane `lane` of `plan` whose worktree is `worktree`: what `wtc env`
/// prints and what `wtc run` gives each lane's command. `WTC_LANE_INDEX` is the lane's
/// position in the plan (the order lanes were added); `WTC_PORT` the first of its
/// [`PORTS_PER_LANE`] ports.
pub fn lane_environment(
    repo: &gix::Repository,
    plan: &crate::plan::Plan,
    lane: &str,
    worktree: &std::path::Path,
) -> Result<Vec<(&'static str, String)>> {
    plan.require_lane(lane)?;
    let index = plan
        .lanes
        .iter()
        .position(|l| l.name == lane)
        .expect("checked above");
    let base = port_base(repo)?;
    let last = base as u64 + PORTS_PER_LANE as u64 * plan.lanes.len() as u64 - 1;
    if last > 65535 {
        return Err(InvalidSetting {
            key: PORT_BASE,
            value: base.to_string(),
            why: format!(
                "{} lanes x {PORTS_PER_LANE} ports from it end above 65535",
                plan.lanes.len()
            ),
        }
        .into());
    }
    let port = base + PORTS_PER_LANE * index as u32;
    Ok(vec![
        ("WTC_PLAN", plan.name.clone()),
        ("WTC_LANE", lane.to_string()),
        ("WTC_WORKTREE", worktree.display().to_string()),
        ("WTC_LANE_INDEX", index.to_string()),
        ("WTC_PORT", port.to_string()),
    ])
}

/// `git config wtc.setup CMD`: the shell command run in each new lane worktree (`add`,
/// `join --path`, the lanes `run` creates); an empty value means none.
pub const SETUP: &str = "wtc.setup";

/// `wtc.setup`, if set to a command. Never read from the plan: this machine's config only.
pub fn setup(repo: &gix::Repository) -> Result<Option<String>, InvalidSetting> {
    match repo.config_snapshot().plumbing().string_implicit(SETUP) {
        None => Ok(None),
        Some(None) => Err(InvalidSetting {
            key: SETUP,
            value: "true".into(),
            why: "a key without a value; set a shell command (an empty string means none)".into(),
        }),
        Some(Some(v)) => {
            let v = v.to_str_lossy().into_owned();
            Ok((!v.trim().is_empty()).then_some(v))
        }
    }
}
