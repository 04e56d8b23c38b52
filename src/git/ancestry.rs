//! Merge bases and ancestry, computed the way git computes them.
//!
//! gix 0.90's `merge_base` orders its walk by commit time alone, with ties between equal
//! timestamps broken arbitrarily by a binary heap: with several commits in the same second
//! (agents commit fast; test fixtures pin the dates) and octopus merges it can return a
//! commit that is not a merge base at all (a case checked against git in
//! `git::ancestry::tests`), which made `is_ancestor` answer "no" for a first parent of a
//! merge. git's walk (`commit-reach.c: paint_down_to_common`) breaks ties by insertion
//! order, so children of equal time come before their parents. This module is that walk,
//! plus git's removal of redundant bases, on commits read from the object database (the
//! in-memory layer of a fold's repository included).

use std::collections::{BinaryHeap, HashMap};

use anyhow::Result;
use gix::ObjectId;

const PARENT1: u8 = 1;
const PARENT2: u8 = 2;
const STALE: u8 = 4;
const RESULT: u8 = 8;

/// Commits read so far: committer time and parents.
#[derive(Default)]
struct Commits {
    info: HashMap<ObjectId, (i64, Vec<ObjectId>)>,
    buf: Vec<u8>,
    /// The shallow boundary (`<common dir>/shallow`): git treats these commits as roots,
    /// whatever parents their objects name.
    shallow: std::collections::HashSet<ObjectId>,
}

impl Commits {
    fn of(repo: &gix::Repository) -> Result<Self> {
        let shallow = match repo.shallow_commits()? {
            Some(list) => list.iter().copied().collect(),
            None => Default::default(),
        };
        Ok(Commits {
            shallow,
            ..Default::default()
        })
    }

    /// Time and parents of `id` (none for a commit on the shallow boundary); `None` when the
    /// object is missing: the walk treats it as having no history. Callers that need the
    /// true answer in a shallow clone fetch the history first (`ops::history`).
    fn get(
        &mut self,
        repo: &gix::Repository,
        id: ObjectId,
    ) -> Result<Option<&(i64, Vec<ObjectId>)>> {
        if !self.info.contains_key(&id) {
            let Some((time, parents)) = read_commit(repo, id, &mut self.buf)? else {
                return Ok(None);
            };
            let parents = match self.shallow.contains(&id) {
                true => Vec::new(),
                false => parents,
            };
            self.info.insert(id, (time, parents));
        }
        Ok(self.info.get(&id))
    }
}

/// Committer time and parents of every commit read in this process. A commit object never
/// changes (its id is its content), so this cache is valid for every repository and every
/// walk; it saves decompressing a commit again for each of the many ancestry questions a
/// fold asks (two per lane tip, the merge bases, the independent tips). The shallow
/// boundary is applied on top, per walk.
static READ: std::sync::OnceLock<std::sync::Mutex<CommitCache>> = std::sync::OnceLock::new();

/// Commit id -> (committer time, parents).
type CommitCache = HashMap<ObjectId, (i64, Vec<ObjectId>)>;

/// Time and parents of commit `id` as its object says, `None` when it is missing.
fn read_commit(
    repo: &gix::Repository,
    id: ObjectId,
    buf: &mut Vec<u8>,
) -> Result<Option<(i64, Vec<ObjectId>)>> {
    let cache = READ.get_or_init(Default::default);
    if let Some(hit) = cache.lock().expect("not poisoned").get(&id) {
        return Ok(Some(hit.clone()));
    }
    // Loose commits are read, not mapped (see `git::loose`): the fold walks on two threads.
    let objects = super::loose::LooseFirst::new(repo);
    let Some(data) = gix::objs::Find::try_find(&objects, &id, buf)? else {
        return Ok(None);
    };
    if data.kind != gix::object::Kind::Commit {
        anyhow::bail!("{id} is a {}, not a commit", data.kind);
    }
    let iter = gix::objs::CommitRefIter::from_bytes(data.data, repo.object_hash());
    let parents: Vec<ObjectId> = iter.parent_ids().collect();
    let time = iter.committer().map(|c| c.seconds()).unwrap_or(0);
    cache
        .lock()
        .expect("not poisoned")
        .insert(id, (time, parents.clone()));
    Ok(Some((time, parents)))
}

