//! Submodules as git treats them: a gitlink is a commit id in the superproject's tree and
//! index; the submodule's own checkout is another repository's business.
//!
//! - What `git commit -a` records ([`changed_gitlinks`]): a gitlink whose initialised
//!   submodule has another commit checked out; a gitlink whose directory is gone (a
//!   deletion). An uninitialised submodule (an empty directory) is unchanged.
//! - What a worktree transition does to them: the index and the tree carry the new gitlink
//!   (the directory is created empty, as `git checkout` does), and the submodule's checkout
//!   is left alone, as `git merge` leaves it, unless `submodule.recurse` is set: then, like
//!   git's recursing merge, a submodule still at the old commit and not modified is moved to
//!   the new one ([`follow`]) by `git submodule update --checkout --no-fetch`. That is the
//!   one place wtc runs git on a worktree: a submodule is a repository of its own, with its
//!   own config, filters and hooks, which git's own checkout already handles.

use std::path::Path;

use anyhow::Result;
use gix::bstr::{BString, ByteSlice};
use gix::index::entry::{Mode, Stage};
use gix::ObjectId;
use serde::Serialize;

use super::diff::PathChange;
use gix::object::tree::EntryKind;

/// The commit checked out in the submodule at `abs`, if it is initialised (`.git` there).
pub fn checked_out(abs: &Path) -> Option<ObjectId> {
    if !abs.join(".git").exists() {
        return None;
    }
    let repo = gix::open(abs).ok()?;
    repo.head_id().ok().map(|id| id.detach())
}

/// Gitlinks of `index` whose worktree state differs from the index the way `git commit -a`
/// records: another commit checked out, or the directory gone. Costs one pass over the
/// index's entries (and opening each initialised submodule), which gix's status does not
/// cover for gitlinks without a `.gitmodules` entry.
pub fn changed_gitlinks(root: &Path, index: &gix::index::State) -> Vec<BString> {
    let mut out = Vec::new();
    for entry in index.entries() {
        if entry.mode != Mode::COMMIT || entry.stage() != Stage::Unconflicted {
            continue;
        }
        let path = entry.path(index);
        let Ok(rel) = gix::path::from_bstr(path) else {
            continue;
        };
        let abs = root.join(rel);
        match std::fs::symlink_metadata(&abs) {
            Err(_) => out.push(path.to_owned()),
            Ok(md) if !md.is_dir() => out.push(path.to_owned()),
            Ok(_) => {
                if checked_out(&abs).is_some_and(|head| head != entry.id) {
                    out.push(path.to_owned());
                }
            }
        }
    }
    out
}

/// What happened to one submodule's checkout after its gitlink changed.
#[derive(Debug, Clone, Serialize)]
pub struct Followed {
    pub path: String,
    /// The commit the superproject now records.
    pub gitlink: String,
    /// `checked-out` (moved along, `submodule.recurse`), or `stale` (left where it was:
    /// run `git submodule update`), with `why` when it could not move.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// After a transition of `repo`'s worktree: every initialised submodule whose gitlink
/// changed, followed when `submodule.recurse` says so, else reported as stale.
pub fn follow(repo: &gix::Repository, changes: &[PathChange]) -> Result<Vec<Followed>> {
    let root = match repo.workdir() {
        Some(r) => r.to_owned(),
        None => return Ok(Vec::new()),
    };
    let recurse = repo
        .config_snapshot()
        .boolean("submodule.recurse")
        .unwrap_or(false);
    let mut out = Vec::new();
    for c in changes {
        let Some(new) = c.new.filter(|n| n.kind == EntryKind::Commit) else {
            continue;
        };
        let abs = root.join(gix::path::from_bstr(c.path.as_bstr())?);
        let Some(head) = checked_out(&abs) else {
            continue; // not initialised: nothing is checked out to follow (as in git)
        };
        if head == new.id {
            continue;
        }
        let path = c.path.to_str_lossy().into_owned();
        let at_old = c
            .old
            .is_some_and(|o| o.kind == EntryKind::Commit && o.id == head);
        let mut state = "stale";
        let mut why = None;
        if recurse && at_old {
            match checkout(&root, &path) {
                Ok(()) => state = "checked-out",
                Err(e) => why = Some(e),
            }
        } else if recurse {
            why = Some(format!(
                "its checkout ({}) is not the commit the lane had ({}): left as it is",
                &head.to_string()[..9],
                c.old
                    .map_or("none".to_string(), |o| o.id.to_string()[..9].to_string())
            ));
        }
        out.push(Followed {
            path,
            gitlink: new.id.to_string(),
            state,
            why,
        });
    }
    Ok(out)
}

/// `git submodule update --checkout --no-fetch -- <path>` in the superproject at `root`:
/// git's own safe checkout (it refuses to overwrite local changes in the submodule).
fn checkout(root: &Path, path: &str) -> std::result::Result<(), String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "submodule",
            "update",
            "--checkout",
            "--no-fetch",
            "--quiet",
            "--",
        ])
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("running `git submodule update`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("git submodule update failed")
            .to_string())
    }
}
