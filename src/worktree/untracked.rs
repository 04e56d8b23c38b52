//! The untracked files of a worktree, found without reading every directory each time.
//!
//! `save` (and every dirty check) needs the untracked, not-ignored files of the whole
//! worktree. gix's directory walk reads every directory on every call: at 100k files that is
//! ~100 of a save's ~250 ms. gix 0.90 has no untracked cache (git's `UNTR` extension), so
//! this module keeps its own, in the worktree's git dir (`wtc/untracked-cache`; never in
//! the index, so git never sees it): for each directory, its stat data, what it held, and
//! which of its entries were untracked or ignored. A directory is read again when any input
//! of that answer may have changed:
//! - its own stat data (creating, removing or renaming an entry changes a directory's
//!   mtime and ctime; a directory changed less than [`RACY`] before it was read is never
//!   trusted, as git treats racily clean index entries: a change in the same timestamp
//!   tick would leave the same stat data);
//! - the index entries directly in it (a `git add` or `git rm --cached` changes which of
//!   its files are untracked without touching the directory);
//! - the ignore rules that apply to it: its own `.gitignore` and those above it (by
//!   content), `info/exclude`, `core.excludesFile` and the settings the walk depends on (a
//!   change there drops the whole cache).
//!
//! What it answers is what gix's status walk answers with untracked files listed one by one
//! (the tests compare them, and `git status`): ignored files and directories excluded,
//! `.git` never listed, symlinks listed as files, untracked directories holding a
//! repository reported as nested, gitlinks not entered. `git config wtc.untrackedCache
//! false` turns it off (then gix walks everything, as before).

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::os::unix::io::{AsRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use gix::bstr::{BStr, BString, ByteSlice, ByteVec};

/// The setting that turns the cache off (`false`).
pub const SETTING: &str = "wtc.untrackedCache";

/// A directory whose mtime or ctime is less than this before the moment it was read is read
/// again next time: a change within the same tick of the file system's clock (up to 2 s on
/// FAT, one jiffy on ext4) could leave its stat data as it was.
pub const RACY: Duration = Duration::from_secs(2);

/// Bump when the file format or what a record means changes: an old file is then ignored.
const MAGIC: &[u8] = b"wtc untracked-cache 2\n";

/// What the walk found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    /// Untracked, not-ignored files and symlinks, sorted.
    pub files: Vec<BString>,
    /// Untracked directories that hold a repository of their own, sorted.
    pub nested: Vec<BString>,
    /// How many directories were read (the rest came from the cache).
    pub read: usize,
}

/// Is the cache on for `repo` (`wtc.untrackedCache`, default true; never with
/// `core.ignoreCase`, whose folding the records do not model)? An invalid value is an error
/// naming the key.
pub fn enabled(repo: &gix::Repository) -> Result<bool, super::Error> {
    let config = repo.config_snapshot();
    let on = match config.try_boolean(SETTING) {
        Ok(None) => true,
        Ok(Some(b)) => b,
        Err(_) => {
            return Err(super::Error::InvalidSetting {
                key: SETTING,
                value: config
                    .string(SETTING)
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            })
        }
    };
    Ok(on && !config.boolean("core.ignoreCase").unwrap_or(false))
}

/// The untracked files of `repo`'s worktree, judged against `index`, through the cache.
pub fn find(repo: &gix::Repository, index: &gix::index::State) -> Result<Found> {
    let _t = crate::trace::span("status: untracked");
    find_at(repo, index, SystemTime::now())
}

