//! Tree A -> tree B as a list of leaf changes: what a worktree transition must write.

use std::collections::BTreeMap;

use anyhow::Result;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::object::tree::EntryKind;
use gix::objs::FindExt as _;
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
    let changes = plain_changes(repo, a, b)?;
    use gix::diff::tree::recorder::Change as C;
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
                path,
                entry_mode,
                oid,
                ..
            } => {
                if let Some(l) = leaf(entry_mode, oid) {
                    record(path.as_ref(), None, Some(l));
                }
            }
            C::Deletion {
                path,
                entry_mode,
                oid,
                ..
            } => {
                if let Some(l) = leaf(entry_mode, oid) {
                    record(path.as_ref(), Some(l), None);
                }
            }
            C::Modification {
                path,
                previous_entry_mode,
                previous_oid,
                entry_mode,
                oid,
            } => {
                record(
                    path.as_ref(),
                    leaf(previous_entry_mode, previous_oid),
                    leaf(entry_mode, oid),
                );
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

/// The changes between trees `a` and `b`, without rename tracking: gix's plain tree diff.
/// Not `Repository::diff_tree_to_tree`, which builds a diff resource cache (attributes from
/// a scan of the whole index: ~15 ms at 100k files) on every call, though a diff without
/// rewrites never reads a blob.
pub fn plain_changes(
    repo: &gix::Repository,
    a: ObjectId,
    b: ObjectId,
) -> Result<Vec<gix::diff::tree::recorder::Change>> {
    let mut recorder = gix::diff::tree::Recorder::default();
    if a == b {
        return Ok(Vec::new());
    }
    let (mut buf_a, mut buf_b) = (Vec::new(), Vec::new());
    // The empty tree is never stored (gix's `find_tree` knows it; the object store does not).
    let tree = |id: ObjectId, buf: &'_ mut Vec<u8>| -> Result<()> {
        buf.clear();
        if !id.is_empty_tree() {
            repo.objects.find_tree_iter(&id, buf)?;
        }
        Ok(())
    };
    tree(a, &mut buf_a)?;
    tree(b, &mut buf_b)?;
    let ta = gix::objs::TreeRefIter::from_bytes(&buf_a, repo.object_hash());
    let tb = gix::objs::TreeRefIter::from_bytes(&buf_b, repo.object_hash());
    gix::diff::tree(
        ta,
        tb,
        gix::diff::tree::State::default(),
        &repo.objects,
        &mut recorder,
    )?;
    Ok(recorder.records)
}
