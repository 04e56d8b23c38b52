//! Remote mode: lanes in separate clones meet at any git remote.
//!
//! Published refs live on the remote under `refs/wtc/<plan>/` (`plan`, `lanes/<lane>`), a
//! namespace a teammate's plain `git fetch`/`git clone` never asks for. Fetching goes through
//! gix with one refspec, `+refs/wtc/<plan>/*:refs/wtc/remotes/<remote>/<plan>/*`, so the
//! server filters by that prefix (protocol v2 `ref-prefix`): the cost follows the plan, not
//! the remote's ref count. gix 0.90 cannot push, so publishing is the one place wtc runs the
//! `git` binary: `git push --atomic --porcelain --force-with-lease=<ref>:<expected>`, which
//! never overwrites someone else's work. URLs with credentials are redacted in every message.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{Context as _, Result};
use gix::bstr::ByteSlice;
use gix::refs::transaction::PreviousValue;
use gix::ObjectId;

use crate::error::user;
use crate::git::refs;

/// Which remote a plan uses on this machine: git config `wtc.<plan>.remote`.
pub fn configured(repo: &gix::Repository, plan: &str) -> Option<String> {
    repo.config_snapshot()
        .string(format!("wtc.{plan}.remote").as_str())
        .map(|v| v.to_str_lossy().into_owned())
        .filter(|v| !v.is_empty())
}

/// Record (or, with `None`, forget) the remote a plan uses on this machine.
pub fn set_configured(repo: &gix::Repository, plan: &str, remote: Option<&str>) -> Result<()> {
    let mut config = repo
        .config_file_mut(repo.common_dir().join("config"))
        .context("opening the repository's config")?;
    match remote {
        Some(r) => {
            config.set_raw_value_by("wtc", Some(plan.as_bytes().as_bstr()), "remote", r)?;
        }
        None => {
            if let Ok(mut section) = config.section_mut("wtc", Some(plan.as_bytes().as_bstr())) {
                section.remove("remote");
            }
        }
    }
    config.commit().context("writing the repository's config")?;
    Ok(())
}

/// `refs/wtc/remotes/<remote>/<plan>/`
pub fn tracking_prefix(remote: &str, plan: &str) -> String {
    format!("refs/wtc/remotes/{remote}/{plan}/")
}

/// Where the remote's copy of a lane is kept locally.
pub fn tracking_lane(remote: &str, plan: &str, lane: &str) -> String {
    format!("{}lanes/{lane}", tracking_prefix(remote, plan))
}

/// Where the remote's copy of the plan is kept locally.
pub fn tracking_plan(remote: &str, plan: &str) -> String {
    format!("{}plan", tracking_prefix(remote, plan))
}

/// Where the remote's target branch is kept locally (fetched by squash --push).
pub fn tracking_target(remote: &str, plan: &str) -> String {
    format!("{}target", tracking_prefix(remote, plan))
}

/// The published name of a lane on the remote.
pub fn published_lane(plan: &str, lane: &str) -> String {
    format!("refs/wtc/{plan}/lanes/{lane}")
}

/// Replace `user:password@` (or `token@`) in every URL inside `text` by `***@`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The fetch URL of `remote`, redacted, for messages.
pub fn display_url(repo: &gix::Repository, remote: &str) -> String {
    repo.find_remote(remote)
        .ok()
        .and_then(|r| {
            r.url(gix::remote::Direction::Fetch)
                .map(|u| u.to_bstring().to_string())
        })
        .map(|u| redact(&u))
        .unwrap_or_else(|| remote.to_string())
}

fn remote_error(
    repo: &gix::Repository,
    remote: &str,
    what: &str,
    err: gix::Error,
) -> anyhow::Error {
    let url = display_url(repo, remote);
    // gix nests the real reason (refused connection, unknown host, 401) a few sources deep.
    let mut reasons: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && !reasons.iter().any(|r| r.contains(&text)) {
            reasons.push(text);
        }
        cur = e.source();
    }
    user(format!("{what} {url} failed: {}", redact(&reasons.join(": "))))
        .hint(format!(
            "check that the remote '{remote}' is reachable and that you may read it (`git ls-remote {remote}`)"
        ))
        .into()
}

