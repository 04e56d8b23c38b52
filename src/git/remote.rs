//! Remotes: fetch through gix, push through the `git` binary, listing without a download.
//!
//! gix 0.90 cannot push (its crate-status lists push as missing), so [`push`] runs
//! `git push --atomic --porcelain --force-with-lease=<ref>:<expected>`: every update carries
//! an explicit lease and never overwrites someone else's work. URLs with credentials are
//! redacted in every message ([`redact`]). This module knows nothing of wtc's ref layout:
//! callers pass refspecs and prefixes ([`crate::plan::refnames`] spells them).

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{Context as _, Result};
use gix::bstr::ByteSlice;
use gix::NestedProgress as _;
use gix::ObjectId;

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
    what: &'static str,
    err: gix::Error,
) -> anyhow::Error {
    remote_error_and(repo, remote, what, err, None)
}

/// [`remote_error`], with `also` (what a second try said) after gix's reasons.
fn remote_error_and(
    repo: &gix::Repository,
    remote: &str,
    what: &'static str,
    err: gix::Error,
    also: Option<String>,
) -> anyhow::Error {
    let url = display_url(repo, remote);
    // gix nests the real reason (refused connection, unknown host, 401) a few sources deep.
    let mut reasons: Vec<String> = Vec::new();
    for e in chain(&err) {
        let text = e.to_string();
        if !text.is_empty() && !reasons.iter().any(|r| r.contains(&text)) {
            reasons.push(text);
        }
    }
    reasons.extend(also);
    crate::git::Error::Remote {
        what,
        remote: remote.to_string(),
        url,
        reason: redact(&reasons.join(": ")),
    }
    .into()
}

fn find_remote<'r>(repo: &'r gix::Repository, remote: &str) -> Result<gix::Remote<'r>> {
    repo.find_remote(remote).map_err(|_| {
        crate::git::Error::NoSuchRemote {
            remote: remote.to_string(),
        }
        .into()
    })
}

/// Fetch `refspecs` from `remote` (objects and the refs they map to, forced). Returns the
/// remote's refs whose names start with `prefix`, as the listing said.
pub fn fetch(
    repo: &gix::Repository,
    remote: &str,
    refspecs: &[String],
    prefix: &str,
) -> Result<BTreeMap<String, ObjectId>> {
    let _t = crate::trace::span("fetch");
    let mut r = find_remote(repo, remote)?.with_fetch_tags(gix::remote::fetch::Tags::None);
    r.replace_refspecs(
        refspecs.iter().map(String::as_str),
        gix::remote::Direction::Fetch,
    )?;
    // gix renames the progress it is handed after each phase ("negotiate (round 1)",
    // "receiving pack"): hand it a child, so the line still says what is fetched from where.
    let mut task = crate::progress::task(format!("fetching from {remote}"));
    let received = retrying(|| {
        let conn = r
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| ("connecting to", e))?;
        let prepared = conn
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| ("fetching from", e))?;
        let listed = prepared.ref_map().clone();
        match prepared.receive(task.add_child("receiving"), &gix::interrupt::IS_INTERRUPTED) {
            Ok(outcome) => Ok(Received::Fetched(outcome.ref_map)),
            Err(e) if failed_on_the_pack(&e) && !gix::interrupt::is_triggered() => {
                Ok(Received::PackRefused(listed, e))
            }
            Err(e) => Err(("fetching from", e)),
        }
    })
    .map_err(|(what, e)| remote_error(repo, remote, what, e))?;
    match received {
        Received::Fetched(map) => Ok(remote_refs(&map, prefix)),
        Received::PackRefused(listed, e) => {
            if let Err(git_error) = fetch_listed_through_git(repo, remote, &listed) {
                let also = format!("`git fetch` of the same objects failed too: {git_error:#}");
                return Err(remote_error_and(
                    repo,
                    remote,
                    "fetching from",
                    e,
                    Some(also),
                ));
            }
            Ok(remote_refs(&listed, prefix))
        }
    }
}

