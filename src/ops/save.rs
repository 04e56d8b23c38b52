//! `save`: turn the whole worktree into one WIP commit on the lane branch.
//!
//! Status of the worktree (tracked changes, staged changes and untracked files that are not
//! ignored) gives the changed paths; only those are hashed through the filter pipeline and
//! edited into HEAD's tree, so the cost follows the change, not the repository. The index is
//! updated for the same paths so `git status` is clean afterwards. A pending merge (MERGE_HEAD,
//! all conflicts resolved) is completed by the save, exactly like `git commit` would.

use anyhow::{Context as _, Result};
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
        // One trailer block: the handoff joins the message's own trailers, if it has any.
        let (head, mut block) = crate::ops::message::split_trailers(&subject);
        block.push(refnames::trailers::DONE.to_string());
        format!("{head}\n\n{}\n", block.join("\n"))
    } else {
        format!("{subject}\n")
    }
}

/// The index rows that record what is on disk at each of `paths` (blobs written).
fn rows_of(
    repo: &gix::Repository,
    paths: &[gix::bstr::BString],
    index: &gix::index::State,
) -> Result<Vec<Row>> {
    let root = repo.workdir().context("a worktree is needed")?.to_owned();
    let mut files = Files::with_index(repo, root, index)?;
    let mut rows: Vec<Row> = Vec::new();
    for path in paths {
        // Outside a sparse checkout: what the index has stays, flag included.
        if let Some(e) =
            index.entry_by_path_and_stage(path.as_bstr(), gix::index::entry::Stage::Unconflicted)
        {
            if e.flags.contains(gix::index::entry::Flags::SKIP_WORKTREE) {
                if let Some(kind) = crate::git::index::kind_of_mode(e.mode) {
                    rows.push(Row {
                        path: path.clone(),
                        entry: Some((e.id, kind, e.stat)),
                        skip_worktree: true,
                    });
                    continue;
                }
            }
        }
        let found = files.read(path.as_bstr(), index, Store::Write)?;
        crate::faults::point();
        let gitlink = matches!(
            crate::git::index::stage0(index, path.as_bstr()),
            Some((_, Some(EntryKind::Commit)))
        );
        match found {
            // A submodule's checked-out commit is what `git commit -a` records for it; other
            // repositories inside the worktree are not ours to save (reported instead).
            Some(d) if d.leaf.kind == EntryKind::Commit && !gitlink => {}
            Some(d) => rows.push(Row {
                path: path.clone(),
                entry: Some((d.leaf.id, d.leaf.kind, d.stat)),
                skip_worktree: false,
            }),
            // An uninitialised submodule (an empty directory) keeps its gitlink, staged
            // bumps included: only a missing directory is a deletion.
            None if gitlink && files.abs(path.as_bstr())?.is_dir() => {
                let (id, _) = crate::git::index::stage0(index, path.as_bstr()).expect("checked");
                rows.push(Row {
                    path: path.clone(),
                    entry: Some((id, EntryKind::Commit, Default::default())),
                    skip_worktree: false,
                })
            }
            None => rows.push(Row {
                path: path.clone(),
                entry: None,
                skip_worktree: false,
            }),
        }
    }
    Ok(rows)
}