/// [`find`] as if the clock said `now` (tests move it forward to see records trusted).
pub(crate) fn find_at(
    repo: &gix::Repository,
    index: &gix::index::State,
    now: SystemTime,
) -> Result<Found> {
    let root = repo.workdir().context("a worktree is needed")?.to_owned();
    let cache_path = repo.git_dir().join("wtc").join("untracked-cache");
    let globals = globals_key(repo, &root);
    let t = crate::trace::span("untracked: load");
    let old = Cache::load(&cache_path, globals).unwrap_or_default();
    let old_len = old.dirs.len();
    drop(t);
    let t = crate::trace::span("untracked: tracked");
    let tracked = Tracked::of(index);
    drop(t);
    let t = crate::trace::span("untracked: walk");
    let mut excludes = repo.excludes(
        index,
        None,
        gix::worktree::stack::state::ignore::Source::WorktreeThenIdMappingIfNotSkipped,
    )?;
    let mut walk = Walk {
        root: &root,
        index,
        tracked: &tracked,
        new: Cache {
            globals,
            dirs: HashMap::with_capacity(old_len.max(64)),
        },
        old,
        trust_before: now.checked_sub(RACY).unwrap_or(SystemTime::UNIX_EPOCH),
        found: Found::default(),
        changed: false,
    };
    walk.run(&mut |rela, is_dir| {
        let mode = match is_dir {
            true => gix::index::entry::Mode::DIR,
            false => gix::index::entry::Mode::FILE,
        };
        Ok(excludes.at_entry(rela, Some(mode))?.is_excluded())
    })?;
    drop(t);
    let _t = crate::trace::span("untracked: store");
    let Walk {
        mut found,
        new,
        changed,
        ..
    } = walk;
    if changed || new.dirs.len() != old_len {
        // Best effort: a cache that cannot be written is only slower next time.
        let _ = new.store(&cache_path);
    }
    found.files.sort();
    found.nested.sort();
    Ok(found)
}

/// What decides every answer at once: the ignore rules outside the tree and the settings
/// the walk depends on. Any change drops every record.
fn globals_key(repo: &gix::Repository, root: &Path) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    root.hash(&mut h);
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    read(&repo.common_dir().join("info").join("exclude")).hash(&mut h);
    let config = repo.config_snapshot();
    let excludes_file = config
        .trusted_path("core.excludesFile")
        .ok()
        .flatten()
        .or_else(|| {
            let xdg = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
            xdg.map(|d| d.join("git").join("ignore"))
        });
    excludes_file.hash(&mut h);
    if let Some(p) = &excludes_file {
        read(p).hash(&mut h);
    }
    h.finish()
}

/// A directory's stat data: what changes when an entry is created, removed or renamed in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct DirStat {
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl DirStat {
    fn of_stat(st: &libc::stat) -> Self {
        DirStat {
            dev: st.st_dev,
            ino: st.st_ino,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }

    /// Changed before `t` (both times): then a later change cannot leave the same stat data.
    fn settled_before(&self, t: SystemTime) -> bool {
        let at = |(s, ns): (i64, i64)| {
            u64::try_from(s)
                .ok()
                .map(|s| SystemTime::UNIX_EPOCH + Duration::new(s, ns.clamp(0, 999_999_999) as u32))
        };
        [self.mtime, self.ctime]
            .into_iter()
            .all(|x| at(x).is_some_and(|x| x < t))
    }
}

/// One directory as it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Record {
    stat: DirStat,
    /// Read long enough after its last change to be trusted next time.
    trusted: bool,
    /// [`Tracked::names`] of this directory when it was read.
    tracked: u64,
    /// The content hash of its `.gitignore` (0: none).
    gitignore: u64,
    /// It holds a `.git`: a repository of its own when it is untracked.
    has_dot_git: bool,
    /// Its subdirectories and whether the rules ignore them.
    dirs: Vec<(BString, bool)>,
    /// Its untracked, not-ignored files and symlinks.
    untracked: Vec<BString>,
}

/// The records of one walk, by directory (relative, `""` for the top).
#[derive(Debug, Default)]
struct Cache {
    globals: u64,
    dirs: HashMap<BString, Record>,
}

/// What the index says about directories: a hash of the names of the entries directly in
/// each, and which directories hold tracked entries at all (or are gitlinks).
struct Tracked<'i> {
    names: HashMap<&'i BStr, u64>,
    dirs: HashSet<&'i BStr>,
    gitlinks: HashSet<&'i BStr>,
}

