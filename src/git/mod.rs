//! Git primitives: everything wtc asks of git that is not about plans or lanes.
//!
//! This layer knows refs, the index, commits, remotes and worktrees, and nothing of wtc's
//! concepts: it never spells a `refs/wtc/` name (those live in [`crate::plan::refnames`]).

pub mod ancestry;
pub mod backfill;
pub mod commit;
pub mod hooks;
pub mod index;
pub mod locks;
pub mod loose;
pub mod refs;
pub mod remote;
pub mod worktrees;

use std::path::PathBuf;

use gix::ObjectId;

use crate::error::{diagnostic_of, Diagnostic, Kind};

/// The id git would give `data` as a blob, for comparing with ids already known (is a
/// worktree file still the blob the index names?), never to name an object that is
/// stored. SHA-1 repositories hash with plain SHA-1 (the CPU's SHA instructions where it
/// has them): gix hashes with collision detection, several times slower, which guards the
/// ids of objects written; a comparison stores no id, and a file crafted to collide with
/// a committed blob would only pass for that blob. Other hash kinds go through gix.
pub fn blob_id_to_compare(kind: gix::hash::Kind, data: &[u8]) -> anyhow::Result<ObjectId> {
    if kind != gix::hash::Kind::Sha1 {
        return Ok(gix::objs::compute_hash(
            kind,
            gix::object::Kind::Blob,
            data,
        )?);
    }
    use sha1::Digest as _;
    let mut hasher = sha1::Sha1::new();
    hasher.update(gix::objs::encode::loose_header(
        gix::object::Kind::Blob,
        data.len() as u64,
    ));
    hasher.update(data);
    Ok(ObjectId::from_bytes_or_panic(hasher.finalize().as_slice()))
}

/// What the git layer refuses or fails at, in terms the user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{} is a sparse index (index.sparse), which wtc cannot edit yet; nothing was changed", .index.display())]
    SparseIndex { index: PathBuf },
    #[error("{}.lock exists: another git command is running in this worktree", .index.display())]
    IndexLocked { index: PathBuf },
    #[error("another wtc command (`wtc {command}`, pid {pid}) is working in this worktree")]
    Busy { command: String, pid: u32 },
    #[error("{name} moved while wtc was updating it ({}); nothing was overwritten", now.map_or("deleted".to_string(), |id| format!("now at {}", refs::short(id))))]
    RefMoved { name: String, now: Option<ObjectId> },
    #[error("the {role} identity is not configured, so wtc cannot commit")]
    NoIdentity { role: &'static str },
    #[error("signing {what} failed ({how}): {reason}; nothing was moved")]
    Signing {
        what: &'static str,
        how: String,
        reason: String,
    },
    #[error("the {hook} hook refused {what} ({status}); nothing was moved")]
    HookRejected {
        hook: &'static str,
        status: String,
        what: &'static str,
    },
    #[error("the pre-push hook refused the push to '{remote}'; nothing on the remote changed")]
    PrePushRejected { remote: String, output: String },
    #[error("there is no remote named '{remote}' in this repository")]
    NoSuchRemote { remote: String },
    #[error("{what} {url} failed: {reason}")]
    Remote {
        what: &'static str,
        remote: String,
        url: String,
        reason: String,
    },
    #[error("publishing to {url} failed: {why}")]
    PushRejected {
        remote: String,
        url: String,
        why: String,
    },
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("not inside a git repository: {}", .0.display())]
    NotARepository(PathBuf),
    #[error("detected dubious ownership in repository at '{}'", dir.display())]
    DubiousOwnership { dir: PathBuf },
    #[error("{} is a {format} repository; this wtc reads SHA-1 repositories only", dir.display())]
    ObjectFormat { dir: PathBuf, format: String },
    #[error("{} is a bare repository; wtc needs a repository with a working tree", .0.display())]
    Bare(PathBuf),
    #[error("cannot open the worktree at {}: {reason}", path.display())]
    CannotOpenWorktree { path: PathBuf, reason: String },
}

