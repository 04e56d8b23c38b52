//! The index: read once under `index.lock`, edited row by row, written at most once.
//!
//! [`LockedIndex`] takes `index.lock` for one read-modify-write phase and decodes the index
//! under it; [`Rows`] is the one editor of its entries (save, the worktree transition and
//! conflict stages all go through it), so the rules git relies on (one stage-0 entry or
//! stages 1-3 per path, no entries below a path that is a file, sorted order) live here.
//! [`LockedIndex::commit`] writes it back through the lock.

use std::collections::BTreeSet;

use anyhow::{Context as _, Result};
use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::{Flags, Mode, Stage, Stat};
use gix::object::tree::EntryKind;
use gix::ObjectId;

/// `index.lock` held for one read-modify-write phase, and the index read under it.
pub struct LockedIndex {
    lock: gix::lock::File,
    pub file: gix::index::File,
    /// `index.skipHash`: git writes an all-zero trailer then.
    skip_hash: bool,
    /// A cache-tree built for an index that had none (gix can only edit one it read).
    new_tree: Option<gix::index::extension::Tree>,
    /// The thread removing the index an earlier write kept ([`LockedIndex::free_kept_ahead`]).
    freeing: Option<std::thread::JoinHandle<()>>,
}

/// Where a write that replaced the index keeps the index it replaced: `<index>.wtc-old`,
/// beside it. Never read; see [`LockedIndex::free_kept_ahead`].
fn kept_path(index: &std::path::Path) -> std::path::PathBuf {
    let mut name = index.as_os_str().to_owned();
    name.push(".wtc-old");
    name.into()
}

impl LockedIndex {
    /// Take `index.lock` (waiting briefly if git holds it), then read the index.
    pub fn acquire(repo: &gix::Repository) -> Result<Self> {
        Self::acquire_reusing(repo, None)
    }

    /// [`LockedIndex::acquire`], taking `earlier` (this index as read before, its lock since
    /// let go) instead of decoding the file again when the file still holds exactly those
    /// bytes: the same trailing checksum, a SHA-1 of everything before it (never for a zero
    /// trailer, `index.skipHash`). At 100k entries a decode costs ~10 ms.
    pub fn acquire_reusing(
        repo: &gix::Repository,
        earlier: Option<gix::index::File>,
    ) -> Result<Self> {
        let _t = crate::trace::span("index read");
        let path = repo.index_path();
        let lock = gix::lock::File::acquire_to_update_resource(
            &path,
            gix::lock::acquire::Fail::AfterDurationWithBackoff(std::time::Duration::from_secs(3)),
            None,
            0o666,
        )
        .map_err(|_| crate::git::Error::IndexLocked {
            index: path.clone(),
        })?;
        crate::git::locks::record(lock.lock_path());
        crate::faults::point();
        let file = match earlier.filter(|e| still_holds(&path, e)) {
            Some(earlier) => earlier,
            // Like git, don't verify the index's trailing checksum on every read: hashing a
            // 10 MB index with collision-detecting SHA-1 was a third of a sync at 100k files.
            None => gix::index::File::at_or_default(
                &path,
                repo.object_hash(),
                true,
                gix::index::decode::Options::default(),
            )
            .with_context(|| format!("reading the index {}", path.display()))?,
        };
        if file.is_sparse() {
            return Err(crate::git::Error::SparseIndex { index: path }.into());
        }
        let skip_hash = repo
            .config_snapshot()
            .boolean("index.skipHash")
            .unwrap_or(false);
        Ok(LockedIndex {
            lock,
            file,
            skip_hash,
            new_tree: None,
            freeing: None,
        })
    }

    pub fn state(&self) -> &gix::index::State {
        &self.file
    }

    /// Let go of `index.lock` without writing, keeping the index as read (for
    /// [`LockedIndex::acquire_reusing`]).
    pub fn into_file(self) -> gix::index::File {
        self.file
    }