/// FNV-1a: the names are short and many (one per index entry); SipHash costs more here.
fn fnv(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl<'i> Tracked<'i> {
    fn of(index: &'i gix::index::State) -> Self {
        let mut names: HashMap<&BStr, u64> = HashMap::new();
        let mut dirs: HashSet<&BStr> = HashSet::new();
        let mut gitlinks = HashSet::new();
        dirs.insert(BStr::new(""));
        let mut current: Option<(&BStr, u64)> = None;
        for e in index.entries() {
            let path = e.path(index);
            if e.mode == gix::index::entry::Mode::COMMIT {
                gitlinks.insert(path);
            }
            let (parent, name) = super::dir_and_name(path);
            let one = fnv(name, u64::from(e.mode.bits()));
            match &mut current {
                Some((p, sum)) if *p == parent => *sum = sum.wrapping_add(one),
                _ => {
                    if let Some((p, sum)) = current.take() {
                        let slot = names.entry(p).or_default();
                        *slot = slot.wrapping_add(sum);
                    }
                    current = Some((parent, one));
                    // Every ancestor of a tracked entry is a tracked directory.
                    let mut d = parent;
                    while !d.is_empty() && dirs.insert(d) {
                        d = super::dir_and_name(d).0;
                    }
                }
            }
        }
        if let Some((p, sum)) = current {
            let slot = names.entry(p).or_default();
            *slot = slot.wrapping_add(sum);
        }
        Tracked {
            names,
            dirs,
            gitlinks,
        }
    }
}

struct Walk<'a> {
    root: &'a Path,
    index: &'a gix::index::State,
    tracked: &'a Tracked<'a>,
    /// Records of the last walk, taken out as their directories are visited.
    old: Cache,
    new: Cache,
    trust_before: SystemTime,
    found: Found,
    /// A directory was read: the stored cache is out of date.
    changed: bool,
}

/// Is the path (relative, `/`-separated) excluded, as a directory or not?
type Excluded<'x> = dyn FnMut(&BStr, bool) -> Result<bool> + 'x;

impl Walk<'_> {
    fn run(&mut self, excluded: &mut Excluded<'_>) -> Result<()> {
        // (directory, its parent's descriptor, the rules above it changed, it is untracked).
        // Each directory is opened by its name in its parent's descriptor and stat'ed
        // through its own ([`super::dirfd`]): no lookup of its whole path, at every one of
        // thousands of directories.
        type Todo = (BString, Option<Rc<OwnedFd>>, bool, bool);
        let mut todo: Vec<Todo> = vec![(BString::default(), None, false, false)];
        while let Some((rel, parent, rules_changed, untracked)) = todo.pop() {
            let abs = match rel.is_empty() {
                true => self.root.to_owned(),
                false => self.root.join(gix::path::from_bstr(rel.as_bstr())?),
            };
            let fd = match &parent {
                None => crate::dirfd::open(&abs),
                Some(at) => {
                    crate::dirfd::open_at(at.as_raw_fd(), super::dir_and_name(rel.as_bstr()).1)
                }
            };
            // Gone since its parent was read, or no (longer a) directory.
            let Some(fd) = fd else { continue };
            let Some(st) = crate::dirfd::stat(&fd) else {
                continue;
            };
            let fd = Rc::new(fd);
            let stat = DirStat::of_stat(&st);
            let tracked_names = self.tracked.names.get(rel.as_bstr()).copied().unwrap_or(0);
            let old = self.old.dirs.remove(&rel);
            let gitignore_now = |has: bool| match has {
                true => content_hash(&abs.join(".gitignore")),
                false => 0,
            };
            let reusable = old.as_ref().is_some_and(|o| {
                !rules_changed
                    && o.trusted
                    && o.stat == stat
                    && o.tracked == tracked_names
                    && gitignore_now(o.gitignore != 0) == o.gitignore
            });
            let (record, rules_changed) = match (old, reusable) {
                (Some(o), true) => (o, false),
                (old, _) => {
                    self.changed = true;
                    self.found.read += 1;
                    let r = self.read(&rel, &abs, stat, tracked_names, excluded)?;
                    let changed = rules_changed || old.is_none_or(|o| o.gitignore != r.gitignore);
                    (r, changed)
                }
            };
            let join = |name: &BStr| -> BString {
                let mut p = rel.clone();
                if !p.is_empty() {
                    p.push_byte(b'/');
                }
                p.push_str(name);
                p
            };
            if untracked && record.has_dot_git && gix::discover::is_git(&abs.join(".git")).is_ok() {
                // An untracked directory holding a repository: that repository's, not ours.
                self.found.nested.push(rel.clone());
                self.new.dirs.insert(rel, record);
                continue;
            }
            for name in &record.untracked {
                self.found.files.push(join(name.as_bstr()));
            }
            for (name, ignored) in &record.dirs {
                let path = join(name.as_bstr());
                let is_tracked = self.tracked.dirs.contains(path.as_bstr());
                if self.tracked.gitlinks.contains(path.as_bstr()) {
                    continue; // a submodule: its own repository
                }
                if *ignored && !is_tracked {
                    continue;
                }
                todo.push((path, Some(Rc::clone(&fd)), rules_changed, !is_tracked));
            }
            self.new.dirs.insert(rel, record);
        }
        Ok(())
    }

    /// Read the directory `rel` afresh.
    fn read(
        &mut self,
        rel: &BString,
        abs: &Path,
        stat: DirStat,
        tracked: u64,
        excluded: &mut Excluded<'_>,
    ) -> Result<Record> {
        let mut record = Record {
            stat,
            trusted: stat.settled_before(self.trust_before),
            tracked,
            ..Record::default()
        };
        let entries = match std::fs::read_dir(abs) {
            Ok(entries) => entries,
            // As git: a directory that cannot be opened (permissions) holds nothing it can
            // see; never trusted, so it is tried again next time.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                record.trusted = false;
                return Ok(record);
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", abs.display())),
        };
        let mut path = rel.clone();
        let base = path.len();
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", abs.display()))?;
            let name = gix::path::os_str_into_bstr(&entry.file_name())?.to_owned();
            if name == ".git" {
                record.has_dot_git = true;
                continue;
            }
            if name == ".gitignore" {
                record.gitignore = content_hash(&entry.path());
            }
            let kind = match entry.file_type() {
                Ok(t) => t,
                Err(_) => continue,
            };
            path.truncate(base);
            if !path.is_empty() {
                path.push_byte(b'/');
            }
            path.push_str(&name);
            if kind.is_dir() {
                // What the rules say, whatever the index says: a directory tracked now may
                // be untracked when this record is used (the walk enters a tracked one
                // whatever the rules say; its untracked files are then judged one by one).
                let ignored = excluded(path.as_bstr(), true)
                    .with_context(|| format!("matching ignore rules for {path}"))?;
                record.dirs.push((name, ignored));
                continue;
            }
            if !(kind.is_file() || kind.is_symlink()) {
                continue; // sockets, fifos: nothing git records
            }
            if self.index.entry_by_path(path.as_bstr()).is_some() {
                continue;
            }
            if excluded(path.as_bstr(), false)
                .with_context(|| format!("matching ignore rules for {path}"))?
            {
                continue;
            }
            record.untracked.push(name);
        }
        record.dirs.sort();
        record.untracked.sort();
        Ok(record)
    }
}

