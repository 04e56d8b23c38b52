//! Directories held open as `O_PATH` descriptors, so that what lies inside them is looked up
//! by name, one component, instead of by its whole path from `/` (the kernel resolves every
//! component of a path again on every call: at 100k files, most of a status is that).
//!
//! std has no `openat`/`fstatat`; these are the few calls the scans need.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::io::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::path::Path;

/// `path` opened as a directory (symlinks followed, as a worktree root may be reached
/// through one); `None` when it cannot be.
pub fn open(path: &Path) -> Option<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    own(
        // SAFETY: a NUL-terminated path; the result is checked and owned by `own`.
        #[allow(unsafe_code)]
        unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        },
    )
}

/// The directory `name` inside the directory `at`, never through a symlink: `None` when it
/// is missing, not a directory, or a symlink.
pub fn open_at(at: RawFd, name: &[u8]) -> Option<OwnedFd> {
    let c = CString::new(name).ok()?;
    own(
        // SAFETY: a descriptor the caller holds open and a NUL-terminated name; the result
        // is checked and owned by `own`.
        #[allow(unsafe_code)]
        unsafe {
            libc::openat(
                at,
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        },
    )
}

/// The stat data of what `fd` names (no path lookup).
pub fn stat(fd: &OwnedFd) -> Option<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: a descriptor we hold and room for the result, filled when the call succeeds.
    #[allow(unsafe_code)]
    unsafe {
        (libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) == 0).then(|| st.assume_init())
    }
}

/// The stat data of `name` inside the directory `at`, symlinks not followed.
pub fn stat_at(at: RawFd, name: &[u8]) -> Option<libc::stat> {
    stat_at_with(at, name, libc::AT_SYMLINK_NOFOLLOW)
}

/// The stat data of what `name` (a relative path, `/` allowed) inside the directory `at`
/// leads to, symlinks followed.
pub fn stat_at_following(at: RawFd, name: &[u8]) -> Option<libc::stat> {
    stat_at_with(at, name, 0)
}

fn stat_at_with(at: RawFd, name: &[u8], flags: libc::c_int) -> Option<libc::stat> {
    with_c_name(name, |c| {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a descriptor the caller holds open, a NUL-terminated name and room for the
        // result, filled when the call succeeds.
        #[allow(unsafe_code)]
        unsafe {
            (libc::fstatat(at, c.as_ptr(), st.as_mut_ptr(), flags) == 0).then(|| st.assume_init())
        }
    })
    .flatten()
}

/// The file `name` (a relative path, `/` allowed) inside the directory `at`, opened for
/// reading.
pub fn open_file_at(at: RawFd, name: &[u8]) -> std::io::Result<std::fs::File> {
    let fd = with_c_name(name, |c| {
        // SAFETY: a descriptor the caller holds open and a NUL-terminated name; the result
        // is checked below and owned by the `File`.
        #[allow(unsafe_code)]
        unsafe {
            libc::openat(at, c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC)
        }
    })
    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor just returned by the kernel, owned by nobody else.
    #[allow(unsafe_code)]
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// Open the worktree file at `path` to hash it (is it still what the index says? what does
/// a save store?) without touching its access time where the kernel lets us (`O_NOATIME`:
/// files we own): under `relatime` the first read after a write otherwise dirties the
/// inode, a write to the inode table for every freshly written file a check hashes, and
/// nobody needs to know that wtc looked. Elsewhere (`EPERM`: someone else's file) it opens
/// as usual.
pub fn open_unnoticed(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let open = |flags| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(path)
    };
    match open(libc::O_NOATIME) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(0),
        other => other,
    }
}

/// `f` of `name` as a C string; `None` when `name` holds a NUL (no file has such a name).
/// Names are short and these calls run once per file: no allocation below 256 bytes.
fn with_c_name<T>(name: &[u8], f: impl FnOnce(&std::ffi::CStr) -> T) -> Option<T> {
    let mut buf = [0u8; 256];
    let heap;
    let c: &std::ffi::CStr = match name.len() < buf.len() {
        true => {
            buf[..name.len()].copy_from_slice(name);
            std::ffi::CStr::from_bytes_until_nul(&buf).ok()?
        }
        false => {
            heap = CString::new(name).ok()?;
            &heap
        }
    };
    if c.to_bytes().len() != name.len() {
        return None;
    }
    Some(f(c))
}

