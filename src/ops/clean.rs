//! `clean`: remove a plan's lane worktrees, lane branches and the plan itself once every
//! lane's work has landed on the target (`ops::landed`: integrated by a squash here or in
//! another clone, merged, cherry-picked, or empty); with `force`, lanes with unsaved or
//! unlanded work are saved and archived under `refs/wtc/archive/<plan>/` instead (nothing
//! is destroyed).

use anyhow::Result;
use serde::Serialize;

use crate::error::{Diagnostic, Kind};
use crate::git::refs;
use crate::git::worktrees::Workspace;
use crate::ops::landed::{LaneLanded, Target};
use crate::ops::lanes;
use crate::plan::lanes as lane;
use crate::plan::refnames;
use crate::plan::{settings, Plan, StoredPlan};

/// Why `clean` refused; nothing was removed.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("cannot clean while standing in one of the plan's lane worktrees")]
    StandingIn,
    #[error("lane worktrees hold unsaved changes; nothing was removed")]
    Unsaved { paths: Vec<String> },
    #[error("lane worktrees hold nested repositories or worktrees; nothing was removed")]
    Nested { paths: Vec<String> },
    #[error("lanes {} hold work that is not integrated; nothing was removed", lanes.join(", "))]
    Unintegrated { lanes: Vec<String> },
}

impl Diagnostic for CleanError {
    fn kind(&self) -> Kind {
        Kind::User
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            CleanError::StandingIn => "run `wtc clean` from the main worktree (or pass -C DIR)".into(),
            CleanError::Unsaved { .. } => "save them (`wtc save` in each), or pass --force to save and archive them".into(),
            CleanError::Nested { .. } => "move them out of the lane worktrees, or pass --force to remove the rest and leave them where they are".into(),
            CleanError::Unintegrated { .. } => "run `wtc squash` first, or `wtc clean --force` (add --keep-archive to keep their tips)".into(),
        })
    }
    fn paths(&self) -> Vec<String> {
        match self {
            CleanError::Unsaved { paths } | CleanError::Nested { paths } => paths.clone(),
            _ => Vec::new(),
        }
    }
}

/// How to clean.
#[derive(Debug, Clone, Copy, Default)]
pub struct CleanOptions {
    pub force: bool,
    pub keep_archive: bool,
}

/// What `clean` removed and kept.
#[derive(Debug, Clone, Serialize)]
pub struct Cleaned {
    pub plan: String,
    pub removed: Vec<String>,
    pub archived: Vec<String>,
    /// Where archived lane tips (and the plan) are kept.
    pub archive: String,
    /// Nested repositories and worktrees left where they were (`--force`).
    pub kept: Vec<lanes::Nested>,
    /// The lanes whose work the target has, and how (`ops::landed`).
    pub landed: Vec<LaneLanded>,
}

/// Which lanes have landed on the target (`ops::landed`, the verdict squash and status
/// give too), and which hold work it lacks. A lane whose branch is gone holds nothing.
fn verdicts(ws: &Workspace, p: &Plan) -> Result<(Vec<LaneLanded>, Vec<String>)> {
    let target = Target::known(&ws.repo, p)?;
    let (mut landed, mut unlanded) = (Vec::new(), Vec::new());
    for l in &p.lanes {
        let Some(tip) = lane::tip(&ws.repo, &p.name, &l.name)? else {
            continue;
        };
        match target.verdict(&ws.repo, &l.name, tip)? {
            Some(how) => landed.push(LaneLanded {
                name: l.name.clone(),
                how,
            }),
            None => unlanded.push(l.name.clone()),
        }
    }
    Ok((landed, unlanded))
}

pub fn clean(ws: &Workspace, stored: &StoredPlan, opts: CleanOptions) -> Result<Cleaned> {
    let p = &stored.plan;
    if let Some((plan_here, _)) = crate::plan::lanes::checked_out(ws)? {
        if plan_here == p.name {
            return Err(CleanError::StandingIn.into());
        }
    }
    let mut dirty = Vec::new();
    let integrated = p
        .integrated
        .as_deref()
        .and_then(|i| gix::ObjectId::from_hex(i.as_bytes()).ok());
    let remote = settings::remote_of(&ws.repo, &p.name);
    // Integrated from another clone: its commit is on the remote's target, fetch it to check.
    if let (Some(i), Some(remote)) = (integrated, remote.as_deref()) {
        if !ws.repo.has_object(i) {
            crate::ops::publish::fetch(&ws.repo, remote, &p.name, Some(&p.target))?;
        }
    }
    let mut nested = Vec::new();
    for l in &p.lanes {
        if let Some(paths) = lanes::unsaved_work(ws, &p.name, &l.name)? {
            dirty.extend(paths.into_iter().map(|f| format!("{}: {f}", l.name)));
        }
        for n in lanes::lane_nested(ws, &p.name, &l.name)? {
            nested.push(format!("{}: {} ({})", l.name, n.path.display(), n.kind));
        }
    }
    let (mut landed, mut unintegrated) = verdicts(ws, p)?;
    // Another clone may have landed the rest on the remote's target since the last fetch
    // (`squash --push`): look before refusing (with --force they are archived anyway).
    match &remote {
        Some(remote) if !unintegrated.is_empty() && !opts.force => {
            crate::ops::publish::fetch(&ws.repo, remote, &p.name, Some(&p.target))?;
            (landed, unintegrated) = verdicts(ws, p)?;
        }
        _ => {}
    }
    if !opts.force && !nested.is_empty() {
        return Err(CleanError::Nested { paths: nested }.into());
    }
    if !opts.force && !dirty.is_empty() {
        return Err(CleanError::Unsaved { paths: dirty }.into());
    }
    if !opts.force && !unintegrated.is_empty() {
        return Err(CleanError::Unintegrated {
            lanes: unintegrated,
        }
        .into());
    }
    // --force removes lanes anyway, but never destroys work: unsaved changes are saved, and
    // every lane with unsaved or unintegrated work is archived, whatever --keep-archive says.
    let mut archived = Vec::new();
    let mut kept = Vec::new();
    for l in &p.lanes {
        let saved = lanes::save_before_removal(ws, &p.name, &l.name, "clean")?;
        let archive = opts.keep_archive || saved.is_some() || unintegrated.contains(&l.name);
        kept.extend(lanes::remove_lane_checkout(ws, &p.name, &l.name, archive)?);
        if archive {
            archived.push(l.name.clone());
        }
    }
    if !archived.is_empty() {
        refs::cas(
            &ws.repo,
            &refnames::archive_plan(&p.name),
            gix::refs::transaction::PreviousValue::Any,
            stored.commit,
            "archive plan",
        )?;
    }
    if let Some(remote) = &remote {
        crate::ops::publish::unpublish_plan(&ws.repo, remote, &p.name)?;
    }
    refs::delete(&ws.repo, &refnames::plan_ref(&p.name), stored.commit)?;
    Ok(Cleaned {
        plan: p.name.clone(),
        removed: p.lanes.iter().map(|l| l.name.clone()).collect(),
        archived,
        archive: refnames::archive_prefix(&p.name),
        kept,
        landed,
    })
}
