//! Loose objects read with `read(2)` instead of a memory map, and an object finder that
//! tries them first.
//!
//! gix 0.90 maps every loose object it reads (`mmap`, inflate, `munmap`). Unmapping in a
//! process whose threads run on other cores makes the kernel interrupt each of those cores
//! to flush their TLBs (an inter-processor interrupt, dear in a virtual machine): a sync
//! reading ~1,200 loose objects on two threads spent about a sixth of its time there
//! (`perf`: `flush_tlb_mm_range` under `munmap`). Loose objects are small; reading one into a
//! buffer costs no more than mapping it, and nothing has to be unmapped. gix has no switch
//! for this, so these ~60 lines do what its loose store does (the same header checks, the
//! same inflate, no hash check, as gix), and anything not found loose (packed objects,
//! alternates, objects held in memory), a loose file that cannot be read, and every lookup in
//! a repository with replace refs go to gix's own store.

use std::os::unix::io::{AsRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};

use gix::objs::Kind;

/// The longest loose header (`<kind> <size>\0`) read before the body (as gix's loose store).
const HEADER_MAX: usize = 64;

/// Read the loose object `id` from `objects` (a repository's `objects` directory) into
/// `out`: its kind, or `None` when there is no such loose file. Nothing is mapped.
pub fn read(objects: &Path, id: &gix::oid, out: &mut Vec<u8>) -> std::io::Result<Option<Kind>> {
    let Some(dir) = crate::dirfd::open(objects) else {
        return Ok(None);
    };
    read_in(&dir, objects, id, out)
}

/// [`read`] in the `objects` directory held open as `dir` (the file is opened by its two
/// components `xx/yyyy…` inside it: the kernel does not walk the whole path again for each
/// of the thousands of objects a sync reads). `objects` only names it in errors.
fn read_in(
    dir: &OwnedFd,
    objects: &Path,
    id: &gix::oid,
    out: &mut Vec<u8>,
) -> std::io::Result<Option<Kind>> {
    let name = loose_name(id);
    let mut file = match crate::dirfd::open_file_at(dir.as_raw_fd(), &name) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // No fstat for a size: loose objects are small, and the buffer grows when one is not.
    // One read is usually all: when it did not fill the buffer and the zlib stream ends in
    // what it brought (zlib marks its end and checks it), the read that would only report
    // the end of the file is skipped. Anything else reads on to the end first. The first
    // read goes into this thread's buffer, zeroed once (a sync reads thousands of objects).
    thread_local! {
        static FIRST: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; FIRST_READ]);
    }
    enum First {
        Whole(Kind),
        Begun(Vec<u8>),
    }
    let first = FIRST.with(|buf| -> std::io::Result<First> {
        let mut buf = buf.borrow_mut();
        let n = loop {
            match std::io::Read::read(&mut file, &mut buf[..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        match n > 0 && n < FIRST_READ {
            true => match inflate(&buf[..n], out) {
                Ok(kind) => Ok(First::Whole(kind)),
                Err(_) => Ok(First::Begun(buf[..n].to_vec())),
            },
            false => Ok(First::Begun(buf[..n].to_vec())),
        }
    })?;
    let mut compressed = match first {
        First::Whole(kind) => return Ok(Some(kind)),
        First::Begun(read) => read,
    };
    read_to_end(&mut file, &mut compressed, 0)?;
    inflate(&compressed, out).map(Some).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "loose object {}: {e}",
                objects
                    .join(String::from_utf8_lossy(&name).as_ref())
                    .display()
            ),
        )
    })
}

/// The first read of a loose object: most are smaller.
const FIRST_READ: usize = 16 * 1024;

/// `xx/yyyy…`: where the loose object `id` lives inside `objects`.
fn loose_name(id: &gix::oid) -> Vec<u8> {
    let hex = id.to_hex().to_string().into_bytes();
    let mut name = Vec::with_capacity(hex.len() + 1);
    name.extend_from_slice(&hex[..2]);
    name.push(b'/');
    name.extend_from_slice(&hex[2..]);
    name
}

