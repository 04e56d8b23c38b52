//! Reading incoming blobs ahead, on a second thread, while a transition moves files.
//!
//! A worktree update spends about a third of its time finding and inflating the blobs it
//! writes (loose objects above all: a stat, an open, a map and an inflate each). Reading a
//! blob needs no file of the worktree, so another core does it while the writer renames and
//! writes. The writer asks for each blob by id, in the order of the list it gave; a blob
//! not read ahead (not in the list, skipped, or failed to read) is `None` and the writer
//! reads it itself, exactly as before: blobs are content-addressed, so the bytes written
//! are the same either way, and an error is reported by the writer's own read.
//!
//! Memory stays bounded: the reader stops while the blobs waiting for the writer hold more
//! than [`BUDGET`] bytes, and the writer drops whatever it passed over.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use gix::ObjectId;

/// Bytes of blobs read ahead and not yet taken, above which the reader waits.
const BUDGET: usize = 32 << 20;

/// Blobs of a list, read ahead in its order by a thread of their own.
pub struct Prefetch {
    shared: Arc<Shared>,
    /// The ids, in the reader's order; `next` is the first one the writer has not passed.
    ids: Vec<ObjectId>,
    next: usize,
    reader: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Blobs read and not taken, with their position in the list (ascending).
    ready: VecDeque<(usize, Option<Vec<u8>>)>,
    /// How many of the list the reader has finished (read, failed, or given up on).
    done: usize,
    bytes: usize,
    /// The writer wants nothing before this position: the reader skips it.
    passed: usize,
    stop: bool,
}

impl Prefetch {
    /// Start reading `ids` from `repo`'s object database. Nothing starts for fewer than two
    /// blobs (a thread costs more than it saves).
    pub fn start(repo: &gix::Repository, ids: Vec<ObjectId>) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let reader = (ids.len() >= 2).then(|| {
            let sync = repo.clone().into_sync();
            let list = ids.clone();
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || read_ahead(&sync.to_thread_local(), &list, &shared))
        });
        Prefetch {
            shared,
            ids,
            next: 0,
            reader,
        }
    }

    /// The data of blob `id` if it was read ahead: the first position at or after the
    /// writer's that holds `id` (waiting for the reader to get there). Positions passed over
    /// are dropped. `None`: read it yourself.
    pub fn take(&mut self, id: &ObjectId) -> Option<Vec<u8>> {
        self.reader.as_ref()?;
        let at = self.next + self.ids[self.next..].iter().position(|i| i == id)?;
        self.next = at + 1;
        let mut st = self.shared.state.lock().ok()?;
        st.passed = at;
        while st.ready.front().is_some_and(|(k, _)| *k < at) {
            if let Some((_, Some(data))) = st.ready.pop_front() {
                st.bytes -= data.len();
            }
        }
        // Everything before `at` is gone now, so the reader is never held back by the budget
        // while the writer waits here.
        self.shared.changed.notify_all();
        while st.done <= at {
            st = self.shared.changed.wait(st).ok()?;
        }
        let data = match st.ready.front() {
            Some((k, _)) if *k == at => st.ready.pop_front().and_then(|(_, d)| d),
            _ => None,
        };
        if let Some(d) = &data {
            st.bytes -= d.len();
        }
        st.passed = at + 1;
        self.shared.changed.notify_all();
        data
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock() {
            st.stop = true;
        }
        self.shared.changed.notify_all();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn read_ahead(repo: &gix::Repository, ids: &[ObjectId], shared: &Shared) {
    // Loose blobs are read, not mapped: unmapping while the writer runs on the other core
    // interrupts it (see `git::loose`).
    let objects = crate::git::loose::LooseFirst::new(repo);
    /// However the reader ends (done, stopped, or a panic), the writer stops waiting.
    struct Finished<'a>(&'a Shared);
    impl Drop for Finished<'_> {
        fn drop(&mut self) {
            if let Ok(mut st) = self.0.state.lock() {
                st.done = usize::MAX;
            }
            self.0.changed.notify_all();
        }
    }
    let _finished = Finished(shared);
    for (k, id) in ids.iter().enumerate() {
        {
            let Ok(mut st) = shared.state.lock() else {
                return;
            };
            while !st.stop && st.bytes > BUDGET && st.passed <= k {
                match shared.changed.wait(st) {
                    Ok(s) => st = s,
                    Err(_) => return,
                }
            }
            if st.stop {
                return;
            }
            if st.passed > k {
                st.done = k + 1;
                shared.changed.notify_all();
                continue; // the writer is past it
            }
        }
        let data = objects.blob(id).ok();
        let Ok(mut st) = shared.state.lock() else {
            return;
        };
        if st.passed <= k {
            st.bytes += data.as_ref().map_or(0, Vec::len);
            st.ready.push_back((k, data));
        }
        st.done = k + 1;
        shared.changed.notify_all();
    }
}

