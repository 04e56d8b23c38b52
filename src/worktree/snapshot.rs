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
    Ok(changes(repo, index, None)?.paths)
}

/// What a status of the worktree found.
#[derive(Debug, Default)]
pub struct Changes {
    /// Paths where the worktree or index differ from HEAD (untracked files included).
    pub paths: Vec<BString>,
    /// Untracked directories holding a repository of their own: never saved (they are not
    /// the lane's), reported.
    pub nested: Vec<BString>,
    /// Tracked files whose stat data moved (or that the index could not vouch for: racily
    /// clean) and whose content, hashed, is still their entry's: their fresh stat data, for
    /// an index written next (git's refresh), so that no later command hashes them again.
    pub refreshed: Refreshed,
}

/// Paths found unchanged after hashing, with the stat data taken before each was read.
pub type Refreshed = Vec<(BString, gix::index::entry::Stat)>;

/// The status of `repo`'s worktree (see [`dirty_paths`]), nested repositories apart; with
/// `only`, of those paths (each one a file, or a directory and everything below it).
pub fn changes(
    repo: &gix::Repository,
    index: Option<&gix::index::File>,
    only: Option<&[BString]>,
) -> Result<Changes> {
    let _t = crate::trace::span("status");
    use gix::status::Item;
    // One index for both the cache-tree's answer and the status: another read could see a
    // `git add` made in between that the first did not.
    let shared = match index {
        Some(_) => None,
        None => Some(repo.index_or_empty()?),
    };
    let state: &gix::index::State = match (index, &shared) {
        (Some(index), _) => index,
        (None, Some(shared)) => shared,
        (None, None) => unreachable!("read above"),
    };
    let index_is_head = index_is_head(repo, state)?;
    // The whole worktree's untracked files come from our cached walk when it can answer
    // (gix's walk reads every directory every time); a status of some paths walks only
    // those, through gix.
    let cached_walk = only.is_none() && super::untracked::enabled(repo)? && !state.is_sparse();
    // gix's status, made only when it has something to look at (handing it the caller's
    // index copies all of its entries).
    let platform = || -> Result<_> {
        Ok(repo
            .status(gix::progress::Discard)?
            .index(match (index, &shared) {
                (Some(index), _) => {
                    gix::worktree::IndexPersistedOrInMemory::InMemory(index.clone())
                }
                (None, shared) => gix::worktree::IndexPersistedOrInMemory::Persisted(
                    shared.clone().expect("read"),
                ),
            })
            .untracked_files(match cached_walk {
                true => gix::status::UntrackedFiles::None,
                false => gix::status::UntrackedFiles::Files,
            })
            .index_worktree_rewrites(None)
            .tree_index_track_renames(gix::status::tree_index::TrackRenames::Disabled)
            .index_worktree_submodules(None))
    };
    let mut out = BTreeSet::new();
    let mut nested = BTreeSet::new();
    let mut refreshed = Vec::new();
    std::thread::scope(|scope| -> Result<()> {
        // The untracked walk runs beside the status of tracked files (both mostly wait for
        // the kernel's path lookups); a thread gets its own handle on the repository.
        let walk = cached_walk.then(|| {
            let repo = repo.clone();
            scope.spawn(move || super::untracked::find(&repo, state))
        });
        // When the index is HEAD's tree, only the tracked files whose stat data moved can
        // differ: a pre-pass names them, and gix looks at those alone.
        let named = match (cached_walk && index_is_head, repo.workdir()) {
            (true, Some(root)) => super::tracked::candidates(root, state),
            _ => None,
        };
        // The few paths the pre-pass names are judged here when it models every one of
        // them: gix's status of a handful of paths still copies the index and matches every
        // entry against the pathspec (30 ms at 100k entries).
        let judged = match named.as_deref() {
            Some(named) => judge_named(repo, state, named)?,
            None => None,
        };
        if let Some((changed, fresh)) = judged {
            out.extend(changed);
            refreshed = fresh;
        } else {
            let _g = crate::trace::span("status: gix");
            let paths = named.as_deref().or(only);
            // Literal pathspecs: a file name with `*` or `[` is that name, not a glob.
            let patterns = paths
                .map(|paths| {
                    paths
                        .iter()
                        .map(|p| {
                            let mut spec = BString::from(":(literal)");
                            spec.extend_from_slice(p);
                            spec
                        })
                        .collect::<Vec<_>>()
                })
                .into_iter()
                .flatten();
            // The comparison of HEAD's tree with the index builds the whole tree as an index:
            // skip it when the index's cache-tree already says the index IS HEAD's tree.
            let iter: Box<dyn Iterator<Item = Result<Item>>> = match (index_is_head, &named) {
                (true, Some(named)) if named.is_empty() => Box::new(std::iter::empty()),
                (true, _) => Box::new(
                    platform()?
                        .into_index_worktree_iter(patterns)?
                        .map(|r| r.map(Item::IndexWorktree).map_err(Into::into)),
                ),
                (false, _) => Box::new(
                    platform()?
                        .into_iter(patterns)?
                        .map(|r| r.map_err(Into::into)),
                ),
            };
            tracked_changes(iter, &mut out, &mut nested)?;
        }
        if let Some(walk) = walk {
            let found = walk.join().expect("the untracked walk does not panic")?;
            out.extend(found.files);
            nested.extend(found.nested);
        }
        Ok(())
    })?;
    // Gitlinks: what `git commit -a` records (gix's status sees only those in .gitmodules).
    if let Some(root) = repo.workdir() {
        out.extend(
            super::submodules::changed_gitlinks(root, state)
                .into_iter()
                .filter(|g| {
                    only.is_none_or(|paths| {
                        paths.iter().any(|p| {
                            g == p || (g.starts_with(p.as_slice()) && g.get(p.len()) == Some(&b'/'))
                        })
                    })
                }),
        );
    }
    Ok(Changes {
        paths: out.into_iter().collect(),
        nested: nested.into_iter().collect(),
        refreshed,
    })
}

