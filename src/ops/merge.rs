//! Merging lanes: the fold behind both `sync` and `squash`.
//!
//! A fold starts at one commit and merges a list of lane tips into it, one at a time, with
//! gix's commit-level 3-way merge (recursive merge bases included). Every intermediate object
//! lives in an in-memory object store ([`gix::Repository::with_object_memory`]); only what the
//! final result needs is written to disk, and nothing at all when the fold conflicts in
//! `squash` or runs as a dry run.

use anyhow::Result;
use gix::bstr::ByteSlice;
use gix::objs::Write as _;
use gix::ObjectId;

use crate::git::refs;

/// One lane tip to fold in.
#[derive(Debug, Clone)]
pub struct Tip {
    pub lane: String,
    pub commit: ObjectId,
}

/// The result of a fold.
pub enum Folded<'m> {
    /// Every tip merged cleanly.
    Clean {
        /// The resulting commit: a real tip when every step was a fast-forward, else an
        /// in-memory merge commit (callers write their own final commit).
        commit: ObjectId,
        tree: ObjectId,
        /// Tips that were not already contained in the start commit.
        merged: Vec<Tip>,
        /// No merge was needed: `commit` is one of the tips (or the start).
        fast_forward: bool,
    },
    /// Merging `tip` produced unresolved conflicts.
    Conflict {
        tip: Tip,
        /// Tips merged before this one, plus this one.
        merged: Vec<Tip>,
        /// The commit `tip` was merged into (the start or an in-memory fold commit).
        ours: ObjectId,
        outcome: gix::merge::tree::Outcome<'m>,
    },
}

/// A clone of `repo` whose writes stay in memory.
pub fn memory_repo(repo: &gix::Repository) -> gix::Repository {
    let mut mem = repo.clone().with_object_memory();
    mem.object_cache_size_if_unset(8 * 1024 * 1024);
    mem
}

/// Fold `tips` (in the given order) into `start`, inside the in-memory repository `mem`.
pub fn fold<'m>(
    mem: &'m gix::Repository,
    start: ObjectId,
    tips: &[Tip],
    ours_label: &str,
) -> Result<Folded<'m>> {
    let mut current = start;
    let mut merged = Vec::new();
    let mut fast_forward = true;
    let options: gix::merge::commit::Options = mem.tree_merge_options()?.into();
    let options = options.with_allow_missing_merge_base(true);
    let how = gix::merge::tree::TreatAsUnresolved::git();
    // gix's `merge_commits` builds its diff and blob-merge caches (and their attribute stacks,
    // a scan of the whole index) on every call; a fold of many lanes builds them once and
    // calls the plumbing merge directly.
    let mut caches: Option<(gix::diff::blob::Platform, gix::merge::blob::Platform)> = None;
    for tip in tips {
        if refs::is_ancestor(mem, tip.commit, current)? {
            continue; // already contained
        }
        merged.push(tip.clone());
        if fast_forward && refs::is_ancestor(mem, current, tip.commit)? {
            current = tip.commit;
            continue;
        }
        let labels = gix::merge::blob::builtin_driver::text::Labels {
            ancestor: Some("base".into()),
            current: Some(ours_label.into()),
            other: Some(tip.lane.as_str().into()),
        };
        if caches.is_none() {
            caches = Some((
                mem.diff_resource_cache_for_tree_diff()?,
                mem.merge_resource_cache(Default::default())?,
            ));
        }
        let (diff_cache, blob_merge) = caches.as_mut().expect("set above");
        let commit_graph = mem.commit_graph_if_enabled()?;
        let mut graph = mem.revision_graph(commit_graph.as_ref());
        let mut outcome = gix::merge::plumbing::commit(
            current,
            tip.commit,
            labels,
            &mut graph,
            diff_cache,
            blob_merge,
            mem,
            &mut |id| {
                gix::prelude::ObjectIdExt::attach(id.to_owned(), mem)
                    .shorten_or_id()
                    .to_string()
            },
            options.clone().into(),
        )?;
        if outcome
            .tree_merge
            .conflicts
            .iter()
            .any(|c| c.is_unresolved(how))
        {
            // Rare: redo this one step through the porcelain, whose outcome can also write
            // the index stages that sync needs.
            let outcome = mem.merge_commits(current, tip.commit, labels, options)?;
            return Ok(Folded::Conflict {
                tip: tip.clone(),
                merged,
                ours: current,
                outcome: outcome.tree_merge,
            });
        }
        let tree = outcome
            .tree_merge
            .tree
            .write(|t| mem.write_object(t).map(|id| id.detach()))?;
        current = crate::git::commit::write(
            mem,
            crate::git::commit::NewCommit {
                purpose: crate::git::commit::Purpose::Scratch,
                message: format!("fold {}", tip.lane),
                tree,
                parents: vec![current, tip.commit],
            },
        )?;
        fast_forward = false;
    }
    let tree = mem.find_commit(current)?.tree_id()?.detach();
    Ok(Folded::Clean {
        commit: current,
        tree,
        merged,
        fast_forward,
    })
}

