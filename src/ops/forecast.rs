//! The conflict forecast: which lanes that the DAG does not order (neither comes after the
//! other) touch the same paths, and whether merging them would conflict. Nothing is written
//! to any worktree or ref: the merge runs in memory ([`merge::fold`]).
//!
//! Cost follows what moved: each lane's changed paths (since the plan's base) are kept by
//! its tip, and each pair's verdict by the pair's tips, in a cache file
//! (`<git common dir>/wtc/forecast/<plan>.json`), so a status where nothing moved merges
//! nothing. The per-lane paths are only a filter: a pair whose paths meet is judged again
//! from its own merge base (work both lanes took from a common upstream lane is no overlap).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Result;
use gix::bstr::ByteSlice;
use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::merge::{self, Tip};
use crate::plan::Plan;

/// Two lanes the DAG does not order whose changes meet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Overlap {
    pub lanes: [String; 2],
    /// The paths both changed since their merge base.
    pub paths: Vec<String>,
    /// Merging them conflicts (in memory, as `sync` or `squash` would merge them).
    pub conflicts: bool,
}

/// What the cache file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    /// Lane tip -> its changed paths since the plan's base.
    changed: BTreeMap<String, Vec<String>>,
    /// `"<tip a> <tip b>"` -> the overlap of that pair (`None`: they do not meet).
    pairs: BTreeMap<String, Option<(Vec<String>, bool)>>,
}

fn cache_path(repo: &gix::Repository, plan: &str) -> PathBuf {
    repo.common_dir()
        .join("wtc")
        .join("forecast")
        .join(format!("{plan}.json"))
}

/// Every overlapping pair of unordered lanes of `plan`, given each lane's tip (`None`:
/// its branch is missing), in the plan's order.
pub fn overlaps(
    repo: &gix::Repository,
    plan: &Plan,
    tips: &[(String, Option<ObjectId>)],
) -> Result<Vec<Overlap>> {
    let _t = crate::trace::span("status: conflict forecast");
    let path = cache_path(repo, &plan.name);
    let old_bytes = std::fs::read(&path).unwrap_or_default();
    let old: Cache = serde_json::from_slice(&old_bytes).unwrap_or_default();
    let mut new = Cache::default();
    let order = plan.topo_order()?;
    let upstream: BTreeMap<&str, BTreeSet<&str>> = order
        .iter()
        .map(|l| {
            let up = plan.upstream_closure_in(&l.name, &order);
            (
                l.name.as_str(),
                up.iter().map(|u| u.name.as_str()).collect(),
            )
        })
        .collect();
    let base_tree = merge::tree_of(repo, plan.base_id())?;
    let mut dirty = false;
    for (_, tip) in tips {
        let Some(tip) = tip else { continue };
        let key = tip.to_string();
        let paths = match old.changed.get(&key) {
            Some(p) => p.clone(),
            None => {
                dirty = true;
                changed_paths(repo, base_tree, merge::tree_of(repo, *tip)?)?
            }
        };
        new.changed.insert(key, paths);
    }
    // Sorted (a tree diff lists paths in order), so two lanes meet iff a merge walk finds
    // a common path.
    let meet = |a: &[String], b: &[String]| {
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    };
    let changed: BTreeMap<&str, &[String]> = tips
        .iter()
        .filter_map(|(lane, tip)| {
            let paths = new.changed.get(&tip.as_ref()?.to_string())?;
            Some((lane.as_str(), paths.as_slice()))
        })
        .collect();
    let mut mem: Option<gix::Repository> = None;
    let mut out = Vec::new();
    let mut pairs = Vec::new();
    for (i, (a, ta)) in tips.iter().enumerate() {
        for (b, tb) in &tips[i + 1..] {
            let (Some(ta), Some(tb)) = (ta, tb) else {
                continue;
            };
            let ordered = upstream
                .get(a.as_str())
                .is_some_and(|u| u.contains(b.as_str()))
                || upstream
                    .get(b.as_str())
                    .is_some_and(|u| u.contains(a.as_str()));
            if ordered || ta == tb {
                continue;
            }
            let (Some(ca), Some(cb)) = (changed.get(a.as_str()), changed.get(b.as_str())) else {
                continue;
            };
            if !meet(ca, cb) {
                continue;
            }
            let key = format!("{ta} {tb}");
            let verdict = match old.pairs.get(&key) {
                Some(v) => v.clone(),
                None => {
                    dirty = true;
                    let mem = mem.get_or_insert_with(|| merge::memory_repo(repo));
                    judge(mem, a, *ta, b, *tb)?
                }
            };
            if let Some((paths, conflicts)) = &verdict {
                out.push(Overlap {
                    lanes: [a.clone(), b.clone()],
                    paths: paths.clone(),
                    conflicts: *conflicts,
                });
            }
            pairs.push((key, verdict));
        }
    }
    new.pairs.extend(pairs);
    let dirty =
        dirty || new.changed.len() != old.changed.len() || new.pairs.len() != old.pairs.len();
    // Only what is current stays: the cache never grows past one entry per lane and pair;
    // written (temp file and rename) only when it changed.
    if let (Some(dir), true) = (path.parent(), dirty) {
        let bytes = serde_json::to_vec(&new)?;
        if std::fs::create_dir_all(dir).is_ok() {
            if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
                use std::io::Write as _;
                if tmp.write_all(&bytes).is_ok() {
                    let _ = tmp.persist(&path);
                }
            }
        }
    }
    Ok(out)
}

/// The overlap of lanes `a` and `b` judged from their own merge base: the paths both
/// changed since it, and whether the merge conflicts. `None` when nothing meets.
fn judge(
    mem: &gix::Repository,
    a: &str,
    ta: ObjectId,
    b: &str,
    tb: ObjectId,
) -> Result<Option<(Vec<String>, bool)>> {
    let pa = changed_since_merge_base(mem, ta, tb)?;
    let pb = changed_since_merge_base(mem, tb, ta)?;
    let both: Vec<String> = pa.intersection(&pb).cloned().collect();
    if both.is_empty() {
        return Ok(None);
    }
    let tip = Tip {
        lane: b.to_string(),
        commit: tb,
    };
    let conflicts = matches!(
        merge::fold(mem, ta, &[tip], a)?,
        merge::Folded::Conflict { .. }
    );
    Ok(Some((both, conflicts)))
}

/// The paths lane tip `lane` changed since its merge base with `other` (what it brings to a
/// merge with `other`).
pub fn changed_since_merge_base(
    mem: &gix::Repository,
    lane: ObjectId,
    other: ObjectId,
) -> Result<BTreeSet<String>> {
    let bases = crate::git::ancestry::merge_bases(mem, lane, other)?;
    let Some(&mb) = bases.first() else {
        return Ok(BTreeSet::new());
    };
    let from = merge::tree_of(mem, mb)?;
    Ok(changed_paths(mem, from, merge::tree_of(mem, lane)?)?
        .into_iter()
        .collect())
}

/// The leaf paths that differ between two trees.
fn changed_paths(repo: &gix::Repository, from: ObjectId, to: ObjectId) -> Result<Vec<String>> {
    let mut paths: Vec<String> = crate::worktree::diff::diff_trees(repo, from, to)?
        .into_iter()
        .map(|c| c.path.to_str_lossy().into_owned())
        .collect();
    paths.sort(); // (lossy conversion may reorder paths that are not UTF-8)
    Ok(paths)
}
