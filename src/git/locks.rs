//! One wtc at a time per worktree, and recovery after a wtc that died.
//!
//! A mutating command takes `<git-dir>/wtc.lock`, created exclusively and holding the owner's
//! pid and command. Every git lock wtc takes while working (`index.lock`, ref locks) is
//! appended to it, with the lock file's inode. If a wtc process is killed (SIGKILL, power
//! loss of the process), the next wtc in that worktree finds `wtc.lock` with a dead pid: it
//! removes exactly the locks that process created (same inode, so a lock a running git
//! command took since is never touched), says so, and carries on. A live owner means a
//! second wtc is running: we wait for it (up to 10 s, e.g. while `watch` syncs), then refuse
//! with a clear message.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context as _, Result};

struct Held {
    path: PathBuf,
    file: std::fs::File,
}

static HELD: Mutex<Option<Held>> = Mutex::new(None);

/// How long a command waits for another wtc in the same worktree before refusing.
const WAIT_FOR_OWNER: std::time::Duration = std::time::Duration::from_secs(10);

/// Holds `wtc.lock` until dropped.
pub struct OpLock {
    path: PathBuf,
}

/// What was cleaned up after a dead wtc, for the user to read.
#[derive(Debug, Default)]
pub struct Recovered {
    pub pid: u32,
    pub command: String,
    pub removed: Vec<PathBuf>,
}

impl OpLock {
    /// Take the worktree's operation lock, recovering from a dead owner.
    pub fn acquire(git_dir: &Path, command: &str) -> Result<(OpLock, Option<Recovered>)> {
        let path = git_dir.join("wtc.lock");
        let mut recovered = None;
        // A live owner is usually a short command (or `watch` syncing for a few ms): wait a
        // little for it before refusing.
        let deadline = std::time::Instant::now() + WAIT_FOR_OWNER;
        let mut pause = std::time::Duration::from_millis(5);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    writeln!(file, "{}\n{command}", std::process::id())?;
                    *HELD.lock().expect("guard state") = Some(Held {
                        path: path.clone(),
                        file,
                    });
                    return Ok((OpLock { path }, recovered));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let mut lines = text.lines();
                    let pid: Option<u32> = lines.next().and_then(|l| l.trim().parse().ok());
                    let other = lines.next().unwrap_or("?").to_string();
                    if let Some(pid) = pid.filter(|p| alive(*p)) {
                        if std::time::Instant::now() < deadline {
                            std::thread::sleep(pause);
                            pause = (pause * 2).min(std::time::Duration::from_millis(100));
                            continue;
                        }
                        return Err(crate::git::Error::Busy {
                            command: other,
                            pid,
                        }
                        .into());
                    }
                    if pid.is_none() && age(&path) < std::time::Duration::from_secs(2) {
                        // Being written right now by a starting wtc: give it a moment.
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        continue;
                    }
                    recovered = Some(recover(&path, &text, pid.unwrap_or(0), other)?);
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
    }
}

impl Drop for OpLock {
    fn drop(&mut self) {
        HELD.lock().expect("guard state").take();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Note a git lock file wtc just created (so a successor can remove it if we die).
pub fn record(lock: &Path) {
    let mut held = HELD.lock().expect("guard state");
    if let Some(h) = held.as_mut() {
        if let Ok(md) = std::fs::symlink_metadata(lock) {
            let _ = writeln!(h.file, "{} {}", md.ino(), lock.display());
        }
    }
}

/// The path of the lock currently held by this process, if any (for messages and tests).
pub fn held_path() -> Option<PathBuf> {
    HELD.lock()
        .expect("guard state")
        .as_ref()
        .map(|h| h.path.clone())
}

fn recover(path: &Path, text: &str, pid: u32, command: String) -> Result<Recovered> {
    let mut out = Recovered {
        pid,
        command,
        removed: Vec::new(),
    };
    for line in text.lines().skip(2) {
        let Some((ino, lock)) = line.split_once(' ') else {
            continue;
        };
        let lock = PathBuf::from(lock);
        let same = std::fs::symlink_metadata(&lock)
            .is_ok_and(|md| ino.parse::<u64>().ok() == Some(md.ino()));
        if same && std::fs::remove_file(&lock).is_ok() {
            out.removed.push(lock);
        }
    }
    std::fs::remove_file(path).with_context(|| format!("removing the stale {}", path.display()))?;
    Ok(out)
}

fn alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks whether the process exists.
    #[allow(unsafe_code)]
    let r = unsafe { libc::kill(pid as i32, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn age(path: &Path) -> std::time::Duration {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .unwrap_or_default()
}
