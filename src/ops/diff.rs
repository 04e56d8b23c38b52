//! `diff`: what ONE lane changed, apart from what it brought in from its upstream lanes, or
//! what the whole integration would land on the target.
//!
//! A lane's own work is its tip against the merge of the upstream work it contains: for each
//! upstream lane (transitively), the newest of its commits the lane's tip reaches (its tip,
//! or its merge base with the lane's tip when the lane synced an older state), folded onto
//! the plan's base in memory with the squash fold (`ops::merge::fold`). A conflict the lane
//! resolved while syncing shows as the lane's own change. The integration is the target's
//! tip against the fold onto it of the current tip of every lane that has not landed yet
//! (`ops::landed`): what `squash --unfinished` would land. Nothing is written: the folds live in an in-memory object store, and the
//! patches are made here, from that store, with gix's blob diff.

use anyhow::Result;
use gix::bstr::ByteSlice;
use gix::diff::blob::unified_diff::{ConsumeHunk, ContextSize, DiffLineKind, HunkHeader};
use gix::object::tree::EntryKind;
use gix::ObjectId;
use serde::Serialize;

use crate::error::{Diagnostic, Kind};
use crate::git::ancestry;
use crate::git::worktrees::Workspace;
use crate::ops::merge::{self, Folded, Tip};
use crate::plan::lanes as lane;
use crate::plan::{settings, Plan};
use crate::worktree::diff::{self as tree_diff, Leaf};

/// Why a diff could not be computed; nothing was written either way.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("lane '{lane}' has no branch")]
    LaneMissing { lane: String },
    #[error("the target branch '{target}' does not exist")]
    TargetMissing { target: String },
    #[error("the upstream lanes of '{lane}' conflict with each other ({}), so the lane's own work cannot be told apart", paths.join(", "))]
    UpstreamConflict { lane: String, paths: Vec<String> },
    #[error(
        "lane '{lane}' conflicts with the lanes folded before it; the integration cannot be shown"
    )]
    Conflict { lane: String, paths: Vec<String> },
}

impl Diagnostic for DiffError {
    fn kind(&self) -> Kind {
        match self {
            DiffError::Conflict { .. } => Kind::Conflict,
            _ => Kind::User,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            DiffError::LaneMissing { .. } => "recreate it or `wtc rm` it".into(),
            DiffError::TargetMissing { .. } => "create it, or re-create the plan".into(),
            DiffError::UpstreamConflict { .. } => {
                "`git diff` between the plan's base and the lane's branch shows everything it holds"
                    .into()
            }
            DiffError::Conflict { lane, .. } => format!(
                "make one lane come after the other and resolve there (`wtc sync` in '{lane}')"
            ),
        })
    }
    fn paths(&self) -> Vec<String> {
        match self {
            DiffError::UpstreamConflict { paths, .. } | DiffError::Conflict { paths, .. } => {
                paths.clone()
            }
            _ => Vec::new(),
        }
    }
}

/// One changed path.
#[derive(Debug, Clone, Serialize)]
pub struct FileDiff {
    /// Relative to the repository's root.
    pub path: String,
    /// `added`, `deleted`, `modified` (content, mode or both) or `type-changed` (a file
    /// became a symlink or a submodule, or back).
    pub status: &'static str,
    pub additions: u32,
    pub deletions: u32,
    pub binary: bool,
    #[serde(skip)]
    pub old: Option<Leaf>,
    #[serde(skip)]
    pub new: Option<Leaf>,
    /// The hunks, git-style (`@@ -a,b +c,d @@` lines and `+`/`-`/` ` lines), empty for
    /// binary files and pure mode changes.
    #[serde(skip)]
    pub hunks: Vec<u8>,
}

/// What `diff` compares.
#[derive(Debug, Clone, Serialize)]
pub struct Diffed {
    /// The lane whose own work this is; `None` for the whole integration.
    pub lane: Option<String>,
    /// The tree compared from (the upstream work the lane contains, or the target's tip).
    pub from: String,
    /// The tree compared to (the lane's tip, or what squash would land).
    pub to: String,
    pub files: Vec<FileDiff>,
    pub additions: u32,
    pub deletions: u32,
}

/// What to compare and which paths to show (repository-relative; a directory names every
/// path under it; empty: all).
pub struct DiffOptions<'a> {
    pub lane: Option<&'a str>,
    pub paths: &'a [String],
}