/// A hash of a file's content; 0 when it cannot be read (or is not there).
fn content_hash(p: &Path) -> u64 {
    match std::fs::read(p) {
        Ok(bytes) => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            h.finish() | 1
        }
        Err(_) => 0,
    }
}

impl Cache {
    /// The stored cache, if it was made under the same `globals`.
    fn load(path: &Path, globals: u64) -> Option<Cache> {
        let bytes = std::fs::read(path).ok()?;
        let mut r = Reader(bytes.strip_prefix(MAGIC)?);
        if r.u64()? != globals {
            return None;
        }
        let n = r.u64()? as usize;
        let mut dirs = HashMap::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let rel = r.bytes()?;
            let stat = DirStat {
                dev: r.u64()?,
                ino: r.u64()?,
                mtime: (r.u64()? as i64, r.u64()? as i64),
                ctime: (r.u64()? as i64, r.u64()? as i64),
            };
            let flags = r.u64()?;
            let tracked = r.u64()?;
            let gitignore = r.u64()?;
            let ndirs = r.u64()? as usize;
            let mut sub = Vec::with_capacity(ndirs.min(1 << 16));
            for _ in 0..ndirs {
                let ignored = r.u64()? == 1;
                sub.push((r.bytes()?, ignored));
            }
            let nfiles = r.u64()? as usize;
            let mut untracked = Vec::with_capacity(nfiles.min(1 << 16));
            for _ in 0..nfiles {
                untracked.push(r.bytes()?);
            }
            dirs.insert(
                rel,
                Record {
                    stat,
                    trusted: flags & 1 != 0,
                    has_dot_git: flags & 2 != 0,
                    tracked,
                    gitignore,
                    dirs: sub,
                    untracked,
                },
            );
        }
        (r.0.is_empty()).then_some(Cache { globals, dirs })
    }

    /// Write the cache next to where it goes, then rename it there (a reader sees the old
    /// file or the new one, never half of one).
    fn store(&self, path: &Path) -> Result<()> {
        let mut out = Vec::with_capacity(64 * self.dirs.len() + 64);
        out.extend_from_slice(MAGIC);
        let u = |out: &mut Vec<u8>, v: u64| out.extend_from_slice(&v.to_le_bytes());
        let b = |out: &mut Vec<u8>, v: &[u8]| {
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
            out.extend_from_slice(v);
        };
        u(&mut out, self.globals);
        u(&mut out, self.dirs.len() as u64);
        for (rel, r) in &self.dirs {
            b(&mut out, rel);
            for v in [
                r.stat.dev,
                r.stat.ino,
                r.stat.mtime.0 as u64,
                r.stat.mtime.1 as u64,
                r.stat.ctime.0 as u64,
                r.stat.ctime.1 as u64,
                r.trusted as u64 | (r.has_dot_git as u64) << 1,
                r.tracked,
                r.gitignore,
                r.dirs.len() as u64,
            ] {
                u(&mut out, v);
            }
            for (name, ignored) in &r.dirs {
                u(&mut out, *ignored as u64);
                b(&mut out, name);
            }
            u(&mut out, r.untracked.len() as u64);
            for name in &r.untracked {
                b(&mut out, name);
            }
        }
        let dir = path.parent().context("the cache lives in a directory")?;
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, &out)?;
        tmp.persist(path)?;
        Ok(())
    }
}

