//! The obstacle check's look at tracked files, made ahead on a thread of its own while a
//! sync still folds its lanes in memory: the paths each lane changes are known as soon as
//! its diff is (`ops::merge::DiffsAhead` hands them over), long before the merged tree and
//! the index lock. Judging whether a tracked file still holds what the index says is the
//! dear part of the check (files the index cannot vouch for by their stat data, the racily
//! clean ones above all, are hashed); made here, it runs while the fold's own thread waits
//! for diffs, instead of after the fold, on the way to the write.
//!
//! Nothing here decides anything alone. A verdict is used by the check only when:
//! - the index the check reads under its lock is byte for byte the one judged against (the
//!   same trailing checksum; never with `index.skipHash`'s zero trailer), and
//! - it is about the very leaf the check asks for at that path (the index's).
//!
//! Each verdict carries the file's fingerprint from the `lstat` made before its bytes were
//! read, which the check notes as what it saw: the write compares every path with it again,
//! so a file changed since the look is never written over (the same rule as for a look made
//! by the check itself, a few milliseconds later).

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};

use gix::bstr::{BString, ByteSlice};
use gix::index::entry::Stage;
use gix::ObjectId;

use super::diff::Leaf;
use super::entry::{Files, Fingerprint};
use crate::git::index::kind_of_mode;

/// What the look found at one path.
#[derive(Debug, Clone, Copy)]
struct Verdict {
    /// The leaf judged against: the index's at that path.
    leaf: Leaf,
    /// The file holds exactly `leaf`.
    holds: bool,
    /// Its fingerprint before it was read (`None`: nothing there).
    seen: Option<Fingerprint>,
}

/// Verdicts made against one index.
#[derive(Debug, Default)]
pub struct Prejudged {
    /// The trailing checksum of the index judged against.
    checksum: Option<ObjectId>,
    verdicts: HashMap<BString, Verdict>,
    /// The index as read (decoded once: the lock may take it over).
    index: Option<gix::index::File>,
}

impl Prejudged {
    /// The index these verdicts were made against, for the lock to take over when the file
    /// still holds it ([`crate::git::index::LockedIndex::acquire_reusing`]).
    pub fn take_index(&mut self) -> Option<gix::index::File> {
        self.index.take()
    }

    /// The verdicts, when `index` (read under the lock) is the very index judged against.
    pub fn valid_for(&self, index: &gix::index::File) -> Option<&Self> {
        let then = self.checksum.filter(|c| !c.is_null())?;
        (index.checksum() == Some(then)).then_some(self)
    }

    /// Does the file at `path` hold `leaf`, and what did it look like (the fingerprint to
    /// note)? `None` when this was not judged (then the check looks itself).
    pub fn holds(&self, path: &[u8], leaf: Leaf) -> Option<(bool, Option<Fingerprint>)> {
        let v = self.verdicts.get(path.as_bstr())?;
        (v.leaf == leaf).then_some((v.holds, v.seen))
    }

    pub fn len(&self) -> usize {
        self.verdicts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.verdicts.is_empty()
    }
}

/// The thread that judges, and where to send it paths.
pub struct Prejudge {
    paths: Sender<Vec<BString>>,
    thread: std::thread::JoinHandle<Prejudged>,
}

impl Prejudge {
    /// Start judging in `repo`'s worktree: the thread reads the index, then judges every
    /// path sent to it (those the index has a file for) until every sender is gone.
    pub fn start(repo: &gix::Repository) -> Option<Self> {
        let root = repo.workdir()?.to_owned();
        let (paths, incoming) = std::sync::mpsc::channel();
        let shared = repo.clone().into_sync();
        let thread = std::thread::spawn(move || {
            crate::helpers::work_behind();
            let repo = shared.to_thread_local();
            judge(&repo, root, incoming).unwrap_or_default()
        });
        Some(Prejudge { paths, thread })
    }

    /// Where to send the paths to judge (each batch is judged as it comes).
    pub fn sender(&self) -> Sender<Vec<BString>> {
        self.paths.clone()
    }

    /// Wait for the verdicts: every other sender must be gone (or going) by now.
    pub fn finish(self) -> Prejudged {
        drop(self.paths);
        self.thread.join().unwrap_or_default()
    }
}

fn judge(
    repo: &gix::Repository,
    root: std::path::PathBuf,
    incoming: Receiver<Vec<BString>>,
) -> anyhow::Result<Prejudged> {
    let _t = crate::trace::span("prejudge: the lanes' paths");
    // Read as the lock reads it (no trailer check); an index that is being replaced is read
    // whole, old or new: the check uses these verdicts only for the very file it locks.
    let index = gix::index::File::at_or_default(
        repo.index_path(),
        repo.object_hash(),
        true,
        gix::index::decode::Options::default(),
    )?;
    if index.is_sparse() {
        return Ok(Prejudged::default());
    }
    let mut files = Files::with_index(repo, root, &index)?;
    // Each path's first `lstat` is noted by the judging itself, before it reads the file.
    files.note_fingerprints();
    let mut judged: HashMap<BString, (Leaf, bool)> = HashMap::new();
    for batch in incoming {
        for path in batch {
            if judged.contains_key(&path) {
                continue;
            }
            let Some(e) = index.entry_by_path_and_stage(path.as_bstr(), Stage::Unconflicted) else {
                continue;
            };
            let Some(kind) = kind_of_mode(e.mode) else {
                continue;
            };
            let leaf = Leaf { id: e.id, kind };
            // A path that cannot be judged here (a filter that fails) is left to the check,
            // which reports it.
            if let Ok(holds) = files.holds(path.as_bstr(), leaf, &index) {
                judged.insert(path, (leaf, holds));
            }
        }
    }
    let mut noted = files.take_noted();
    drop(files);
    // A path judged without a look (a submodule) is left to the check.
    let verdicts = judged
        .into_iter()
        .filter_map(|(path, (leaf, holds))| {
            let seen = noted.remove(&path)?;
            Some((path, Verdict { leaf, holds, seen }))
        })
        .collect();
    Ok(Prejudged {
        checksum: index.checksum(),
        verdicts,
        index: Some(index),
    })
}