/// Read the rest of `file` into `out` with `read(2)` alone. `std`'s `File::read_to_end` asks
/// for the size first (an `fstat` and an `lseek` per file): for the small files read by the
/// thousand on a sync (loose objects, worktree files being hashed) those two calls cost as
/// much as the read. `hint`: the size the caller expects (a stat it made; 0 for none): with
/// it right, two reads do (the data, then the end). The buffer doubles when a file is larger.
pub fn read_to_end(
    file: &mut std::fs::File,
    out: &mut Vec<u8>,
    hint: usize,
) -> std::io::Result<usize> {
    use std::io::Read as _;
    let start = out.len();
    let mut filled = start;
    loop {
        if filled == out.len() {
            // Zeroed room to read into (cheap next to a system call), doubling as it fills.
            let more = match filled - start {
                0 => hint.saturating_add(1).max(8 * 1024),
                read => read,
            };
            out.resize(out.len() + more, 0);
        }
        let asked = out.len() - filled;
        match file.read(&mut out[filled..]) {
            Ok(0) => {
                out.truncate(filled);
                return Ok(filled - start);
            }
            // A regular file's read(2) comes back short only at its end: one that stops
            // exactly at the expected size needs no second read to find the end. (Were it
            // short for another reason, the file would be judged changed, never unchanged:
            // its stat data, taken before the read, is what every later check compares.)
            Ok(n) if n < asked && hint > 0 && filled + n - start == hint => {
                out.truncate(filled + n);
                return Ok(hint);
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                out.truncate(filled);
                return Err(e);
            }
        }
    }
}

thread_local! {
    /// One inflater per thread, reset for each object: making one allocates and clears its
    /// state and window (~40 KiB), which cost as much as inflating a small tree.
    static INFLATE: std::cell::RefCell<gix::zlib::Inflate> = std::cell::RefCell::default();
}

/// Inflate one loose object's bytes into `out` (its body), returning its kind.
fn inflate(compressed: &[u8], out: &mut Vec<u8>) -> Result<Kind, String> {
    INFLATE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut inflate) => {
            inflate.reset();
            inflate_with(&mut inflate, compressed, out)
        }
        Err(_) => inflate_with(&mut gix::zlib::Inflate::default(), compressed, out),
    })
}

fn inflate_with(
    inflate: &mut gix::zlib::Inflate,
    compressed: &[u8],
    out: &mut Vec<u8>,
) -> Result<Kind, String> {
    if compressed.is_empty() {
        return Err("empty loose object file".into());
    }
    let mut header = [0u8; HEADER_MAX];
    let (status, consumed_in, consumed_out) = inflate
        .prefix(compressed, &mut header)
        .map_err(|e| e.to_string())?;
    if status == gix::zlib::Status::BufError {
        return Err("the zlib status indicated an error".into());
    }
    let (kind, size, header_size) =
        gix::objs::decode::loose_header(&header[..consumed_out]).map_err(|e| e.to_string())?;
    let size = usize::try_from(size).map_err(|_| format!("{size} bytes do not fit in memory"))?;
    let body_prefix = consumed_out
        .checked_sub(header_size)
        .ok_or("the header is longer than what was inflated")?;
    let ended = status == gix::zlib::Status::StreamEnd;
    if body_prefix > size || (ended && body_prefix != size) {
        return Err("the inflated size differs from the header's".into());
    }
    out.clear();
    // As gix: a header claiming more than memory holds is an error, not an abort. Room for
    // the header too: gix-zlib's sirocco `rest` inflates behind it and then drops it (one
    // allocation per object instead of a reallocation and a copy).
    out.try_reserve(size + header_size)
        .map_err(|_| format!("cannot hold an object of {size} bytes in memory"))?;
    if ended {
        out.extend_from_slice(&header[header_size..consumed_out]);
        return Ok(kind);
    }
    let n = inflate
        .rest(
            &compressed[consumed_in..],
            &header[..consumed_out],
            header_size,
            out,
            size,
        )
        .map_err(|e| e.to_string())?;
    if n != size {
        return Err("the inflated size differs from the header's".into());
    }
    Ok(kind)
}