/// Reads the cache file's little-endian numbers and length-prefixed strings.
struct Reader<'b>(&'b [u8]);

impl Reader<'_> {
    fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_le_bytes(*head))
    }

    fn bytes(&mut self) -> Option<BString> {
        let n = usize::try_from(self.u64()?).ok()?;
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head.into())
    }
}

#[cfg(test)]
mod tests {
    //! The cached walk against gix's own walk (what status used before) and `git status`,
    //! over a worktree changed in every way that changes the answer.
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        crate::hermetic::shared().git(dir, args)
    }

    fn write(p: &Path, s: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }

    /// gix's answer: its status walk with untracked files listed one by one.
    fn gix_answer(repo: &gix::Repository) -> (Vec<BString>, Vec<BString>) {
        use gix::status::index_worktree::Item as IW;
        let iter = repo
            .status(gix::progress::Discard)
            .unwrap()
            .untracked_files(gix::status::UntrackedFiles::Files)
            .index_worktree_rewrites(None)
            .index_worktree_submodules(None)
            .into_index_worktree_iter(Vec::<BString>::new())
            .unwrap();
        let (mut files, mut nested) = (Vec::new(), Vec::new());
        for item in iter {
            if let IW::DirectoryContents { entry, .. } = item.unwrap() {
                use gix::dir::entry::{Kind, Status};
                match (entry.status, entry.disk_kind) {
                    (Status::Untracked, Some(Kind::File | Kind::Symlink)) => {
                        files.push(entry.rela_path)
                    }
                    (Status::Untracked, Some(Kind::Repository)) => nested.push(entry.rela_path),
                    _ => {}
                }
            }
        }
        files.sort();
        nested.sort();
        (files, nested)
    }

    /// `git status`'s untracked files (`-uall`), nested repositories as `dir/`.
    fn git_answer(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = git(d, &["status", "--porcelain=v1", "-uall"])
            .lines()
            .filter_map(|l| l.strip_prefix("?? ").map(String::from))
            .collect();
        v.sort();
        v
    }

    /// The cached walk, as if `later` had passed since the last one.
    fn walk(d: &Path, later: Duration) -> Found {
        let repo = crate::hermetic::open(d);
        let index = repo.index_or_empty().unwrap();
        find_at(&repo, &index, SystemTime::now() + later).unwrap()
    }

    /// The cached walk gives gix's answer and git's, with records trusted (`later`) or not.
    #[track_caller]
    fn check(d: &Path, step: &str) -> Found {
        let repo = crate::hermetic::open(d);
        let (files, nested) = gix_answer(&repo);
        for later in [Duration::ZERO, RACY * 5] {
            let found = walk(d, later);
            assert_eq!(
                found.files, files,
                "{step}: untracked files (later {later:?})"
            );
            assert_eq!(found.nested, nested, "{step}: nested repositories");
        }
        let mut ours: Vec<String> = files.iter().map(|p| p.to_string()).collect();
        ours.extend(nested.iter().map(|p| format!("{p}/")));
        ours.sort();
        assert_eq!(ours, git_answer(d), "{step}: git status disagrees");
        walk(d, RACY * 5)
    }

    #[test]
    fn the_cached_walk_answers_as_gix_and_git_through_every_kind_of_change() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        git(d, &["init", "-q"]);
        for f in ["a/f.txt", "a/b/g.txt", "c/h.txt", "c/i.txt", "top.txt"] {
            write(&d.join(f), f);
        }
        write(&d.join(".gitignore"), "*.log\nbuild/\n");
        write(&d.join("a/.gitignore"), "!keep.log\n");
        git(d, &["add", "-A"]);
        git(d, &["commit", "-qm", "base"]);
        for f in [
            "u1.txt",
            "a/u2.txt",
            "x.log",
            "a/keep.log",
            "build/out.txt",
            "t/x",
            "t/y/z",
        ] {
            write(&d.join(f), f);
        }
        std::fs::create_dir_all(d.join("e/f")).unwrap();
        std::os::unix::fs::symlink("a", d.join("s")).unwrap();
        git(&d.join("n").tap_mkdir(), &["init", "-q"]);
        write(&d.join("n/inside.txt"), "theirs");
        check(d, "the first walk");

        let again = walk(d, RACY * 5);
        assert_eq!(
            again.read, 0,
            "nothing changed: every directory from the cache"
        );

        write(&d.join("a/b/new.txt"), "new");
        let found = check(d, "a new file in a tracked directory");
        assert!(found.files.contains(&BString::from("a/b/new.txt")));

        std::fs::remove_file(d.join("u1.txt")).unwrap();
        check(d, "an untracked file removed");

        write(&d.join(".gitignore"), "*.log\nbuild/\nt/\n");
        check(d, "the top .gitignore now ignores t/");

        write(&d.join("a/.gitignore"), "");
        check(d, "a/.gitignore no longer keeps keep.log");

        git(d, &["add", "a/u2.txt"]);
        check(d, "an untracked file added to the index");

        git(d, &["rm", "-q", "--cached", "c/h.txt"]);
        check(d, "a tracked file removed from the index only");

        // An ignored directory that gets tracked, then untracked again: the parent's
        // record must not remember it as "not ignored" from the time it was tracked.
        git(d, &["add", "-f", "build/out.txt"]);
        write(&d.join("build/more.txt"), "ignored unless tracked");
        write(
            &d.join("read-again.txt"),
            "the top is read while build/ is tracked",
        );
        check(d, "an ignored directory with a file forced into the index");
        git(d, &["rm", "-r", "-q", "--cached", "build"]);
        check(d, "the ignored directory untracked again");

        write(&d.join(".git/info/exclude"), "c/\n");
        let found = walk(d, RACY * 5);
        assert!(
            found.read > 5,
            "a change of the global rules reads everything again"
        );
        check(d, "info/exclude ignores c/ (it still holds tracked files)");

        std::fs::remove_dir_all(d.join("n/.git")).unwrap();
        check(d, "the nested repository is a plain directory now");

        std::fs::remove_dir_all(d.join("a/b")).unwrap();
        write(&d.join("a/b"), "a file where a tracked directory was");
        check(d, "a tracked directory replaced by a file");

        std::fs::remove_file(d.join("top.txt")).unwrap();
        std::fs::create_dir_all(d.join("top.txt")).unwrap();
        write(
            &d.join("top.txt/inner"),
            "a directory where a tracked file was",
        );
        check(d, "a tracked file replaced by a directory");

        // A corrupt cache is ignored: the walk starts over and answers the same.
        let cache = d.join(".git/wtc/untracked-cache");
        std::fs::write(&cache, [MAGIC, b"garbage"].concat()).unwrap();
        check(d, "a corrupt cache");
    }

    #[test]
    fn a_directory_changed_right_after_it_was_read_is_read_again() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        git(d, &["init", "-q"]);
        write(&d.join("dir/tracked.txt"), "t");
        git(d, &["add", "-A"]);
        git(d, &["commit", "-qm", "base"]);
        // Walk at the real time: the directories just changed, so no record is trusted,
        // and a file made in the same clock tick is still seen.
        let first = walk(d, Duration::ZERO);
        assert!(first.files.is_empty());
        write(&d.join("dir/new.txt"), "n");
        let second = walk(d, Duration::ZERO);
        assert_eq!(second.files, vec![BString::from("dir/new.txt")]);
        assert!(second.read >= 2, "untrusted records are read again");
    }

    trait TapMkdir {
        fn tap_mkdir(self) -> PathBuf;
    }
    impl TapMkdir for PathBuf {
        fn tap_mkdir(self) -> PathBuf {
            std::fs::create_dir_all(&self).unwrap();
            self
        }
    }
}
