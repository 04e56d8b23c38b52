//! The integration commit's message: what lands on the target in place of all the scratch
//! history, so it must say what the lanes did and who did it.
//!
//! ```text
//! <subject: -m's first line, or "<plan>: integrate a, b">
//!
//! <-m's body, if any>
//!
//! a:
//! - <each lane commit subject that says more than "wip">
//!
//! <-m's own trailers>
//! Co-authored-by: <each other author of the integrated lane commits>
//! Signed-off-by: <each Signed-off-by of the integrated lane commits>
//! Wtc-Plan: <plan>
//! Wtc-Lane: <lane> <tip>
//! ```
//!
//! ONE trailer block ends it, so `git interpret-trailers --parse` reads all of it. The
//! integrated lane commits are those not already in the target (a hotfix a lane merged in
//! from the target is not credited again); its author is the one running squash, credited
//! by the commit itself, as forges' squash merges do.

use anyhow::Result;
use gix::bstr::{BStr, ByteSlice};
use gix::ObjectId;

use crate::ops::merge::Tip;
use crate::plan::lanes as lane;
use crate::plan::refnames::trailers;
use crate::plan::Plan;

/// Trailer keys of other people's work that the integration keeps.
const CO_AUTHORED_BY: &str = "Co-authored-by";
const SIGNED_OFF_BY: &str = "Signed-off-by";

/// The message of the integration of `tips` onto `onto`.
pub fn integration_message(
    repo: &gix::Repository,
    plan: &Plan,
    tips: &[Tip],
    onto: ObjectId,
    user_message: Option<&str>,
) -> Result<String> {
    let lanes: Vec<&str> = tips.iter().map(|t| t.lane.as_str()).collect();
    let user = user_message.map(str::trim).filter(|m| !m.is_empty());
    let (head, user_trailers) = match user {
        Some(m) => split_trailers(m),
        None => (
            format!("{}: integrate {}", plan.name, lanes.join(", ")),
            Vec::new(),
        ),
    };
    let mut msg = head;
    msg.push_str("\n\n");
    let summary = lane_summary(repo, plan, tips, onto)?;
    if !summary.is_empty() {
        msg.push_str(&summary);
        msg.push('\n');
    }
    let mut block: Vec<String> = user_trailers;
    let credit = credits(repo, tips, onto)?;
    for (key, value) in credit {
        let line = format!("{key}: {value}");
        if !block.iter().any(|l| l.eq_ignore_ascii_case(&line)) {
            block.push(line);
        }
    }
    block.push(trailers::plan_line(&plan.name));
    for t in tips {
        block.push(trailers::lane_line(&t.lane, t.commit));
    }
    for line in block {
        msg.push_str(&line);
        msg.push('\n');
    }
    Ok(msg)
}

/// `message` without its trailing trailer block (as git finds it), and that block's lines.
pub fn split_trailers(message: &str) -> (String, Vec<String>) {
    let parsed = gix::objs::commit::MessageRef::from_bytes(message.as_bytes());
    let (Some(raw_body), Some(body)) = (parsed.body, parsed.body()) else {
        return (message.trim_end().to_string(), Vec::new());
    };
    if body.trailers().next().is_none() {
        return (message.trim_end().to_string(), Vec::new());
    }
    let kept: &BStr = body.without_trailer();
    let lines = raw_body[kept.len()..]
        .to_str_lossy()
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut head = parsed.title.to_str_lossy().trim_end().to_string();
    if !kept.trim().is_empty() {
        head.push_str("\n\n");
        head.push_str(kept.to_str_lossy().trim_end());
    }
    (head, lines)
}

/// Subjects of each lane's own commits not already in the target (upstream lanes' commits
/// appear under theirs), WIP-looking ones left out.
/// Subjects listed per lane in the integration message.
pub const MAX_SUBJECTS: usize = 20;

fn lane_summary(
    repo: &gix::Repository,
    plan: &Plan,
    tips: &[Tip],
    onto: ObjectId,
) -> Result<String> {
    let base = plan.base_id();
    let mut out = String::new();
    for t in tips {
        let mut hidden = vec![base, onto];
        for up in plan.upstream_closure(&t.lane) {
            hidden.extend(tips.iter().filter(|u| u.lane == up.name).map(|u| u.commit));
        }
        let mut unique: Vec<String> = Vec::new();
        for s in lane::subjects(repo, t.commit, &hidden)? {
            if !is_wip_subject(&s, &t.lane) && !unique.contains(&s) {
                unique.push(s);
            }
        }
        if unique.is_empty() {
            continue;
        }
        out.push_str(&format!("{}:\n", t.lane));
        // A lane started at an old revision may bring hundreds of subjects: the message lists
        // the first ones (oldest first) and counts the rest (`git log` has them all).
        let more = unique.len().saturating_sub(MAX_SUBJECTS);
        for s in unique.into_iter().take(MAX_SUBJECTS) {
            out.push_str(&format!("- {s}\n"));
        }
        if more > 0 {
            out.push_str(&format!("- ... and {more} more\n"));
        }
    }
    Ok(out)
}