/// Which of `named` (paths of stage-0 entries whose stat data moved, from
/// [`super::tracked::candidates`]) hold something other than their index entry: the file's
/// content as git would store it (clean filters applied) and its kind, against the entry's
/// id and mode, exactly what gix's status compares once the stat data differs. A missing
/// file, or a directory in its place, is a change (the untracked walk finds what is inside).
/// `None` when an entry is not a plain file or symlink without flags (gitlinks,
/// skip-worktree, assume-valid, intent-to-add): gix judges those.
fn judge_named(
    repo: &gix::Repository,
    index: &gix::index::State,
    named: &[BString],
) -> Result<Option<(Vec<BString>, Refreshed)>> {
    use gix::bstr::ByteSlice as _;
    use gix::index::entry::Stage;
    let _t = crate::trace::span("status: judge the named paths");
    let mut entries = Vec::with_capacity(named.len());
    for path in named {
        let Some(e) = index.entry_by_path_and_stage(path.as_bstr(), Stage::Unconflicted) else {
            return Ok(None);
        };
        if !super::tracked::modelled(e) {
            return Ok(None);
        }
        entries.push((path, e.id, crate::git::index::kind_of_mode(e.mode)));
    }
    let mut files = super::entry::Files::with_index(
        repo,
        repo.workdir().context("a worktree is needed")?.to_owned(),
        index,
    )?;
    let mut changed = Vec::new();
    let mut refreshed = Vec::new();
    for (path, id, kind) in entries {
        let disk = files.read(path.as_bstr(), index, super::entry::Store::HashOnly)?;
        match disk {
            Some(d) if (d.leaf.id, Some(d.leaf.kind)) == (id, kind) => {
                refreshed.push((path.clone(), d.stat));
            }
            _ => changed.push(path.clone()),
        }
    }
    Ok(Some((changed, refreshed)))
}

/// Collect what gix's status found: changed paths into `out`, nested repositories apart.
fn tracked_changes(
    iter: Box<dyn Iterator<Item = Result<gix::status::Item>> + '_>,
    out: &mut BTreeSet<BString>,
    nested: &mut BTreeSet<BString>,
) -> Result<()> {
    use gix::status::index_worktree::Item as IW;
    use gix::status::Item;
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
                } else if entry.status == gix::dir::entry::Status::Untracked
                    && entry.disk_kind == Some(gix::dir::entry::Kind::Repository)
                {
                    nested.insert(entry.rela_path);
                }
            }
            Item::IndexWorktree(IW::Rewrite { .. }) => {}
            Item::TreeIndex(change) => {
                out.insert(change.location().to_owned());
            }
        }
    }
    Ok(())
}

