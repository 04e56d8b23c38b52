//! Local work that stands where a transition would write: a tracked file edited or deleted
//! (in the worktree or the index), or an untracked or ignored file where the new tree puts
//! something. An empty list means the transition can proceed without touching anything the
//! user has not committed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::Stage;
use serde::Serialize;

use super::diff::PathChange;
use super::entry::Files;
use super::prejudge::Prejudged;
use super::validate;
use crate::git::index::kind_of_mode;

/// A local change that stands where the update would write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "kebab-case")]
pub enum Obstacle {
    /// A tracked file was edited (in the worktree or the index).
    Modified(String),
    /// A tracked file was deleted locally.
    Deleted(String),
    /// An untracked or ignored file or directory is where B puts something.
    Untracked(String),
}

impl Obstacle {
    pub fn path(&self) -> &str {
        match self {
            Obstacle::Modified(p) | Obstacle::Deleted(p) | Obstacle::Untracked(p) => p,
        }
    }
}

impl Files<'_> {
    /// Find every local change that stands in the way of `changes`. An empty list means the
    /// update can proceed without touching anything the user has not committed.
    pub fn obstacles(
        &mut self,
        changes: &[PathChange],
        index: &gix::index::State,
    ) -> Result<Vec<Obstacle>> {
        self.obstacles_prejudged(changes, index, None)
    }

    /// [`Files::obstacles`], taking the verdicts of a look made ahead (valid for `index`:
    /// see [`Prejudged::valid_for`]) where it judged the very leaf asked about.
    pub fn obstacles_prejudged(
        &mut self,
        changes: &[PathChange],
        index: &gix::index::State,
        prejudged: Option<&Prejudged>,
    ) -> Result<Vec<Obstacle>> {
        let deleted: BTreeSet<&BStr> = changes
            .iter()
            .filter(|c| c.old.is_some() && c.new.is_none())
            .map(|c| c.path.as_bstr())
            .collect();
        validate::validate_new_paths(changes, validate::PathRules::of(self.repo))?;
        let mut out = Vec::new();
        // Directories already found to be real ones: many incoming paths share them.
        let mut dirs = std::collections::HashSet::new();
        for c in changes {
            let p = c.path.to_str_lossy().into_owned();
            let staged = index.entry_by_path_and_stage(c.path.as_bstr(), Stage::Unconflicted);
            match c.old {
                Some(old) => {
                    let index_ok = staged
                        .is_some_and(|e| e.id == old.id && kind_of_mode(e.mode) == Some(old.kind));
                    if !index_ok {
                        // Staged edits count as local work too; unless the index already holds B.
                        let index_is_new = match (staged, c.new) {
                            (Some(e), Some(n)) => {
                                e.id == n.id && kind_of_mode(e.mode) == Some(n.kind)
                            }
                            (None, None) => true,
                            _ => false,
                        };
                        let disk = self.leaf_on_disk(c.path.as_bstr(), index)?;
                        if !(index_is_new && self.same(disk, c.new)) {
                            out.push(Obstacle::Modified(p));
                        }
                        continue;
                    }
                    let held = match prejudged.and_then(|p| p.holds(&c.path, old)) {
                        Some((held, seen)) => {
                            self.note_seen(c.path.as_bstr(), seen);
                            held
                        }
                        None => self.holds(c.path.as_bstr(), old, index)?,
                    };
                    if held {
                        continue;
                    }
                    let disk = self.leaf_on_disk(c.path.as_bstr(), index)?;
                    let abs = self.abs(c.path.as_bstr())?;
                    match disk {
                        // Already what B wants, or deleted where B deletes too: no conflict.
                        d if self.same(d, c.new) => {}
                        None if std::fs::symlink_metadata(crate::dirfd::short(&abs)).is_err() => {
                            out.push(Obstacle::Deleted(p))
                        }
                        _ => out.push(Obstacle::Modified(p)),
                    }
                }
                None => {
                    if let Some(e) = staged {
                        if c.new
                            .is_some_and(|n| n.id == e.id && Some(n.kind) == kind_of_mode(e.mode))
                        {
                            continue;
                        }
                    }
                    let abs = self.abs(c.path.as_bstr())?;
                    let md = std::fs::symlink_metadata(crate::dirfd::short(&abs));
                    self.note(c.path.as_bstr(), md.as_ref().ok());
                    match md {
                        Err(_) => {}
                        Ok(md) if md.is_dir() => {
                            if !self.dir_only_holds(&abs, c.path.as_bstr(), &deleted)? {
                                out.push(Obstacle::Untracked(p));
                            }
                        }
                        Ok(_) => {
                            let disk = self.leaf_on_disk(c.path.as_bstr(), index)?;
                            if !self.same(disk, c.new) {
                                out.push(Obstacle::Untracked(p));
                            }
                        }
                    }
                }
            }
            if c.new.is_some() {
                self.check_ancestors(c.path.as_bstr(), &deleted, &mut dirs, &mut out)?;
            }
        }
        out.sort_by(|a, b| a.path().cmp(b.path()));
        out.dedup();
        Ok(out)
    }

    /// Every file under the directory `abs` is a tracked file that the update deletes.
    fn dir_only_holds(&self, abs: &Path, rela: &BStr, deleted: &BTreeSet<&BStr>) -> Result<bool> {
        for entry in std::fs::read_dir(abs)? {
            let entry = entry?;
            let name = gix::path::into_bstr(PathBuf::from(entry.file_name()))?.into_owned();
            let mut child = rela.to_owned();
            child.push(b'/');
            child.extend_from_slice(&name);
            let ft = entry.file_type()?;
            if ft.is_dir() {
                if !self.dir_only_holds(&entry.path(), child.as_bstr(), deleted)? {
                    return Ok(false);
                }
            } else if !deleted.contains(child.as_bstr()) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The directories above `path` must be real directories (or files the update deletes).
    /// `dirs`: those already found to be directories in this check.
    fn check_ancestors(
        &self,
        path: &BStr,
        deleted: &BTreeSet<&BStr>,
        dirs: &mut std::collections::HashSet<BString>,
        out: &mut Vec<Obstacle>,
    ) -> Result<()> {
        let mut prefix = BString::default();
        let comps: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
        for comp in &comps[..comps.len() - 1] {
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(comp);
            if dirs.contains(&prefix) {
                continue;
            }
            let abs = self.abs(prefix.as_bstr())?;
            match std::fs::symlink_metadata(crate::dirfd::short(&abs)) {
                Err(_) => return Ok(()),
                Ok(md) if md.is_dir() => {
                    dirs.insert(prefix.clone());
                }
                Ok(_) if deleted.contains(prefix.as_bstr()) => return Ok(()),
                Ok(_) => {
                    out.push(Obstacle::Untracked(prefix.to_str_lossy().into_owned()));
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
