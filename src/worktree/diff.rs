//! Tree A -> tree B as a list of leaf changes: what a worktree transition must write.

use std::collections::BTreeMap;

use anyhow::Result;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::object::tree::EntryKind;
use gix::ObjectId;

/// A leaf of a tree: a file, an executable, a symlink or a submodule commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub id: ObjectId,
    pub kind: EntryKind,
}

/// One path that differs between tree A and tree B.
#[derive(Debug, Clone)]
pub struct PathChange {
    pub path: BString,
    pub old: Option<Leaf>,
    pub new: Option<Leaf>,
}

/// Leaf-level differences between two trees, sorted by path. Rename tracking is off: an update
/// is a set of deletions and writes.
pub fn diff_trees(repo: &gix::Repository, a: ObjectId, b: ObjectId) -> Result<Vec<PathChange>> {
    let mut out: BTreeMap<BString, PathChange> = BTreeMap::new();
    if a == b {
        return Ok(Vec::new());
    }
    let ta = repo.find_tree(a)?;
    let tb = repo.find_tree(b)?;
    let opts = gix::diff::Options::default().with_rewrites(None);
    let changes = repo.diff_tree_to_tree(&ta, &tb, opts)?;
    use gix::object::tree::diff::ChangeDetached as C;
    let mut duplicate = None;
    let mut record = |path: &BStr, old: Option<Leaf>, new: Option<Leaf>| {
        let e = out.entry(path.to_owned()).or_insert_with(|| PathChange {
            path: path.to_owned(),
            old: None,
            new: None,
        });
        if old.is_some() {
            e.old = old;
        }
        if new.is_some() {
            // Two leaves at one path: a tree git would never write (fsck: duplicateEntries).
            if e.new.is_some() {
                duplicate = Some(path.to_owned());
            }
            e.new = new;
        }
    };
    let leaf = |mode: gix::object::tree::EntryMode, id: ObjectId| {
        (!mode.is_tree()).then(|| Leaf {
            id,
            kind: mode.kind(),
        })
    };
    for c in changes {
        match c {
            C::Addition {
                location,
                entry_mode,
                id,
                ..
            } => {
                if let Some(l) = leaf(entry_mode, id) {
                    record(location.as_ref(), None, Some(l));
                }
            }
            C::Deletion {
                location,
                entry_mode,
                id,
                ..
            } => {
                if let Some(l) = leaf(entry_mode, id) {
                    record(location.as_ref(), Some(l), None);
                }
            }
            C::Modification {
                location,
                previous_entry_mode,
                previous_id,
                entry_mode,
                id,
                ..
            } => {
                record(
                    location.as_ref(),
                    leaf(previous_entry_mode, previous_id),
                    leaf(entry_mode, id),
                );
            }
            C::Rewrite { .. } => {
                return Err(crate::error::Bug(
                    "rewrite tracking was disabled but a rewrite was reported".into(),
                )
                .into())
            }
        }
    }
    if let Some(path) = duplicate {
        return Err(super::Error::DuplicateEntry {
            path: shown_path(path.as_bstr()),
        }
        .into());
    }
    Ok(out.into_values().filter(|c| c.old != c.new).collect())
}

pub use crate::error::shown_path;