impl Diagnostic for Error {
    fn kind(&self) -> Kind {
        Kind::User
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            Error::IndexLocked { index } => format!(
                "wait for it to finish; if no git process is running, remove {}.lock",
                index.display()
            ),
            Error::Busy { .. } => "wait for it to finish, then run this again".into(),
            Error::SparseIndex { .. } => "keep the sparse checkout with a full index: `git sparse-checkout init --no-sparse-index` (or `git config index.sparse false && git sparse-checkout reapply`), then run the command again".into(),
            Error::RefMoved { .. } => "run the command again: it starts from the new value".into(),
            Error::NoIdentity { .. } => "tell git who you are, as git asks: run `git config --global user.email \"you@example.com\"` and `git config --global user.name \"Your Name\"` (omit --global to set the identity only in this repository)".into(),
            Error::Signing { .. } => "check the signing setup with a plain `git commit -S --allow-empty -m test` (user.signingKey, gpg.format, the agent); or sign nothing: `git config commit.gpgSign false`".into(),
            Error::HookRejected { hook, .. } => format!(
                "fix what the {hook} hook reported above and run the command again; skip it with --no-hooks (git's --no-verify)"
            ),
            Error::PrePushRejected { output, .. } => {
                let shown: Vec<&str> = output.lines().rev().take(20).collect();
                let mut hint: String = shown.into_iter().rev().map(|l| format!("  {l}\n")).collect();
                hint.push_str("fix what the hook reported and run the command again; skip it with --no-hooks, or for wtc's pushes always: `git config wtc.prePush false`");
                hint
            }
            Error::NoSuchRemote { .. } => {
                "add it with `git remote add NAME URL`, or pass --remote NAME".into()
            }
            Error::Remote { remote, .. } => format!(
                "check that the remote '{remote}' is reachable and that you may read it (`git ls-remote {remote}`)"
            ),
            Error::PushRejected { remote, .. } => format!(
                "check that you may push to '{remote}'; nothing on the remote was overwritten"
            ),
            Error::NotADirectory(_) => return None,
            Error::DubiousOwnership { dir } => format!(
                "it is owned by someone else, so git refuses it too; to add an exception for this directory, call: git config --global --add safe.directory {}",
                dir.display()
            ),
            Error::ObjectFormat { .. } => "gix, which wtc is built on, is built here without SHA-256 support; use wtc on SHA-1 repositories (git's default)".into(),
            Error::NotARepository(_) => {
                "run wtc inside a clone (or one of its worktrees), or pass -C DIR".into()
            }
            Error::Bare(_) => {
                "run wtc in a clone of it (`git clone`), where the lanes get their worktrees".into()
            }
            Error::CannotOpenWorktree { .. } => "if the directory was deleted, run `git worktree prune`, then `wtc rm LANE --force` or `wtc add` again".into(),
        })
    }
}

/// The typed error `cause` is, if it is one of this layer's (or a lower one's).
pub fn diagnostic<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Diagnostic> {
    diagnostic_of!(cause, crate::error::diagnostic; Error)
}

/// Objects this process wrote into an object database, by that database's directory: a
/// later question "does it exist?" about one of them needs no `stat` (an index write asks
/// it of every tree it records in the cache-tree; after a sync those are the trees the
/// sync just wrote). Objects are never deleted while a command runs (git's gc keeps young
/// loose objects), so the answer stays true.
static WRITTEN: std::sync::OnceLock<
    std::sync::Mutex<std::collections::HashMap<PathBuf, gix::hashtable::HashSet<ObjectId>>>,
> = std::sync::OnceLock::new();

/// Note that `id` is now in `repo`'s object database.
pub fn note_written(repo: &gix::Repository, id: ObjectId) {
    let dir = repo.objects.store_ref().path();
    let mut written = WRITTEN
        .get_or_init(Default::default)
        .lock()
        .expect("not poisoned");
    match written.get_mut(dir) {
        Some(ids) => {
            ids.insert(id);
        }
        None => {
            written.insert(dir.to_owned(), std::iter::once(id).collect());
        }
    }
}

/// Did this process write `id` into `repo`'s object database ([`note_written`])?
pub fn known_written(repo: &gix::Repository, id: &ObjectId) -> bool {
    let dir = repo.objects.store_ref().path();
    WRITTEN.get().is_some_and(|w| {
        w.lock()
            .expect("not poisoned")
            .get(dir)
            .is_some_and(|ids| ids.contains(id))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn objects_written_are_known_per_object_database() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = gix::init(one.path()).unwrap();
        let b = gix::init(two.path()).unwrap();
        let id = gix::ObjectId::from_hex(b"2222222222222222222222222222222222222222").unwrap();
        assert!(!super::known_written(&a, &id));
        super::note_written(&a, id);
        assert!(super::known_written(&a, &id));
        assert!(!super::known_written(&b, &id), "another object database");
    }

    /// The id compared with known ones is the id gix (and git) give the same bytes.
    #[test]
    fn a_blob_id_to_compare_is_the_blob_id() {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let kind = gix::hash::Kind::Sha1;
        for data in [&b""[..], b"x", b"hello\n", &big[..]] {
            assert_eq!(
                super::blob_id_to_compare(kind, data).unwrap(),
                gix::objs::compute_hash(kind, gix::object::Kind::Blob, data).unwrap(),
                "{} bytes",
                data.len()
            );
        }
        assert_eq!(
            super::blob_id_to_compare(gix::hash::Kind::Sha1, b"")
                .unwrap()
                .to_string(),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
            "git hash-object of an empty file"
        );
    }
}