/// What one fetch attempt got: the refs it fetched, or the listing and why gix could not take
/// the pack that followed it.
enum Received {
    Fetched(gix::remote::fetch::RefMap),
    PackRefused(gix::remote::fetch::RefMap, gix::Error),
}

/// Attempts at a read from a remote (listing, fetch) whose connection dropped.
const ATTEMPTS: u32 = 3;

/// Run `attempt` (a read from a remote: nothing changes locally unless it succeeds) again,
/// after 100 then 400 ms, while it fails because the connection was dropped: a busy server
/// resets connections (`git daemon` listens with a backlog of 5, so a burst of agents
/// fetching at once gets "Connection reset by peer" now and then, plain `git` too). Other
/// failures (refused, unknown host, 401, a bad pack) return at once, as does an interrupt.
fn retrying<T>(
    mut attempt: impl FnMut() -> std::result::Result<T, (&'static str, gix::Error)>,
) -> std::result::Result<T, (&'static str, gix::Error)> {
    let mut pause = std::time::Duration::from_millis(100);
    for _ in 1..ATTEMPTS {
        match attempt() {
            Err((_, e)) if connection_dropped(&e) && !gix::interrupt::is_triggered() => {
                let _t = crate::trace::span("remote: the connection dropped, again");
                std::thread::sleep(pause);
                pause *= 4;
            }
            done => return done,
        }
    }
    attempt()
}

/// Did the connection drop under us (reset, aborted, broken pipe)? gix keeps the
/// `std::io::Error` among the sources.
fn connection_dropped(err: &gix::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    chain(err)
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|io| matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe))
}

/// gix's words (gix 0.90, `receive_pack.rs`) when the pack the remote sent could not be
/// indexed or written; the e2e test
/// `remote::a_thin_pack_gix_cannot_index_is_fetched_through_git`
/// notices when they change.
const PACK_NOT_WRITTEN: &str = "Failed to write the received pack";

/// Did gix fail on the pack itself (after the negotiation), rather than on the connection?
fn failed_on_the_pack(err: &gix::Error) -> bool {
    chain(err).any(|e| e.to_string().contains(PACK_NOT_WRITTEN))
}

/// `err` and its sources, outermost first (gix nests the real reason a few levels deep).
fn chain(err: &gix::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err as &(dyn std::error::Error + 'static)), |e| {
        e.source()
    })
}

/// Fetch exactly the objects gix's listing named, through the `git` binary, and move the
/// tracking refs to them as gix would have (every wtc refspec is forced).
///
/// Why: gix-pack 0.77 (gix 0.90) mis-indexes some valid thin packs. When it completes a thin
/// pack it inserts the missing bases and shifts later offsets, but it skips re-pointing
/// offset deltas whenever the bytes inserted so far happen to sum to zero (an inserted base
/// exactly as long as what the converted ref-deltas saved), so a later offset delta names a
/// base "at" an offset no entry starts at. Real servers send such packs now and then (16
/// agents through `git daemon` hit one); `git index-pack --fix-thin` takes them. Fetching the
/// listed ids (protocol v2 lets a client want any reachable object) keeps the refs exactly
/// what gix listed, so callers see no difference.
fn fetch_listed_through_git(
    repo: &gix::Repository,
    remote: &str,
    listed: &gix::remote::fetch::RefMap,
) -> Result<()> {
    let _t = crate::trace::span("fetch: through git");
    let updates: Vec<(String, ObjectId)> = listed
        .mappings
        .iter()
        .filter_map(|m| {
            let local = m.local.as_ref()?.to_str_lossy().into_owned();
            Some((local, m.remote.as_id()?.to_owned()))
        })
        .collect();
    let mut missing: Vec<ObjectId> = updates
        .iter()
        .map(|(_, id)| *id)
        .filter(|id| !repo.has_object(id))
        .collect();
    missing.sort();
    missing.dedup();
    crate::git::backfill::fetch_objects(repo, remote, &missing)?.map_err(anyhow::Error::msg)?;
    // git checked the objects' connectivity before it exited; a miss makes gix's object
    // store look for the new pack.
    for (local, id) in updates {
        if !repo.has_object(id) {
            anyhow::bail!("`git fetch` did not bring {id} for {local}");
        }
        if crate::git::refs::peel(repo, &local)? != Some(id) {
            crate::git::refs::cas(
                repo,
                &local,
                gix::refs::transaction::PreviousValue::Any,
                id,
                "fetch (through git)",
            )?;
        }
    }
    Ok(())
}