    /// The one editor of this index's entries.
    pub fn rows(&mut self) -> Rows<'_> {
        Rows {
            state: &mut self.file,
        }
    }

    /// Paths with conflict stages (1, 2 or 3).
    pub fn conflicted_paths(&self) -> Vec<String> {
        conflicted_paths(&self.file)
    }

    /// Write the index through the lock and release it. `objects` holds the trees the
    /// cache-tree may name.
    pub fn commit(mut self, objects: &gix::Repository) -> Result<()> {
        self.write_out(objects)?;
        self.commit_written()
    }

    /// The first half of [`LockedIndex::commit`]: the index is encoded and written into
    /// `index.lock`, which stays a lock (the index is unchanged until
    /// [`LockedIndex::commit_written`]; dropping `self` instead throws the lock away).
    pub fn write_out(&mut self, objects: &gix::Repository) -> Result<()> {
        let _t = crate::trace::span("index write");
        // The cache-tree (TREE) stays: every row edit invalidated the directories on its path
        // ([`Rows`]), so what is still marked valid is still true. The invalid nodes get
        // their tree ids back where those trees exist (after a sync or save: every one), as
        // git's checkout and commit leave them, so git's next status and commit skip them.
        self.file.remove_resolve_undo();
        smudge_racy(&mut self.file, objects.stat_options()?);
        let fill = crate::trace::span("index write: cache-tree");
        if !self.file.is_sparse() && self.file.link().is_none() {
            let tree = match self.file.tree_mut() {
                Some(t) => Some(std::mem::replace(t, empty_tree_node(&[]))),
                None => None,
            };
            let mut tree = tree.unwrap_or_else(|| empty_tree_node(&[]));
            fill_cache_tree(&self.file, objects, &mut tree)?;
            match self.file.tree_mut() {
                Some(t) => *t = tree,
                None => self.new_tree = Some(tree),
            }
        }
        drop(fill);
        let enc = crate::trace::span("index write: encode");
        crate::faults::point();
        write_encoded(
            &self.file,
            self.new_tree.as_ref(),
            self.skip_hash,
            &mut self.lock,
        )?;
        drop(enc);
        crate::faults::point();
        Ok(())
    }

    /// Replacing the index frees the replaced file inside the `rename(2)` that puts
    /// `index.lock` in its place, on the command's critical path: at 100k files (a 10 MB
    /// index) ~8 ms on a disk mounted with online discard, ~1.5 ms even on a tmpfs (its
    /// pages). An update that calls this keeps the index it replaces linked at
    /// `<index>.wtc-old` instead (the rename then frees nothing), and removes the one the
    /// previous such write kept here, now, on a thread of its own, while it writes the
    /// worktree. The kept file is never read, by wtc or git; it costs the disk one index
    /// until the next update. Called with the lock held: no other wtc touches it meanwhile.
    pub fn free_kept_ahead(&mut self) {
        let kept = kept_path(&self.lock.resource_path());
        self.freeing = std::thread::Builder::new()
            .spawn(move || {
                let _ = std::fs::remove_file(kept);
            })
            .ok();
    }

    /// The second half of [`LockedIndex::commit`]: `index.lock`, written by
    /// [`LockedIndex::write_out`], becomes the index.
    pub fn commit_written(mut self) -> Result<()> {
        if let Some(freeing) = self.freeing.take() {
            // Once the earlier kept index is gone, keep this one (if a link cannot be made,
            // the rename frees it, as without this).
            if freeing.join().is_ok() {
                let index = self.lock.resource_path();
                let _ = std::fs::hard_link(&index, kept_path(&index));
            }
        }
        self.lock
            .commit()
            .map_err(|e| anyhow::anyhow!("committing index.lock: {}", e.error))?;
        crate::faults::point();
        Ok(())
    }
}

/// Racy git, as git's own index writer handles it: an entry whose file was modified in (or
/// after) the second the index it was read from was written cannot be vouched for by its
/// stat data (a change in that second keeps mtime and size), so readers hash it. Written
/// into a newer index unchanged, it would look trustworthy, and a same-size edit made in
/// that second would vanish from `git status` and could be written over. git hashes such
/// entries when it writes and smudges (size 0) those that changed; wtc does not hash the
/// worktree here and smudges every one that this command did not set itself
/// ([`Rows::set`] marks fresh rows `UPTODATE`, an in-memory flag never written): a reader
/// hashes it once, as it would have in the old index.
fn smudge_racy(file: &mut gix::index::File, opts: gix::index::entry::stat::Options) {
    let read_at = file.timestamp();
    for e in file.entries_mut() {
        let fresh = e.flags.contains(Flags::UPTODATE);
        e.flags.remove(Flags::UPTODATE);
        if fresh
            || e.stat.size == 0
            || e.stage() != Stage::Unconflicted
            || e.mode == Mode::COMMIT
            || e.flags
                .intersects(Flags::SKIP_WORKTREE | Flags::INTENT_TO_ADD)
        {
            continue;
        }
        if e.stat.is_racy(read_at, opts) {
            e.stat.size = 0;
        }
    }
}

/// The row editor for an index that is not locked (a temporary index for a hook).
pub fn edit(state: &mut gix::index::State) -> Rows<'_> {
    Rows { state }
}

/// The bytes of `file` as an index file. The trailing checksum is git's plain SHA-1 of
/// everything before it, computed with a fast SHA-1 (gix's collision-detecting one took a
/// sixth of a sync at 100k files); all zeroes when the repository sets `index.skipHash`, as
/// git writes it then.
///
/// gix's writer issues ~15 small writes per entry (a third of a sync's index write at 100k
/// entries); an index with no extension but the cache-tree (wtc drops the others: it cannot
/// keep them valid) is encoded here in one pass, byte for byte what gix (and git) write:
/// version 2, or 3 when an entry has extended flags; entries padded with 1-8 NULs to a
/// multiple of 8; then the TREE extension as gix writes it.
pub fn encode(file: &gix::index::File, skip_hash: bool) -> Result<Vec<u8>> {
    encode_with(file, None, skip_hash)
}

