//! Which lanes make `squash --verify CMD` fail: the search, apart from git and from running
//! anything (`ops::verify` runs the command; this module only decides what to try next).
//!
//! Lanes are numbered in the plan's dependency order (upstreams first). A set of lanes can only
//! be folded when it is *whole*: it holds every lane its members come after, because a lane's
//! branch contains the work it synced from them. So dropping a lane drops the lanes after it.
//!
//! The search names a 1-minimal culprit set C: the fold of C (made whole) fails, and dropping
//! any one member (with the lanes after it) passes. It bisects over prefixes of the order: the
//! a failing prefix whose one-shorter prefix passes ends in a culprit (the shortest one when
//! the command is monotone); then, keeping the culprits found, the same among the lanes
//! before it, and so on. One culprit among N lanes costs about
//! log2(N) runs, plus the runs that prove the claim (the culprit alone fails, the set without
//! it passes). A command need not be monotone (a lane can fix what another broke), so nothing
//! is assumed that was not run: a claim that does not hold restarts the search on the smaller
//! failing set it found.

use std::collections::{BTreeMap, BTreeSet};

/// Lanes, by their index in dependency order.
pub type Set = BTreeSet<usize>;

/// The plan's lanes as a DAG: for each lane, every lane before it and after it (transitively).
#[derive(Debug, Clone)]
pub struct Dag {
    up: Vec<Set>,
    down: Vec<Set>,
}

impl Dag {
    /// `after[i]`: the lanes lane `i` comes after directly (each index smaller than `i`).
    pub fn new(after: &[Vec<usize>]) -> Self {
        let n = after.len();
        let mut up: Vec<Set> = vec![Set::new(); n];
        for i in 0..n {
            let mut all = Set::new();
            for &a in &after[i] {
                assert!(a < i, "lanes are numbered in dependency order");
                all.insert(a);
                all.extend(up[a].iter().copied());
            }
            up[i] = all;
        }
        let mut down: Vec<Set> = vec![Set::new(); n];
        for (i, ups) in up.iter().enumerate() {
            for &u in ups {
                down[u].insert(i);
            }
        }
        Dag { up, down }
    }

    pub fn len(&self) -> usize {
        self.up.len()
    }

    pub fn is_empty(&self) -> bool {
        self.up.is_empty()
    }

    /// `set` made whole: with every lane its members come after.
    pub fn whole<'a>(&self, set: impl IntoIterator<Item = &'a usize>) -> Set {
        let mut out = Set::new();
        for &i in set {
            out.insert(i);
            out.extend(self.up[i].iter().copied());
        }
        out
    }

    /// `set` without `lane` and every lane after it (still whole when `set` is).
    pub fn without(&self, set: &Set, lane: usize) -> Set {
        set.iter()
            .copied()
            .filter(|&i| i != lane && !self.down[lane].contains(&i))
            .collect()
    }

    /// The lanes after any of `lanes` that are not among them.
    pub fn after_any(&self, lanes: &Set) -> Set {
        lanes
            .iter()
            .flat_map(|&l| self.down[l].iter().copied())
            .filter(|i| !lanes.contains(i))
            .collect()
    }
}

/// Runs the command on the fold of a whole set: `Ok(true)` when it passes. `fresh` asks for a
/// real run even when the same fold ran before (the re-run that rules out a flaky command).
pub trait Verifier {
    fn passes(&mut self, set: &Set, fresh: bool) -> anyhow::Result<bool>;
}

impl<F: FnMut(&Set, bool) -> anyhow::Result<bool>> Verifier for F {
    fn passes(&mut self, set: &Set, fresh: bool) -> anyhow::Result<bool> {
        self(set, fresh)
    }
}

/// What the search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every lane's fold passes: land them all.
    Passes,
    /// It failed, then passed when run again: nothing can be concluded.
    Flaky,
    /// The command fails on the target alone, without any lane.
    TargetFails,
    /// Culprit sets (each 1-minimal in the lanes left after the ones before it), and the whole
    /// set of the other lanes, which passes (`keep_going`) or was not run (empty `landable`
    /// when nothing is left, or when the search stopped at the first set).
    Culprits { groups: Vec<Set>, landable: Set },
}