fn find_remote<'r>(repo: &'r gix::Repository, remote: &str) -> Result<gix::Remote<'r>> {
    repo.find_remote(remote).map_err(|_| {
        user(format!(
            "there is no remote named '{remote}' in this repository"
        ))
        .hint("add it with `git remote add NAME URL`, or pass --remote NAME")
        .into()
    })
}

/// The refs of the plan on the remote (`refs/wtc/<plan>/...` -> id), listed without
/// downloading any objects: what `wait` polls.
pub fn list(
    repo: &gix::Repository,
    remote: &str,
    plan: &str,
) -> Result<BTreeMap<String, ObjectId>> {
    let spec = format!("refs/wtc/{plan}/*:{}*", tracking_prefix(remote, plan));
    let map = ref_map(repo, remote, &[spec.as_str()])?;
    Ok(remote_refs(&map, &format!("refs/wtc/{plan}/")))
}

/// The remote's refs matching `specs`, from the protocol's ref listing alone (no pack).
fn ref_map(
    repo: &gix::Repository,
    remote: &str,
    specs: &[&str],
) -> Result<gix::remote::fetch::RefMap> {
    let mut r = find_remote(repo, remote)?.with_fetch_tags(gix::remote::fetch::Tags::None);
    r.replace_refspecs(specs.iter().copied(), gix::remote::Direction::Fetch)?;
    let conn = r
        .connect(gix::remote::Direction::Fetch)
        .map_err(|e| remote_error(repo, remote, "connecting to", e))?;
    let (map, _) = conn
        .ref_map(gix::progress::Discard, Default::default())
        .map_err(|e| remote_error(repo, remote, "listing refs of", e))?;
    Ok(map)
}

/// The remote's current values of exactly these refs (absent ones are missing from the map).
fn values<'a>(
    repo: &gix::Repository,
    remote: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<BTreeMap<String, ObjectId>> {
    let names: Vec<&str> = names.collect();
    let map = ref_map(repo, remote, &names)?;
    Ok(remote_refs(&map, "refs/")
        .into_iter()
        .filter(|(n, _)| names.contains(&n.as_str()))
        .collect())
}

fn remote_refs(map: &gix::remote::fetch::RefMap, prefix: &str) -> BTreeMap<String, ObjectId> {
    map.remote_refs
        .iter()
        .filter_map(|r| {
            let (name, target, peeled) = r.unpack();
            let id = peeled.or(target)?.to_owned();
            let name = name.to_str_lossy().into_owned();
            name.starts_with(prefix).then_some((name, id))
        })
        .collect()
}

/// Fetch the plan's published refs (and `extra` refspecs) into the tracking namespace, and
/// drop tracking refs the remote no longer has. Returns the remote's refs of the plan.
pub fn fetch(
    repo: &gix::Repository,
    remote: &str,
    plan: &str,
    target: Option<&str>,
) -> Result<BTreeMap<String, ObjectId>> {
    let mut specs = vec![format!(
        "+refs/wtc/{plan}/*:{}*",
        tracking_prefix(remote, plan)
    )];
    if let Some(t) = target {
        specs.push(format!("+refs/heads/{t}:{}", tracking_target(remote, plan)));
    }
    let mut r = find_remote(repo, remote)?.with_fetch_tags(gix::remote::fetch::Tags::None);
    r.replace_refspecs(
        specs.iter().map(String::as_str),
        gix::remote::Direction::Fetch,
    )?;
    let conn = r
        .connect(gix::remote::Direction::Fetch)
        .map_err(|e| remote_error(repo, remote, "connecting to", e))?;
    let outcome = conn
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| remote_error(repo, remote, "fetching from", e))?
        .receive(gix::progress::Discard, &gix::interrupt::IS_INTERRUPTED)
        .map_err(|e| remote_error(repo, remote, "fetching from", e))?;
    let published = remote_refs(&outcome.ref_map, &format!("refs/wtc/{plan}/"));
    // Prune: a tracking ref whose published ref is gone must not keep pretending it exists.
    let prefix = tracking_prefix(remote, plan);
    let mut stale = Vec::new();
    for r in repo.references()?.prefixed(prefix.as_str())? {
        let r = r.map_err(|e| anyhow::anyhow!("{e}"))?;
        let name = r.name().as_bstr().to_str_lossy().into_owned();
        let rest = &name[prefix.len()..];
        let published_name = format!("refs/wtc/{plan}/{rest}");
        if rest != "target" && !published.contains_key(&published_name) {
            if let Some(id) = r.target().try_id() {
                stale.push((name, id.to_owned()));
            }
        }
    }
    for (name, id) in stale {
        refs::delete(repo, &name, id)?;
    }
    Ok(published)
}

