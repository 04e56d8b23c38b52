//! Lanes as units of work: adding one (branch, worktree, plan), removing one (what removing
//! would lose, saving it first, archiving its tip), and the worktree and branch on disk.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use gix::refs::transaction::PreviousValue;
use serde::Serialize;

use crate::error::{Diagnostic, Kind};
use crate::git::refs;
use crate::git::worktrees::Workspace;
use crate::ops::setup::{Setup, SetupRan};
use crate::plan::{refnames, LaneSpec, StoredPlan};
use crate::worktree::include;
use crate::worktree::operation::Operation;

/// Why adding or removing a lane refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    #[error("lane '{lane}' already exists in plan '{plan}'")]
    Exists { lane: String, plan: String },
    #[error("a lane cannot come after itself")]
    AfterItself,
    #[error("the branch {branch} already exists but is not in the plan")]
    StrayBranch { branch: String },
    #[error("--from {rev:?} {why}")]
    BadFrom { rev: String, why: &'static str },
    #[error("{} already exists and is not empty", path.display())]
    PathNotEmpty { path: PathBuf },
    #[error("lanes {} come after '{lane}'", downstream.join(", "))]
    HasDownstream {
        lane: String,
        downstream: Vec<String>,
    },
    #[error("lane '{lane}' has unsaved changes in its worktree")]
    Unsaved { lane: String, paths: Vec<String> },
    #[error("cannot remove the lane whose worktree you stand in")]
    StandingIn,
    #[error("lane '{lane}' has {commits} commit(s) that no integration holds")]
    Unintegrated { lane: String, commits: usize },
    #[error(
        "lane '{lane}''s worktree holds nested repositories or worktrees; nothing was removed"
    )]
    Nested { lane: String, paths: Vec<String> },
    #[error(
        "the main worktree has lane '{lane}' checked out; check out another branch there first"
    )]
    InMainWorktree { lane: String },
}

impl Diagnostic for LaneError {
    fn kind(&self) -> Kind {
        Kind::User
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            LaneError::Exists { .. } => "`wtc status` shows it; pick another name".into(),
            LaneError::StrayBranch { branch } => {
                format!("delete it with `git branch -D {branch}` if it is stale")
            }
            LaneError::PathNotEmpty { .. } => {
                "pass --path DIR with a new or empty directory".into()
            }
            LaneError::HasDownstream { .. } => "remove those lanes first".into(),
            LaneError::Unsaved { .. } => {
                "save them (`wtc save` there), or pass --force to save and archive them".into()
            }
            LaneError::StandingIn => "run `wtc rm` from the main worktree (or pass -C DIR)".into(),
            LaneError::Unintegrated { .. } => "integrate them first (`wtc squash`), or pass --force to remove the lane and keep its tip under refs/wtc/archive/".into(),
            LaneError::Nested { .. } => "move them out of the worktree, or pass --force to remove the rest of the lane and leave them where they are".into(),
            LaneError::AfterItself
            | LaneError::BadFrom { .. }
            | LaneError::InMainWorktree { .. } => return None,
        })
    }
    fn paths(&self) -> Vec<String> {
        match self {
            LaneError::Unsaved { paths, .. } | LaneError::Nested { paths, .. } => paths.clone(),
            _ => Vec::new(),
        }
    }
}

/// A lane to add.
#[derive(Debug, Clone)]
pub struct AddOptions {
    /// A valid lane name (checked by the caller), as are the names in `after`.
    pub lane: String,
    pub after: Vec<String>,
    /// Start the branch here instead of the plan's base.
    pub from: Option<String>,
    /// `None`: only the branch. `Some(None)`: a worktree at the default path.
    pub worktree: Option<Option<PathBuf>>,
    /// The set-up command for the new worktree: this machine's `git config wtc.setup` or a
    /// local run FILE's, never anything from the plan.
    pub setup: Option<String>,
}