/// Verify every lane; when that fails, find the culprits. With `keep_going` (`--skip-failing`)
/// the search goes on until the lanes left (without culprits and the lanes after them) pass.
pub fn search(
    dag: &Dag,
    verifier: &mut impl Verifier,
    keep_going: bool,
) -> anyhow::Result<Outcome> {
    let all: Set = (0..dag.len()).collect();
    let mut s = Search {
        dag,
        verifier,
        memo: BTreeMap::new(),
    };
    if s.passes(&all)? {
        return Ok(Outcome::Passes);
    }
    if s.verifier.passes(&all, true)? {
        return Ok(Outcome::Flaky);
    }
    let mut groups = Vec::new();
    let mut left = all;
    loop {
        let Some(group) = s.minimal(left.clone())? else {
            return Ok(match groups.is_empty() {
                true => Outcome::TargetFails,
                false => Outcome::Culprits {
                    groups,
                    landable: Set::new(),
                },
            });
        };
        let dropped: Set = group.union(&dag.after_any(&group)).copied().collect();
        left = left.difference(&dropped).copied().collect();
        groups.push(group);
        if !keep_going {
            return Ok(Outcome::Culprits {
                groups,
                landable: Set::new(),
            });
        }
        if left.is_empty() || s.passes(&left)? {
            return Ok(Outcome::Culprits {
                groups,
                landable: left,
            });
        }
    }
}

struct Search<'a, V> {
    dag: &'a Dag,
    verifier: &'a mut V,
    memo: BTreeMap<Set, bool>,
}

