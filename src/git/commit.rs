//! The one commit writer: every commit wtc makes passes through [`write`].
//!
//! It decides who the commit is by (the identity git would use: `GIT_AUTHOR_*`/
//! `GIT_COMMITTER_*`, `author.*`/`committer.*`, `user.*`), normalises the message the way
//! `git commit` cleans up a `-m` message (trailing whitespace and blank lines go, one final
//! newline), and writes the object without touching any ref: callers move refs by
//! compare-and-swap afterwards (ARCHITECTURE.md, invariants 2 and 3).
//!
//! For the integration commit it also runs the commit hooks as `git commit -m` does
//! (`prepare-commit-msg <file> message`, then `commit-msg <file>` unless `--no-hooks`; either
//! may rewrite the message or veto it), and `post-commit` once the target moved
//! ([`after_landing`]). It signs what `commit.gpgSign` asks to be signed, with gix's signer
//! (`gpg.format`, `gpg.<format>.program`, `user.signingKey`): the integration commit always,
//! WIP commits (saves, sync merges) only with `wtc.signSaves = true`, since they never reach
//! the target and a signing prompt per autosave would stall an agent. No hook or signer ever
//! runs with `index.lock` held: callers write the commit before their locked phase.
//!
//! gix's `Repository::new_commit` computes the identity once per `Repository` and freezes its
//! time ("now") for the repository's lifetime, so a long-running wtc (`watch`, `run`) would
//! stamp every commit with the time of its first one; this writer takes a fresh time for each
//! commit unless `GIT_*_DATE` pins it.

use anyhow::{Context as _, Result};
use gix::bstr::BString;
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
        // Never seen by anyone (a fold's steps, a dry run): no identity, and the time in UTC
        // (finding the local offset loads the time zone database: ~2 ms on the first commit).
        Purpose::Scratch => (scratch_identity(), scratch_identity()),
        _ => (
            identity(repo, Role::Committer)?,
            identity(repo, Role::Author)?,
        ),
    };
    let mut message = normalize_message(&commit.message);
    if commit.purpose == Purpose::Integration {
        message = message_hooks(repo, &message)?;
    }
    let mut object = gix::objs::Commit {
        tree: commit.tree,
        parents: commit.parents.into_iter().collect(),
        author,
        committer,
        encoding: None,
        message: message.into(),
        extra_headers: Vec::new(),
    };
    if signs(repo, commit.purpose) {
        if let Some(options) =
            repo.commit_signing_options_if_enabled()
                .map_err(|e| crate::git::Error::Signing {
                    what: commit.purpose.what(),
                    how: "reading the signing configuration".into(),
                    reason: format!("{e:#}"),
                })?
        {
            let how = format!(
                "gpg.format {}, program {}",
                format_name(options.format),
                options.program.to_string_lossy()
            );
            object = object
                .sign(options)
                .map_err(|e| crate::git::Error::Signing {
                    what: commit.purpose.what(),
                    how,
                    reason: format!("{e:#}"),
                })?;
        }
    }
    Ok(repo.write_object(&object)?.detach())
}

impl Purpose {
    /// What the commit is, for messages ("the integration commit").
    pub fn what(self) -> &'static str {
        match self {
            Purpose::Save => "the WIP commit",
            Purpose::SyncMerge => "the sync's merge commit",
            Purpose::Integration => "the integration commit",
            Purpose::Plan => "the plan commit",
            Purpose::Scratch => "an in-memory fold commit",
        }
    }
}

/// `git config wtc.signSaves true`: sign WIP commits too (when `commit.gpgSign` is on).
pub const SIGN_SAVES: &str = "wtc.signSaves";

/// Will writing a commit of `purpose` run a program (the signer)? Then callers write it
/// before their locked phase, never with `index.lock` held. (The integration commit's hooks
/// are why squash always does.)
pub fn runs_programs(repo: &gix::Repository, purpose: Purpose) -> bool {
    signs(repo, purpose)
        && repo
            .config_snapshot()
            .boolean("commit.gpgSign")
            .unwrap_or(false)
}

