//! Reading refs and changing them only by compare-and-swap.
//!
//! Every ref wtc moves goes through [`cas`] or [`delete`]: the caller states the value it
//! expects and a lost race surfaces as an error naming the ref and its current value, never as a
//! silent overwrite (ARCHITECTURE.md, invariant 2).

use anyhow::Result;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::Target;
use gix::ObjectId;

/// The commit a ref points to (peeled), or `None` when the ref does not exist.
pub fn peel(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>> {
    match repo.try_find_reference(name)? {
        None => Ok(None),
        Some(mut r) => Ok(Some(r.peel_to_id()?.detach())),
    }
}

/// Set `name` to `new` if and only if it currently is as `expected` says. `message` is the
/// reflog entry (after `wtc `), as git's own commands write one: "sync: merge a into b".
/// When `name` is the branch checked out in `repo`'s worktree, HEAD's reflog gets the entry
/// too, as git does.
pub fn cas(
    repo: &gix::Repository,
    name: &str,
    expected: PreviousValue,
    new: ObjectId,
    message: &str,
) -> Result<()> {
    let change = Change::Update {
        log: LogChange {
            mode: RefLog::AndReference,
            force_create_reflog: false,
            message: format!("wtc {message}").into(),
        },
        expected: expected.clone(),
        new: Target::Object(new),
    };
    edit(repo, name, change, &expected)
}

/// Delete `name` if it still has the value `expected`.
pub fn delete(repo: &gix::Repository, name: &str, expected: ObjectId) -> Result<()> {
    let expected = PreviousValue::MustExistAndMatch(Target::Object(expected));
    let change = Change::Delete {
        expected: expected.clone(),
        log: RefLog::AndReference,
    };
    edit(repo, name, change, &expected)
}

/// Apply one ref change (a fault point on either side, for the crash tests).
fn edit(
    repo: &gix::Repository,
    name: &str,
    change: Change,
    expected: &PreviousValue,
) -> Result<()> {
    // The branch checked out here moves through HEAD (deref), so gix logs both, like git.
    let through_head = matches!(change, Change::Update { .. })
        && repo
            .head_name()
            .ok()
            .flatten()
            .is_some_and(|h| h.as_bstr() == name);
    let edit = RefEdit {
        change,
        name: if through_head {
            "HEAD".try_into()?
        } else {
            name.try_into()?
        },
        deref: through_head,
    };
    crate::faults::point();
    let who = reflog_identity(repo);
    let mut time = gix::date::parse::TimeBuf::default();
    repo.edit_references_as([edit], Some(who.to_ref(&mut time)))
        .map_err(|e| lost_race(repo, name, expected, e))?;
    crate::faults::point();
    Ok(())
}

/// Who a reflog entry names: the committer, or, when none is configured, what git itself
/// falls back to for reflogs (user name and `user@host`): git never fails a ref update for a
/// missing identity (gix would, and leave the ref unmoved).
pub(crate) fn reflog_identity(repo: &gix::Repository) -> gix::actor::Signature {
    let time = crate::git::commit::now();
    let committer = crate::git::commit::name_and_email(repo, crate::git::commit::Role::Committer);
    if let Some((name, email)) = committer {
        return gix::actor::Signature { name, email, time };
    }
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    gix::actor::Signature {
        name: user.clone().into(),
        email: format!("{user}@{host}").into(),
        time,
    }
}

/// Turn a failed edit into a clear message when the cause is that the ref moved.
fn lost_race(
    repo: &gix::Repository,
    name: &str,
    expected: &PreviousValue,
    err: gix::Error,
) -> anyhow::Error {
    let current = peel(repo, name).ok().flatten();
    let moved = match expected {
        PreviousValue::MustNotExist => current.is_some(),
        PreviousValue::MustExistAndMatch(Target::Object(id))
        | PreviousValue::ExistingMustMatch(Target::Object(id)) => current != Some(*id),
        _ => false,
    };
    if moved {
        crate::git::Error::RefMoved {
            name: name.to_string(),
            now: current,
        }
        .into()
    } else {
        anyhow::Error::new(err).context(format!("could not update {name}"))
    }
}

/// Is `ancestor` reachable from `descendant` (or equal to it)?
pub fn is_ancestor(
    repo: &gix::Repository,
    ancestor: ObjectId,
    descendant: ObjectId,
) -> Result<bool> {
    super::ancestry::is_ancestor(repo, ancestor, descendant)
}

/// The abbreviated form used in human output.
pub fn short(id: ObjectId) -> String {
    id.to_hex_with_len(9).to_string()
}
