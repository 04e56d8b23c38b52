//! Sparse checkouts: paths outside the checkout stay out of the worktree.
//!
//! A path whose index entry has `SKIP_WORKTREE` (set by `git sparse-checkout`, or by hand
//! with `git update-index --skip-worktree`) is not on disk on purpose: a transition changes
//! its index entry and keeps the flag, never writes it, never calls its absence a local
//! change. A path new to the index gets the flag when the worktree's sparse-checkout
//! patterns (`<git-dir>/info/sparse-checkout`, cone or not, as `core.sparseCheckout` and
//! `core.sparseCheckoutCone` say) exclude it, as git's merge does. Conflicted paths are
//! written anyway, as git writes them, so the user can resolve them.
//!
//! gix evaluates the patterns (`gix::worktree::sparse`); a sparse *index* (`index.sparse`,
//! directory entries) is refused with what to run instead.

use std::collections::BTreeSet;

use anyhow::Result;
use gix::bstr::{BString, ByteSlice};
use gix::index::entry::{Flags, Stage, Stat};

use super::diff::PathChange;

/// The changed paths of `changes` that stay out of `repo`'s worktree (see the module docs);
/// `materialised`: paths that are written whatever the patterns say (conflicts).
pub fn skipped(
    repo: &gix::Repository,
    index: &gix::index::State,
    changes: &[PathChange],
    materialised: &BTreeSet<&[u8]>,
) -> Result<BTreeSet<BString>> {
    let mut out = BTreeSet::new();
    let mut new_paths = Vec::new();
    for c in changes {
        if materialised.contains(c.path.as_slice()) {
            continue;
        }
        match index.entry_by_path_and_stage(c.path.as_bstr(), Stage::Unconflicted) {
            Some(e) if e.flags.contains(Flags::SKIP_WORKTREE) => {
                out.insert(c.path.clone());
            }
            Some(_) => {}
            None => {
                if let Some(new) = c.new {
                    new_paths.push((c.path.clone(), new));
                }
            }
        }
    }
    if new_paths.is_empty() {
        return Ok(out);
    }
    let config = repo.config_snapshot();
    if !config.boolean("core.sparseCheckout").unwrap_or(false) {
        return Ok(out);
    }
    let Some(patterns) = gix::worktree::sparse::read_patterns(repo.git_dir())? else {
        return Ok(out);
    };
    let cone = config.boolean("core.sparseCheckoutCone").unwrap_or(false);
    let case = if repo.filesystem_options()?.ignore_case {
        gix::glob::pattern::Case::Fold
    } else {
        gix::glob::pattern::Case::Sensitive
    };
    // The patterns judge index entries: judge the new paths as such.
    let mut probe = gix::index::State::new(repo.object_hash());
    for (path, leaf) in &new_paths {
        probe.dangerously_push_entry(
            Stat::default(),
            leaf.id,
            Flags::empty(),
            crate::git::index::index_mode(leaf.kind),
            path.as_bstr(),
        );
    }
    probe.sort_entries();
    gix::worktree::sparse::apply_patterns(
        &mut probe,
        &patterns,
        &repo.git_dir().join("info/sparse-checkout"),
        cone,
        case,
    )?;
    for e in probe.entries() {
        if e.flags.contains(Flags::SKIP_WORKTREE) {
            out.insert(e.path(&probe).to_owned());
        }
    }
    Ok(out)
}