/// `abs` relative to the process's working directory when it lies below it, else `abs`:
/// the same file for the kernel (wtc never changes its working directory), found from the
/// working directory's inode instead of by every component from `/`. git works the same way
/// (it moves to the worktree's top and uses paths relative to it); wtc runs in the worktree
/// it updates, so a path there costs its own few components, not the worktree's depth too.
/// Only for calls that name a file; messages keep showing `abs`. Off in long-running
/// commands ([`whole_paths`]): a working directory removed and made again at its path
/// meanwhile would leave relative paths resolving inside the removed one.
pub fn short(abs: &Path) -> &Path {
    if WHOLE.load(std::sync::atomic::Ordering::Relaxed) {
        return abs;
    }
    let Some(cwd) = cwd() else {
        return abs;
    };
    match abs.strip_prefix(cwd) {
        Ok(rest) if abs.is_absolute() && !rest.as_os_str().is_empty() => rest,
        _ => abs,
    }
}

/// The process's working directory, as it was when first asked.
fn cwd() -> Option<&'static Path> {
    static CWD: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    CWD.get_or_init(|| std::env::current_dir().ok()).as_deref()
}

/// Is `dir` the directory wtc runs in, or one of its parents? Such a directory is never
/// removed, even when an update leaves it empty (git >= 2.35 keeps it too: a shell standing
/// there would be left in a removed directory, and [`short`] paths would resolve inside it).
pub fn holds_cwd(dir: &Path) -> bool {
    cwd().is_some_and(|c| c.starts_with(dir))
}

static WHOLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Has [`whole_paths`] been called (a long-running command)?
pub fn paths_whole() -> bool {
    WHOLE.load(std::sync::atomic::Ordering::Relaxed)
}

/// From now on [`short`] returns every path whole (`wtc watch`, `wtc run`: they run for
/// hours, the commands they start for milliseconds).
pub fn whole_paths() {
    WHOLE.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn own(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: a descriptor just returned by the kernel, owned by nobody else.
    #[allow(unsafe_code)]
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_paths_name_the_same_file_from_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        let inside = cwd.join("src").join("dirfd.rs");
        assert_eq!(short(&inside), Path::new("src/dirfd.rs"));
        assert_eq!(
            std::fs::metadata(short(&inside)).unwrap().len(),
            std::fs::metadata(&inside).unwrap().len()
        );
        assert_eq!(
            short(&cwd),
            cwd.as_path(),
            "the directory itself stays whole"
        );
        let elsewhere = Path::new("/nowhere/near/here");
        assert_eq!(short(elsewhere), elsewhere);
        assert_eq!(short(Path::new("relative/x")), Path::new("relative/x"));
    }

    #[test]
    fn directories_open_by_name_never_through_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir(d.join("dir")).unwrap();
        std::fs::write(d.join("file"), "x").unwrap();
        std::os::unix::fs::symlink("dir", d.join("link")).unwrap();
        let top = open(d).unwrap();
        let dir = open_at(top.as_raw_fd(), b"dir").expect("a directory");
        let st = stat(&dir).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFDIR);
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(st.st_ino, std::fs::metadata(d.join("dir")).unwrap().ino());
        assert!(open_at(top.as_raw_fd(), b"link").is_none(), "a symlink");
        assert!(open_at(top.as_raw_fd(), b"file").is_none(), "a file");
        assert!(open_at(top.as_raw_fd(), b"missing").is_none());
        let link = stat_at(top.as_raw_fd(), b"link").expect("the link itself");
        assert_eq!(link.st_mode & libc::S_IFMT, libc::S_IFLNK);
        assert!(stat_at(top.as_raw_fd(), b"missing").is_none());
    }
}