/// [`encode`] for an index written to a new file (a hook's temporary index), with the racy
/// entries smudged as [`LockedIndex::commit`] does.
pub fn encode_new(
    file: &mut gix::index::File,
    repo: &gix::Repository,
    skip_hash: bool,
) -> Result<Vec<u8>> {
    smudge_racy(file, repo.stat_options()?);
    encode_with(file, None, skip_hash)
}

/// Does the index file at `path` still end in `earlier`'s (non-zero) checksum (a SHA-1 of
/// everything before it)?
fn still_holds(path: &std::path::Path, earlier: &gix::index::File) -> bool {
    use std::os::unix::fs::FileExt as _;
    let Some(sum) = earlier.checksum().filter(|s| !s.is_null()) else {
        return false;
    };
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let len = match file.metadata() {
        Ok(md) => md.len(),
        Err(_) => return false,
    };
    let mut trailer = vec![0u8; sum.as_bytes().len()];
    let Some(at) = len.checked_sub(trailer.len() as u64) else {
        return false;
    };
    file.read_exact_at(&mut trailer, at).is_ok() && trailer == sum.as_bytes()
}

/// Write [`encode_with`]'s bytes into `out`. A plain index (wtc's own encoder) is hashed
/// and written on a second thread chunk by chunk while the next chunk is encoded: at 100k
/// entries the index is ~10 MB, and hashing it costs as much as encoding it. A split index
/// goes through gix's writer, in one buffer.
fn write_encoded(
    file: &gix::index::File,
    new_tree: Option<&gix::index::extension::Tree>,
    skip_hash: bool,
    out: &mut (dyn std::io::Write + Send),
) -> Result<()> {
    if file.is_sparse() || file.link().is_some() {
        let buf = encode_with(file, new_tree, skip_hash)?;
        return out.write_all(&buf).context("writing index.lock");
    }
    let state: &gix::index::State = file;
    use sha1::Digest as _;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    std::thread::scope(|scope| -> Result<()> {
        let writer = scope.spawn(move || -> Result<()> {
            let mut hasher = sha1::Sha1::new();
            for chunk in rx {
                if !skip_hash {
                    hasher.update(&chunk);
                }
                out.write_all(&chunk).context("writing index.lock")?;
            }
            let trailer: [u8; 20] = match skip_hash {
                true => [0; 20],
                false => hasher.finalize().into(),
            };
            out.write_all(&trailer).context("writing index.lock")
        });
        // A failed writer drops the receiver: the send fails, and its error is the one told.
        let encoded = encode_plain_chunks(state, new_tree, 1 << 20, &mut |chunk| {
            tx.send(chunk)
                .map_err(|_| anyhow::anyhow!("the index writer stopped"))
        });
        drop(tx);
        let written = writer
            .join()
            .map_err(|_| anyhow::anyhow!("the index writer panicked"))?;
        written.and(encoded)
    })
}

/// [`encode`], with `new_tree` as the cache-tree when `file` has none.
fn encode_with(
    file: &gix::index::File,
    new_tree: Option<&gix::index::extension::Tree>,
    skip_hash: bool,
) -> Result<Vec<u8>> {
    let mut buf = if !file.is_sparse() && file.link().is_none() {
        encode_plain(file, new_tree)?
    } else {
        let mut buf = Vec::new();
        let options = gix::index::write::Options {
            skip_hash: true,
            ..Default::default()
        };
        file.write_to(&mut buf, options)
            .context("encoding the index")?;
        buf
    };
    if !skip_hash {
        use sha1::Digest as _;
        let body = buf.len() - 20;
        let digest = sha1::Sha1::digest(&buf[..body]);
        buf[body..].copy_from_slice(&digest);
    }
    Ok(buf)
}

/// Header, entries, the cache-tree and a zero trailer (see [`encode`]).
fn encode_plain(
    state: &gix::index::State,
    new_tree: Option<&gix::index::extension::Tree>,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_plain_chunks(state, new_tree, usize::MAX, &mut |chunk| {
        match out.is_empty() {
            true => out = chunk,
            false => out.extend_from_slice(&chunk),
        }
        Ok(())
    })?;
    out.extend_from_slice(&[0u8; 20]);
    Ok(out)
}

