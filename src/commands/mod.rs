//! One module per command: an `XxxArgs` struct whose doc comments are the `--help`, and a
//! `run` function that resolves arguments, calls the domain and fills a [`Report`].

pub mod add;
pub mod clean;
pub mod demo;
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

use std::path::PathBuf;

use anyhow::Result;

use crate::git::worktrees::Workspace;
use crate::plan::{self, StoredPlan};
pub use ui::{Report, Style, Ui};

/// What every command gets: where it runs, which plan was asked for, how to talk.
pub struct Ctx {
    pub dir: PathBuf,
    pub plan: Option<String>,
    pub ui: Ui,
}

impl Ctx {
    pub fn workspace(&self) -> Result<Workspace> {
        Workspace::discover(&self.dir)
    }

    /// The workspace and the plan this command is about.
    pub fn plan(&self) -> Result<(Workspace, StoredPlan)> {
        self.plan_with(true)
    }

    /// Like [`Ctx::plan`]; with `fetch_required = false` an unreachable remote is tolerated
    /// (the local copy of the plan is used), for commands that can do their local part
    /// offline, like `save`.
    pub fn plan_with(&self, fetch_required: bool) -> Result<(Workspace, StoredPlan)> {
        let ws = self.workspace()?;
        let name = ws.resolve_plan(self.plan.as_deref())?;
        if let Some(remote) = crate::ops::publish::configured(&ws.repo, &name) {
            if let Err(e) = crate::ops::publish::refresh(&ws.repo, &remote, &name) {
                if fetch_required || plan::load_from(&ws.repo, &plan::plan_ref(&name))?.is_none() {
                    return Err(e);
                }
            }
        }
        let stored = plan::load(&ws.repo, &name)?;
        Ok((ws, stored))
    }
}

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

impl Ctx {
    /// The lane worktree we stand in: workspace, plan, lane name and its branch.
    pub fn lane(&self) -> Result<(Workspace, StoredPlan, String, String)> {
        self.lane_with(true)
    }

    /// The lane we stand in; see [`Ctx::plan_with`] for `fetch_required`.
    pub fn lane_with(
        &self,
        fetch_required: bool,
    ) -> Result<(Workspace, StoredPlan, String, String)> {
        let (ws, stored) = self.plan_with(fetch_required)?;
        let lane = ws.require_current_lane(&stored.plan.name)?;
        stored.plan.require_lane(&lane)?;
        let branch = crate::plan::lanes::branch_ref(&stored.plan.name, &lane);
        Ok((ws, stored, lane, branch))
    }
}

/// Remove a lane's worktree (if any) and branch. The caller checked for unsaved work.
pub fn remove_lane_checkout(ws: &Workspace, plan: &str, lane: &str, archive: bool) -> Result<()> {
    let branch = crate::plan::lanes::branch_ref(plan, lane);
    if let Some(wt) = ws.worktree_of(&branch)? {
        if wt.is_main {
            anyhow::bail!(crate::error::user(format!(
                "the main worktree has lane '{lane}' checked out; check out another branch there first"
            )));
        }
        ws.repo
            .remove_worktree(
                &wt.path,
                gix::worktree::remove::Force::DiscardChanges,
                gix::progress::Discard,
            )
            .map_err(|e| anyhow::anyhow!("removing the worktree {}: {e}", wt.path.display()))?;
        prune_empty_parents(&wt.path);
    }
    // In remote mode the lane may exist only as a fetched copy: archive what this clone knows.
    if archive {
        if let Some(tip) = crate::plan::lanes::tip(&ws.repo, plan, lane)? {
            let archived = format!("refs/wtc/archive/{plan}/{lane}");
            crate::git::refs::cas(
                &ws.repo,
                &archived,
                gix::refs::transaction::PreviousValue::Any,
                tip,
                &format!("archive lane {lane}"),
            )?;
        }
    }
    if let Some(tip) = crate::git::refs::peel(&ws.repo, &branch)? {
        crate::git::refs::delete(&ws.repo, &branch, tip)?;
    }
    Ok(())
}

/// Remove the empty `<repo>.wtc/<plan>` directories wtc created around a removed worktree.
fn prune_empty_parents(path: &std::path::Path) {
    let mut dir = path.parent();
    for _ in 0..2 {
        match dir {
            Some(d) if std::fs::remove_dir(d).is_ok() => dir = d.parent(),
            _ => break,
        }
    }
}

/// Make sure removing a lane loses nothing: save a dirty worktree as a WIP commit. Returns
/// that commit, if one was made. (`--force` means "remove anyway", never "destroy": the saved
/// tip is archived by the caller.)
pub fn save_before_removal(
    ws: &Workspace,
    plan: &str,
    lane: &str,
    command: &str,
) -> Result<Option<gix::ObjectId>> {
    let Some(repo) = lane_worktree(ws, plan, lane)? else {
        return Ok(None);
    };
    // `save` commits nothing (and leaves the index alone) when the worktree is clean.
    let msg = format!("wip: {lane} (saved by wtc {command} --force)");
    let branch = crate::plan::lanes::branch_ref(plan, lane);
    Ok(crate::worktree::snapshot::save(&repo, &branch, lane, Some(&msg), false)?.commit)
}

/// Unsaved work in a lane's worktree: `Some(paths)` when dirty, `None` when clean or absent.
pub fn unsaved_work(ws: &Workspace, plan: &str, lane: &str) -> Result<Option<Vec<String>>> {
    let Some(repo) = lane_worktree(ws, plan, lane)? else {
        return Ok(None);
    };
    let dirty = crate::worktree::snapshot::dirty_paths(&repo)?;
    Ok((!dirty.is_empty()).then(|| dirty.iter().map(|p| p.to_string()).collect()))
}

/// The lane's worktree, opened, if it has one that still exists on disk.
fn lane_worktree(ws: &Workspace, plan: &str, lane: &str) -> Result<Option<gix::Repository>> {
    match ws.worktree_of(&crate::plan::lanes::branch_ref(plan, lane))? {
        Some(wt) if wt.exists => Ok(Some(Workspace::open_worktree(&wt.path)?)),
        _ => Ok(None),
    }
}

impl Ctx {
    /// Take the worktree's `wtc.lock` for a command that writes (one wtc at a time per
    /// worktree). A lock left by a wtc that died is recovered, and the user is told.
    pub fn guard(&self, ws: &Workspace, command: &str) -> Result<crate::git::locks::OpLock> {
        let (lock, recovered) = crate::git::locks::OpLock::acquire(ws.repo.git_dir(), command)?;
        if let Some(r) = recovered {
            if !self.ui.json && !self.ui.quiet {
                let removed: Vec<String> =
                    r.removed.iter().map(|p| p.display().to_string()).collect();
                eprintln!(
                    "note: recovered after an interrupted `wtc {}` (pid {}){}",
                    r.command,
                    r.pid,
                    if removed.is_empty() {
                        String::new()
                    } else {
                        format!(": removed its stale {}", removed.join(", "))
                    }
                );
            }
        }
        // An update a killed wtc left half-done in this worktree is finished before anything
        // else looks at the worktree.
        if let Some(f) = crate::worktree::journal::recover(&ws.repo)? {
            if !self.ui.json && !self.ui.quiet {
                eprintln!(
                    "note: {} the worktree update of an interrupted `wtc {}` ({} is consistent again)",
                    if f.completed_now { "finished" } else { "found complete" },
                    f.command,
                    f.branch
                );
            }
        }
        Ok(lock)
    }
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