/// Subjects that say nothing beyond "work happened" and stay out of the integration message.
fn is_wip_subject(subject: &str, lane_name: &str) -> bool {
    let s = subject.trim().to_ascii_lowercase();
    s.is_empty()
        || s.starts_with("wip")
        || s.starts_with("sync:")
        || s.starts_with("merge ")
        || s.starts_with("fold ")
        || s == format!("done: {lane_name}")
}

/// `(key, value)` credit trailers for the lane commits not in `onto`, oldest first: a
/// `Co-authored-by` per distinct author other than the integration's own (and any the lane
/// commits name themselves), then their `Signed-off-by` lines.
fn credits(repo: &gix::Repository, tips: &[Tip], onto: ObjectId) -> Result<Vec<(String, String)>> {
    let own = repo
        .author()
        .and_then(|a| a.ok())
        .map(|a| a.email.to_str_lossy().to_ascii_lowercase());
    let mut seen = std::collections::HashSet::new();
    let mut commits = Vec::new();
    for t in tips {
        let mut lane_commits = Vec::new();
        for id in crate::git::ancestry::unique_commits(repo, t.commit, &[onto])? {
            if seen.insert(id) {
                lane_commits.push(id);
            }
        }
        lane_commits.reverse();
        commits.extend(lane_commits);
    }
    let mut authors: Vec<(String, String)> = Vec::new();
    let mut signoffs: Vec<String> = Vec::new();
    let add_author = |name: &str, email: &str, authors: &mut Vec<(String, String)>| {
        let key = email.trim().to_ascii_lowercase();
        if Some(&key) == own.as_ref() || key.is_empty() {
            return;
        }
        if !authors.iter().any(|(_, e)| e.to_ascii_lowercase() == key) {
            authors.push((name.trim().to_string(), email.trim().to_string()));
        }
    };
    for id in commits {
        let commit = repo.find_commit(id)?;
        let author = commit.author()?;
        add_author(
            &author.name.to_str_lossy(),
            &author.email.to_str_lossy(),
            &mut authors,
        );
        let raw = commit.message_raw()?;
        let message = gix::objs::commit::MessageRef::from_bytes(raw);
        let Some(body) = message.body() else { continue };
        for t in body.trailers() {
            let value = t.value.to_str_lossy().into_owned();
            if t.token.eq_ignore_ascii_case(SIGNED_OFF_BY.as_bytes()) {
                if !signoffs.contains(&value) {
                    signoffs.push(value);
                }
            } else if t.token.eq_ignore_ascii_case(CO_AUTHORED_BY.as_bytes()) {
                if let Some((name, email)) = parse_ident(&value) {
                    add_author(name, email, &mut authors);
                }
            }
        }
    }
    Ok(authors
        .into_iter()
        .map(|(n, e)| (CO_AUTHORED_BY.to_string(), format!("{n} <{e}>")))
        .chain(signoffs.into_iter().map(|s| (SIGNED_OFF_BY.to_string(), s)))
        .collect())
}

/// `Name <email>` as `(name, email)`.
fn parse_ident(value: &str) -> Option<(&str, &str)> {
    let (name, rest) = value.split_once('<')?;
    let email = rest.strip_suffix('>')?;
    Some((name.trim(), email.trim()))
}

#[cfg(test)]
mod tests {
    use super::split_trailers;

    #[test]
    fn user_trailers_are_split_off_like_git_finds_them() {
        assert_eq!(split_trailers("subject"), ("subject".into(), vec![]));
        assert_eq!(
            split_trailers("subject\n\nbody text\n\nFixes: #12\nReviewed-by: A <a@x>"),
            (
                "subject\n\nbody text".into(),
                vec!["Fixes: #12".into(), "Reviewed-by: A <a@x>".into()]
            )
        );
        // A body paragraph that is not trailers stays a body.
        assert_eq!(
            split_trailers("subject\n\njust words here"),
            ("subject\n\njust words here".into(), vec![])
        );
    }
}