/// Is a commit of this purpose signed (when `commit.gpgSign` says so)?
fn signs(repo: &gix::Repository, purpose: Purpose) -> bool {
    match purpose {
        Purpose::Integration => true,
        Purpose::Save | Purpose::SyncMerge => {
            repo.config_snapshot().boolean(SIGN_SAVES).unwrap_or(false)
        }
        Purpose::Plan | Purpose::Scratch => false,
    }
}

fn format_name(format: gix::objs::signature::Format) -> &'static str {
    use gix::objs::signature::Format;
    match format {
        Format::OpenPgp => "openpgp",
        Format::X509 => "x509",
        Format::Ssh => "ssh",
    }
}

/// The file the commit hooks edit, in the worktree's git dir (not git's COMMIT_EDITMSG, which
/// a `git commit` running at the same time owns).
const EDITMSG: &str = "WTC_COMMIT_EDITMSG";

/// Run `prepare-commit-msg` and (unless `--no-hooks`) `commit-msg` on `message`, like
/// `git commit -m`; return the message they leave, cleaned up again.
fn message_hooks(repo: &gix::Repository, message: &str) -> Result<String> {
    use super::hooks::{self, Ran};
    let prepare = hooks::find(repo, "prepare-commit-msg")?.is_some();
    let verify = hooks::verify_hooks_enabled() && hooks::find(repo, "commit-msg")?.is_some();
    if !prepare && !verify {
        return Ok(message.to_string());
    }
    let file = repo.git_dir().join(EDITMSG);
    std::fs::write(&file, message).with_context(|| format!("writing {}", file.display()))?;
    let env = [
        ("GIT_INDEX_FILE", repo.index_path().into_os_string()),
        ("GIT_EDITOR", ":".into()),
    ];
    let result = (|| -> Result<String> {
        for (hook, args) in [
            (
                "prepare-commit-msg",
                vec![file.clone().into_os_string(), "message".into()],
            ),
            ("commit-msg", vec![file.clone().into_os_string()]),
        ] {
            if hook == "commit-msg" && !verify {
                continue;
            }
            if let Ran::Failed { status } = hooks::run(repo, hook, &args, &env)? {
                return Err(crate::git::Error::HookRejected {
                    hook,
                    status,
                    what: "the integration commit",
                }
                .into());
            }
        }
        let edited = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let cleaned = normalize_message(&String::from_utf8_lossy(&edited));
        if cleaned.trim().is_empty() {
            return Err(crate::git::Error::HookRejected {
                hook: "commit-msg",
                status: "left an empty message".into(),
                what: "the integration commit",
            }
            .into());
        }
        Ok(cleaned)
    })();
    let _ = std::fs::remove_file(&file);
    result
}

