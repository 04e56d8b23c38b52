//! `save`: turn the whole worktree into one WIP commit on the lane branch.
//!
//! Status of the worktree (tracked changes, staged changes and untracked files that are not
//! ignored) gives the changed paths; only those are hashed through the filter pipeline and
//! edited into HEAD's tree, so the cost follows the change, not the repository. The index is
//! updated for the same paths so `git status` is clean afterwards. A pending merge (MERGE_HEAD,
//! all conflicts resolved) is completed by the save, exactly like `git commit` would.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use gix::bstr::{BString, ByteSlice};
use gix::index::entry::{Flags, Stat};
use gix::object::tree::EntryKind;
use gix::refs::transaction::PreviousValue;
use gix::ObjectId;

use crate::error::user;
use crate::git::refs;
use crate::plan::refnames;
use crate::worktree::checkout::{index_mode, LockedIndex};
use crate::worktree::snapshot::{clear_merge_state, dirty_paths, merge_heads};

/// A path `save` looked at: what is on disk now (`None`: deleted), with its stat data.
type SavedPath = (BString, Option<(ObjectId, EntryKind, Stat)>);

/// What `save` did.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The new commit, or `None` when there was nothing to save.
    pub commit: Option<ObjectId>,
    /// Paths that went into the commit.
    pub paths: Vec<String>,
    /// The lane tip before the save.
    pub previous: ObjectId,
}

/// The message of a save: `-m` text or a WIP subject, plus the handoff trailer for `done`.
pub fn message(lane_name: &str, user_message: Option<&str>, done: bool, npaths: usize) -> String {
    let subject = match user_message {
        Some(m) if !m.trim().is_empty() => m.trim().to_string(),
        _ if done => format!("done: {lane_name}"),
        _ => format!(
            "wip: {lane_name} ({npaths} {})",
            if npaths == 1 { "file" } else { "files" }
        ),
    };
    if done {
        format!("{subject}\n\n{}\n", refnames::trailers::DONE)
    } else {
        format!("{subject}\n")
    }
}

/// Commit the whole worktree of `repo` (a lane worktree on `branch`) as one WIP commit.
///
/// With `done`, a commit is made even when nothing changed, to carry the handoff trailer.
pub fn save(
    repo: &gix::Repository,
    branch: &str,
    lane_name: &str,
    user_message: Option<&str>,
    done: bool,
) -> Result<Saved> {
    let mut locked = LockedIndex::acquire(repo)?;
    let conflicted = locked.conflicted_paths();
    if !conflicted.is_empty() {
        return Err(user(format!("{} path(s) still have merge conflicts", conflicted.len()))
            .hint("edit them to resolve the conflict markers, then `git add` them (or run `git commit -a`)")
            .paths(conflicted)
            .into());
    }
    // The lane branch must be checked out here. Compare names, not two reads of ids: a
    // `git commit` moving the branch between two reads is no error (it moves HEAD with it,
    // and the compare-and-swap below reports the lost race).
    let checked_out = repo.head_name()?.map(|n| n.as_bstr().to_string());
    if checked_out.as_deref() != Some(branch) {
        return Err(user(format!(
            "this worktree does not have the lane branch {branch} checked out"
        ))
        .hint(format!(
            "check it out again (`git switch {}`), then run the command again",
            refnames::short_branch(branch)
        ))
        .into());
    }
    let head = refs::peel(repo, branch)?
        .ok_or_else(|| user(format!("the lane branch {branch} is missing")))?;
    let head_tree = repo.find_commit(head)?.tree_id()?.detach();
    let merge_heads = merge_heads(repo)?;
    let paths = dirty_paths(repo)?;

    let (mut pipeline, _) = repo.filter_pipeline(None)?;
    let mut editor = repo.edit_tree(head_tree)?;
    let workdir = repo.workdir().context("a worktree is needed")?.to_owned();
    let mut entries: Vec<SavedPath> = Vec::new();
    for path in &paths {
        // Stat before reading: if the file changes while we hash it, git sees a newer mtime
        // and reports it as modified instead of silently calling it clean.
        let abs: PathBuf = workdir.join(gix::path::from_bstr(path.as_bstr())?);
        let stat = gix::index::fs::Metadata::from_path_no_follow(&abs)
            .ok()
            .and_then(|md| Stat::from_fs(&md).ok())
            .unwrap_or_default();
        let found = pipeline.worktree_file_to_object(path.as_bstr(), &locked.file)?;
        crate::faults::point();
        match found {
            Some((_, EntryKind::Commit, _)) => {} // nested repositories are not ours to save
            Some((id, kind, _)) => entries.push((path.clone(), Some((id, kind, stat)))),
            None => entries.push((path.clone(), None)),
        }
    }
    // Removals first, so a file can turn into a directory in the same save.
    for (path, _) in entries.iter().filter(|(_, e)| e.is_none()) {
        editor.remove(path.as_bstr())?;
    }
    for (path, e) in &entries {
        if let Some((id, kind, _)) = e {
            editor.upsert(path.as_bstr(), *kind, *id)?;
        }
    }
    let tree = editor.write()?.detach();
    let saved_paths: Vec<String> = entries
        .iter()
        .map(|(p, _)| p.to_str_lossy().into_owned())
        .collect();

    crate::error::check_interrupt()?;
    let commit = if tree == head_tree && merge_heads.is_empty() && !done {
        None
    } else {
        let msg = message(lane_name, user_message, done, saved_paths.len());
        let parents: Vec<ObjectId> = std::iter::once(head)
            .chain(merge_heads.iter().copied())
            .collect();
        Some(repo.new_commit(msg, tree, parents)?.id)
    };

    // The index follows the worktree for every saved path, with fresh stat data.
    update_index_entries(&mut locked.file, &entries);
    if let Some(c) = commit {
        refs::cas(
            repo,
            branch,
            PreviousValue::MustExistAndMatch(head.into()),
            c,
            "save",
        )?;
    }
    if entries.is_empty() && commit.is_none() {
        drop(locked); // nothing changed: leave the index file alone
    } else {
        locked.commit()?;
    }
    if commit.is_some() {
        clear_merge_state(repo);
    }
    Ok(Saved {
        commit,
        paths: saved_paths,
        previous: head,
    })
}

/// Replace the index entries of `entries`' paths (all stages) by what is on disk now.
fn update_index_entries(index: &mut gix::index::State, entries: &[SavedPath]) {
    let touched: BTreeSet<&[u8]> = entries.iter().map(|(p, _)| p.as_slice()).collect();
    index.remove_entries(|_, path, _| touched.contains(path.as_bytes()));
    // A file that became a directory: its old entry is gone above; entries under a path that
    // became a file are removed here.
    let files: Vec<&BString> = entries
        .iter()
        .filter(|(_, e)| e.is_some())
        .map(|(p, _)| p)
        .collect();
    index.remove_entries(|_, path, _| {
        files.iter().any(|f| {
            path.len() > f.len() && path.starts_with(f.as_slice()) && path[f.len()] == b'/'
        })
    });
    for (path, e) in entries {
        let Some((id, kind, stat)) = e else { continue };
        index.dangerously_push_entry(
            *stat,
            *id,
            Flags::empty(),
            index_mode(*kind),
            path.as_bstr(),
        );
    }
    index.sort_entries();
}