/// `git config wtc.preCommitOnSave true`: `wtc save` and `wtc done` run the pre-commit hook
/// first, as `git commit -a` would (autosaves never do: a failing lint must not stop work
/// from flowing). The hook sees an index with everything the save would commit staged
/// (`GIT_INDEX_FILE`), no `index.lock` is held while it runs, and what it changes in the
/// worktree (a formatter) is part of the save. A failing hook refuses the save.
pub fn run_pre_commit(repo: &gix::Repository) -> Result<()> {
    use crate::git::hooks::{self, Ran};
    let enabled = repo
        .config_snapshot()
        .boolean(crate::plan::settings::PRE_COMMIT_ON_SAVE)
        .unwrap_or(false);
    if !enabled || !hooks::verify_hooks_enabled() || hooks::find(repo, "pre-commit")?.is_none() {
        return Ok(());
    }
    let snapshot = repo.index_or_empty()?;
    let mut index: gix::index::File = (**snapshot).clone();
    let status = crate::worktree::snapshot::changes(repo, Some(&index), None)?;
    let rows = rows_of(repo, &status.paths, &index)?;
    crate::git::index::edit(&mut index).set(&rows);
    let path = repo.git_dir().join("wtc-pre-commit.index");
    index.remove_tree();
    let buf = crate::git::index::encode_new(&mut index, repo, false)?;
    std::fs::write(&path, &buf)?;
    let ran = hooks::run(
        repo,
        "pre-commit",
        &[],
        &[
            ("GIT_INDEX_FILE", path.clone().into_os_string()),
            ("GIT_EDITOR", ":".into()),
        ],
    );
    let _ = std::fs::remove_file(&path);
    if let Ran::Failed { status } = ran? {
        return Err(crate::git::Error::HookRejected {
            hook: "pre-commit",
            status,
            what: "the save",
        }
        .into());
    }
    Ok(())
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
    save_scoped(op, repo, branch, lane_name, user_message, done, None)
}

/// [`save`] restricted to `paths` (files, or directories and everything below them): what
/// sync autosaves where the incoming lanes write, leaving other local work uncommitted.
pub fn save_paths(
    op: &Operation,
    repo: &gix::Repository,
    branch: &str,
    lane_name: &str,
    user_message: Option<&str>,
    paths: &[gix::bstr::BString],
) -> Result<Saved> {
    save_scoped(
        op,
        repo,
        branch,
        lane_name,
        user_message,
        false,
        Some(paths),
    )
}

fn save_scoped(
    op: &Operation,
    repo: &gix::Repository,
    branch: &str,
    lane_name: &str,
    user_message: Option<&str>,
    done: bool,
    only: Option<&[gix::bstr::BString]>,
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
    let status = crate::worktree::snapshot::changes(repo, Some(&locked.file), only)?;
    let paths = status.paths;

    let _t = crate::trace::span("save: rows, tree, commit");
    let r = crate::trace::span("save: rows");
    let rows = rows_of(repo, &paths, locked.state())?;
    drop(r);
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

    drop(_t);
    // The index follows the worktree for every saved path, with fresh stat data.
    let rows_span = crate::trace::span("save: index rows, ref");
    locked.rows().set(&rows);
    // Files found unchanged after hashing get their fresh stat data (as `git status` and
    // `git commit` refresh the index): neither a later command hashes them again, nor is
    // a racily clean one smudged when this index is written.
    locked.rows().refresh(&status.refreshed);
    if let Some(c) = commit {
        refs::cas(
            repo,
            branch,
            PreviousValue::MustExistAndMatch(head.into()),
            c,
            &{
                let subject = message(lane_name, user_message, done, saved_paths.len());
                let subject = subject.lines().next().unwrap_or_default();
                match (done, user_message.is_some_and(|m| !m.trim().is_empty())) {
                    (true, false) => "done".to_string(),
                    (true, true) => format!("done: {subject}"),
                    (false, _) => format!("save: {subject}"),
                }
            },
        )?;
    }
    drop(rows_span);
    if rows.is_empty() && commit.is_none() {
        drop(locked); // nothing changed: leave the index file alone
    } else {
        locked.commit(repo)?;
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

#[cfg(test)]
mod tests {
    use super::message;

    #[test]
    fn the_handoff_trailer_joins_the_messages_own_block() {
        assert_eq!(message("a", None, true, 0), "done: a\n\nWtc-State: done\n");
        assert_eq!(
            message("a", Some("Add x\n\nSigned-off-by: A <a@x>"), true, 1),
            "Add x\n\nSigned-off-by: A <a@x>\nWtc-State: done\n"
        );
        assert_eq!(message("a", None, false, 2), "wip: a (2 files)\n");
    }
}
