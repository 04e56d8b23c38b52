//! What a fold needs in a shallow or partial clone, fetched before it runs.
//!
//! A fold merges with merge bases; in a shallow clone (`--depth 1`, the CI default) the
//! history down to them may be cut off, and git (like wtc's [`crate::git::ancestry`]) treats
//! the shallow boundary as roots: no merge base, or a wrong one. A merge base is never
//! replaced by the empty tree (that turned a lane's deletion into nothing). So before a fold
//! [`ensure`] checks that the plan's base is reachable from every commit the fold starts
//! from, and when it is not, fetches exactly that history: the base itself, then everything
//! since its time (`--shallow-since`), then more (`--deepen`), then all of it.
//!
//! In a partial clone (`--filter=blob:none`) the blobs a merge reads (every leaf the lanes and
//! the target changed since the base, on both sides) may be missing: gix never fetches them
//! lazily, so they are fetched by id in one round trip ([`crate::git::backfill`]).

use anyhow::Result;
use gix::ObjectId;

use crate::error::{Diagnostic, Kind};
use crate::git::backfill;
use crate::worktree::diff;

/// The history or the blobs a fold needs cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("this shallow clone lacks the history down to the plan's base {base}, and {remote} could not serve it ({why}); nothing was changed")]
    Unavailable {
        base: String,
        remote: String,
        why: String,
    },
    #[error("this shallow clone lacks the history down to the plan's base {base}, and the plan has no remote to fetch it from; nothing was changed")]
    NoRemote { base: String },
    #[error("{count} blob(s) this merge needs are missing from this partial clone, and {remote} could not serve them ({why}); nothing was changed")]
    Blobs {
        count: usize,
        remote: String,
        why: String,
    },
}

impl Diagnostic for HistoryError {
    fn kind(&self) -> Kind {
        Kind::User
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            HistoryError::Unavailable { remote, .. } => format!(
                "fetch the history yourself (`git fetch --unshallow {remote}`), or clone with more depth, then run the command again"
            ),
            HistoryError::NoRemote { .. } => "fetch more history (`git fetch --unshallow`), then run the command again".into(),
            HistoryError::Blobs { remote, .. } => format!(
                "check that {remote} is reachable and serves partial clones (`git fetch {remote}`), or clone without --filter"
            ),
        })
    }
}

/// Make sure a fold from `commits` (its start and every tip) onto the plan's `base` has
/// what it needs in `repo`: history in a shallow clone, blobs in a partial one, fetched from
/// `remote`. Nothing happens (and nothing is read) in a full clone.
pub fn ensure(
    repo: &gix::Repository,
    remote: Option<&str>,
    base: ObjectId,
    commits: &[ObjectId],
) -> Result<()> {
    if repo.is_shallow()? {
        ensure_history(repo, remote, base, commits)?;
    }
    if let Some(promisor) = promisor_remote(repo, remote) {
        ensure_blobs(repo, &promisor, base, commits)?;
    }
    Ok(())
}

/// Is the base present and reachable from each of `commits` without crossing the shallow
/// boundary?
fn reaches_base(repo: &gix::Repository, base: ObjectId, commits: &[ObjectId]) -> Result<bool> {
    if !repo.has_object(base) {
        return Ok(false);
    }
    for c in commits {
        if !crate::git::ancestry::is_ancestor(repo, base, *c)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn ensure_history(
    repo: &gix::Repository,
    remote: Option<&str>,
    base: ObjectId,
    commits: &[ObjectId],
) -> Result<()> {
    if reaches_base(repo, base, commits)? {
        return Ok(());
    }
    let Some(remote) = remote else {
        return Err(HistoryError::NoRemote {
            base: base.to_string(),
        }
        .into());
    };
    let fail = |why: String| -> anyhow::Error {
        HistoryError::Unavailable {
            base: base.to_string(),
            remote: remote.to_string(),
            why,
        }
        .into()
    };
    if !repo.has_object(base) {
        backfill::fetch_commit(repo, remote, base)?.map_err(fail)?;
    }
    let time = repo
        .find_commit(base)?
        .committer()
        .map(|c| c.seconds())
        .unwrap_or(0);
    // Everything since the base's time: usually exactly the history between.
    let mut last = backfill::deepen_since(repo, remote, time.saturating_sub(1), commits)?;
    if last.is_ok() && reaches_base(repo, base, commits)? {
        return Ok(());
    }
    // Commit dates out of order (rebases, clocks): deepen by count, then give in.
    for depth in [64, 1024] {
        last = backfill::deepen_by(repo, remote, depth, commits)?;
        if last.is_ok() && reaches_base(repo, base, commits)? {
            return Ok(());
        }
    }
    last = backfill::unshallow(repo, remote)?;
    if last.is_ok() && reaches_base(repo, base, commits)? {
        return Ok(());
    }
    Err(fail(last.err().unwrap_or_else(|| {
        "the plan's base is not an ancestor of every lane".into()
    })))
}

/// The promisor remote of a partial clone, preferring the plan's.
fn promisor_remote(repo: &gix::Repository, plan_remote: Option<&str>) -> Option<String> {
    let config = repo.config_snapshot();
    let is_promisor = |r: &str| {
        config
            .boolean(format!("remote.{r}.promisor").as_str())
            .unwrap_or(false)
    };
    if let Some(r) = plan_remote.filter(|r| is_promisor(r)) {
        return Some(r.to_string());
    }
    config
        .string("extensions.partialClone")
        .map(|v| v.to_string())
}

fn ensure_blobs(
    repo: &gix::Repository,
    remote: &str,
    base: ObjectId,
    commits: &[ObjectId],
) -> Result<()> {
    let base_tree = repo.find_commit(base)?.tree_id()?.detach();
    let mut missing = std::collections::BTreeSet::new();
    for c in commits {
        let tree = repo.find_commit(*c)?.tree_id()?.detach();
        for change in diff::diff_trees(repo, base_tree, tree)? {
            for leaf in [change.old, change.new].into_iter().flatten() {
                if leaf.kind != gix::object::tree::EntryKind::Commit && !repo.has_object(leaf.id) {
                    missing.insert(leaf.id);
                }
            }
        }
    }
    fetch_missing(repo, remote, missing.into_iter().collect())
}

/// Every blob of `tree` missing from a partial clone, fetched (what `squash --verify`
/// writes out in full).
pub fn ensure_tree_blobs(
    repo: &gix::Repository,
    remote: Option<&str>,
    tree: ObjectId,
) -> Result<()> {
    let Some(promisor) = promisor_remote(repo, remote) else {
        return Ok(());
    };
    let empty = ObjectId::empty_tree(repo.object_hash());
    let missing: Vec<ObjectId> = diff::diff_trees(repo, empty, tree)?
        .into_iter()
        .filter_map(|c| c.new)
        .filter(|l| l.kind != gix::object::tree::EntryKind::Commit && !repo.has_object(l.id))
        .map(|l| l.id)
        .collect();
    fetch_missing(repo, &promisor, missing)
}

fn fetch_missing(repo: &gix::Repository, remote: &str, missing: Vec<ObjectId>) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let count = missing.len();
    backfill::fetch_blobs(repo, remote, &missing)?.map_err(|why| HistoryError::Blobs {
        count,
        remote: remote.to_string(),
        why,
    })?;
    Ok(())
}
