//! `save`: turn the whole worktree into one WIP commit on the lane branch.
//!
//! Status of the worktree (tracked changes, staged changes and untracked files that are not
//! ignored) gives the changed paths; only those are hashed through the filter pipeline and
//! edited into HEAD's tree, so the cost follows the change, not the repository. The index is
//! updated for the same paths so `git status` is clean afterwards. A pending merge (MERGE_HEAD,
//! all conflicts resolved) is completed by the save, exactly like `git commit` would.

use anyhow::Result;
use gix::bstr::ByteSlice;
use gix::object::tree::EntryKind;
use gix::refs::transaction::PreviousValue;
use gix::ObjectId;

use crate::error::{Diagnostic, Kind};
use crate::git::commit::{self, NewCommit, Purpose};
use crate::git::index::Row;
use crate::git::refs;
use crate::plan::refnames;
use crate::worktree::entry::{Files, Store};
use crate::worktree::operation::Operation;
use crate::worktree::snapshot::{clear_merge_state, merge_heads};

/// Why a save refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{} path(s) still have merge conflicts", paths.len())]
    Unresolved { paths: Vec<String> },
    #[error("this worktree does not have the lane branch {branch} checked out")]
    NotCheckedOut { branch: String },
    #[error("the lane branch {branch} is missing")]
    BranchMissing { branch: String },
}

impl Diagnostic for SaveError {
    fn kind(&self) -> Kind {
        Kind::User
    }
    fn hint(&self) -> Option<String> {
        match self {
            SaveError::Unresolved { .. } => Some("edit them to resolve the conflict markers, then `git add` them (or run `git commit -a`)".into()),
            SaveError::NotCheckedOut { branch } => Some(format!(
                "check it out again (`git switch {}`), then run the command again",
                refnames::short_branch(branch)
            )),
            SaveError::BranchMissing { .. } => None,
        }
    }
    fn paths(&self) -> Vec<String> {
        match self {
            SaveError::Unresolved { paths } => paths.clone(),
            _ => Vec::new(),
        }
    }
}

/// What `save` did.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The new commit, or `None` when there was nothing to save.
    pub commit: Option<ObjectId>,
    /// Paths that went into the commit.
    pub paths: Vec<String>,
    /// The lane tip before the save.
    pub previous: ObjectId,
    /// Repositories inside the worktree that a save cannot record (not submodules): their
    /// work is theirs, reported so nobody thinks it is saved.
    pub nested: Vec<String>,
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

/// Commit the whole worktree of `repo` (a lane worktree on `branch`) as one WIP commit, in
/// one read-modify-write phase of `op`'s index.
///
/// With `done`, a commit is made even when nothing changed, to carry the handoff trailer.
pub fn save(
    op: &Operation,
    repo: &gix::Repository,
    branch: &str,
    lane_name: &str,
    user_message: Option<&str>,
    done: bool,
) -> Result<Saved> {
    crate::worktree::snapshot::refuse_operation_in_progress(repo)?;
    let mut locked = op.lock_index(repo)?;
    let conflicted = locked.conflicted_paths();
    if !conflicted.is_empty() {
        return Err(SaveError::Unresolved { paths: conflicted }.into());
    }
    // The lane branch must be checked out here. Compare names, not two reads of ids: a
    // `git commit` moving the branch between two reads is no error (it moves HEAD with it,
    // and the compare-and-swap below reports the lost race).
    let checked_out = repo.head_name()?.map(|n| n.as_bstr().to_string());
    if checked_out.as_deref() != Some(branch) {
        return Err(SaveError::NotCheckedOut {
            branch: branch.to_string(),
        }
        .into());
    }
    let head = refs::peel(repo, branch)?.ok_or_else(|| SaveError::BranchMissing {
        branch: branch.to_string(),
    })?;
    let head_tree = repo.find_commit(head)?.tree_id()?.detach();
    let merge_heads = merge_heads(repo)?;
    let status = crate::worktree::snapshot::changes(repo, Some(&locked.file))?;
    let paths = status.paths;

    let mut files = Files::new(repo)?;
    let mut rows: Vec<Row> = Vec::new();
    for path in &paths {
        let found = files.read(path.as_bstr(), locked.state(), Store::Write)?;
        crate::faults::point();
        match found {
            // Nested repositories are not ours to save.
            Some(d) if d.leaf.kind == EntryKind::Commit => {}
            Some(d) => rows.push(Row {
                path: path.clone(),
                entry: Some((d.leaf.id, d.leaf.kind, d.stat)),
            }),
            None => rows.push(Row {
                path: path.clone(),
                entry: None,
            }),
        }
    }
    let mut editor = repo.edit_tree(head_tree)?;
    // Removals first, so a file can turn into a directory in the same save.
    for row in rows.iter().filter(|r| r.entry.is_none()) {
        editor.remove(row.path.as_bstr())?;
    }
    for row in &rows {
        if let Some((id, kind, _)) = row.entry {
            editor.upsert(row.path.as_bstr(), kind, id)?;
        }
    }
    let tree = editor.write()?.detach();
    let saved_paths: Vec<String> = rows
        .iter()
        .map(|r| r.path.to_str_lossy().into_owned())
        .collect();

    crate::error::check_interrupt()?;
    let commit = if tree == head_tree && merge_heads.is_empty() && !done {
        None
    } else {
        let parents: Vec<ObjectId> = std::iter::once(head)
            .chain(merge_heads.iter().copied())
            .collect();
        Some(commit::write(
            repo,
            NewCommit {
                purpose: Purpose::Save,
                message: message(lane_name, user_message, done, saved_paths.len()),
                tree,
                parents,
            },
        )?)
    };

    // The index follows the worktree for every saved path, with fresh stat data.
    locked.rows().set(&rows);
    if let Some(c) = commit {
        refs::cas(
            repo,
            branch,
            PreviousValue::MustExistAndMatch(head.into()),
            c,
            "save",
        )?;
    }
    if rows.is_empty() && commit.is_none() {
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
        nested: status
            .nested
            .iter()
            .map(|p| p.to_str_lossy().into_owned())
            .collect(),
    })
}