/// A queue entry: newest first, then first inserted first (git's `prio_queue` with
/// `compare_commits_by_commit_date` and its insertion counter).
#[derive(PartialEq, Eq)]
struct Entry {
    time: i64,
    order: std::cmp::Reverse<u64>,
    id: ObjectId,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.order).cmp(&(other.time, other.order))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// git's `paint_down_to_common`: the commits reachable from both `one` and one of `twos`
/// that no other such commit reaches (candidates; not yet free of redundancy), and the flags.
fn paint(
    repo: &gix::Repository,
    commits: &mut Commits,
    one: ObjectId,
    twos: &[ObjectId],
) -> Result<(Vec<ObjectId>, HashMap<ObjectId, u8>)> {
    let mut flags: HashMap<ObjectId, u8> = HashMap::new();
    let mut queue = BinaryHeap::new();
    let mut counter = 0u64;
    let mut push = |queue: &mut BinaryHeap<Entry>, time: i64, id: ObjectId| {
        counter += 1;
        queue.push(Entry {
            time,
            order: std::cmp::Reverse(counter),
            id,
        });
    };
    let time_of = |commits: &mut Commits, id: ObjectId| -> Result<Option<i64>> {
        Ok(commits.get(repo, id)?.map(|c| c.0))
    };
    let Some(t) = time_of(commits, one)? else {
        anyhow::bail!("commit {one} is missing");
    };
    *flags.entry(one).or_default() |= PARENT1;
    push(&mut queue, t, one);
    for two in twos {
        let Some(t) = time_of(commits, *two)? else {
            anyhow::bail!("commit {two} is missing");
        };
        *flags.entry(*two).or_default() |= PARENT2;
        push(&mut queue, t, *two);
    }
    let mut result = Vec::new();
    while queue
        .iter()
        .any(|e| flags.get(&e.id).copied().unwrap_or(0) & STALE == 0)
    {
        let Some(Entry { id, .. }) = queue.pop() else {
            break;
        };
        let f = flags.get(&id).copied().unwrap_or(0);
        let mut pass = f & (PARENT1 | PARENT2 | STALE);
        if pass == PARENT1 | PARENT2 {
            if f & RESULT == 0 {
                *flags.entry(id).or_default() |= RESULT;
                result.push(id);
            }
            // The parents of a common ancestor are not better ones.
            pass |= STALE;
        }
        let parents = match commits.get(repo, id)? {
            Some((_, parents)) => parents.clone(),
            None => Vec::new(),
        };
        for p in parents {
            let pf = flags.get(&p).copied().unwrap_or(0);
            if pf & pass == pass {
                continue;
            }
            let Some(t) = time_of(commits, p)? else {
                continue; // missing history: nothing to walk there
            };
            *flags.entry(p).or_default() |= pass;
            push(&mut queue, t, p);
        }
    }
    Ok((result, flags))
}

/// Every best common ancestor of `one` and `two` (git's `merge-base --all`), newest first.
pub fn merge_bases(repo: &gix::Repository, one: ObjectId, two: ObjectId) -> Result<Vec<ObjectId>> {
    if one == two {
        return Ok(vec![one]);
    }
    let mut commits = Commits::of(repo)?;
    let (candidates, _) = paint(repo, &mut commits, one, &[two])?;
    remove_redundant(repo, &mut commits, candidates)
}

/// Drop every candidate another candidate reaches (git's `remove_redundant`).
fn remove_redundant(
    repo: &gix::Repository,
    commits: &mut Commits,
    candidates: Vec<ObjectId>,
) -> Result<Vec<ObjectId>> {
    if candidates.len() < 2 {
        return Ok(candidates);
    }
    let mut redundant = vec![false; candidates.len()];
    for i in 0..candidates.len() {
        if redundant[i] {
            continue;
        }
        let others: Vec<ObjectId> = candidates
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i && !redundant[*j])
            .map(|(_, c)| *c)
            .collect();
        if others.is_empty() {
            break;
        }
        let (_, flags) = paint(repo, commits, candidates[i], &others)?;
        if flags.get(&candidates[i]).copied().unwrap_or(0) & PARENT2 != 0 {
            redundant[i] = true;
        }
        for (j, c) in candidates.iter().enumerate() {
            if j != i && flags.get(c).copied().unwrap_or(0) & PARENT1 != 0 {
                redundant[j] = true;
            }
        }
    }
    Ok(candidates
        .into_iter()
        .zip(redundant)
        .filter(|(_, r)| !r)
        .map(|(c, _)| c)
        .collect())
}