/// gix's object store, with loose objects read by [`read`] first.
pub struct LooseFirst<'r> {
    repo: &'r gix::Repository,
    /// The `objects` directory, held open; `None` where every lookup goes to gix.
    objects: Option<std::sync::Arc<(OwnedFd, PathBuf)>>,
}

/// The `objects` directories opened so far in this process, held open: a finder is made
/// for every commit an ancestry walk reads, and opening the directory each time would cost
/// what holding it saves. Should one be removed and made again at the same path, the held
/// one finds nothing and every lookup goes to gix: slower, never wrong. Long-running
/// commands (`watch`, `run`) hold none (see [`objects_dir`]).
static OPENED: std::sync::Mutex<Vec<std::sync::Arc<(OwnedFd, PathBuf)>>> =
    std::sync::Mutex::new(Vec::new());

/// Objects a finder looked for loose and did not find (packed, in an alternate, or held in
/// memory by a fold): a fold asks for the same base trees once per lane, and each miss is a
/// failed `openat`. Later lookups of these go straight to gix, which looks everywhere
/// (loose files included): an object written loose since is still found, never missed.
static NOT_LOOSE: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<gix::ObjectId>>> =
    std::sync::LazyLock::new(Default::default);

/// Past this many, [`NOT_LOOSE`] starts again (a long `watch` must not grow without bound).
const NOT_LOOSE_MAX: usize = 100_000;

fn objects_dir(path: &Path) -> Option<std::sync::Arc<(OwnedFd, PathBuf)>> {
    // A long-running command opens it for each finder: a repository renamed away and made
    // again at its path meanwhile must not be read through the old one's directory.
    if crate::dirfd::paths_whole() {
        return Some(std::sync::Arc::new((
            crate::dirfd::open(path)?,
            path.to_owned(),
        )));
    }
    let mut opened = OPENED.lock().ok()?;
    if let Some(held) = opened.iter().find(|h| h.1 == path) {
        return Some(held.clone());
    }
    let held = std::sync::Arc::new((crate::dirfd::open(path)?, path.to_owned()));
    opened.push(held.clone());
    Some(held)
}

/// The loose object `id` in the held `objects` directory `dir`, read into `out`; `None` (and
/// remembered in [`NOT_LOOSE`]) when it is not there or cannot be read.
fn read_known_loose(dir: &OwnedFd, path: &Path, id: &gix::oid, out: &mut Vec<u8>) -> Option<Kind> {
    if NOT_LOOSE.lock().is_ok_and(|set| set.contains(id)) {
        return None;
    }
    let found = read_in(dir, path, id, out).ok().flatten();
    if found.is_none() {
        if let Ok(mut set) = NOT_LOOSE.lock() {
            if set.len() >= NOT_LOOSE_MAX {
                set.clear();
            }
            set.insert(id.to_owned());
        }
    }
    found
}

impl<'r> LooseFirst<'r> {
    pub fn new(repo: &'r gix::Repository) -> Self {
        let store = repo.objects.store_ref();
        LooseFirst {
            repo,
            // With replace refs (`git replace`), gix maps ids before it looks: every lookup
            // goes to gix then, so an object reads the same whether it is loose or packed.
            objects: match store.replacements().next() {
                None => objects_dir(store.path()),
                Some(_) => None,
            },
        }
    }

