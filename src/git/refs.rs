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

/// Set `name` to `new` if and only if it currently is as `expected` says.
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
            message: format!("wtc: {message}").into(),
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
    let edit = RefEdit {
        change,
        name: name.try_into()?,
        deref: false,
    };
    crate::faults::point();
    repo.edit_reference(edit)
        .map_err(|e| lost_race(repo, name, expected, e))?;
    crate::faults::point();
    Ok(())
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
