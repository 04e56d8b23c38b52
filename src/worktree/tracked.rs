//! Which tracked files may have changed since the index recorded them: one `fstatat` per
//! entry, relative to its directory ([`super::dirfd`]), on both cores.
//!
//! gix's status of tracked files stats every entry by its whole path from the top (the
//! kernel looks up every component again, for every entry: at 100k files that lookup is
//! most of a save). This pre-pass stats each entry by its name in an open descriptor of its
//! directory, and names the entries gix must look at: those whose stat data, file type or
//! executable bit differ from the index, those the index cannot vouch for (racily clean:
//! changed in the second the index was written), and every entry it does not model
//! (conflicts, skip-worktree, intent-to-add, gitlinks). It is stricter than gix, never
//! looser: every stat field counts, whatever `core.trustctime` or `core.checkStat` say, so
//! an entry it leaves out is one gix would call unchanged without reading it. gix then
//! judges the named ones as before, content and filters included.

use std::os::unix::io::{AsRawFd as _, OwnedFd};
use std::path::Path;

use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::{Flags, Mode, Stage};

/// The pre-pass names at most this share of the entries (then gix looks at all of them).
const MOST: usize = 20;

/// The tracked paths gix must look at, or `None` when that would be more than one in
/// [`MOST`] of the entries (after a checkout, say), and gix should simply look at all.
pub fn candidates(root: &Path, index: &gix::index::State) -> Option<Vec<BString>> {
    let _t = crate::trace::span("status: tracked pre-pass");
    let entries = index.entries();
    let limit = entries.len() / MOST + 16;
    let ts = index.timestamp().unix_seconds();
    // Two halves on two threads, each with its own chain of open directories.
    let mid = entries.len() / 2;
    let (a, b) = std::thread::scope(|s| {
        let first = s.spawn(|| scan(root, index, &entries[..mid], ts, limit));
        let second = scan(root, index, &entries[mid..], ts, limit);
        (first.join().expect("the scan does not panic"), second)
    });
    let mut out = a?;
    out.extend(b?);
    (out.len() <= limit).then_some(out)
}

/// The open directories from the top to the one of the entry being looked at.
struct Chain<'p> {
    /// (directory relative to the top, its descriptor; `None`: it cannot be opened as a
    /// plain directory, so every entry below it is named)
    dirs: Vec<(&'p BStr, Option<OwnedFd>)>,
}

impl<'p> Chain<'p> {
    /// The descriptor of directory `dir` (relative, no trailing `/`), opening what is
    /// missing from the chain; `None` when it is not a plain directory.
    fn open(&mut self, root: &OwnedFd, dir: &'p BStr) -> Option<i32> {
        while let Some((top, _)) = self.dirs.last() {
            let inside = dir.starts_with(top) && (dir.len() == top.len() || dir[top.len()] == b'/');
            if inside {
                break;
            }
            self.dirs.pop();
        }
        loop {
            let (at, rest_from) = match self.dirs.last() {
                Some((top, fd)) if top.len() == dir.len() => {
                    return fd.as_ref().map(|f| f.as_raw_fd())
                }
                Some((top, fd)) => (fd.as_ref()?.as_raw_fd(), top.len() + 1),
                None if dir.is_empty() => return Some(root.as_raw_fd()),
                None => (root.as_raw_fd(), 0),
            };
            let end = dir[rest_from..]
                .find_byte(b'/')
                .map_or(dir.len(), |i| rest_from + i);
            let fd = crate::dirfd::open_at(at, &dir[rest_from..end]);
            self.dirs.push((dir[..end].as_bstr(), fd));
        }
    }
}

/// Look at `entries`; `None` as soon as more than `limit` are named.
fn scan(
    root: &Path,
    index: &gix::index::State,
    entries: &[gix::index::Entry],
    index_secs: i64,
    limit: usize,
) -> Option<Vec<BString>> {
    let root_fd = crate::dirfd::open(root)?;
    let mut chain = Chain { dirs: Vec::new() };
    let mut out = Vec::new();
    for e in entries {
        let path = e.path(index);
        if !unchanged(&mut chain, &root_fd, e, path, index_secs) {
            out.push(path.to_owned());
            if out.len() > limit {
                return None;
            }
        }
    }
    Some(out)
}

/// Is `e` an entry the pre-pass (and the status's own judgement of what it names) models: a
/// plain file or symlink at stage 0, without skip-worktree, intent-to-add or assume-valid?
pub(super) fn modelled(e: &gix::index::Entry) -> bool {
    e.stage() == Stage::Unconflicted
        && !e
            .flags
            .intersects(Flags::SKIP_WORKTREE | Flags::INTENT_TO_ADD | Flags::ASSUME_VALID)
        && matches!(e.mode, Mode::FILE | Mode::FILE_EXECUTABLE | Mode::SYMLINK)
}