    /// The loose object `id`, read into `out`: `None` when gix must look (no loose file,
    /// replace refs, or a loose file that cannot be read: gix tries its packs first and
    /// reports its own error).
    fn loose(&self, id: &gix::oid, out: &mut Vec<u8>) -> Option<Kind> {
        let (dir, path) = &**self.objects.as_ref()?;
        read_known_loose(dir, path, id, out)
    }

    /// Does the repository have the object `id`? A loose file answers with one `fstatat`
    /// inside the held `objects` directory; anything else is gix's `has_object` (packs,
    /// alternates, objects held in memory). gix's own answer for a loose object checks every
    /// pack index first and then stats the object's whole path.
    pub fn contains(&self, id: &gix::oid) -> bool {
        self.contains_loose(id) || self.repo.has_object(id)
    }

    /// Is `id` a loose object file of this repository (one `fstatat` in the held `objects`
    /// directory)? `false` says nothing about packs and alternates.
    pub fn contains_loose(&self, id: &gix::oid) -> bool {
        let Some((dir, _)) = self.objects.as_deref() else {
            return false;
        };
        let found = crate::dirfd::stat_at_following(dir.as_raw_fd(), &loose_name(id));
        found.is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
    }

    /// The blob `id`'s data.
    pub fn blob(&self, id: &gix::oid) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        match self.loose(id, &mut out) {
            Some(Kind::Blob) => Ok(out),
            _ => Ok(self.repo.find_blob(id)?.detach().data),
        }
    }
}

/// Make every object lookup of `repo` (gix's own included: tree edits, tree diffs, commit
/// and tree lookups) read loose objects without a map, with an object cache of `bytes`
/// (0: none) in front. gix asks its object cache before its store and has no switch for how
/// its store reads loose objects, so the cache is where a reader can go in: its `get` answers
/// from memory, else from the loose file ([`LooseFirst`]'s rules: the held `objects`
/// directory, objects known not to be loose skipped), else says "not cached" and gix looks
/// in its packs and alternates as always. Objects held in memory by a fold come first anyway
/// (gix's memory layer sits above the cache). With replace refs nothing changes (gix maps
/// ids before its store looks; a loose read by the asked id would miss the replacement).
/// A thread-local copy of a repository (`to_thread_local`) gets gix's caches anew: call this
/// again there.
pub fn read_loose_first(repo: &mut gix::Repository, bytes: usize) {
    let store = repo.objects.store_ref();
    if store.replacements().next().is_some() {
        if bytes > 0 {
            repo.object_cache_size_if_unset(bytes);
        }
        return;
    }
    let path = store.path().to_owned();
    repo.objects.set_object_cache(move || {
        Box::new(LooseReads {
            objects: objects_dir(&path),
            cache: (bytes > 0)
                .then(|| gix::odb::pack::cache::object::MemoryCappedHashmap::new(bytes)),
        })
    });
}

/// The object cache of [`read_loose_first`].
struct LooseReads {
    objects: Option<std::sync::Arc<(OwnedFd, PathBuf)>>,
    cache: Option<gix::odb::pack::cache::object::MemoryCappedHashmap>,
}

impl gix::odb::pack::cache::Object for LooseReads {
    fn put(&mut self, id: gix::ObjectId, kind: Kind, data: &[u8]) {
        if let Some(cache) = self.cache.as_mut() {
            cache.put(id, kind, data);
        }
    }

    fn get(&mut self, id: &gix::ObjectId, out: &mut Vec<u8>) -> Option<Kind> {
        if let Some(kind) = self.cache.as_mut().and_then(|c| c.get(id, out)) {
            return Some(kind);
        }
        let (dir, path) = &**self.objects.as_ref()?;
        let kind = read_known_loose(dir, path, id, out)?;
        self.put(*id, kind, out);
        Some(kind)
    }
}