/// `ids` (in the update's order) in the order two writers ask for them: one takes the list
/// from the front, the other runs of `run` from the back (each run front to back; see
/// `transition::Work::claim`), so the reader alternates between the two and each writer
/// finds its next blob read. Every id once; the same ids, only reordered.
pub fn for_two_writers(ids: Vec<ObjectId>, run: usize) -> Vec<ObjectId> {
    let n = ids.len();
    let run = run.max(1);
    let back = (0..n.div_ceil(run)).flat_map(|r| {
        let end = n - r * run;
        end.saturating_sub(run)..end
    });
    let mut taken = vec![false; n];
    let mut out = Vec::with_capacity(n);
    let mut front = 0..n;
    let mut back = back;
    loop {
        let f = front.find(|&i| !taken[i]);
        if let Some(i) = f {
            taken[i] = true;
            out.push(ids[i]);
        }
        let b = back.find(|&i| !taken[i]);
        if let Some(i) = b {
            taken[i] = true;
            out.push(ids[i]);
        }
        if f.is_none() && b.is_none() {
            return out;
        }
    }
}

/// Incoming blobs read by a helper thread that starts before the write (while the locked
/// check runs on the other core) and goes on while the writers work: each writer takes a
/// blob that is ready, or reads it itself (and the helper then skips it). Blob ids are
/// content, so the bytes written are the same either way.
#[derive(Debug, Clone, Default)]
pub struct Preloaded(Arc<Mutex<Loaded>>);

#[derive(Debug, Default)]
struct Loaded {
    blobs: std::collections::HashMap<ObjectId, Vec<u8>>,
    /// Asked for before they were ready: the writer read them itself.
    taken: std::collections::HashSet<ObjectId>,
    bytes: usize,
    stop: bool,
}

impl Preloaded {
    /// Read the blobs `ids` from `repo` (loose ones without a map) in order, skipping those a
    /// writer already asked for, until all are read, [`Preloaded::stop`] is called, or
    /// [`BUDGET`] bytes wait untaken. A blob that cannot be read is left to the writer.
    pub fn fill(&self, repo: &gix::Repository, ids: impl IntoIterator<Item = ObjectId>) {
        let objects = crate::git::loose::LooseFirst::new(repo);
        for id in ids {
            {
                let Ok(st) = self.0.lock() else { return };
                if st.stop || st.bytes > BUDGET {
                    return;
                }
                if st.taken.contains(&id) || st.blobs.contains_key(&id) {
                    continue;
                }
            }
            let Ok(data) = objects.blob(&id) else {
                continue;
            };
            let Ok(mut st) = self.0.lock() else { return };
            if !st.taken.contains(&id) {
                st.bytes += data.len();
                st.blobs.insert(id, data);
            }
        }
    }

    /// Blob `id`'s data if it is ready (each is given out once); `None`: read it yourself.
    pub fn take(&self, id: &ObjectId) -> Option<Vec<u8>> {
        let mut st = self.0.lock().ok()?;
        match st.blobs.remove(id) {
            Some(data) => {
                st.bytes -= data.len();
                Some(data)
            }
            None => {
                st.taken.insert(*id);
                None
            }
        }
    }