/// Is `e` provably what the index says, by its stat data alone?
fn unchanged<'p>(
    chain: &mut Chain<'p>,
    root: &OwnedFd,
    e: &gix::index::Entry,
    path: &'p BStr,
    index_secs: i64,
) -> bool {
    // Racily clean: written in the second the index was, a later change in that second may
    // have left the same stat data.
    if !modelled(e) || i64::from(e.stat.mtime.secs) >= index_secs {
        return false;
    }
    let (dir, name) = super::dir_and_name(path);
    let Some(dirfd) = chain.open(root, dir) else {
        return false;
    };
    let Some(st) = crate::dirfd::stat_at(dirfd, name) else {
        return false;
    };
    let kind = st.st_mode & libc::S_IFMT;
    let kind_matches = match e.mode {
        Mode::SYMLINK => kind == libc::S_IFLNK,
        Mode::FILE => kind == libc::S_IFREG && st.st_mode & 0o100 == 0,
        _ => kind == libc::S_IFREG && st.st_mode & 0o100 != 0,
    };
    // Every field, as the index stores them (the same conversion as every stat wtc records).
    let on_disk = super::entry::stat_from(
        (st.st_mtime, st.st_mtime_nsec),
        (st.st_ctime, st.st_ctime_nsec),
        (st.st_dev, st.st_ino),
        (st.st_uid, st.st_gid),
        st.st_size as u64,
    );
    kind_matches && e.stat == on_disk
}

#[cfg(test)]
mod tests {
    //! The pre-pass against changes git itself sees, on a repository whose files are older
    //! than its index (so that no entry is racily clean).
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        crate::hermetic::shared().git(dir, args)
    }

    fn named(d: &Path) -> Option<Vec<String>> {
        let repo = crate::hermetic::open(d);
        let index = repo.index_or_empty().unwrap();
        candidates(d, &index).map(|v| v.iter().map(|p| p.to_string()).collect())
    }

    /// Set the mtime of `p` an hour back (its ctime becomes now: the index must notice).
    fn age(p: &Path) {
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let f = std::fs::File::options().write(true).open(p).unwrap();
        f.set_modified(old).unwrap();
    }

    #[test]
    fn the_pre_pass_names_every_entry_whose_file_may_have_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        git(d, &["init", "-q"]);
        let mut files = Vec::new();
        for i in 0..400 {
            let p = format!("dir{}/sub{}/f{i}.txt", i % 14, i % 3);
            std::fs::create_dir_all(d.join(&p).parent().unwrap()).unwrap();
            std::fs::write(d.join(&p), format!("file {i}\n")).unwrap();
            age(&d.join(&p));
            files.push(p);
        }
        std::fs::write(d.join("top.txt"), "top\n").unwrap();
        age(&d.join("top.txt"));
        git(d, &["add", "-A"]);
        git(d, &["commit", "-qm", "base"]);
        assert_eq!(named(d), Some(vec![]), "nothing changed, nothing racy");

        // Same size, the very same mtime put back: only the ctime tells.
        let was = std::fs::metadata(d.join(&files[0]))
            .unwrap()
            .modified()
            .unwrap();
        std::fs::write(d.join(&files[0]), "FILE 0\n").unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(d.join(&files[0]))
            .unwrap();
        f.set_modified(was).unwrap();
        drop(f);
        // The executable bit.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(d.join(&files[1]), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        // Deleted.
        std::fs::remove_file(d.join(&files[2])).unwrap();
        // A symlink where a file was.
        std::fs::remove_file(d.join("top.txt")).unwrap();
        std::os::unix::fs::symlink(&files[3], d.join("top.txt")).unwrap();
        let mut want = vec![
            files[0].clone(),
            files[1].clone(),
            files[2].clone(),
            "top.txt".to_string(),
        ];
        want.sort();
        let mut got = named(d).expect("few");
        got.sort();
        assert_eq!(got, want);

        // A directory replaced by a symlink to one: everything below it is named.
        git(d, &["checkout", "-q", "--", "."]);
        std::fs::remove_file(d.join("top.txt")).ok();
        git(d, &["checkout", "-q", "--", "top.txt"]);
        std::fs::rename(d.join("dir13"), d.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink("elsewhere", d.join("dir13")).unwrap();
        let got = named(d).expect("few");
        let below: Vec<&String> = files.iter().filter(|p| p.starts_with("dir13/")).collect();
        for p in &below {
            assert!(got.contains(p), "{p} is below a symlinked directory");
        }

        // Entries it does not model are always named: an intent-to-add entry.
        std::fs::write(d.join("later.txt"), "later\n").unwrap();
        git(d, &["add", "-N", "later.txt"]);
        assert!(named(d).expect("few").contains(&"later.txt".to_string()));

        // A file changed in the second the index was written is racily clean: named.
        std::fs::remove_file(d.join("dir13")).unwrap();
        std::fs::rename(d.join("elsewhere"), d.join("dir13")).unwrap();
        git(d, &["rm", "-q", "--cached", "later.txt"]);
        std::fs::write(d.join(&files[5]), "just now\n").unwrap();
        git(d, &["add", &files[5]]);
        let got = named(d).expect("few");
        assert!(got.contains(&files[5]), "racy: {got:?}");

        // Most entries changed: gix looks at all of them instead.
        for p in &files {
            std::fs::write(d.join(p), "all new\n").unwrap();
        }
        assert_eq!(named(d), None);
    }
}