/// The remote's refs matching `refspec` whose names start with `prefix`, listed without
/// downloading any objects (what `wait` polls).
pub fn list(
    repo: &gix::Repository,
    remote: &str,
    refspec: &str,
    prefix: &str,
) -> Result<BTreeMap<String, ObjectId>> {
    let map = ref_map(repo, remote, &[refspec])?;
    Ok(remote_refs(&map, prefix))
}

/// The remote's refs matching `specs`, from the protocol's ref listing alone (no pack).
fn ref_map(
    repo: &gix::Repository,
    remote: &str,
    specs: &[&str],
) -> Result<gix::remote::fetch::RefMap> {
    let mut r = find_remote(repo, remote)?.with_fetch_tags(gix::remote::fetch::Tags::None);
    r.replace_refspecs(specs.iter().copied(), gix::remote::Direction::Fetch)?;
    retrying(|| {
        let conn = r
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| ("connecting to", e))?;
        let (map, _) = conn
            .ref_map(gix::progress::Discard, Default::default())
            .map_err(|e| ("listing refs of", e))?;
        Ok(map)
    })
    .map_err(|(what, e)| remote_error(repo, remote, what, e))
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

/// `git config wtc.prePush false`: wtc's pushes skip the pre-push hook.
pub const PRE_PUSH: &str = "wtc.prePush";

/// Does a push from `repo` run the pre-push hook? Yes, as every `git push` does, unless
/// `--no-hooks` or `wtc.prePush = false`.
fn runs_pre_push(repo: &gix::Repository) -> bool {
    crate::git::hooks::verify_hooks_enabled()
        && repo.config_snapshot().boolean(PRE_PUSH).unwrap_or(true)
}

/// Push `updates` atomically through `git push`, each with an explicit lease. gix 0.90 has
/// no push (its crate-status lists it as missing), so this is the one place wtc shells out.
/// The pre-push hook runs (git-lfs uploads a lane's objects there, secret scanners veto),
/// unless [`runs_pre_push`] says otherwise.
pub fn push(repo: &gix::Repository, remote: &str, updates: &[PushUpdate]) -> Result<PushOutcome> {
    if updates.is_empty() {
        return Ok(PushOutcome::Pushed);
    }
    let workdir = repo.workdir().unwrap_or(repo.git_dir());
    let pre_push = runs_pre_push(repo);
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(workdir);
    cmd.args(["push", "--atomic", "--porcelain", "--quiet"]);
    if !pre_push {
        cmd.arg("--no-verify");
    }
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
    // A pre-push hook that says no stops git before it talks to the remote: no "To <url>"
    // status block, only the hook's own output (its stdout lands in ours).
    if pre_push
        && !stdout.lines().any(|l| l.starts_with("To "))
        && crate::git::hooks::find(repo, "pre-push")?.is_some()
    {
        let output: Vec<String> = stdout
            .lines()
            .chain(stderr.lines())
            .filter(|l| !l.starts_with("error: failed to push some refs"))
            .map(redact)
            .collect();
        return Err(crate::git::Error::PrePushRejected {
            remote: remote.to_string(),
            output: output.join("\n"),
        }
        .into());
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
    Err(crate::git::Error::PushRejected {
        remote: remote.to_string(),
        url: display_url(repo, remote),
        why,
    }
    .into())
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