/// [`encode_plain`] without the trailer, handed to `sink` in chunks of about `chunk` bytes
/// (the last one shorter), in order.
fn encode_plain_chunks(
    state: &gix::index::State,
    new_tree: Option<&gix::index::extension::Tree>,
    chunk: usize,
    sink: &mut dyn FnMut(Vec<u8>) -> Result<()>,
) -> Result<()> {
    let entries = state.entries();
    let extended = entries.iter().any(|e| e.flags.contains(Flags::EXTENDED));
    let live = entries
        .iter()
        .filter(|e| !e.flags.contains(Flags::REMOVE))
        .count();
    let paths: usize = entries.iter().map(|e| e.path(state).len()).sum();
    // Room for the trailer too, when it all goes in one chunk.
    let capacity = (12 + live * 72 + paths + 20).min(chunk.saturating_add(4096));
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(b"DIRC");
    out.extend_from_slice(&(if extended { 3u32 } else { 2u32 }).to_be_bytes());
    out.extend_from_slice(&(live as u32).to_be_bytes());
    for e in entries {
        if e.flags.contains(Flags::REMOVE) {
            continue;
        }
        let start = out.len();
        let st = e.stat;
        for v in [
            st.ctime.secs,
            st.ctime.nsecs,
            st.mtime.secs,
            st.mtime.nsecs,
            st.dev,
            st.ino,
            e.mode.bits(),
            st.uid,
            st.gid,
            st.size,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(e.id.as_bytes());
        let path = e.path(state);
        let path_len = path.len().min(0x0fff) as u16;
        out.extend_from_slice(&(e.flags.to_storage().bits() | path_len).to_be_bytes());
        if e.flags.contains(Flags::EXTENDED) {
            let ext =
                ((e.flags & (Flags::INTENT_TO_ADD | Flags::SKIP_WORKTREE)).bits() >> 16) as u16;
            out.extend_from_slice(&ext.to_be_bytes());
        }
        out.extend_from_slice(path);
        let len = out.len() - start + 1;
        let pad = 1 + (8 - len % 8) % 8;
        out.extend(std::iter::repeat_n(0u8, pad));
        if out.len() >= chunk {
            sink(std::mem::replace(&mut out, Vec::with_capacity(capacity)))?;
        }
    }
    if let Some(tree) = state.tree().or(new_tree) {
        tree.write_to(&mut out).context("encoding the cache-tree")?;
    }
    sink(out)
}

/// Mark the cache-tree nodes on `path` invalid, as git's `cache_tree_invalidate_path` does
/// for every entry it adds or removes: the root and each directory on the way lose their
/// tree id (git recomputes them on its next commit), and a subtree at `path` itself goes (a
/// directory that became a file). Nodes elsewhere stay valid: their entries did not change.
fn invalidate(tree: &mut gix::index::extension::Tree, path: &[u8]) {
    tree.num_entries = None;
    match path.iter().position(|b| *b == b'/') {
        None => tree.children.retain(|c| c.name.as_slice() != path),
        Some(i) => {
            let (name, rest) = (&path[..i], &path[i + 1..]);
            if let Some(child) = tree.children.iter_mut().find(|c| c.name.as_slice() == name) {
                invalidate(child, rest);
            }
        }
    }
}

fn empty_tree_node(name: &[u8]) -> gix::index::extension::Tree {
    gix::index::extension::Tree {
        name: name.into(),
        id: ObjectId::null(gix::hash::Kind::Sha1),
        num_entries: None,
        children: Vec::new(),
    }
}

/// Recompute the invalid nodes of the cache-tree `root` from `state`'s entries, as git's
/// `cache_tree_update` does, except that nothing is written: a node becomes valid only when
/// the tree its entries make is already in `objects` (it is, after wtc wrote that tree's
/// commit); otherwise it stays invalid and git computes it. Valid nodes are not looked at
/// (every edit below one invalidated it, see [`invalidate`]), so the cost follows the
/// directories that changed. Subtrees with no entries left go; new directories get nodes.
/// A node with a conflict stage or an intent-to-add entry below it stays invalid, as in git.
///
/// Written here because gix 0.90 can read, write and (through its tree editor) build trees,
/// but has nothing that brings an index's cache-tree up to date.
fn fill_cache_tree(
    state: &gix::index::State,
    objects: &gix::Repository,
    root: &mut gix::index::extension::Tree,
) -> Result<()> {
    let entries: Vec<&gix::index::Entry> = state
        .entries()
        .iter()
        .filter(|e| !e.flags.contains(Flags::REMOVE))
        .collect();
    fill_node(state, objects, root, &entries, 0)
}

fn fill_node(
    state: &gix::index::State,
    objects: &gix::Repository,
    node: &mut gix::index::extension::Tree,
    entries: &[&gix::index::Entry],
    prefix_len: usize,
) -> Result<()> {
    if node.num_entries.is_some() {
        return Ok(());
    }
    let mut old: std::collections::HashMap<Vec<u8>, gix::index::extension::Tree> = node
        .children
        .drain(..)
        .map(|c| (c.name.to_vec(), c))
        .collect();
    let mut body = Vec::with_capacity(entries.len() * 48);
    let mut valid = true;
    let mut i = 0;
    while i < entries.len() {
        let e = entries[i];
        let rest = &e.path(state)[prefix_len..];
        match rest.find_byte(b'/') {
            None => {
                if e.stage() != Stage::Unconflicted || e.flags.contains(Flags::INTENT_TO_ADD) {
                    valid = false;
                }
                let mode: &[u8] = match e.mode {
                    Mode::FILE_EXECUTABLE => b"100755",
                    Mode::SYMLINK => b"120000",
                    Mode::COMMIT => b"160000",
                    Mode::DIR => b"40000",
                    _ => b"100644",
                };
                body.extend_from_slice(mode);
                body.push(b' ');
                body.extend_from_slice(rest);
                body.push(0);
                body.extend_from_slice(e.id.as_bytes());
                i += 1;
            }
            Some(slash) => {
                let name = &rest[..=slash]; // with its '/'
                let end = i + entries[i..]
                    .partition_point(|x| x.path(state)[prefix_len..].starts_with(name));
                let name = &name[..slash];
                let mut child = old.remove(name).unwrap_or_else(|| empty_tree_node(name));
                fill_node(
                    state,
                    objects,
                    &mut child,
                    &entries[i..end],
                    prefix_len + slash + 1,
                )?;
                match child.num_entries {
                    Some(_) => {
                        body.extend_from_slice(b"40000 ");
                        body.extend_from_slice(name);
                        body.push(0);
                        body.extend_from_slice(child.id.as_bytes());
                    }
                    None => valid = false,
                }
                node.children.push(child);
                i = end;
            }
        }
    }
    // git keeps subtrees ordered by name length, then bytes (`subtree_name_cmp`).
    node.children
        .sort_by(|a, b| (a.name.len(), a.name.as_slice()).cmp(&(b.name.len(), b.name.as_slice())));
    if valid {
        let id = gix::objs::compute_hash(objects.object_hash(), gix::object::Kind::Tree, &body)?;
        // Asked of the object store itself: `has_object` says yes to the empty tree even
        // where no such object was ever written, and git would then commit a missing tree.
        if crate::git::known_written(objects, &id)
            || gix::objs::Exists::exists(&objects.objects, &id)
        {
            node.id = id;
            node.num_entries = Some(entries.len() as u32);
        }
    }
    Ok(())
}

/// Paths of `state` with conflict stages (1, 2 or 3), sorted.
pub fn conflicted_paths(state: &gix::index::State) -> Vec<String> {
    let set: BTreeSet<String> = state
        .entries()
        .iter()
        .filter(|e| e.stage() != Stage::Unconflicted)
        .map(|e| e.path(state).to_str_lossy().into_owned())
        .collect();
    set.into_iter().collect()
}

/// One stage-0 row: what a path holds once the edit is done (`None`: the path is gone).
#[derive(Debug, Clone)]
pub struct Row {
    pub path: BString,
    pub entry: Option<(ObjectId, EntryKind, Stat)>,
    /// The path stays out of the worktree (sparse checkout): the entry keeps
    /// `SKIP_WORKTREE`.
    pub skip_worktree: bool,
}

/// One conflict stage of a path.
#[derive(Debug, Clone)]
pub struct StageRow {
    pub path: BString,
    pub stage: Stage,
    pub mode: Mode,
    pub id: ObjectId,
}

/// The editor of an index's entries. Every change wtc makes to an index goes through it.
pub struct Rows<'a> {
    state: &'a mut gix::index::State,
}

