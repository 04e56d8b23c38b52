//! Fetching what a shallow or partial clone lacks: history down to a commit, and blobs by id.
//!
//! gix 0.90 reads shallow and partial clones but cannot fill them in: its fetch has no
//! "these object ids" (only refspecs), and it never fetches a missing blob lazily the way
//! git's promisor remotes do. So this is the second place wtc runs `git` (after
//! [`super::remote::push`]): git's own fetch, which knows how to deepen a shallow clone
//! (`--shallow-since`, `--deepen`) and how to ask a promisor remote for blobs (with the
//! `noop` negotiation, so the server does not assume the client has what it lacks).
//! [`fetch_objects`] is the same fetch by id with git's usual negotiation, for the packs gix
//! cannot take ([`super::remote::fetch`]).

use std::io::Write as _;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result};
use gix::ObjectId;

/// How one backfill fetch went: `Err` holds git's last line (a server that cannot serve it).
pub type Outcome = std::result::Result<(), String>;

/// `git fetch` in `repo` from `remote` with `args`, ids on stdin when given, without
/// telling the server what we have (`noop` negotiation).
fn git_fetch(
    repo: &gix::Repository,
    remote: &str,
    args: &[String],
    stdin: Option<String>,
) -> Result<Outcome> {
    fetch_with(
        repo,
        remote,
        args,
        stdin,
        &["-c", "fetch.negotiationAlgorithm=noop"],
    )
}

/// `git fetch` with `config` (`-c` pairs) before the subcommand.
fn fetch_with(
    repo: &gix::Repository,
    remote: &str,
    args: &[String],
    stdin: Option<String>,
    config: &[&str],
) -> Result<Outcome> {
    let workdir = repo.workdir().unwrap_or(repo.git_dir());
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(workdir)
        .args(config)
        .args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--recurse-submodules=no",
        ])
        .args(args)
        .arg(remote)
        .env("GIT_TERMINAL_PROMPT", "0")
        // Never let git fetch lazily on its own while we ask for exactly what is missing.
        .env("GIT_NO_LAZY_FETCH", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.arg("--stdin");
    }
    let mut child = cmd
        .spawn()
        .context("running `git fetch` (is git installed?)")?;
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(text.as_bytes())
            .context("writing ids to `git fetch`")?;
    }
    let out = child.wait_with_output()?;
    crate::faults::point();
    if out.status.success() {
        return Ok(Ok(()));
    }
    let err = super::remote::redact(&String::from_utf8_lossy(&out.stderr));
    Ok(Err(err
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("git fetch failed")
        .to_string()))
}

/// Fetch `commit` itself (one commit deep) from `remote`.
pub fn fetch_commit(repo: &gix::Repository, remote: &str, commit: ObjectId) -> Result<Outcome> {
    git_fetch(
        repo,
        remote,
        &["--depth=1".into()],
        Some(format!("{commit}\n")),
    )
}

/// Deepen the history of `tips` to every commit made after `since` (seconds since the
/// epoch): the cheapest way to reach a known commit of that time.
pub fn deepen_since(
    repo: &gix::Repository,
    remote: &str,
    since: i64,
    tips: &[ObjectId],
) -> Result<Outcome> {
    git_fetch(
        repo,
        remote,
        &[format!("--shallow-since=@{since}")],
        Some(ids(tips)),
    )
}

/// Deepen the history of `tips` by `depth` more commits.
pub fn deepen_by(
    repo: &gix::Repository,
    remote: &str,
    depth: u32,
    tips: &[ObjectId],
) -> Result<Outcome> {
    git_fetch(
        repo,
        remote,
        &[format!("--deepen={depth}")],
        Some(ids(tips)),
    )
}

/// The whole history (the last resort).
pub fn unshallow(repo: &gix::Repository, remote: &str) -> Result<Outcome> {
    git_fetch(repo, remote, &["--unshallow".into()], None)
}

/// Fetch `objects` (and what they reach that `repo` lacks) by id, negotiating as a plain
/// `git fetch` does: what [`super::remote::fetch`] falls back to when gix cannot take the
/// pack the remote sent.
pub fn fetch_objects(
    repo: &gix::Repository,
    remote: &str,
    objects: &[ObjectId],
) -> Result<Outcome> {
    if objects.is_empty() {
        return Ok(Ok(()));
    }
    fetch_with(repo, remote, &[], Some(ids(objects)), &[])
}

/// Fetch `blobs` by id from the promisor `remote`, in one round trip.
pub fn fetch_blobs(repo: &gix::Repository, remote: &str, blobs: &[ObjectId]) -> Result<Outcome> {
    if blobs.is_empty() {
        return Ok(Ok(()));
    }
    git_fetch(
        repo,
        remote,
        &["--filter=blob:none".into()],
        Some(ids(blobs)),
    )
}

fn ids(list: &[ObjectId]) -> String {
    list.iter().map(|id| format!("{id}\n")).collect()
}