/// Does the cache-tree of `index` say the index holds
/// exactly HEAD's tree? Its root is valid only while its id is the tree of every entry (git
/// and wtc invalidate it on any edit; a conflict or an intent-to-add entry keeps it invalid).
fn index_is_head(repo: &gix::Repository, index: &gix::index::State) -> Result<bool> {
    let head = repo.head_tree_id_or_empty()?.detach();
    Ok(index
        .tree()
        .is_some_and(|t| t.num_entries.is_some() && t.id == head))
}

/// Does the worktree hold anything `save` would commit?
pub fn is_dirty(repo: &gix::Repository) -> Result<bool> {
    Ok(!dirty_paths(repo, None)?.is_empty())
}

/// A git operation in progress in a worktree (its state files in the worktree's git dir).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InProgress {
    /// A merge that is not one of wtc's own conflicted syncs.
    Merge,
    CherryPick,
    Revert,
    Rebase,
    /// `git am` applying patches.
    Am,
    Bisect,
}

impl InProgress {
    /// What it is, for messages ("a cherry-pick").
    pub fn what(self) -> &'static str {
        match self {
            InProgress::Merge => "a merge (not one of wtc's syncs)",
            InProgress::CherryPick => "a cherry-pick",
            InProgress::Revert => "a revert",
            InProgress::Rebase => "a rebase",
            InProgress::Am => "`git am`",
            InProgress::Bisect => "a bisect",
        }
    }

    /// How to finish or give it up.
    pub fn how_to_finish(self) -> &'static str {
        match self {
            InProgress::Merge => "finish it with `git commit` (or give it up with `git merge --abort`)",
            InProgress::CherryPick => "finish it with `git cherry-pick --continue` (or give it up with `git cherry-pick --abort`)",
            InProgress::Revert => "finish it with `git revert --continue` (or give it up with `git revert --abort`)",
            InProgress::Rebase => "finish it with `git rebase --continue` (or give it up with `git rebase --abort`)",
            InProgress::Am => "finish it with `git am --continue` (or give it up with `git am --abort`)",
            InProgress::Bisect => "end it with `git bisect reset`",
        }
    }
}

/// The git operation in progress in `repo`'s worktree, if any. wtc's own conflicted sync
/// (a merge whose MERGE_MSG wtc wrote) does not count: `save` and `git commit` finish it.
pub fn in_progress(repo: &gix::Repository) -> Option<InProgress> {
    let git_dir = repo.git_dir();
    let exists = |name: &str| git_dir.join(name).exists();
    if exists("rebase-merge") {
        return Some(InProgress::Rebase);
    }
    if exists("rebase-apply") {
        return Some(if exists("rebase-apply/applying") {
            InProgress::Am
        } else {
            InProgress::Rebase
        });
    }
    if exists("CHERRY_PICK_HEAD") {
        return Some(InProgress::CherryPick);
    }
    if exists("REVERT_HEAD") {
        return Some(InProgress::Revert);
    }
    if exists("BISECT_LOG") {
        return Some(InProgress::Bisect);
    }
    if exists("MERGE_HEAD") && !is_wtc_merge(repo) {
        return Some(InProgress::Merge);
    }
    None
}

/// Is the merge in progress one of wtc's own conflicted syncs (MERGE_MSG written by wtc)?
fn is_wtc_merge(repo: &gix::Repository) -> bool {
    std::fs::read_to_string(repo.git_dir().join("MERGE_MSG"))
        .is_ok_and(|m| m.starts_with(SYNC_MERGE_SUBJECT))
}

/// The subject of every merge commit (and MERGE_MSG) a sync writes.
pub const SYNC_MERGE_SUBJECT: &str = "sync: merge ";

/// Refuse to touch a worktree in the middle of a git operation: saving or syncing there
/// would commit its half-done state or leave its state files stale.
pub fn refuse_operation_in_progress(repo: &gix::Repository) -> Result<()> {
    match in_progress(repo) {
        Some(op) => Err(super::Error::OperationInProgress {
            operation: op,
            worktree: repo.workdir().unwrap_or(repo.git_dir()).to_owned(),
        }
        .into()),
        None => Ok(()),
    }
}

/// The branch a rebase in progress in `repo`'s worktree is rebasing (full name), if any.
pub fn rebasing_branch(repo: &gix::Repository) -> Option<String> {
    ["rebase-merge/head-name", "rebase-apply/head-name"]
        .iter()
        .find_map(|f| std::fs::read_to_string(repo.git_dir().join(f)).ok())
        .map(|s| s.trim().to_string())
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