/// The lane `add` created.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub plan: String,
    pub lane: String,
    pub branch: String,
    pub after: Vec<String>,
    pub start: String,
    pub worktree: Option<PathBuf>,
    /// Ignored files copied from the main worktree (`.worktreeinclude`), relative paths; a
    /// directory copied whole ends in `/`.
    pub included: Vec<String>,
    /// What `.worktreeinclude` names but was not copied, and why.
    pub include_skipped: Vec<include::Skipped>,
    /// The set-up that ran in the new worktree (a failing one is a [`SetupFailed`] error).
    ///
    /// [`SetupFailed`]: crate::ops::setup::SetupFailed
    pub setup: Option<SetupRan>,
}

impl Added {
    /// What `add` did, as lines for the user.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = vec![format!(
            "added lane '{}' on {} at {}{}",
            self.lane,
            self.branch,
            &self.start[..9],
            if self.after.is_empty() {
                String::new()
            } else {
                format!(", after {}", self.after.join(", "))
            }
        )];
        notes.extend(include_notes(&self.included, &self.include_skipped));
        notes.extend(self.setup.as_ref().map(SetupRan::note));
        notes
    }
}

/// What a `.worktreeinclude` copy did, as lines for the user (`add`, `join --path`).
pub fn include_notes(included: &[String], skipped: &[include::Skipped]) -> Vec<String> {
    let mut notes = Vec::new();
    if !included.is_empty() {
        notes.push(format!(
            "copied from the main worktree ({}): {}",
            include::FILE,
            included.join(", ")
        ));
    }
    if !skipped.is_empty() {
        const SHOWN: usize = 10;
        let mut list: Vec<String> = skipped
            .iter()
            .take(SHOWN)
            .map(|s| format!("{} ({})", s.path, s.why))
            .collect();
        if skipped.len() > SHOWN {
            list.push(format!(
                "and {} more (--json lists them)",
                skipped.len() - SHOWN
            ));
        }
        notes.push(format!("note: not copied: {}", list.join(", ")));
    }
    notes
}