pub fn diff(ws: &Workspace, plan: &Plan, opts: &DiffOptions) -> Result<Diffed> {
    let repo = &ws.repo;
    let remote = settings::remote_of(repo, &plan.name);
    let mem = merge::memory_repo(repo);
    let (from, to) = match opts.lane {
        Some(l) => lane_trees(&mem, plan, l, remote.as_deref())?,
        None => integration_trees(&mem, plan, remote.as_deref())?,
    };
    let mut files = Vec::new();
    for change in tree_diff::diff_trees(&mem, from, to)? {
        let path = change.path.to_str_lossy().into_owned();
        if !selected(&path, opts.paths) {
            continue;
        }
        files.push(file_diff(&mem, path, change.old, change.new)?);
    }
    Ok(Diffed {
        lane: opts.lane.map(str::to_string),
        from: from.to_string(),
        to: to.to_string(),
        additions: files.iter().map(|f| f.additions).sum(),
        deletions: files.iter().map(|f| f.deletions).sum(),
        files,
    })
}

/// Is `path` one of `wanted`, or under one of them?
fn selected(path: &str, wanted: &[String]) -> bool {
    wanted.is_empty()
        || wanted.iter().any(|w| {
            let w = w.trim_end_matches('/');
            w.is_empty() || path == w || path.strip_prefix(w).is_some_and(|r| r.starts_with('/'))
        })
}

/// The upstream work `lane` contains (folded in memory) and its tip, as trees.
fn lane_trees(
    mem: &gix::Repository,
    plan: &Plan,
    lane_name: &str,
    remote: Option<&str>,
) -> Result<(ObjectId, ObjectId)> {
    plan.require_lane(lane_name)?;
    let tip = lane::tip(mem, &plan.name, lane_name)?.ok_or_else(|| DiffError::LaneMissing {
        lane: lane_name.to_string(),
    })?;
    let base = plan.base_id();
    let mut upstream = Vec::new();
    for up in plan.upstream_closure(lane_name) {
        let Some(up_tip) = lane::tip(mem, &plan.name, &up.name)? else {
            continue;
        };
        // The newest of the upstream lane's commits the tip reaches.
        let contained = match ancestry::is_ancestor(mem, up_tip, tip)? {
            true => Some(up_tip),
            false => ancestry::merge_bases(mem, up_tip, tip)?.first().copied(),
        };
        if let Some(c) = contained.filter(|c| *c != base) {
            if !ancestry::is_ancestor(mem, c, base)? {
                upstream.push(Tip {
                    lane: up.name.clone(),
                    commit: c,
                });
            }
        }
    }
    let commits: Vec<ObjectId> = std::iter::once(tip)
        .chain(upstream.iter().map(|t| t.commit))
        .collect();
    crate::ops::history::ensure(mem, remote, base, &commits)?;
    let from = match merge::fold(mem, base, &upstream, "base")? {
        Folded::Clean { tree, .. } => tree,
        Folded::Conflict { outcome, .. } => {
            return Err(DiffError::UpstreamConflict {
                lane: lane_name.to_string(),
                paths: merge::conflicted_paths(&outcome),
            }
            .into())
        }
    };
    Ok((from, merge::tree_of(mem, tip)?))
}

/// The target's tip and what squash would land on it, as trees.
fn integration_trees(
    mem: &gix::Repository,
    plan: &Plan,
    remote: Option<&str>,
) -> Result<(ObjectId, ObjectId)> {
    let target = crate::git::refs::peel(mem, &crate::plan::refnames::branch(&plan.target))?
        .ok_or_else(|| DiffError::TargetMissing {
            target: plan.target.clone(),
        })?;
    // Lanes whose work the target has already (`ops::landed`) add nothing: left out, so a
    // lane integrated before and edited on the target since is no conflict here.
    let landed = crate::ops::landed::Target::at(mem, plan, vec![target])?;
    let mut tips = Vec::new();
    for spec in plan.topo_order()? {
        if let Some(t) = lane::tip(mem, &plan.name, &spec.name)? {
            if landed.verdict(mem, &spec.name, t)?.is_some() {
                continue;
            }
            tips.push(Tip {
                lane: spec.name.clone(),
                commit: t,
            });
        }
    }
    let commits: Vec<ObjectId> = std::iter::once(target)
        .chain(tips.iter().map(|t| t.commit))
        .collect();
    crate::ops::history::ensure(mem, remote, plan.base_id(), &commits)?;
    let to = match merge::fold(mem, target, &tips, &plan.target)? {
        Folded::Clean { tree, .. } => tree,
        Folded::Conflict { tip, outcome, .. } => {
            return Err(DiffError::Conflict {
                lane: tip.lane.clone(),
                paths: merge::conflicted_paths(&outcome),
            }
            .into())
        }
    };
    Ok((merge::tree_of(mem, target)?, to))
}