    /// Tell the helper to stop reading.
    pub fn stop(&self) {
        if let Ok(mut st) = self.0.lock() {
            st.stop = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with(blobs: &[&[u8]]) -> (tempfile::TempDir, gix::Repository, Vec<ObjectId>) {
        let dir = tempfile::tempdir().unwrap();
        let repo = gix::init(dir.path()).unwrap();
        let ids = blobs
            .iter()
            .map(|b| repo.write_blob(b).unwrap().detach())
            .collect();
        (dir, repo, ids)
    }

    #[test]
    fn gives_each_blob_in_order_and_none_for_what_it_does_not_hold() {
        let (_d, repo, ids) = repo_with(&[b"a", b"b", b"c", b"d"]);
        let missing = ObjectId::from_hex(b"1111111111111111111111111111111111111111").unwrap();
        let mut list = ids.clone();
        list.insert(1, missing);
        let mut ahead = Prefetch::start(&repo, list);
        assert_eq!(ahead.take(&ids[0]).as_deref(), Some(&b"a"[..]));
        // A blob that cannot be read is the writer's to read (and fail on).
        assert_eq!(ahead.take(&missing), None);
        // Skipping one drops it; asking for one not (or no longer) in the list is None.
        assert_eq!(ahead.take(&ids[2]).as_deref(), Some(&b"c"[..]));
        assert_eq!(ahead.take(&ids[1]), None);
        assert_eq!(ahead.take(&ids[3]).as_deref(), Some(&b"d"[..]));
        assert_eq!(ahead.take(&ids[3]), None);
    }

    #[test]
    fn the_same_blob_twice_is_served_from_the_first_position_still_ahead() {
        let (_d, repo, ids) = repo_with(&[b"x", b"y"]);
        let list = vec![ids[0], ids[1], ids[0]];
        let mut ahead = Prefetch::start(&repo, list);
        assert_eq!(ahead.take(&ids[1]).as_deref(), Some(&b"y"[..]));
        assert_eq!(ahead.take(&ids[0]).as_deref(), Some(&b"x"[..]));
        assert_eq!(ahead.take(&ids[0]), None);
    }

    #[test]
    fn more_than_the_budget_is_read_while_the_writer_takes_it() {
        let big = vec![7u8; BUDGET / 3 + 1];
        let blobs: Vec<Vec<u8>> = (0..8u8)
            .map(|k| {
                let mut b = big.clone();
                b[0] = k;
                b
            })
            .collect();
        let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
        let (_d, repo, ids) = repo_with(&refs);
        let mut ahead = Prefetch::start(&repo, ids.clone());
        for (k, id) in ids.iter().enumerate() {
            let data = ahead.take(id).expect("read ahead");
            assert_eq!(data[0], k as u8);
        }
    }

    #[test]
    fn dropping_it_early_stops_the_reader() {
        let big = vec![1u8; BUDGET + 1];
        let (_d, repo, ids) = repo_with(&[&big, b"2", b"3"]);
        let ahead = Prefetch::start(&repo, ids);
        drop(ahead); // joins: must not hang on the budget
    }

    #[test]
    fn two_writers_order_alternates_front_and_back_runs_and_keeps_every_id_once() {
        let ids: Vec<ObjectId> = (0..7u8)
            .map(|b| ObjectId::from_bytes_or_panic(&[b; 20]))
            .collect();
        let order = for_two_writers(ids.clone(), 3);
        let at = |i: usize| ids[i];
        // Front: 0, 1, 2...; back: the run [4, 5, 6], then [1, 2, 3], then [0].
        assert_eq!(order, vec![at(0), at(4), at(1), at(5), at(2), at(6), at(3)]);
        let mut sorted = order.clone();
        sorted.sort();
        let mut all = ids.clone();
        all.sort();
        assert_eq!(sorted, all);
        assert!(for_two_writers(Vec::new(), 16).is_empty());
        assert_eq!(for_two_writers(vec![at(1)], 16), vec![at(1)]);
    }

    #[test]
    fn preloaded_gives_each_ready_blob_once_and_skips_what_a_writer_read_itself() {
        let (_d, repo, ids) = repo_with(&[b"a", b"b", b"c"]);
        let blobs = Preloaded::default();
        // A writer asked for "b" before the helper got there: it reads it itself.
        assert_eq!(blobs.take(&ids[1]), None);
        blobs.fill(&repo, ids.clone());
        assert_eq!(blobs.take(&ids[0]).as_deref(), Some(&b"a"[..]));
        assert_eq!(blobs.take(&ids[0]), None, "given out once");
        assert_eq!(blobs.take(&ids[1]), None, "skipped: its writer read it");
        assert_eq!(blobs.take(&ids[2]).as_deref(), Some(&b"c"[..]));
        // A blob that cannot be read is left to the writer, and stopping ends the filling.
        let missing = ObjectId::from_hex(b"1111111111111111111111111111111111111111").unwrap();
        let stopped = Preloaded::default();
        stopped.stop();
        stopped.fill(&repo, [missing, ids[0]]);
        assert_eq!(stopped.take(&ids[0]), None);
        assert_eq!(stopped.take(&missing), None);
    }
}