/// Add a lane to the plan: its branch (at `--from` or the plan's base), its worktree (unless
/// `no_worktree`) with the ignored files `.worktreeinclude` names, then the plan commit; each
/// step is rolled back if a later one fails. Last, the set-up command runs in the new
/// worktree; when it fails the lane stays and the error is a `SetupFailed`.
pub fn add(ws: &Workspace, stored: &StoredPlan, opts: &AddOptions) -> Result<Added> {
    let args = opts;
    let repo = &ws.repo;
    let mut p = stored.plan.clone();
    if p.lane(&args.lane).is_some() {
        return Err(LaneError::Exists {
            lane: args.lane.clone(),
            plan: p.name.clone(),
        }
        .into());
    }
    for a in &args.after {
        p.require_lane(a)?;
        if a == &args.lane {
            return Err(LaneError::AfterItself.into());
        }
    }
    let branch = refnames::lane_branch(&p.name, &args.lane);
    if refs::peel(repo, &branch)?.is_some() {
        return Err(LaneError::StrayBranch {
            branch: refnames::lane_branch_short(&p.name, &args.lane),
        }
        .into());
    }
    let start = match &args.from {
        Some(rev) => {
            repo.rev_parse_single(rev.as_str())
                .map_err(|_| LaneError::BadFrom {
                    rev: rev.clone(),
                    why: "cannot be resolved to a commit",
                })?
                .object()?
                .peel_to_commit()
                .map_err(|_| LaneError::BadFrom {
                    rev: rev.clone(),
                    why: "does not name a commit",
                })?
                .id
        }
        None => p.base_id(),
    };
    let worktree = match &args.worktree {
        None => None,
        Some(path) => {
            let path = match path {
                Some(p) => p.clone(),
                None => {
                    let main = ws.main_workdir()?;
                    match crate::plan::settings::worktree_dir(&ws.repo, &main, &p.name, &args.lane)?
                    {
                        Some(dir) => dir,
                        None => default_worktree_path(&main, &p.name, &args.lane),
                    }
                }
            };
            if path.exists()
                && std::fs::read_dir(&path)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(true)
            {
                return Err(LaneError::PathNotEmpty { path }.into());
            }
            Some(path)
        }
    };

    p.lanes.push(LaneSpec {
        name: args.lane.clone(),
        after: args.after.clone(),
        unknown: Default::default(),
    });
    // Everything that can refuse is checked before the first write: the `.worktreeinclude`
    // and what it names, and the set-up's environment.
    let include = match &worktree {
        Some(_) => include::find(&repo.main_repo()?)?,
        None => None,
    };
    let setup = match (&worktree, &args.setup) {
        (Some(path), Some(command)) => Some(Setup::prepare(repo, &p, &args.lane, path, command)?),
        _ => None,
    };

    // Branch first (must not exist), then the worktree and its included files; roll the
    // branch back if that fails, then the plan (roll both back if someone changed the plan
    // meanwhile). The set-up runs last, on a lane that exists whatever it does.
    refs::cas(
        repo,
        &branch,
        PreviousValue::MustNotExist,
        start,
        &format!("add lane {}", args.lane),
    )?;
    let undo_branch = || {
        let _ = refs::delete(repo, &branch, start);
    };
    let undo_worktree = |path: &Path| {
        let _ = repo.remove_worktree(
            path,
            gix::worktree::remove::Force::DiscardChanges,
            gix::progress::Discard,
        );
    };
    let mut copied = include::Copied::default();
    if let Some(path) = &worktree {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let new = match crate::git::worktrees::add_worktree(repo, path, &branch) {
            Ok(new) => new,
            Err(e) => {
                undo_branch();
                return Err(e.context(format!("creating the worktree at {}", path.display())));
            }
        };
        if let Some(candidates) = &include {
            match candidates.copy_into(&new) {
                Ok(c) => copied = c,
                Err(e) => {
                    undo_worktree(path);
                    undo_branch();
                    return Err(e.context(format!("copying what {} names", include::FILE)));
                }
            }
        }
    }
    let msg = if args.after.is_empty() {
        format!("add lane {}", args.lane)
    } else {
        format!("add lane {} after {}", args.lane, args.after.join(", "))
    };
    if let Err(e) = crate::ops::publish::store_plan(repo, &p, Some(stored.commit), &msg) {
        if let Some(path) = &worktree {
            undo_worktree(path);
        }
        undo_branch();
        return Err(e);
    }
    let setup = setup.map(Setup::run).transpose()?;
    Ok(Added {
        plan: p.name.clone(),
        lane: args.lane.clone(),
        branch: refnames::lane_branch_short(&p.name, &args.lane),
        after: args.after.clone(),
        start: start.to_string(),
        worktree,
        included: copied.paths,
        include_skipped: copied.skipped,
        setup,
    })
}

/// `<parent of main worktree>/<repo>.wtc/<plan>/<lane>`
pub fn default_worktree_path(main: &Path, plan: &str, lane: &str) -> PathBuf {
    let name = main
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into());
    let parent = main.parent().unwrap_or(main);
    parent.join(format!("{name}.wtc")).join(plan).join(lane)
}

/// What `rm` did.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub plan: String,
    pub lane: String,
    /// Where the lane's unsaved or unintegrated work was kept, if it had any.
    pub archived: Option<String>,
    /// Nested repositories and worktrees left where they were (`--force`).
    pub kept: Vec<Nested>,
}

/// Commits on `lane` whose work has not landed on the target (0 when it has: the verdict
/// squash, clean and status give, `ops::landed`).
pub fn unintegrated_commits(ws: &Workspace, p: &crate::plan::Plan, lane: &str) -> Result<usize> {
    let repo = &ws.repo;
    let Some(tip) = crate::plan::lanes::tip(repo, &p.name, lane)? else {
        return Ok(0);
    };
    let target = crate::ops::landed::Target::known(repo, p)?;
    if target.verdict(repo, lane, tip)?.is_some() {
        return Ok(0);
    }
    crate::plan::lanes::count_commits(repo, tip, p.base_id())
}