impl Rows<'_> {
    /// Replace every entry (all stages) of each row's path by the row: an entry with fresh
    /// stat data, or nothing. A path that becomes a file also loses the entries below it
    /// (it was a directory), so the index never holds a file and a directory at one path.
    ///
    /// Cost follows the rows, not the index: each path is found by binary search, a
    /// stage-0 entry is updated in place; only removals take a pass (entries are marked with
    /// gix's own REMOVE flag, then dropped together) and only new paths a sort.
    pub fn set(&mut self, rows: &[Row]) {
        if rows.is_empty() {
            return;
        }
        let mut remove = false;
        let mut push: Vec<&Row> = Vec::new();
        for row in rows {
            if let Some(tree) = self.state.tree_mut() {
                invalidate(tree, &row.path);
            }
            let path = row.path.as_bstr();
            let range = self.state.entry_range(path);
            let in_place = match (&range, row.entry) {
                (Some(r), Some(_)) if r.len() == 1 => {
                    self.state.entries()[r.start].stage() == Stage::Unconflicted
                }
                _ => false,
            };
            if in_place {
                let r = range.expect("checked");
                let (id, kind, stat) = row.entry.expect("checked");
                let e = &mut self.state.entries_mut()[r.start];
                e.id = id;
                e.mode = index_mode(kind);
                e.stat = stat;
                e.flags = flags_of(row) | Flags::UPTODATE;
            } else {
                if let Some(r) = range {
                    for e in &mut self.state.entries_mut()[r] {
                        e.flags.insert(Flags::REMOVE);
                    }
                    remove = true;
                }
                if row.entry.is_some() {
                    push.push(row);
                }
            }
            if row.entry.is_some() {
                // It was a directory: what was below it goes.
                let mut prefix = row.path.clone();
                prefix.push(b'/');
                if let Some(r) = self.state.prefixed_entries_range(prefix.as_bstr()) {
                    for e in &mut self.state.entries_mut()[r] {
                        e.flags.insert(Flags::REMOVE);
                    }
                    remove = true;
                }
            }
        }
        if remove {
            self.state
                .remove_entries(|_, _, e| e.flags.contains(Flags::REMOVE));
        }
        for row in &push {
            let (id, kind, stat) = row.entry.expect("pushed rows have entries");
            self.state.dangerously_push_entry(
                stat,
                id,
                flags_of(row) | Flags::UPTODATE,
                index_mode(kind),
                row.path.as_bstr(),
            );
        }
        if !push.is_empty() {
            self.state.sort_entries();
        }
    }

    /// git's refresh: fresh stat data for stage-0 entries whose files were hashed and found
    /// to hold their entry's content still. The content and the cache-tree stay; the entry
    /// counts as verified by this command (not smudged when the index is written).
    pub fn refresh(&mut self, fresh: &[(BString, Stat)]) {
        for (path, stat) in fresh {
            if let Some(i) = self
                .state
                .entry_index_by_path_and_stage(path.as_bstr(), Stage::Unconflicted)
            {
                let e = &mut self.state.entries_mut()[i];
                e.stat = *stat;
                e.flags.insert(Flags::UPTODATE);
            }
        }
    }

    /// Replace the entries of every staged path by its conflict stages.
    pub fn set_stages(&mut self, stages: &[StageRow]) {
        if stages.is_empty() {
            return;
        }
        for s in stages {
            if let Some(tree) = self.state.tree_mut() {
                invalidate(tree, &s.path);
            }
            if let Some(r) = self.state.entry_range(s.path.as_bstr()) {
                for e in &mut self.state.entries_mut()[r] {
                    e.flags.insert(Flags::REMOVE);
                }
            }
        }
        self.state
            .remove_entries(|_, _, e| e.flags.contains(Flags::REMOVE));
        for s in stages {
            self.state.dangerously_push_entry(
                Stat::default(),
                s.id,
                Flags::from_stage(s.stage),
                s.mode,
                s.path.as_bstr(),
            );
        }
        self.state.sort_entries();
    }
}