/// What git shows of one changed path: status, line counts, hunks.
fn file_diff(
    mem: &gix::Repository,
    path: String,
    old: Option<Leaf>,
    new: Option<Leaf>,
) -> Result<FileDiff> {
    let status = match (old, new) {
        (None, Some(_)) => "added",
        (Some(_), None) => "deleted",
        (Some(o), Some(n)) if is_type_change(o.kind, n.kind) => "type-changed",
        _ => "modified",
    };
    let text = |leaf: Option<Leaf>| -> Result<Vec<u8>> {
        Ok(match leaf {
            None => Vec::new(),
            Some(l) if l.kind == EntryKind::Commit => {
                format!("Subproject commit {}\n", l.id).into_bytes()
            }
            Some(l) => mem.find_object(l.id)?.detach().data,
        })
    };
    let (before, after) = (text(old)?, text(new)?);
    let mut out = FileDiff {
        path,
        status,
        additions: 0,
        deletions: 0,
        binary: false,
        old,
        new,
        hunks: Vec::new(),
    };
    if old.map(|l| l.id) == new.map(|l| l.id) {
        return Ok(out); // a mode change only
    }
    if is_binary(&before) || is_binary(&after) {
        out.binary = true;
        return Ok(out);
    }
    let input = gix::diff::blob::InternedInput::new(before.as_slice(), after.as_slice());
    let diff =
        gix::diff::blob::diff_with_slider_heuristics(gix::diff::blob::Algorithm::Histogram, &input);
    out.additions = diff.count_additions();
    out.deletions = diff.count_removals();
    out.hunks = gix::diff::blob::UnifiedDiff::new(
        &diff,
        &input,
        Hunks::default(),
        ContextSize::symmetrical(3),
    )
    .consume()?
    .0;
    Ok(out)
}

/// A file became a symlink or a submodule (or back): git shows a deletion and an addition.
fn is_type_change(old: EntryKind, new: EntryKind) -> bool {
    let class = |k: EntryKind| match k {
        EntryKind::Blob | EntryKind::BlobExecutable => 0,
        EntryKind::Link => 1,
        EntryKind::Commit => 2,
        EntryKind::Tree => 3,
    };
    class(old) != class(new)
}

/// git's test: a NUL byte in the first 8000 bytes.
fn is_binary(data: &[u8]) -> bool {
    data[..data.len().min(8000)].contains(&0)
}

/// Hunks as git writes them, with `\ No newline at end of file` after a last line that
/// has none.
#[derive(Default)]
struct Hunks(Vec<u8>);

impl ConsumeHunk for Hunks {
    type Out = Hunks;

    fn consume_hunk(
        &mut self,
        header: HunkHeader,
        lines: &[(DiffLineKind, &[u8])],
    ) -> std::io::Result<()> {
        // git's spelling: a one-line range has no length, an empty one names the line
        // before it (`@@ -0,0 +1 @@` for a new file).
        let range = |start: u32, len: u32| match len {
            0 => format!("{},0", start.saturating_sub(1)),
            1 => start.to_string(),
            _ => format!("{start},{len}"),
        };
        let line = format!(
            "@@ -{} +{} @@\n",
            range(header.before_hunk_start, header.before_hunk_len),
            range(header.after_hunk_start, header.after_hunk_len)
        );
        self.0.extend_from_slice(line.as_bytes());
        for (kind, line) in lines {
            self.0.push(kind.to_prefix() as u8);
            self.0.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                self.0
                    .extend_from_slice(b"\n\\ No newline at end of file\n");
            }
        }
        Ok(())
    }

    fn finish(self) -> Self::Out {
        self
    }
}

/// The git mode of a leaf (`100644`, `100755`, `120000`, `160000`).
pub fn mode(leaf: &Leaf) -> &'static str {
    match leaf.kind {
        EntryKind::Blob => "100644",
        EntryKind::BlobExecutable => "100755",
        EntryKind::Link => "120000",
        EntryKind::Commit => "160000",
        EntryKind::Tree => "040000",
    }
}
