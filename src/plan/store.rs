//! Storing the plan: a chain of commits at `refs/wtc/<plan>/plan` whose tree holds one file,
//! `plan.toml`. Every change is a new commit on top of the one it was derived from, moved by
//! compare-and-swap, so the chain doubles as the operation log (`wtc log`). Storing never
//! publishes: in remote mode [`crate::ops::publish`] does that.

use anyhow::{Context as _, Result};
use gix::bstr::ByteSlice;
use gix::refs::transaction::PreviousValue;
use gix::ObjectId;

use super::{bad_plan, names, refnames, Error, Plan, MAX_PLAN_BYTES};
use crate::git::refs;

/// A plan as read from its ref, with the commit it came from (the CAS token for updates).
#[derive(Debug, Clone)]
pub struct StoredPlan {
    pub plan: Plan,
    pub commit: ObjectId,
}

/// Read the plan `name` from `ref_name` (the local plan ref unless given).
pub fn load_from(repo: &gix::Repository, ref_name: &str) -> Result<Option<StoredPlan>> {
    let Some(commit) = refs::peel(repo, ref_name)? else {
        return Ok(None);
    };
    let plan = read_plan_commit(repo, commit)?;
    if let Some(name) = refnames::plan_of_plan_ref(ref_name) {
        check_name(&plan, name)?;
    }
    Ok(Some(StoredPlan { plan, commit }))
}

/// A plan.toml must name the plan whose ref holds it: otherwise every lane branch and ref
/// wtc derives from the name would belong to another plan.
pub fn check_name(plan: &Plan, expected: &str) -> Result<(), Error> {
    if plan.name != expected {
        return Err(bad_plan(&format!(
            "the plan.toml of plan '{expected}' names plan '{}'",
            plan.name
        )));
    }
    Ok(())
}

/// Parse the plan.toml inside a plan commit.
pub fn read_plan_commit(repo: &gix::Repository, commit: ObjectId) -> Result<Plan> {
    let tree = repo.find_commit(commit)?.tree()?;
    let entry = tree
        .find_entry("plan.toml")
        .ok_or_else(|| Error::NoPlanToml {
            commit: commit.to_string(),
        })?;
    let header = repo.find_header(entry.oid())?;
    if header.size() > MAX_PLAN_BYTES as u64 {
        return Err(Error::TooBig {
            what: format!("plan.toml in {commit}"),
            bytes: header.size(),
        }
        .into());
    }
    let blob = repo.find_blob(entry.oid())?;
    Ok(Plan::parse(&blob.data)?)
}

/// Load the local plan `name`, or a clear error.
pub fn load(repo: &gix::Repository, name: &str) -> Result<StoredPlan> {
    load_from(repo, &refnames::plan_ref(name))?.ok_or_else(|| {
        Error::NoSuchPlan {
            name: name.to_string(),
            known: list(repo).unwrap_or_default(),
        }
        .into()
    })
}

/// Write `plan` as a new commit on its ref. `previous` is the commit it was derived from (None
/// for a new plan); a lost race is an error, never an overwrite.
pub fn store(
    repo: &gix::Repository,
    plan: &Plan,
    previous: Option<ObjectId>,
    message: &str,
) -> Result<ObjectId> {
    plan.validate()?;
    let blob = repo.write_blob(plan.to_toml().as_bytes())?.detach();
    let mut editor = repo.edit_tree(ObjectId::empty_tree(repo.object_hash()))?;
    editor.upsert("plan.toml", gix::object::tree::EntryKind::Blob, blob)?;
    let tree = editor.write()?.detach();
    let commit = crate::git::commit::write(
        repo,
        crate::git::commit::NewCommit {
            purpose: crate::git::commit::Purpose::Plan,
            message: message.to_string(),
            tree,
            parents: previous.into_iter().collect(),
        },
    )
    .context("writing the plan commit")?;
    let expected = match previous {
        Some(prev) => PreviousValue::MustExistAndMatch(prev.into()),
        None => PreviousValue::MustNotExist,
    };
    refs::cas(
        repo,
        &refnames::plan_ref(&plan.name),
        expected,
        commit,
        message,
    )
    .map_err(|e| {
        e.context(format!(
            "the plan '{}' changed while this command ran; run it again",
            plan.name
        ))
    })?;
    Ok(commit)
}

/// All plan names with a local plan ref.
pub fn list(repo: &gix::Repository) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let platform = repo.references()?;
    for r in platform.prefixed(refnames::plans_prefix())? {
        let r = r.map_err(|e| anyhow::anyhow!("{e}"))?;
        let name = r.name().as_bstr().to_str_lossy().into_owned();
        if let Some(plan) = refnames::parse_plan_ref(&name) {
            if !names::RESERVED_PLAN_NAMES.contains(&plan) {
                out.push(plan.to_string());
            }
        }
    }
    Ok(out)
}