/// After a commit of `purpose` landed (its ref moved): `post-commit`, whose exit status is
/// ignored, as git ignores it.
pub fn after_landing(repo: &gix::Repository, purpose: Purpose) {
    if purpose == Purpose::Integration {
        let env = [("GIT_INDEX_FILE", repo.index_path().into_os_string())];
        if let Err(e) = super::hooks::run(repo, "post-commit", &[], &env) {
            eprintln!("warning: the post-commit hook could not run: {e:#}");
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Role {
    Author,
    Committer,
}

/// The author or committer git would record now.
fn identity(repo: &gix::Repository, role: Role) -> Result<gix::actor::Signature> {
    let (date_var, what) = match role {
        Role::Author => ("GIT_AUTHOR_DATE", "author"),
        Role::Committer => ("GIT_COMMITTER_DATE", "committer"),
    };
    // A date given in the environment is parsed as gix parses it (its signature carries it).
    if std::env::var_os(date_var).is_some() {
        let found = match role {
            Role::Author => repo.author(),
            Role::Committer => repo.committer(),
        };
        let sig = found.ok_or(crate::git::Error::NoIdentity { role: what })??;
        return Ok(gix::actor::Signature {
            name: sig.name.to_owned(),
            email: sig.email.to_owned(),
            time: sig.time()?,
        });
    }
    let (name, email) =
        name_and_email(repo, role).ok_or(crate::git::Error::NoIdentity { role: what })?;
    Ok(gix::actor::Signature {
        name,
        email,
        time: now(),
    })
}

/// The name and email gix's `Repository::committer`/`author` resolve, from the same keys in
/// the same order (the environment's `GIT_COMMITTER_NAME`... are in the configuration as
/// overrides of `committer.name`..., `EMAIL` as `gitoxide.user.emailFallback`). Why not ask
/// gix: its identity also works out a default time, through jiff, whose first look at the
/// time zone (with `TZ` naming a zone, as in CI) walks the whole zone database: about 1 ms of
/// every command that commits, for a time wtc takes from [`now`] anyway.
pub(crate) fn name_and_email(repo: &gix::Repository, role: Role) -> Option<(BString, BString)> {
    let config = repo.config_snapshot();
    let first = |keys: &[&str]| keys.iter().find_map(|k| config.string(*k));
    let (section, fallback) = match role {
        Role::Author => ("author", "gitoxide.author"),
        Role::Committer => ("committer", "gitoxide.committer"),
    };
    let name = first(&[
        &format!("{section}.name"),
        "user.name",
        &format!("{fallback}.nameFallback"),
    ])?;
    let email = first(&[
        &format!("{section}.email"),
        "user.email",
        "gitoxide.user.emailFallback",
        &format!("{fallback}.emailFallback"),
    ])?;
    Some((name, email))
}

/// Now, with the local time zone's offset as git records it: libc's `localtime_r`, as git's
/// own `date.c` asks (the `TZ` variable, else `/etc/localtime`). gix's
/// `Time::now_local_or_utc` asks jiff, which for a `TZ` that names a zone (`TZ=UTC`, common
/// in CI and containers) first walks and opens every file of the system's time zone
/// database (about 800 files, several milliseconds) to look the name up.
pub fn now() -> gix::date::Time {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: a valid time and room for the result; `localtime_r` is the thread-safe form.
    #[allow(unsafe_code)]
    let offset = unsafe {
        match libc::localtime_r(&t, tm.as_mut_ptr()).is_null() {
            true => 0,
            false => tm.assume_init().tm_gmtoff as i32,
        }
    };
    gix::date::Time::new(secs, offset)
}

/// The identity of in-memory fold commits: no ref ever names one, nothing shows them.
fn scratch_identity() -> gix::actor::Signature {
    gix::actor::Signature {
        name: "wtc".into(),
        email: "wtc@localhost".into(),
        time: gix::date::Time::now_utc(),
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
    use super::{name_and_email, normalize_message, Role};

    /// The name and email wtc resolves are gix's, for every combination of the keys involved.
    #[test]
    fn identities_resolve_as_gix_resolves_them() {
        let keys = [
            ("user.name", "U"),
            ("user.email", "u@x"),
            ("committer.name", "C"),
            ("committer.email", "c@x"),
            ("author.name", "A"),
            ("author.email", "a@x"),
            ("gitoxide.user.emailFallback", "env@x"),
            ("gitoxide.committer.nameFallback", "CF"),
            ("gitoxide.committer.emailFallback", "cf@x"),
            ("gitoxide.author.nameFallback", "AF"),
            ("gitoxide.author.emailFallback", "af@x"),
        ];
        let tmp = tempfile::tempdir().unwrap();
        let base = crate::hermetic::open({
            crate::hermetic::shared().git(tmp.path(), &["init", "-q"]);
            tmp.path()
        });
        // Each key alone, none, all, and a spread of mixes.
        let singles = (0..keys.len()).map(|k| 1u32 << k);
        for mask in (0u32..1 << keys.len())
            .step_by(7)
            .chain(singles)
            .chain([(1 << keys.len()) - 1])
        {
            let mut repo = base.clone();
            {
                let mut config = repo.config_snapshot_mut();
                // The hermetic identity of the test environment is taken away first.
                for section in ["user", "committer", "author"] {
                    while config.remove_section(section, None).is_some() {}
                }
                for (k, (key, value)) in keys.iter().enumerate() {
                    if mask & (1 << k) != 0 {
                        config.set_raw_value(key, *value).unwrap();
                    }
                }
            }
            for role in [Role::Author, Role::Committer] {
                let gix = match role {
                    Role::Author => repo.author(),
                    Role::Committer => repo.committer(),
                }
                .map(|s| s.map(|s| (s.name.to_owned(), s.email.to_owned())).unwrap());
                assert_eq!(name_and_email(&repo, role), gix, "keys {mask:#b}");
            }
        }
    }

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