/// One ref update for [`push`]: set `dst` to `src` (or delete it), if and only if the remote
/// still has `expected` there (`None`: it must not exist).
#[derive(Debug, Clone)]
pub struct PushUpdate {
    pub src: Option<ObjectId>,
    pub dst: String,
    pub expected: Option<ObjectId>,
}

/// Why a push did not land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    Pushed,
    /// The remote's value was not what we expected: someone else moved it.
    Stale(Vec<String>),
}

/// Push `updates` atomically through `git push`, each with an explicit lease. gix 0.90 has
/// no push (its crate-status lists it as missing), so this is the one place wtc shells out.
pub fn push(repo: &gix::Repository, remote: &str, updates: &[PushUpdate]) -> Result<PushOutcome> {
    if updates.is_empty() {
        return Ok(PushOutcome::Pushed);
    }
    let workdir = repo.workdir().unwrap_or(repo.git_dir());
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(workdir);
    cmd.args(["push", "--atomic", "--porcelain", "--no-verify", "--quiet"]);
    for u in updates {
        let expected = u.expected.map(|e| e.to_string()).unwrap_or_default();
        cmd.arg(format!("--force-with-lease={}:{expected}", u.dst));
    }
    cmd.arg(remote);
    for u in updates {
        match u.src {
            Some(src) => cmd.arg(format!("{src}:{}", u.dst)),
            None => cmd.arg(format!(":{}", u.dst)),
        };
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0");
    crate::faults::point();
    let out = cmd
        .output()
        .context("running `git push` (is git installed?)")?;
    crate::faults::point();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = redact(&String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        return Ok(PushOutcome::Pushed);
    }
    // Porcelain lines: "<flag>\t<from>:<to>\t<summary>"; '!' marks a rejected ref.
    let mut stale = Vec::new();
    for line in stdout.lines() {
        let parts: Vec<&str> = line.split('\t').collect();
        // "stale info": the lease failed before sending; "cannot lock ref ... expected":
        // another push won the race on the server; both mean the remote moved.
        let moved = [
            "stale info",
            "cannot lock ref",
            "fetch first",
            "non-fast-forward",
        ];
        if parts.len() >= 3 && parts[0] == "!" && moved.iter().any(|m| parts[2].contains(m)) {
            stale.push(parts[1].split(':').nth(1).unwrap_or(parts[1]).to_string());
        }
    }
    if !stale.is_empty() {
        return Ok(PushOutcome::Stale(stale));
    }
    // Servers word a lost race differently ("atomic transaction failed", ...): ask the
    // remote what it has now; any ref that is not what we leased on has moved.
    if let Ok(now) = values(repo, remote, updates.iter().map(|u| u.dst.as_str())) {
        let moved: Vec<String> = updates
            .iter()
            .filter(|u| now.get(&u.dst).copied() != u.expected)
            .map(|u| u.dst.clone())
            .collect();
        if !moved.is_empty() {
            return Ok(PushOutcome::Stale(moved));
        }
    }
    let rejected: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with('!'))
        .map(|l| redact(l.trim_start_matches('!').trim()))
        .collect();
    let why = if rejected.is_empty() {
        stderr
            .trim()
            .lines()
            .last()
            .unwrap_or("git push failed")
            .to_string()
    } else {
        rejected.join("; ")
    };
    Err(user(format!(
        "publishing to {} failed: {why}",
        display_url(repo, remote)
    ))
    .hint(format!(
        "check that you may push to '{remote}'; nothing on the remote was overwritten"
    ))
    .into())
}

