//! What the user has in a worktree: the paths that differ from HEAD (tracked, staged and
//! untracked, ignored files excluded) and the merge state git keeps in the git dir.

use std::collections::BTreeSet;

use anyhow::{Context as _, Result};
use gix::bstr::BString;
use gix::ObjectId;

/// Paths where the worktree or index differ from HEAD, untracked files included, ignored
/// files and nested repositories excluded. `index`: the index the caller already read (under
/// `index.lock`), so status judges the same index the caller will write; `None` reads it.
pub fn dirty_paths(
    repo: &gix::Repository,
    index: Option<&gix::index::File>,
) -> Result<Vec<BString>> {
    use gix::status::index_worktree::Item as IW;
    use gix::status::Item;
    let mut platform = repo.status(gix::progress::Discard)?;
    if let Some(index) = index {
        platform = platform.index(gix::worktree::IndexPersistedOrInMemory::InMemory(
            index.clone(),
        ));
    }
    let iter = platform
        .untracked_files(gix::status::UntrackedFiles::Files)
        .index_worktree_rewrites(None)
        .tree_index_track_renames(gix::status::tree_index::TrackRenames::Disabled)
        .index_worktree_submodules(None)
        .into_iter(None)?;
    let mut out = BTreeSet::new();
    for item in iter {
        match item? {
            Item::IndexWorktree(IW::Modification { rela_path, .. }) => {
                out.insert(rela_path);
            }
            Item::IndexWorktree(IW::DirectoryContents { entry, .. }) => {
                let file_like = matches!(
                    entry.disk_kind,
                    Some(gix::dir::entry::Kind::File) | Some(gix::dir::entry::Kind::Symlink)
                );
                if entry.status == gix::dir::entry::Status::Untracked && file_like {
                    out.insert(entry.rela_path);
                }
            }
            Item::IndexWorktree(IW::Rewrite { .. }) => {}
            Item::TreeIndex(change) => {
                out.insert(change.location().to_owned());
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Does the worktree hold anything `save` would commit?
pub fn is_dirty(repo: &gix::Repository) -> Result<bool> {
    Ok(!dirty_paths(repo, None)?.is_empty())
}

/// The commits named in MERGE_HEAD, if a merge is in progress in this worktree.
pub fn merge_heads(repo: &gix::Repository) -> Result<Vec<ObjectId>> {
    let path = repo.git_dir().join("MERGE_HEAD");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).context("reading MERGE_HEAD"),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| ObjectId::from_hex(l.trim().as_bytes()).context("MERGE_HEAD holds an invalid id"))
        .collect()
}

/// Remove MERGE_HEAD and friends once the merge is committed.
pub fn clear_merge_state(repo: &gix::Repository) {
    for f in ["MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "AUTO_MERGE"] {
        let _ = std::fs::remove_file(repo.git_dir().join(f));
    }
}