/// Is `ancestor` reachable from `descendant` (or equal to it)? git's `in_merge_bases`.
pub fn is_ancestor(
    repo: &gix::Repository,
    ancestor: ObjectId,
    descendant: ObjectId,
) -> Result<bool> {
    if ancestor == descendant {
        return Ok(true);
    }
    let mut commits = Commits::of(repo)?;
    let (_, flags) = paint(repo, &mut commits, ancestor, &[descendant])?;
    Ok(flags.get(&ancestor).copied().unwrap_or(0) & PARENT2 != 0)
}

/// Is `ancestor` reachable from one of `descendants` (or one of them)? One walk for them
/// all, where asking [`is_ancestor`] of each would walk their shared history once each.
pub fn is_ancestor_of_any(
    repo: &gix::Repository,
    ancestor: ObjectId,
    descendants: &[ObjectId],
) -> Result<bool> {
    if descendants.contains(&ancestor) {
        return Ok(true);
    }
    if descendants.is_empty() {
        return Ok(false);
    }
    let mut commits = Commits::of(repo)?;
    let (_, flags) = paint(repo, &mut commits, ancestor, descendants)?;
    Ok(flags.get(&ancestor).copied().unwrap_or(0) & PARENT2 != 0)
}

/// How many commits `tip` reaches that `base` does not (`git rev-list --count base..tip`).
pub fn count_unique(repo: &gix::Repository, tip: ObjectId, base: ObjectId) -> Result<usize> {
    Ok(unique_commits(repo, tip, &[base])?.len())
}