/// Publish one ref and record the new value in its tracking ref.
pub fn publish(
    repo: &gix::Repository,
    remote: &str,
    dst: &str,
    tracking: &str,
    new: Option<ObjectId>,
) -> Result<()> {
    let expected = refs::peel(repo, tracking)?;
    if expected == new {
        return Ok(());
    }
    match push(
        repo,
        remote,
        &[PushUpdate {
            src: new,
            dst: dst.to_string(),
            expected,
        }],
    )? {
        PushOutcome::Pushed => {}
        PushOutcome::Stale(_) => {
            return Err(user(format!(
                "{dst} on {} changed since this clone last saw it; nothing was overwritten",
                display_url(repo, remote)
            ))
            .hint("another clone published there: run `wtc sync` (or `wtc status`) to fetch it, then try again")
            .into())
        }
    }
    match new {
        Some(id) => refs::cas(repo, tracking, PreviousValue::Any, id, "published")?,
        None => {
            if let Some(old) = refs::peel(repo, tracking)? {
                refs::delete(repo, tracking, old)?;
            }
        }
    }
    Ok(())
}

/// In remote mode, publish the lane's local branch (a no-op when the remote already has it).
/// Returns the remote it went to.
pub fn publish_lane(repo: &gix::Repository, plan: &str, lane: &str) -> Result<Option<String>> {
    let Some(remote) = configured(repo, plan) else {
        return Ok(None);
    };
    let local = refs::peel(repo, &crate::plan::lanes::branch_ref(plan, lane))?;
    if local.is_some() {
        publish(
            repo,
            &remote,
            &published_lane(plan, lane),
            &tracking_lane(&remote, plan, lane),
            local,
        )?;
    }
    Ok(Some(remote))
}

/// Make the local plan ref follow the remote's: adopt it when the remote is ahead, keep the
/// local one when it is ahead (not yet published), refuse when they diverged.
pub fn adopt_plan(repo: &gix::Repository, remote: &str, plan: &str) -> Result<()> {
    let tracked = refs::peel(repo, &tracking_plan(remote, plan))?;
    let local_ref = crate::plan::plan_ref(plan);
    let local = refs::peel(repo, &local_ref)?;
    match (tracked, local) {
        (None, _) => Ok(()),
        (Some(t), None) => refs::cas(
            repo,
            &local_ref,
            PreviousValue::MustNotExist,
            t,
            "adopt the remote plan",
        ),
        (Some(t), Some(l)) if t == l || refs::is_ancestor(repo, t, l)? => Ok(()),
        (Some(t), Some(l)) if refs::is_ancestor(repo, l, t)? => refs::cas(
            repo,
            &local_ref,
            PreviousValue::MustExistAndMatch(l.into()),
            t,
            "adopt the remote plan",
        ),
        (Some(_), Some(_)) => Err(user(format!(
            "the plan '{plan}' changed both here and on the remote '{remote}'"
        ))
        .hint(format!(
            "keep the remote's version with `git update-ref {local_ref} {}`, then redo your change",
            tracking_plan(remote, plan)
        ))
        .into()),
    }
}

/// Publish the local plan ref if it is ahead of the remote's.
pub fn publish_plan(repo: &gix::Repository, remote: &str, plan: &str) -> Result<()> {
    let local = refs::peel(repo, &crate::plan::plan_ref(plan))?;
    publish(
        repo,
        remote,
        &crate::plan::plan_ref(plan),
        &tracking_plan(remote, plan),
        local,
    )
}

/// Fetch, then adopt the remote plan: what every command in remote mode does first.
pub fn refresh(repo: &gix::Repository, remote: &str, plan: &str) -> Result<()> {
    fetch(repo, remote, plan, None)?;
    adopt_plan(repo, remote, plan)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("https://user:tok3n@host.example/r.git"),
            "https://***@host.example/r.git"
        );
        assert_eq!(
            redact("fetch from 'http://tok@h:8080/x' failed"),
            "fetch from 'http://***@h:8080/x' failed"
        );
        assert_eq!(
            redact("git://h/x and ssh://me@h/y"),
            "git://h/x and ssh://***@h/y"
        );
        assert_eq!(redact("no url here"), "no url here");
        assert_eq!(redact("/a/path/repo.git"), "/a/path/repo.git");
    }
}
