//! The one commit writer: every commit wtc makes passes through [`write`].
//!
//! It decides who the commit is by (the identity git would use: `GIT_AUTHOR_*`/
//! `GIT_COMMITTER_*`, `author.*`/`committer.*`, `user.*`), normalises the message the way
//! `git commit` cleans up a `-m` message (trailing whitespace and blank lines go, one final
//! newline), and writes the object without touching any ref: callers move refs by
//! compare-and-swap afterwards (ARCHITECTURE.md, invariants 2 and 3).
//!
//! gix's `Repository::new_commit` computes the identity once per `Repository` and freezes its
//! time ("now") for the repository's lifetime, so a long-running wtc (`watch`, `run`) would
//! stamp every commit with the time of its first one; this writer takes a fresh time for each
//! commit unless `GIT_*_DATE` pins it.

use anyhow::Result;
use gix::ObjectId;

/// Why a commit is written: decides what applies to it (scratch commits of an in-memory
/// fold are never seen by anyone and skip everything but the object itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A WIP commit of a lane (`save`, `done`, autosave).
    Save,
    /// A sync's merge commit on a lane.
    SyncMerge,
    /// The integration commit on the target branch.
    Integration,
    /// A commit of the plan's chain.
    Plan,
    /// An intermediate commit of an in-memory fold (never written to disk).
    Scratch,
}

/// A commit to write.
#[derive(Debug, Clone)]
pub struct NewCommit {
    pub purpose: Purpose,
    pub message: String,
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
}

/// Write `commit` into `repo`'s object database (or its in-memory store) and return its id.
pub fn write(repo: &gix::Repository, commit: NewCommit) -> Result<ObjectId> {
    let (committer, author) = match commit.purpose {
        // Never seen by anyone: a dry run needs no identity.
        Purpose::Scratch => (
            identity(repo, Role::Committer).unwrap_or_else(|_| scratch_identity()),
            identity(repo, Role::Author).unwrap_or_else(|_| scratch_identity()),
        ),
        _ => (
            identity(repo, Role::Committer)?,
            identity(repo, Role::Author)?,
        ),
    };
    let object = gix::objs::Commit {
        tree: commit.tree,
        parents: commit.parents.into_iter().collect(),
        author,
        committer,
        encoding: None,
        message: normalize_message(&commit.message).into(),
        extra_headers: Vec::new(),
    };
    Ok(repo.write_object(&object)?.detach())
}

#[derive(Clone, Copy)]
enum Role {
    Author,
    Committer,
}

/// The author or committer git would record now.
fn identity(repo: &gix::Repository, role: Role) -> Result<gix::actor::Signature> {
    let (found, date_var, what) = match role {
        Role::Author => (repo.author(), "GIT_AUTHOR_DATE", "author"),
        Role::Committer => (repo.committer(), "GIT_COMMITTER_DATE", "committer"),
    };
    let sig = found.ok_or(crate::git::Error::NoIdentity { role: what })??;
    let time = if std::env::var_os(date_var).is_some() {
        sig.time()?
    } else {
        gix::date::Time::now_local_or_utc()
    };
    Ok(gix::actor::Signature {
        name: sig.name.to_owned(),
        email: sig.email.to_owned(),
        time,
    })
}

/// The identity of in-memory fold commits when none is configured.
fn scratch_identity() -> gix::actor::Signature {
    gix::actor::Signature {
        name: "wtc".into(),
        email: "wtc@localhost".into(),
        time: gix::date::Time::now_local_or_utc(),
    }
}

/// `git commit -m`'s cleanup: trailing whitespace on each line and trailing blank lines go,
/// leading blank lines too, and the message ends with exactly one newline.
pub fn normalize_message(message: &str) -> String {
    let lines: Vec<&str> = message.lines().map(str::trim_end).collect();
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |i| i + 1);
    let mut out = String::new();
    let mut blank = false;
    for l in &lines[start..end] {
        // Runs of blank lines collapse to one, as git's cleanup does.
        if l.is_empty() {
            blank = true;
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_message;

    #[test]
    fn messages_are_cleaned_like_git_commit_m() {
        assert_eq!(normalize_message("subject"), "subject\n");
        assert_eq!(normalize_message("\n\nsubject  \n\n\n"), "subject\n");
        assert_eq!(
            normalize_message("s\n\n\n\nbody \nmore\n\nT: v\n"),
            "s\n\nbody\nmore\n\nT: v\n"
        );
    }
}