/// Remove `lane` from the plan, with its worktree and branch. Refuses while other lanes
/// come after it or while its worktree holds unsaved work (unless `force`: then the work is
/// saved and the tip archived, never destroyed).
pub fn remove(ws: &Workspace, stored: &StoredPlan, lane: &str, force: bool) -> Result<Removed> {
    let mut p = stored.plan.clone();
    p.require_lane(lane)?;
    let downstream = p.direct_downstream(lane);
    if !downstream.is_empty() {
        return Err(LaneError::HasDownstream {
            lane: lane.to_string(),
            downstream: downstream.iter().map(|d| d.to_string()).collect(),
        }
        .into());
    }
    let nested = lane_nested(ws, &p.name, lane)?;
    if !nested.is_empty() && !force {
        return Err(LaneError::Nested {
            lane: lane.to_string(),
            paths: nested
                .iter()
                .map(|n| format!("{} ({})", n.path.display(), n.kind))
                .collect(),
        }
        .into());
    }
    if let Some(paths) = unsaved_work(ws, &p.name, lane)? {
        if !force {
            return Err(LaneError::Unsaved {
                lane: lane.to_string(),
                paths,
            }
            .into());
        }
    }
    if let Some((_, here)) = crate::plan::lanes::checked_out(ws)? {
        if here == lane {
            return Err(LaneError::StandingIn.into());
        }
    }
    // Like `git branch -d`: committed work no integration holds is not thrown away.
    let unintegrated = unintegrated_commits(ws, &p, lane)?;
    if unintegrated > 0 && !force {
        return Err(LaneError::Unintegrated {
            lane: lane.to_string(),
            commits: unintegrated,
        }
        .into());
    }
    let saved = if force {
        save_before_removal(ws, &p.name, lane, "rm")?
    } else {
        None
    };
    let archive = saved.is_some() || unintegrated > 0;
    p.lanes.retain(|l| l.name != lane);
    crate::ops::publish::store_plan(
        &ws.repo,
        &p,
        Some(stored.commit),
        &format!("rm lane {lane}"),
    )?;
    let kept = remove_lane_checkout(ws, &p.name, lane, archive)?;
    crate::ops::publish::unpublish_lane(&ws.repo, &p.name, lane)?;
    Ok(Removed {
        plan: p.name.clone(),
        lane: lane.to_string(),
        archived: archive.then(|| refnames::archive_lane(&p.name, lane)),
        kept,
    })
}

