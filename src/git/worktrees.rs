//! Where we stand: the repository and its worktrees.
//!
//! Every command starts by opening a [`Workspace`] at `-C DIR` (or the current directory). It
//! refuses bare repositories (lanes need working trees) and lists the registered worktrees
//! with the branch each has checked out, so callers can tell which lane a worktree is.

use std::path::{Path, PathBuf};

use anyhow::Result;
use gix::bstr::ByteSlice;

use super::Error;

/// Refuse a repository git refuses: one owned by someone else and not listed in
/// `safe.directory` (gix opens it with reduced trust, dropping its local config; git stops,
/// and so does wtc, before writing anything).
fn refuse_untrusted(repo: &gix::Repository) -> Result<()> {
    if repo.git_dir_trust() != gix::sec::Trust::Full {
        let dir = repo.workdir().unwrap_or(repo.git_dir()).to_owned();
        return Err(Error::DubiousOwnership { dir }.into());
    }
    Ok(())
}

/// The object format named in an open error, when it is one this build cannot read
/// (gix is built with SHA-1 only).
fn unsupported_format(e: &gix::Error) -> Option<String> {
    if !e.is_unsupported() {
        return None;
    }
    e.iter_errors()
        .filter_map(|x| x.downcast_ref::<gix::error::Message>())
        .find(|m| m.message.contains("Object format is not enabled"))
        .map(|m| match m.values.get("input") {
            Some(v) if !format!("{v:?}").to_ascii_lowercase().contains("sha256") => {
                "non-SHA-1".to_string()
            }
            _ => "sha256".to_string(),
        })
}

/// Create a linked worktree at `path` with `branch` (a full name) checked out, the way
/// `git worktree add` does: gix checks out the files and writes the index, and each
/// submodule gets its empty directory (gix skips gitlinks; git creates the directory, and an
/// empty one is what "not initialised" looks like, so status sees no change there).
pub fn add_worktree(repo: &gix::Repository, path: &Path, branch: &str) -> Result<gix::Repository> {
    let name: gix::refs::FullName = branch.try_into()?;
    let interrupt = std::sync::atomic::AtomicBool::new(false);
    // gix writes the new HEAD's reflog itself, in a repository it reopens with our open
    // options, and fails without a committer; git falls back to user@host for reflogs (as
    // `refs::cas` does), so reopen with that identity as a config override.
    let with_identity;
    let repo = match crate::git::commit::name_and_email(repo, crate::git::commit::Role::Committer) {
        Some(_) => repo,
        None => {
            let who = super::refs::reflog_identity(repo);
            let options = repo.open_options().clone().config_overrides([
                format!("committer.name={}", who.name),
                format!("committer.email={}", who.email),
            ]);
            with_identity = gix::open_opts(repo.git_dir(), options)?;
            &with_identity
        }
    };
    let (new, _) = repo.add_worktree(
        path,
        gix::worktree::add::Head::Attached(name),
        crate::progress::task(format!("checking out {}", path.display())),
        &interrupt,
    )?;
    let index = new.index_or_empty()?;
    for entry in index.entries() {
        if entry.mode == gix::index::entry::Mode::COMMIT {
            let rel = gix::path::from_bstr(entry.path(&index))?;
            std::fs::create_dir_all(path.join(rel))?;
        }
    }
    Ok(new)
}

/// Bytes of decompressed objects a repository keeps in memory (gix's object cache, off by
/// default): a command reads the same commits and trees again and again (status reads each
/// lane's commits for its state, how far it is behind and its verdict; a fold reads the
/// same trees for every lane), and inflating them again was most of `status`'s time.
const OBJECT_CACHE: usize = 8 << 20;

/// An opened repository plus the worktree the command runs in.
pub struct Workspace {
    pub repo: gix::Repository,
}

/// One registered worktree (the main one or a linked one).
#[derive(Debug, Clone)]
pub struct WorktreeInfo {
    pub path: PathBuf,
    /// The branch checked out there (full ref name), if HEAD is attached.
    pub branch: Option<String>,
    pub is_main: bool,
    /// `false` when the directory was deleted behind git's back.
    pub exists: bool,
}

impl Workspace {
    /// Open the repository containing `dir`.
    pub fn discover(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::NotADirectory(dir.to_owned()).into());
        }
        let repo = gix::discover(dir).map_err(|e| match unsupported_format(&e) {
            Some(format) => Error::ObjectFormat {
                dir: dir.to_owned(),
                format,
            },
            None => Error::NotARepository(dir.to_owned()),
        })?;
        refuse_untrusted(&repo)?;
        if repo.is_bare() || repo.workdir().is_none() {
            return Err(Error::Bare(repo.git_dir().to_owned()).into());
        }
        let mut repo = repo;
        crate::git::loose::read_loose_first(&mut repo, OBJECT_CACHE);
        Ok(Workspace { repo })
    }

    /// Open the repository of a specific worktree directory.
    pub fn open_worktree(path: &Path) -> Result<gix::Repository> {
        let mut repo = gix::open(path).map_err(|e| Error::CannotOpenWorktree {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        refuse_untrusted(&repo)?;
        crate::git::loose::read_loose_first(&mut repo, OBJECT_CACHE);
        Ok(repo)
    }

    /// The top directory of the worktree we stand in.
    pub fn workdir(&self) -> &Path {
        self.repo.workdir().expect("checked in discover")
    }

    /// The main worktree's top directory.
    pub fn main_workdir(&self) -> Result<PathBuf> {
        let main = self.repo.main_repo()?;
        Ok(main
            .workdir()
            .map(Path::to_owned)
            .unwrap_or_else(|| self.repo.common_dir().to_owned()))
    }

    /// The full name of the branch checked out here, if any.
    pub fn head_branch(&self) -> Result<Option<String>> {
        Ok(self
            .repo
            .head_name()?
            .map(|n| n.as_bstr().to_str_lossy().into_owned()))
    }

    /// Every registered worktree, the main one first.
    pub fn worktrees(&self) -> Result<Vec<WorktreeInfo>> {
        let mut out = Vec::new();
        let main = self.repo.main_repo()?;
        if let Some(dir) = main.workdir() {
            out.push(WorktreeInfo {
                path: dir.to_owned(),
                branch: read_head_branch(main.git_dir()),
                is_main: true,
                exists: dir.is_dir(),
            });
        }
        for proxy in self.repo.worktrees()? {
            let Ok(path) = proxy.base() else { continue };
            out.push(WorktreeInfo {
                exists: path.is_dir(),
                branch: read_head_branch(proxy.git_dir()),
                path,
                is_main: false,
            });
        }
        Ok(out)
    }

    /// The worktree where `branch` (full name) is checked out.
    pub fn worktree_of(&self, branch: &str) -> Result<Option<WorktreeInfo>> {
        Ok(self
            .worktrees()?
            .into_iter()
            .find(|w| w.branch.as_deref() == Some(branch)))
    }
}

/// Read the symbolic target of a `HEAD` file; git's own format (`ref: <name>`).
fn read_head_branch(git_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    text.strip_prefix("ref: ").map(|s| s.trim().to_string())
}