/// Tips of `merged` that are not ancestors of another tip in the list: the parents a merge
/// commit needs (an octopus of redundant parents would only clutter history).
pub fn independent_tips(repo: &gix::Repository, merged: &[Tip]) -> Result<Vec<Tip>> {
    let mut out = Vec::new();
    for (i, t) in merged.iter().enumerate() {
        let mut redundant = false;
        for (j, other) in merged.iter().enumerate() {
            if i != j
                && t.commit != other.commit
                && refs::is_ancestor(repo, t.commit, other.commit)?
            {
                redundant = true;
                break;
            }
            if j < i && t.commit == other.commit {
                redundant = true;
                break;
            }
        }
        if !redundant {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// Write every object `mem` holds in memory into `real`'s object database.
pub fn persist_all(mem: &mut gix::Repository, real: &gix::Repository) -> Result<usize> {
    let storage = mem.objects.take_object_memory().unwrap_or_default();
    let n = storage.len();
    for (_, (kind, data)) in storage.iter() {
        real.write_buf(*kind, data)?;
        crate::faults::point();
    }
    mem.objects.enable_object_memory();
    Ok(n)
}

/// Write the in-memory objects reachable from `tree` into `real` (children before parents),
/// leaving the fold's scratch objects behind.
pub fn persist_tree(
    mem: &mut gix::Repository,
    real: &gix::Repository,
    tree: ObjectId,
) -> Result<usize> {
    let storage = mem.objects.take_object_memory().unwrap_or_default();
    let mut written = 0;
    let mut stack = vec![(tree, false)];
    let mut seen = gix::hashtable::HashSet::default();
    while let Some((id, children_done)) = stack.pop() {
        let Some((kind, data)) = storage.get(&id) else {
            continue;
        };
        if children_done {
            real.write_buf(*kind, data)?;
            crate::faults::point();
            written += 1;
            continue;
        }
        if !seen.insert(id) {
            continue;
        }
        stack.push((id, true));
        if *kind == gix::object::Kind::Tree {
            for entry in gix::objs::TreeRefIter::from_bytes(data, real.object_hash()) {
                let entry = entry?;
                if storage.contains_key(entry.oid) {
                    stack.push((entry.oid.to_owned(), false));
                }
            }
        }
    }
    mem.objects.set_object_memory(storage);
    Ok(written)
}

/// The paths an outcome leaves conflicted, for messages.
pub fn conflicted_paths(outcome: &gix::merge::tree::Outcome<'_>) -> Vec<String> {
    let how = gix::merge::tree::TreatAsUnresolved::git();
    let mut paths: Vec<String> = outcome
        .conflicts
        .iter()
        .filter(|c| c.is_unresolved(how))
        .flat_map(|c| [c.ours.location().to_owned(), c.theirs.location().to_owned()])
        .map(|p| p.to_str_lossy().into_owned())
        .collect();
    paths.sort();
    paths.dedup();
    paths
}