/// The flags of a row's entry: SKIP_WORKTREE lives in the extended flags, which gix writes
/// only when EXTENDED says they are there.
fn flags_of(row: &Row) -> Flags {
    match row.skip_worktree {
        true => Flags::SKIP_WORKTREE | Flags::EXTENDED,
        false => Flags::empty(),
    }
}

/// The index mode git uses for a tree entry kind.
pub fn index_mode(kind: EntryKind) -> Mode {
    match kind {
        EntryKind::Blob => Mode::FILE,
        EntryKind::BlobExecutable => Mode::FILE_EXECUTABLE,
        EntryKind::Link => Mode::SYMLINK,
        EntryKind::Commit => Mode::COMMIT,
        EntryKind::Tree => Mode::DIR,
    }
}

/// The tree entry kind of an index mode (`None` for sparse directory entries).
pub fn kind_of_mode(mode: Mode) -> Option<EntryKind> {
    mode.to_tree_entry_mode().map(|m| m.kind())
}

/// The stage-0 entry of `path` as `(id, kind)`, if any.
pub fn stage0(state: &gix::index::State, path: &BStr) -> Option<(ObjectId, Option<EntryKind>)> {
    state
        .entry_by_path_and_stage(path, Stage::Unconflicted)
        .map(|e| (e.id, kind_of_mode(e.mode)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index read earlier is taken again only while the file still holds those bytes: a
    /// `git add` in between (a hook's, say) is seen, never written over.
    #[test]
    fn an_earlier_read_is_reused_only_while_the_file_is_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let git = |args: &[&str]| crate::hermetic::shared().git(d, args);
        git(&["init", "-q"]);
        std::fs::write(d.join("a"), "a").unwrap();
        git(&["add", "a"]);
        let repo = crate::hermetic::open(d);
        let paths = |l: &LockedIndex| -> Vec<String> {
            l.state()
                .entries()
                .iter()
                .map(|e| e.path(l.state()).to_string())
                .collect()
        };
        let earlier = LockedIndex::acquire(&repo).unwrap().into_file();
        let again = LockedIndex::acquire_reusing(&repo, Some(earlier)).unwrap();
        assert_eq!(paths(&again), ["a"]);
        let earlier = again.into_file();
        std::fs::write(d.join("b"), "b").unwrap();
        git(&["add", "b"]);
        let after = LockedIndex::acquire_reusing(&repo, Some(earlier)).unwrap();
        assert_eq!(
            paths(&after),
            ["a", "b"],
            "the index git wrote since is read"
        );
        // A zero trailer (index.skipHash) says nothing: never reused.
        let earlier = after.into_file();
        git(&["-c", "index.skipHash=true", "rm", "-q", "--cached", "b"]);
        let zero = LockedIndex::acquire_reusing(&repo, Some(earlier)).unwrap();
        assert_eq!(paths(&zero), ["a"]);
        let earlier = zero.into_file();
        assert!(!still_holds(&repo.index_path(), &earlier));
    }

    /// wtc's one-pass encoder writes exactly the bytes gix's writer does (git reads both):
    /// plain and extended flags, conflict stages, an intent-to-add entry, a path longer than
    /// the 12-bit length field, every padding length.
    #[test]
    fn the_fast_encoder_writes_gixs_bytes() {
        let id = ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").unwrap();
        for extended in [false, true] {
            let mut state = gix::index::State::new(gix::hash::Kind::Sha1);
            let long = "d/".repeat(2100) + "f";
            let mut paths: Vec<String> = (0..9).map(|n| format!("dir/{}", "x".repeat(n))).collect();
            paths.push(long);
            paths.push("a".into());
            for (i, p) in paths.iter().enumerate() {
                let stat = Stat {
                    mtime: gix::index::entry::stat::Time {
                        secs: i as u32,
                        nsecs: 7,
                    },
                    ctime: gix::index::entry::stat::Time {
                        secs: 3,
                        nsecs: i as u32,
                    },
                    dev: 1,
                    ino: 1000 + i as u32,
                    uid: 5,
                    gid: 6,
                    size: 42,
                };
                let mut flags = match i % 3 {
                    0 => Flags::empty(),
                    1 => Flags::from_stage(Stage::Ours),
                    _ => Flags::ASSUME_VALID,
                };
                if extended && i % 2 == 0 {
                    flags |= Flags::EXTENDED | Flags::SKIP_WORKTREE;
                }
                if extended && i == 3 {
                    flags |= Flags::EXTENDED | Flags::INTENT_TO_ADD;
                }
                let mode = if i % 4 == 0 {
                    Mode::FILE_EXECUTABLE
                } else {
                    Mode::FILE
                };
                state.dangerously_push_entry(stat, id, flags, mode, p.as_str().into());
            }
            state.sort_entries();
            let file = gix::index::File::from_state(state, std::path::PathBuf::from("index"));
            let mut theirs = Vec::new();
            let options = gix::index::write::Options {
                skip_hash: true,
                ..Default::default()
            };
            file.write_to(&mut theirs, options).unwrap();
            assert_eq!(
                encode_plain(&file, None).unwrap(),
                theirs,
                "extended: {extended}"
            );
        }
    }

    /// The pipelined writer writes exactly the bytes of the one-buffer encoder, with and
    /// without the trailer's hash.
    #[test]
    fn the_pipelined_writer_writes_the_encoders_bytes() {
        let id = ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").unwrap();
        let mut state = gix::index::State::new(gix::hash::Kind::Sha1);
        for n in 0..30_000u32 {
            let path = format!("dir{}/sub/file-{n}.txt", n % 97);
            state.dangerously_push_entry(
                Stat::default(),
                id,
                Flags::empty(),
                Mode::FILE,
                path.as_str().into(),
            );
        }
        state.sort_entries();
        let file = gix::index::File::from_state(state, std::path::PathBuf::from("index"));
        for skip_hash in [false, true] {
            let mut piped = Vec::new();
            write_encoded(&file, None, skip_hash, &mut piped).unwrap();
            assert!(piped.len() > 2 << 20, "several chunks");
            assert_eq!(piped, encode_with(&file, None, skip_hash).unwrap());
        }
    }

    /// The index file at `path`, checksum verified.
    fn read_index(path: &std::path::Path) -> gix::index::File {
        gix::index::File::at(path, gix::hash::Kind::Sha1, false, Default::default()).unwrap()
    }

    /// The cache-tree node `name` directly below `tree`.
    fn child<'t>(
        tree: &'t gix::index::extension::Tree,
        name: &str,
    ) -> Option<&'t gix::index::extension::Tree> {
        tree.children
            .iter()
            .find(|c| c.name.as_slice() == name.as_bytes())
    }

    /// Entries git never writes into a tree as they are keep their directories invalid:
    /// conflict stages and intent-to-add entries, whatever trees exist.
    #[test]
    fn conflicts_and_intent_to_add_keep_their_directories_invalid() {
        let h = crate::hermetic::shared();
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        h.git(d, &["init", "-q", "-b", "main"]);
        for p in ["a/x.txt", "b/y.txt", "c/z.txt", "top.txt"] {
            std::fs::create_dir_all(d.join(p).parent().unwrap()).unwrap();
            std::fs::write(d.join(p), p).unwrap();
        }
        h.git(d, &["add", "-A"]);
        h.git(d, &["commit", "-qm", "base"]);
        std::fs::write(d.join("b/new.txt"), "new").unwrap();
        h.git(d, &["add", "-N", "b/new.txt"]);
        let repo = crate::hermetic::open(d);
        let x =
            ObjectId::from_hex(h.git(d, &["rev-parse", "HEAD:a/x.txt"]).trim().as_bytes()).unwrap();
        let mut locked = LockedIndex::acquire(&repo).unwrap();
        locked.rows().set_stages(&[
            StageRow {
                path: "a/x.txt".into(),
                stage: Stage::Base,
                mode: Mode::FILE,
                id: x,
            },
            StageRow {
                path: "a/x.txt".into(),
                stage: Stage::Ours,
                mode: Mode::FILE,
                id: x,
            },
        ]);
        locked.commit(&repo).unwrap();
        let file = read_index(&repo.index_path());
        let tree = file.tree().expect("a cache-tree");
        let node = |name: &str| child(tree, name);
        assert!(tree.num_entries.is_none(), "the root holds both");
        assert!(
            node("a").is_some_and(|n| n.num_entries.is_none()),
            "a conflict in a"
        );
        assert!(
            node("b").is_some_and(|n| n.num_entries.is_none()),
            "intent-to-add in b"
        );
        let c = node("c").expect("c");
        assert_eq!(c.num_entries, Some(1));
        assert_eq!(
            c.id.to_string(),
            h.git(d, &["rev-parse", "HEAD:c"]).trim(),
            "untouched c: still HEAD's"
        );
    }

    /// After row edits, the cache-tree wtc writes is sound: every node still marked valid is
    /// the tree git computes from the entries themselves (`git write-tree` trusts valid
    /// nodes, so a stale one would make git commit a wrong tree), untouched directories stay
    /// valid, and a directory that became a file loses its node.
    #[test]
    fn row_edits_keep_a_sound_cache_tree() {
        let h = crate::hermetic::shared();
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        h.git(d, &["init", "-q", "-b", "main"]);
        for p in [
            "a/x.txt",
            "a/deep/y.txt",
            "b/z.txt",
            "c/w.txt",
            "e/v.txt",
            "top.txt",
        ] {
            std::fs::create_dir_all(d.join(p).parent().unwrap()).unwrap();
            std::fs::write(d.join(p), p).unwrap();
        }
        h.git(d, &["add", "-A"]);
        h.git(d, &["commit", "-qm", "base"]); // git writes a valid cache-tree
        let repo = crate::hermetic::open(d);
        let new_blob = {
            std::fs::write(d.join("new.txt"), "new").unwrap();
            let hex = h.git(d, &["hash-object", "-w", "new.txt"]);
            std::fs::remove_file(d.join("new.txt")).unwrap();
            ObjectId::from_hex(hex.trim().as_bytes()).unwrap()
        };
        let row = |p: &str, keep: bool| Row {
            path: p.into(),
            entry: keep.then_some((new_blob, EntryKind::Blob, Stat::default())),
            skip_worktree: false,
        };
        let mut locked = LockedIndex::acquire(&repo).unwrap();
        assert!(locked
            .state()
            .tree()
            .is_some_and(|t| t.num_entries.is_some()));
        // Modify in a/deep, remove c/w.txt, add d/new.txt, and turn directory b into a file.
        locked.rows().set(&[
            row("a/deep/y.txt", true),
            row("c/w.txt", false),
            row("d/new.txt", true),
            row("b", true),
        ]);
        locked.commit(&repo).unwrap();
        let file = read_index(&repo.index_path());
        let tree = file.tree().expect("the cache-tree is kept");
        let node = |name: &str| child(tree, name);
        assert!(tree.num_entries.is_none(), "the root changed");
        assert!(
            node("a").unwrap().num_entries.is_none(),
            "a/deep changed below a"
        );
        assert!(node("b").is_none(), "b is a file now");
        assert!(node("c").is_none(), "c has no entries left");
        assert!(
            node("d").is_some_and(|d| d.num_entries.is_none()),
            "a new directory gets a node, invalid while its tree does not exist"
        );
        assert!(
            node("e").unwrap().num_entries.is_some(),
            "untouched: still valid"
        );
        // The truth: the tree of the same entries with no cache-tree at all.
        let mut plain = file.clone();
        plain.remove_tree();
        let copy = d.join(".git/plain-index");
        std::fs::write(&copy, encode(&plain, false).unwrap()).unwrap();
        let mut cmd = h.command("git", d);
        cmd.args(["write-tree"]).env("GIT_INDEX_FILE", &copy);
        let output = {
            let _spawning = crate::hermetic::spawning();
            cmd.output().unwrap()
        };
        let truth = String::from_utf8(output.stdout).unwrap();
        assert_eq!(h.git(d, &["write-tree"]).trim(), truth.trim());
        h.git(d, &["fsck", "--no-progress"]);

        // Now the trees exist (git wrote them): the next write fills every node, exactly as
        // git's own cache-tree for the same entries (its write-tree just wrote one in `copy`).
        LockedIndex::acquire(&repo).unwrap().commit(&repo).unwrap();
        let ours = read_index(&repo.index_path());
        let gits = read_index(&copy);
        fn flat(t: &gix::index::extension::Tree, out: &mut Vec<String>, at: &str) {
            let here = format!("{at}{}/", t.name.to_str_lossy());
            out.push(format!("{here} {:?} {}", t.num_entries, t.id));
            for c in &t.children {
                flat(c, out, &here);
            }
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        flat(ours.tree().unwrap(), &mut a, "");
        flat(gits.tree().unwrap(), &mut b, "");
        assert_eq!(a, b);
        assert_eq!(ours.tree().unwrap().id.to_string(), truth.trim());

        // An index without any cache-tree gets a whole one.
        let mut bare = read_index(&repo.index_path());
        bare.remove_tree();
        std::fs::write(repo.index_path(), encode(&bare, false).unwrap()).unwrap();
        LockedIndex::acquire(&repo).unwrap().commit(&repo).unwrap();
        let (mut c, ours) = (Vec::new(), read_index(&repo.index_path()));
        flat(ours.tree().expect("a cache-tree is written"), &mut c, "");
        assert_eq!(c, b);
    }
}