impl<V: Verifier> Search<'_, V> {
    fn passes(&mut self, set: &Set) -> anyhow::Result<bool> {
        if let Some(&p) = self.memo.get(set) {
            return Ok(p);
        }
        let p = self.verifier.passes(set, false)?;
        self.memo.insert(set.clone(), p);
        Ok(p)
    }

    /// A 1-minimal culprit set within `failing` (whole, and known to fail); `None` when the
    /// empty set (the target alone) fails.
    fn minimal(&mut self, mut failing: Set) -> anyhow::Result<Option<Set>> {
        'restart: loop {
            let mut found = Set::new();
            // Invariant: whole(found + remaining) fails.
            let mut remaining: Vec<usize> = failing.iter().copied().collect();
            loop {
                let dag = self.dag;
                let prefix = |found: &Set, k: usize, remaining: &[usize]| {
                    dag.whole(found.iter().chain(&remaining[..k]))
                };
                // A k whose prefix fails and whose prefix k-1 passes (binary search between a
                // known pass and a known fail); the culprits found so far often suffice.
                let (mut lo, mut hi) = (-1isize, remaining.len() as isize);
                if !found.is_empty() && hi > 0 {
                    if self.passes(&prefix(&found, 0, &remaining))? {
                        lo = 0;
                    } else {
                        hi = 0;
                    }
                }
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if self.passes(&prefix(&found, mid as usize, &remaining))? {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                if hi == 0 {
                    break; // whole(found) fails
                }
                let k = hi as usize;
                found.insert(remaining[k - 1]);
                remaining.truncate(k - 1);
            }
            if found.is_empty() {
                return Ok(None);
            }
            // Prove 1-minimality: without any one culprit it must pass.
            let whole = self.dag.whole(&found);
            for &c in &found {
                let without = self.dag.without(&whole, c);
                if !self.passes(&without)? {
                    failing = without;
                    continue 'restart;
                }
            }
            return Ok(Some(found));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A verifier from a predicate on the set, counting runs.
    struct Fake<P> {
        fails: P,
        runs: usize,
        flaky_once: bool,
    }

    impl<P: Fn(&Set) -> bool> Verifier for Fake<P> {
        fn passes(&mut self, set: &Set, _fresh: bool) -> anyhow::Result<bool> {
            self.runs += 1;
            if self.flaky_once {
                self.flaky_once = false;
                return Ok(false);
            }
            Ok(!(self.fails)(set))
        }
    }

    fn fake<P: Fn(&Set) -> bool>(fails: P) -> Fake<P> {
        Fake {
            fails,
            runs: 0,
            flaky_once: false,
        }
    }

    fn independent(n: usize) -> Dag {
        Dag::new(&vec![Vec::new(); n])
    }

    fn set(items: &[usize]) -> Set {
        items.iter().copied().collect()
    }

    #[test]
    fn one_culprit_among_independent_lanes_in_about_log2_runs() {
        for n in [1usize, 2, 3, 8, 16, 64] {
            for culprit in 0..n {
                let dag = independent(n);
                let mut v = fake(|s: &Set| s.contains(&culprit));
                let out = search(&dag, &mut v, false).unwrap();
                assert_eq!(
                    out,
                    Outcome::Culprits {
                        groups: vec![set(&[culprit])],
                        landable: Set::new()
                    }
                );
                // all, the re-run, the bisection, the culprit alone, the target alone
                let log2 = (n as f64 + 1.0).log2().ceil() as usize;
                assert!(
                    v.runs <= 4 + log2,
                    "n={n} culprit={culprit}: {} runs",
                    v.runs
                );
            }
        }
    }

    #[test]
    fn skip_failing_finds_every_culprit_and_lands_the_rest() {
        let dag = independent(8);
        let mut v = fake(|s: &Set| s.contains(&2) || s.contains(&6));
        let out = search(&dag, &mut v, true).unwrap();
        assert_eq!(
            out,
            Outcome::Culprits {
                groups: vec![set(&[2]), set(&[6])],
                landable: set(&[0, 1, 3, 4, 5, 7])
            }
        );
    }

    #[test]
    fn a_pair_that_fails_only_together_is_named_together() {
        let dag = independent(6);
        let mut v = fake(|s: &Set| s.contains(&1) && s.contains(&4));
        let out = search(&dag, &mut v, true).unwrap();
        assert_eq!(
            out,
            Outcome::Culprits {
                groups: vec![set(&[1, 4])],
                landable: set(&[0, 2, 3, 5])
            }
        );
    }

    #[test]
    fn dropping_a_lane_drops_the_lanes_after_it() {
        // 0 <- 1 <- 2, and 3 independent: 1 breaks it, so 2 (after 1) cannot land either.
        let dag = Dag::new(&[vec![], vec![0], vec![1], vec![]]);
        let mut v = fake(|s: &Set| {
            assert_eq!(*s, dag_whole(s), "only whole sets are folded");
            s.contains(&1)
        });
        let out = search(&dag, &mut v, true).unwrap();
        assert_eq!(
            out,
            Outcome::Culprits {
                groups: vec![set(&[1])],
                landable: set(&[0, 3])
            }
        );
        fn dag_whole(s: &Set) -> Set {
            Dag::new(&[vec![], vec![0], vec![1], vec![]]).whole(s)
        }
    }

    #[test]
    fn a_lane_that_fails_only_with_its_upstream_is_the_culprit() {
        // 1 comes after 0; it breaks only on top of 0's work: 1 is named, 0 lands.
        let dag = Dag::new(&[vec![], vec![0], vec![]]);
        let mut v = fake(|s: &Set| s.contains(&0) && s.contains(&1));
        let out = search(&dag, &mut v, true).unwrap();
        assert_eq!(
            out,
            Outcome::Culprits {
                groups: vec![set(&[1])],
                landable: set(&[0, 2])
            }
        );
    }

    #[test]
    fn a_lane_that_fixes_another_is_not_assumed_away() {
        // 3 breaks it, 5 repairs what 3 broke, 6 breaks it on its own: not monotone.
        let dag = independent(7);
        let fails = |s: &Set| (s.contains(&3) && !s.contains(&5)) || s.contains(&6);
        let mut v = fake(fails);
        let Outcome::Culprits { groups, landable } = search(&dag, &mut v, true).unwrap() else {
            panic!("culprits expected");
        };
        for g in &groups {
            let whole = dag.whole(g);
            assert!(fails(&whole), "{g:?} must fail");
            for &c in g {
                assert!(!fails(&dag.without(&whole, c)), "{g:?} must be 1-minimal");
            }
        }
        assert!(!fails(&landable));
    }

    #[test]
    fn passes_flaky_and_target_failing_are_told_apart() {
        let dag = independent(4);
        let mut v = fake(|_: &Set| false);
        assert_eq!(search(&dag, &mut v, false).unwrap(), Outcome::Passes);
        assert_eq!(v.runs, 1);
        let mut v = fake(|_: &Set| false);
        v.flaky_once = true;
        assert_eq!(search(&dag, &mut v, false).unwrap(), Outcome::Flaky);
        let mut v = fake(|_: &Set| true);
        assert_eq!(search(&dag, &mut v, true).unwrap(), Outcome::TargetFails);
    }

    #[test]
    fn every_claim_holds_for_every_small_predicate() {
        // Exhaustive over predicates "fails iff the set contains one of these subsets".
        let n = 4;
        let dag = Dag::new(&[vec![], vec![0], vec![], vec![2]]);
        let subsets: Vec<Set> = (1u32..16)
            .map(|m| (0..n).filter(|i| m & (1 << i) != 0).collect())
            .collect();
        for a in &subsets {
            for b in &subsets {
                let fails = |s: &Set| a.is_subset(s) || b.is_subset(s);
                let mut v = fake(fails);
                match search(&dag, &mut v, true).unwrap() {
                    Outcome::Culprits { groups, landable } => {
                        for g in &groups {
                            let whole = dag.whole(g);
                            assert!(fails(&whole));
                            for &c in g {
                                assert!(!fails(&dag.without(&whole, c)));
                            }
                        }
                        assert!(landable.is_empty() || !fails(&landable));
                        assert_eq!(dag.whole(&landable), landable);
                    }
                    other => panic!("{a:?} {b:?}: {other:?}"),
                }
            }
        }
    }
}
