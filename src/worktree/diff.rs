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

impl Leaf {
    /// `leaf` if it is a regular file (executable or not): what a worktree holds as bytes
    /// written from a blob, not a symlink or a submodule.
    pub fn file(leaf: Option<Leaf>) -> Option<Leaf> {
        leaf.filter(|l| matches!(l.kind, EntryKind::Blob | EntryKind::BlobExecutable))
    }
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
    diff_trees_in(repo, &repo.objects, a, b)
}

/// [`diff_trees`] reading loose trees into buffers instead of through gix's object cache
/// ([`crate::git::loose`]): for a thread that runs beside others (no unmapping), on trees
/// nobody read before (no cache to miss).
pub fn diff_trees_loose(
    repo: &gix::Repository,
    a: ObjectId,
    b: ObjectId,
) -> Result<Vec<PathChange>> {
    diff_trees_in(repo, &crate::git::loose::LooseFirst::new(repo), a, b)
}

fn diff_trees_in(
    repo: &gix::Repository,
    objects: &impl gix::objs::Find,
    a: ObjectId,
    b: ObjectId,
) -> Result<Vec<PathChange>> {
    let mut out: BTreeMap<BString, PathChange> = BTreeMap::new();
    if a == b {
        return Ok(Vec::new());
    }
    let mut recorder = gix::diff::tree::Recorder::default();
    run_diff(repo, objects, a, b, &mut recorder)?;
    let changes = recorder.records;
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
    for c in &changes {
        // A tree side is no leaf: a record of trees alone changes no leaf.
        let (path, old, new) = leaves_of(c);
        if old.is_some() || new.is_some() {
            record(path.as_ref(), old, new);
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

/// One leaf-level change between trees `a` and `b`, found without diffing the rest: the
/// first the traversal meets (not the smallest path). It is exactly that path's entry in
/// [`diff_trees`]: one record that involves a leaf says all there is of the leaves at its
/// path (another record at the same path can only be a tree, which is no leaf). `None`
/// when the trees hold the same leaves.
pub fn first_leaf_change(
    repo: &gix::Repository,
    a: ObjectId,
    b: ObjectId,
) -> Result<Option<PathChange>> {
    use gix::diff::tree::{recorder::Change as C, visit, Recorder, Visit};
    /// A recorder that stops at the first record with a leaf that changed.
    struct First(Recorder);
    impl Visit for First {
        fn pop_front_tracked_path_and_set_current(&mut self) {
            self.0.pop_front_tracked_path_and_set_current()
        }
        fn push_back_tracked_path_component(&mut self, component: &BStr) {
            self.0.push_back_tracked_path_component(component)
        }
        fn push_path_component(&mut self, component: &BStr) {
            self.0.push_path_component(component)
        }
        fn pop_path_component(&mut self) {
            self.0.pop_path_component()
        }
        fn visit(&mut self, change: visit::Change) -> visit::Action {
            let _ = self.0.visit(change);
            match self.0.records.last().and_then(leaf_change) {
                Some(_) => visit::Action::Break(()),
                None => {
                    self.0.records.clear();
                    visit::Action::Continue(())
                }
            }
        }
    }
    fn leaf_change(c: &C) -> Option<PathChange> {
        let (path, old, new) = leaves_of(c);
        (old != new).then(|| PathChange {
            path: path.clone(),
            old,
            new,
        })
    }
    if a == b {
        return Ok(None);
    }
    let mut first = First(Recorder::default());
    match run_diff(repo, &repo.objects, a, b, &mut first) {
        Ok(()) => {}
        Err(e) if first.0.records.is_empty() => return Err(e),
        Err(_) => {} // stopped at the first change
    }
    Ok(first.0.records.last().and_then(leaf_change))
}

/// The path of one record of gix's tree diff and the leaves on each side of it (`None`: no
/// entry there, or a tree).
fn leaves_of(c: &gix::diff::tree::recorder::Change) -> (&BString, Option<Leaf>, Option<Leaf>) {
    use gix::diff::tree::recorder::Change as C;
    let leaf = |mode: gix::object::tree::EntryMode, id: ObjectId| {
        (!mode.is_tree()).then(|| Leaf {
            id,
            kind: mode.kind(),
        })
    };
    match c {
        C::Addition {
            path,
            entry_mode,
            oid,
            ..
        } => (path, None, leaf(*entry_mode, *oid)),
        C::Deletion {
            path,
            entry_mode,
            oid,
            ..
        } => (path, leaf(*entry_mode, *oid), None),
        C::Modification {
            path,
            previous_entry_mode,
            previous_oid,
            entry_mode,
            oid,
        } => (
            path,
            leaf(*previous_entry_mode, *previous_oid),
            leaf(*entry_mode, *oid),
        ),
    }
}

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
    run_diff(repo, &repo.objects, a, b, &mut recorder)?;
    Ok(recorder.records)
}

/// gix's plain tree diff of `a` and `b` into `delegate`.
fn run_diff(
    repo: &gix::Repository,
    objects: &impl gix::objs::Find,
    a: ObjectId,
    b: ObjectId,
    delegate: &mut impl gix::diff::tree::Visit,
) -> Result<()> {
    let (mut buf_a, mut buf_b) = (Vec::new(), Vec::new());
    // The empty tree is never stored (gix's `find_tree` knows it; the object store does not).
    let tree = |id: ObjectId, buf: &'_ mut Vec<u8>| -> Result<()> {
        buf.clear();
        if !id.is_empty_tree() {
            objects.find_tree_iter(&id, buf)?;
        }
        Ok(())
    };
    tree(a, &mut buf_a)?;
    tree(b, &mut buf_b)?;
    let ta = gix::objs::TreeRefIter::from_bytes(&buf_a, repo.object_hash());
    let tb = gix::objs::TreeRefIter::from_bytes(&buf_b, repo.object_hash());
    gix::diff::tree(ta, tb, gix::diff::tree::State::default(), objects, delegate)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair of these trees: the one change found alone is one of the whole diff's, entry
    /// for entry, and there is none exactly when the diff is empty.
    #[test]
    fn the_first_leaf_change_is_one_of_the_diff() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let git = |args: &[&str]| crate::hermetic::shared().git(d, args);
        git(&["init", "-q"]);
        let states: &[&[(&str, &str)]] = &[
            &[],
            &[("a", "1")],
            &[("a", "2")],
            &[("a/x", "1")],
            &[("a/x", "1"), ("b/c/d", "deep")],
            &[("a/x", "1"), ("b/c/d", "deeper"), ("z", "last")],
            &[("b", "1"), ("b2/c", "1")],
        ];
        let mut trees = Vec::new();
        for files in states {
            for e in std::fs::read_dir(d).unwrap() {
                let e = e.unwrap();
                if e.file_name() != ".git" {
                    let p = e.path();
                    if p.is_dir() {
                        std::fs::remove_dir_all(p).unwrap();
                    } else {
                        std::fs::remove_file(p).unwrap();
                    }
                }
            }
            for (path, content) in *files {
                let p = d.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, content).unwrap();
            }
            git(&["add", "-A"]);
            trees.push(ObjectId::from_hex(git(&["write-tree"]).as_bytes()).unwrap());
        }
        let repo = crate::hermetic::open(d);
        // An executable bit alone is a change too.
        let exec = {
            let mut e = repo.edit_tree(trees[1]).unwrap();
            let id = repo.write_blob(b"1").unwrap().detach();
            e.upsert("a", EntryKind::BlobExecutable, id).unwrap();
            e.write().unwrap().detach()
        };
        trees.push(exec);
        for &a in &trees {
            for &b in &trees {
                let all = diff_trees(&repo, a, b).unwrap();
                let first = first_leaf_change(&repo, a, b).unwrap();
                match first {
                    None => assert!(all.is_empty(), "{a} -> {b}: {all:?}"),
                    Some(f) => assert!(
                        all.iter()
                            .any(|c| c.path == f.path && c.old == f.old && c.new == f.new),
                        "{a} -> {b}: {f:?} is not in {all:?}"
                    ),
                }
            }
        }
    }
}