impl gix::objs::Find for LooseFirst<'_> {
    fn try_find<'a>(
        &self,
        id: &gix::oid,
        buffer: &'a mut Vec<u8>,
    ) -> gix::Result<Option<gix::objs::Data<'a>>> {
        match self.loose(id, buffer) {
            Some(kind) => Ok(Some(gix::objs::Data {
                kind,
                object_hash: id.kind(),
                data: buffer,
            })),
            None => self.repo.objects.try_find(id, buffer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of object git writes loose reads back as gix reads it, and a packed one
    /// (no loose file) comes from gix's store.
    #[test]
    fn loose_objects_read_as_gix_reads_them() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let git = |args: &[&str]| crate::hermetic::shared().git(d, args);
        git(&["init", "-q"]);
        std::fs::write(d.join("small"), "x\n").unwrap();
        let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(d.join("big"), &big).unwrap();
        std::fs::write(d.join("empty"), "").unwrap();
        git(&["add", "-A"]);
        git(&["commit", "-qm", "one"]);
        let repo = crate::hermetic::open(d);
        let finder = LooseFirst::new(&repo);
        let ids: Vec<String> = [
            "HEAD",
            "HEAD^{tree}",
            "HEAD:small",
            "HEAD:big",
            "HEAD:empty",
        ]
        .iter()
        .map(|r| git(&["rev-parse", r]))
        .collect();
        for hex in &ids {
            let id = gix::ObjectId::from_hex(hex.as_bytes()).unwrap();
            let mut ours = Vec::new();
            let kind = read(repo.objects.store_ref().path(), &id, &mut ours)
                .unwrap()
                .expect("written loose");
            let theirs = repo.find_object(id).unwrap();
            assert_eq!((kind, &ours), (theirs.kind, &theirs.data), "{hex}");
            let mut buf = Vec::new();
            let found = gix::objs::Find::try_find(&finder, &id, &mut buf)
                .unwrap()
                .unwrap();
            assert_eq!((found.kind, found.data), (theirs.kind, &theirs.data[..]));
        }
        let big_id = gix::ObjectId::from_hex(ids[3].as_bytes()).unwrap();
        assert_eq!(finder.blob(&big_id).unwrap(), big.as_bytes());
        assert!(finder.contains(&big_id), "a loose object");
        let absent = gix::ObjectId::from_hex(b"0123456789012345678901234567890123456789").unwrap();
        assert!(!finder.contains(&absent));
        // Packed: no loose file, found all the same.
        git(&["gc", "-q", "--prune=now"]);
        let repo = crate::hermetic::open(d);
        let finder = LooseFirst::new(&repo);
        assert_eq!(
            read(repo.objects.store_ref().path(), &big_id, &mut Vec::new()).unwrap(),
            None
        );
        assert_eq!(finder.blob(&big_id).unwrap(), big.as_bytes());
        assert!(finder.contains(&big_id), "a packed object");
        assert!(!finder.contains(&absent));
        // A corrupt loose file is an error, never an empty object.
        let hex = &ids[2];
        let path = d.join(".git/objects").join(&hex[..2]).join(&hex[2..]);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"not zlib").unwrap();
        let id = gix::ObjectId::from_hex(hex.as_bytes()).unwrap();
        assert!(read(repo.objects.store_ref().path(), &id, &mut Vec::new()).is_err());
    }

    #[test]
    fn read_to_end_reads_every_byte_whatever_the_hint() {
        let tmp = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 8 * 1024 - 1, 8 * 1024, 8 * 1024 + 1, 100_000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let path = tmp.path().join(format!("f{len}"));
            std::fs::write(&path, &data).unwrap();
            for hint in [0, len.saturating_sub(1), len, len + 1, 3 * len + 7] {
                let mut out = b"kept".to_vec();
                let mut f = std::fs::File::open(&path).unwrap();
                assert_eq!(read_to_end(&mut f, &mut out, hint).unwrap(), len);
                assert_eq!(&out[..4], b"kept", "appends");
                assert!(out[4..] == data[..], "len {len} hint {hint}");
            }
        }
    }
}