/// Remove a lane's worktree (if any) and branch. The caller checked for unsaved work.
pub fn remove_lane_checkout(
    ws: &Workspace,
    plan: &str,
    lane: &str,
    archive: bool,
) -> Result<Vec<Nested>> {
    let branch = crate::plan::refnames::lane_branch(plan, lane);
    let mut kept = Vec::new();
    if let Some(wt) = ws.worktree_of(&branch)? {
        if wt.is_main {
            return Err(LaneError::InMainWorktree {
                lane: lane.to_string(),
            }
            .into());
        }
        kept = remove_worktree_keeping_nested(ws, &wt.path)?;
        if kept.is_empty() {
            prune_empty_parents(&wt.path);
        }
    }
    // In remote mode the lane may exist only as a fetched copy: archive what this clone knows.
    if archive {
        if let Some(tip) = crate::plan::lanes::tip(&ws.repo, plan, lane)? {
            let archived = crate::plan::refnames::archive_lane(plan, lane);
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
    Ok(kept)
}

/// A repository or worktree inside a lane worktree, which removing the lane never deletes
/// (`git worktree remove` refuses there too): its commits and files are not the lane's.
#[derive(Debug, Clone, Serialize)]
pub struct Nested {
    pub path: PathBuf,
    /// `repository` (its own git dir), `worktree` (another repository's or lane's linked
    /// worktree) or `submodule` (a submodule worktree whose git dir is the lane's, or that
    /// holds uncommitted changes).
    pub kind: &'static str,
    /// Where its git dir is, when a `.git` file points to it.
    #[serde(skip)]
    gitdir: Option<PathBuf>,
}

/// Every nested repository, linked worktree and submodule worktree that removing the lane
/// would lose something of, under `root` (a lane worktree whose private git dir is
/// `admin`), found by a walk that does not descend into them.
pub fn nested_repositories(
    root: &Path,
    common_dir: &Path,
    admin: Option<&Path>,
) -> Result<Vec<Nested>> {
    let mut out = Vec::new();
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    let modules = canon(&common_dir.join("modules"));
    let admin = admin.and_then(canon);
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let path = e.path();
            let dot_git = path.join(".git");
            match std::fs::symlink_metadata(&dot_git) {
                Ok(md) if md.is_dir() => out.push(Nested {
                    path,
                    kind: "repository",
                    gitdir: None,
                }),
                Ok(md) if md.is_file() => {
                    let gitdir = std::fs::read_to_string(&dot_git)
                        .ok()
                        .and_then(|t| t.strip_prefix("gitdir:").map(|g| g.trim().to_string()))
                        .map(|g| path.join(g))
                        .and_then(|g| canon(&g));
                    let under = |base: &Option<PathBuf>| matches!((&gitdir, base), (Some(g), Some(b)) if g.starts_with(b));
                    let kind = if under(&admin) {
                        // Its git dir lives in the lane's own git dir, which removal deletes.
                        Some("submodule")
                    } else if under(&modules) {
                        // The git dir survives in .git/modules: only uncommitted work is at stake.
                        let dirty = gix::open(&path)
                            .ok()
                            .map(|r| crate::worktree::snapshot::is_dirty(&r).unwrap_or(true))
                            .unwrap_or(true);
                        dirty.then_some("submodule")
                    } else {
                        Some("worktree")
                    };
                    if let Some(kind) = kind {
                        out.push(Nested { path, kind, gitdir });
                    }
                }
                _ => todo.push(path),
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The private git dir of the linked worktree at `path`, if git knows it.
fn admin_dir(ws: &Workspace, path: &Path) -> Result<Option<PathBuf>> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let want = canon(path);
    Ok(ws
        .repo
        .worktrees()?
        .into_iter()
        .find(|p| p.base().is_ok_and(|b| canon(&b) == want || b == path))
        .map(|p| p.git_dir().to_owned()))
}

/// Remove a linked worktree's files and its registration, leaving every nested repository
/// or worktree where it is (moving one would break its gitdir link). Returns those kept.
/// A kept submodule whose git dir is inside the lane's own git dir has that git dir moved
/// to `<common dir>/wtc/kept/` first (its `.git` file and `core.worktree` follow), so it
/// keeps working once the lane's git dir is gone.
fn remove_worktree_keeping_nested(ws: &Workspace, path: &Path) -> Result<Vec<Nested>> {
    let admin = admin_dir(ws, path)?;
    let nested = if path.is_dir() {
        nested_repositories(path, ws.repo.common_dir(), admin.as_deref())?
    } else {
        Vec::new()
    };
    let keep: Vec<PathBuf> = nested.iter().map(|n| n.path.clone()).collect();
    if path.is_dir() {
        delete_except(path, &keep)
            .with_context(|| format!("removing the worktree {}", path.display()))?;
    }
    if let Some(admin) = &admin {
        let canon_admin = std::fs::canonicalize(admin).unwrap_or_else(|_| admin.clone());
        for n in &nested {
            if let Some(gitdir) = n.gitdir.as_ref().filter(|g| g.starts_with(&canon_admin)) {
                relocate_gitdir(ws, &canon_admin, gitdir, &n.path)?;
            }
        }
        // The registration last: killed before it, the lane is still a worktree git knows.
        std::fs::remove_dir_all(admin).with_context(|| format!("removing {}", admin.display()))?;
    }
    if keep.is_empty() {
        let _ = std::fs::remove_dir(path);
    }
    Ok(nested)
}

/// Move a submodule's git dir out of a lane's private git dir (which is about to go) and
/// point its worktree at the new place, both ways, as `git submodule absorbgitdirs` does.
fn relocate_gitdir(ws: &Workspace, admin: &Path, gitdir: &Path, worktree: &Path) -> Result<()> {
    let rel = gitdir.strip_prefix(admin).expect("checked by the caller");
    let id = admin
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let mut dest = ws.repo.common_dir().join("wtc/kept").join(&id).join(rel);
    let mut n = 1;
    while dest.exists() {
        dest = ws
            .repo
            .common_dir()
            .join("wtc/kept")
            .join(format!("{}-{n}", id.to_string_lossy()))
            .join(rel);
        n += 1;
    }
    std::fs::create_dir_all(dest.parent().expect("below wtc/kept"))?;
    std::fs::rename(gitdir, &dest)
        .with_context(|| format!("moving {} to {}", gitdir.display(), dest.display()))?;
    std::fs::write(
        worktree.join(".git"),
        format!("gitdir: {}\n", dest.display()),
    )
    .with_context(|| format!("pointing {} at its git dir", worktree.display()))?;
    let mut config =
        gix::config::File::from_path_no_includes(dest.join("config"), gix::config::Source::Local)
            .with_context(|| format!("reading {}", dest.join("config").display()))?;
    let canon_wt = std::fs::canonicalize(worktree).unwrap_or_else(|_| worktree.to_owned());
    config.set_raw_value_by(
        "core",
        None,
        "worktree",
        canon_wt.to_string_lossy().as_ref(),
    )?;
    let mut file = std::fs::File::create(dest.join("config"))?;
    config.write_to(&mut file)?;
    Ok(())
}

/// Delete everything under `dir` except the `keep` paths (and the directories leading to
/// them); never follows a symlink.
fn delete_except(dir: &Path, keep: &[PathBuf]) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if keep.contains(&p) {
            continue;
        }
        let ft = e.file_type()?;
        if ft.is_dir() && keep.iter().any(|k| k.starts_with(&p)) {
            delete_except(&p, keep)?;
            let _ = std::fs::remove_dir(&p); // stays when it still leads to a kept one
        } else if ft.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
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
    let branch = crate::plan::refnames::lane_branch(plan, lane);
    let op = Operation::begin(&repo, command)?;
    Ok(crate::ops::save::save(&op, &repo, &branch, lane, Some(&msg), false)?.commit)
}

/// Unsaved work in a lane's worktree: `Some(paths)` when dirty, `None` when clean or absent.
pub fn unsaved_work(ws: &Workspace, plan: &str, lane: &str) -> Result<Option<Vec<String>>> {
    let Some(repo) = lane_worktree(ws, plan, lane)? else {
        return Ok(None);
    };
    let dirty = crate::worktree::snapshot::dirty_paths(&repo, None)?;
    Ok((!dirty.is_empty()).then(|| dirty.iter().map(|p| p.to_string()).collect()))
}

/// What removing `lane`'s worktree would have to leave in place.
pub fn lane_nested(ws: &Workspace, plan: &str, lane: &str) -> Result<Vec<Nested>> {
    let Some(wt) = lane_worktree_path(ws, plan, lane)? else {
        return Ok(Vec::new());
    };
    let admin = admin_dir(ws, &wt)?;
    nested_repositories(&wt, ws.repo.common_dir(), admin.as_deref())
}

/// The directory of the lane's worktree, if it has one that still exists on disk.
pub fn lane_worktree_path(ws: &Workspace, plan: &str, lane: &str) -> Result<Option<PathBuf>> {
    Ok(
        match ws.worktree_of(&crate::plan::refnames::lane_branch(plan, lane))? {
            Some(wt) if wt.exists => Some(wt.path),
            _ => None,
        },
    )
}

/// The lane's worktree, opened, if it has one that still exists on disk.
fn lane_worktree(ws: &Workspace, plan: &str, lane: &str) -> Result<Option<gix::Repository>> {
    match ws.worktree_of(&crate::plan::refnames::lane_branch(plan, lane))? {
        Some(wt) if wt.exists => Ok(Some(Workspace::open_worktree(&wt.path)?)),
        _ => Ok(None),
    }
}