/// The commits `tip` reaches that none of `hidden` reaches (`git rev-list tip --not
/// hidden...`), in breadth-first order from `tip` (newest first, as gix's walk gives them),
/// over the process-wide commit cache; exact whatever the timestamps.
pub fn unique_commits(
    repo: &gix::Repository,
    tip: ObjectId,
    hidden: &[ObjectId],
) -> Result<Vec<ObjectId>> {
    let mut commits = Commits::of(repo)?;
    let mut seen = std::collections::HashSet::new();
    let mut todo = std::collections::VecDeque::from([tip]);
    let mut out = Vec::new();
    while let Some(c) = todo.pop_front() {
        if !seen.insert(c) || hidden.contains(&c) {
            continue;
        }
        if !hidden.is_empty() {
            let (_, flags) = paint(repo, &mut commits, c, hidden)?;
            if flags.get(&c).copied().unwrap_or(0) & PARENT2 != 0 {
                continue; // an ancestor of a hidden commit, and so are its parents
            }
        }
        out.push(c);
        if let Some((_, parents)) = commits.get(repo, c)? {
            todo.extend(parents.iter().copied());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! Against git itself, on histories where every commit has the same timestamp (the case
    //! gix's walk got wrong): octopus merges, criss-crosses, long chains.
    use super::*;
    use std::path::Path;

    fn git(dir: &Path, args: &[&str]) -> String {
        crate::hermetic::shared().git(dir, args)
    }

    /// Commit an empty change on `branch` with `parents` (by name), return its id.
    fn commit(dir: &Path, msg: &str, parents: &[&str]) -> String {
        let tree = git(dir, &["write-tree"]);
        let mut args = vec!["commit-tree", tree.as_str(), "-m", msg];
        for p in parents {
            args.push("-p");
            args.push(p);
        }
        git(dir, &args)
    }

    /// Every pair of `commits` gets git's answer for ancestry and merge bases.
    fn assert_like_git(d: &Path, all: &[String]) {
        let repo = crate::hermetic::open(d);
        let id = |s: &str| ObjectId::from_hex(s.as_bytes()).expect("hex");
        // git's answer for every ordered pair, asked once.
        let in_git: std::collections::HashMap<(&str, &str), bool> = all
            .iter()
            .flat_map(|x| all.iter().map(move |y| (x.as_str(), y.as_str())))
            .map(|(x, y)| {
                let _spawning = crate::hermetic::spawning();
                let out = crate::hermetic::shared()
                    .command("git", d)
                    .args(["merge-base", "--is-ancestor", x, y])
                    .status()
                    .expect("git runs");
                ((x, y), out.success())
            })
            .collect();
        // One walk against several descendants answers as git's pairs do, for every commit
        // against each window of three others.
        for x in all {
            let others: Vec<&String> = all.iter().filter(|o| *o != x).collect();
            for window in others.windows(3.min(others.len().max(1))) {
                let want = window.iter().any(|y| in_git[&(x.as_str(), y.as_str())]);
                let ids: Vec<ObjectId> = window.iter().map(|y| id(y)).collect();
                assert_eq!(
                    is_ancestor_of_any(&repo, id(x), &ids).expect("walk"),
                    want,
                    "is {x} an ancestor of one of {window:?}?"
                );
            }
        }
        for x in all {
            for y in all {
                assert_eq!(
                    is_ancestor(&repo, id(x), id(y)).expect("walk"),
                    in_git[&(x.as_str(), y.as_str())],
                    "is {x} an ancestor of {y}?"
                );
                let mut want: Vec<String> = git(d, &["merge-base", "--all", x, y])
                    .lines()
                    .map(String::from)
                    .collect();
                want.sort();
                let mut got: Vec<String> = merge_bases(&repo, id(x), id(y))
                    .expect("walk")
                    .iter()
                    .map(|c| c.to_string())
                    .collect();
                got.sort();
                assert_eq!(got, want, "merge bases of {x} and {y}");
                let count: usize = git(d, &["rev-list", "--count", &format!("{x}..{y}")])
                    .trim()
                    .parse()
                    .expect("a count");
                assert_eq!(
                    count_unique(&repo, id(y), id(x)).expect("walk"),
                    count,
                    "rev-list --count {x}..{y}"
                );
                let mut want: Vec<String> = git(d, &["rev-list", &format!("{x}..{y}")])
                    .lines()
                    .map(String::from)
                    .collect();
                want.sort();
                let mut got: Vec<String> = unique_commits(&repo, id(y), &[id(x)])
                    .expect("walk")
                    .iter()
                    .map(|c| c.to_string())
                    .collect();
                got.sort();
                assert_eq!(got, want, "rev-list {x}..{y}");
            }
        }
    }

    /// Regression: the history of a lane in the 16-agent remote test (octopus syncs, all
    /// commits in one second), where gix 0.90's merge base said the first parent of the
    /// last merge was not its ancestor, and publishing refused a fast-forward.
    #[test]
    fn a_lane_history_gix_got_wrong() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path();
        git(d, &["init", "-q"]);
        let shape: &[&[usize]] = &[
            &[],
            &[0],
            &[1],
            &[2],
            &[2],
            &[2],
            &[3, 4, 5],
            &[6],
            &[7],
            &[4],
            &[9],
            &[5, 4],
            &[11],
            &[12, 9],
            &[8, 10, 13],
        ];
        let mut ids: Vec<String> = Vec::new();
        for (i, parents) in shape.iter().enumerate() {
            let parents: Vec<&str> = parents.iter().map(|p| ids[*p].as_str()).collect();
            ids.push(commit(d, &format!("c{i}"), &parents));
        }
        assert_like_git(d, &ids);
    }

    #[test]
    fn equal_timestamps_and_octopus_merges_give_gits_answers() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path();
        git(d, &["init", "-q"]);
        // A small DAG: chains, an octopus, a criss-cross; all at one instant.
        let base = commit(d, "base", &[]);
        let mut a = base.clone();
        let mut b = base.clone();
        let mut c = base.clone();
        let mut all = vec![base.clone()];
        for i in 0..6 {
            a = commit(d, &format!("a{i}"), &[&a]);
            b = commit(d, &format!("b{i}"), &[&b]);
            if i % 2 == 0 {
                c = commit(d, &format!("c{i}"), &[&c, &a]);
            }
            if i == 3 {
                let oct = commit(d, "octopus", &[&c, &a, &b]);
                c = oct;
            }
            if i == 4 {
                let x = commit(d, "x", &[&a, &b]);
                let y = commit(d, "y", &[&b, &a]);
                a = x;
                b = y;
            }
            all.extend([a.clone(), b.clone(), c.clone()]);
        }
        assert_like_git(d, &all);
    }
}
