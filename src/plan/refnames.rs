//! Every ref name, refspec and trailer key wtc uses, spelled in this one module.
//!
//! Layout (ARCHITECTURE.md, "Ref layout"):
//!
//! | ref | what |
//! | --- | --- |
//! | `refs/heads/wtc/<plan>/<lane>` | a lane's scratch branch, checked out in its worktree |
//! | `refs/wtc/<plan>/plan` | the plan's commit chain (`plan.toml`) |
//! | `refs/wtc/<plan>/lanes/<lane>` | a lane as published on a remote |
//! | `refs/wtc/remotes/<remote>/<plan>/{plan,lanes/<lane>,target}` | fetched copies |
//! | `refs/wtc/archive/<plan>/{plan,<lane>}` | what `clean`/`rm --force` kept |
//!
//! Trailers: `Wtc-State: done` on a lane tip is a handoff; the integration commit carries
//! `Wtc-Plan: <plan>` and one `Wtc-Lane: <lane> <tip>` per lane.

use gix::ObjectId;

/// Where wtc's own refs live (hidden from a plain `git fetch`/`git clone`).
const NAMESPACE: &str = "refs/wtc/";
/// Lane branches: `refs/heads/wtc/<plan>/<lane>`.
const LANE_BRANCHES: &str = "refs/heads/wtc/";
const HEADS: &str = "refs/heads/";

/// `refs/heads/<branch>` for a short branch name (a full name is returned as it is).
pub fn branch(short: &str) -> String {
    if short.starts_with(HEADS) {
        short.to_string()
    } else {
        format!("{HEADS}{short}")
    }
}

/// The short name of a branch (`refs/heads/main` -> `main`); other names stay as they are.
pub fn short_branch(full: &str) -> &str {
    full.strip_prefix(HEADS).unwrap_or(full)
}

/// `refs/heads/wtc/<plan>/<lane>`
pub fn lane_branch(plan: &str, lane: &str) -> String {
    format!("{HEADS}{}", lane_branch_short(plan, lane))
}

/// `wtc/<plan>/<lane>`, as users type it.
pub fn lane_branch_short(plan: &str, lane: &str) -> String {
    format!("wtc/{plan}/{lane}")
}

/// The directory of a plan's loose lane branches, relative to the common git dir (watched
/// for changes).
pub fn lane_branch_dir(plan: &str) -> String {
    format!("{LANE_BRANCHES}{plan}")
}

/// The `(plan, lane)` a full branch name belongs to.
pub fn parse_lane_branch(full: &str) -> Option<(String, String)> {
    let rest = full.strip_prefix(LANE_BRANCHES)?;
    let (plan, lane) = rest.split_once('/')?;
    (!lane.contains('/')).then(|| (plan.to_string(), lane.to_string()))
}

/// Is this (short or full) branch name a lane branch?
pub fn is_lane_branch(name: &str) -> bool {
    parse_lane_branch(&branch(name)).is_some()
}

/// `refs/wtc/<plan>/`: the plan's own namespace, locally and on a remote.
pub fn plan_namespace(plan: &str) -> String {
    format!("{NAMESPACE}{plan}/")
}

/// `refs/wtc/<plan>/plan`: the plan's commit chain.
pub fn plan_ref(plan: &str) -> String {
    format!("{}plan", plan_namespace(plan))
}

/// The name of the plan whose chain `full` is (`refs/wtc/<plan>/plan`), if it is one.
pub fn parse_plan_ref(full: &str) -> Option<&str> {
    let plan = full.strip_prefix(NAMESPACE)?.strip_suffix("/plan")?;
    (!plan.contains('/')).then_some(plan)
}

/// The prefix under which every local plan ref is found.
pub fn plans_prefix() -> &'static str {
    NAMESPACE
}

/// The plan a plan ref of any kind belongs to: `refs/wtc/<plan>/plan`,
/// `refs/wtc/remotes/<remote>/<plan>/plan`, `refs/wtc/archive/<plan>/plan`.
pub fn plan_of_plan_ref(full: &str) -> Option<&str> {
    full.strip_suffix("/plan")?.rsplit('/').next()
}

/// The directory of a plan's refs relative to the common git dir (watched for changes).
pub fn plan_ref_dir(plan: &str) -> String {
    format!("{NAMESPACE}{plan}")
}

/// `refs/wtc/<plan>/lanes/<lane>`: a lane as published on a remote.
pub fn published_lane(plan: &str, lane: &str) -> String {
    format!("{}lanes/{lane}", plan_namespace(plan))
}

/// `refs/wtc/remotes/<remote>/<plan>/`: where this clone keeps what it fetched of a plan.
pub fn tracking_prefix(remote: &str, plan: &str) -> String {
    format!("{NAMESPACE}remotes/{remote}/{plan}/")
}

/// The fetched copy of a lane.
pub fn tracking_lane(remote: &str, plan: &str, lane: &str) -> String {
    format!("{}lanes/{lane}", tracking_prefix(remote, plan))
}

/// The fetched copy of the plan.
pub fn tracking_plan(remote: &str, plan: &str) -> String {
    format!("{}plan", tracking_prefix(remote, plan))
}

/// The fetched copy of the remote's target branch (`squash --push`, `sync --target`).
pub fn tracking_target(remote: &str, plan: &str) -> String {
    format!("{}target", tracking_prefix(remote, plan))
}

/// Is `tracking` (under [`tracking_prefix`]) the copy of the remote's target branch, which
/// is fetched from outside the plan's namespace?
pub fn is_tracking_target(remote: &str, plan: &str, tracking: &str) -> bool {
    tracking == tracking_target(remote, plan)
}

/// The published name (`refs/wtc/<plan>/...`) a tracking ref is the copy of.
pub fn published_of_tracking(remote: &str, plan: &str, tracking: &str) -> Option<String> {
    let rest = tracking.strip_prefix(&tracking_prefix(remote, plan))?;
    Some(format!("{}{rest}", plan_namespace(plan)))
}

/// The tracking ref for a published name (`refs/wtc/<plan>/...`).
pub fn tracking_of_published(remote: &str, plan: &str, published: &str) -> Option<String> {
    let rest = published.strip_prefix(&plan_namespace(plan))?;
    Some(format!("{}{rest}", tracking_prefix(remote, plan)))
}

/// The refspec that fetches a plan's whole namespace into its tracking refs (the server
/// filters by this prefix: protocol v2 `ref-prefix`).
pub fn plan_fetch_refspec(remote: &str, plan: &str) -> String {
    format!(
        "+{}*:{}*",
        plan_namespace(plan),
        tracking_prefix(remote, plan)
    )
}

/// The refspec that fetches the remote's target branch into [`tracking_target`].
pub fn target_fetch_refspec(remote: &str, plan: &str, target: &str) -> String {
    format!("+{}:{}", branch(target), tracking_target(remote, plan))
}

/// `refs/wtc/archive/<plan>/<lane>`: a removed lane's tip, kept.
pub fn archive_lane(plan: &str, lane: &str) -> String {
    format!("{}{lane}", archive_prefix(plan))
}

/// `refs/wtc/archive/<plan>/plan`: a removed plan's chain, kept.
pub fn archive_plan(plan: &str) -> String {
    format!("{}plan", archive_prefix(plan))
}

/// `refs/wtc/archive/<plan>/`
pub fn archive_prefix(plan: &str) -> String {
    format!("{NAMESPACE}archive/{plan}/")
}

/// Trailer keys and lines, and reading them back.
pub mod trailers {
    use super::ObjectId;
    use gix::bstr::ByteSlice;

    /// The key of the handoff trailer.
    pub const STATE: &str = "Wtc-State";
    /// `Wtc-State: done`: the lane's tip is a handoff.
    pub const DONE: &str = "Wtc-State: done";
    /// The key that records one lane's integrated tip: `Wtc-Lane: <lane> <tip>`.
    pub const LANE: &str = "Wtc-Lane";
    /// The key that names the plan an integration commit belongs to.
    pub const PLAN: &str = "Wtc-Plan";

    /// `Wtc-Lane: <lane> <tip>`
    pub fn lane_line(lane: &str, tip: ObjectId) -> String {
        format!("{LANE}: {lane} {tip}")
    }

    /// `Wtc-Plan: <plan>`
    pub fn plan_line(plan: &str) -> String {
        format!("{PLAN}: {plan}")
    }

    /// The trailer block of a message: the lines of its last paragraph.
    fn last_paragraph(message: &[u8]) -> Vec<String> {
        let text = message.to_str_lossy();
        let last = text.trim_end().rsplit("\n\n").next().unwrap_or("");
        last.lines().map(|l| l.trim().to_string()).collect()
    }

    /// Does a commit message carry the handoff trailer (in its last paragraph)?
    pub fn is_done(message: &[u8]) -> bool {
        last_paragraph(message).iter().any(|l| l == DONE)
    }

    /// Every line of a message, trimmed (integration trailers are looked for anywhere: a
    /// commit-msg hook may have added a paragraph after them).
    fn all_lines(message: &[u8]) -> Vec<String> {
        message
            .to_str_lossy()
            .lines()
            .map(|l| l.trim().to_string())
            .collect()
    }

    /// The plan an integration commit's trailers name, if any.
    pub fn plan_of(message: &[u8]) -> Option<String> {
        let prefix = format!("{PLAN}: ");
        all_lines(message)
            .iter()
            .find_map(|l| l.strip_prefix(&prefix).map(|p| p.trim().to_string()))
    }

    /// Every `Wtc-Lane: <lane> <tip>` an integration commit records, in order.
    pub fn lanes_of(message: &[u8]) -> Vec<(String, ObjectId)> {
        let prefix = format!("{LANE}: ");
        all_lines(message)
            .iter()
            .filter_map(|l| {
                let rest = l.strip_prefix(&prefix)?;
                let (lane, tip) = rest.trim().split_once(' ')?;
                let tip = ObjectId::from_hex(tip.trim().as_bytes()).ok()?;
                Some((lane.to_string(), tip))
            })
            .collect()
    }

    /// Is `key` (as in `Key: value`) one of wtc's own trailer keys?
    pub fn is_wtc_key(key: &str) -> bool {
        [STATE, LANE, PLAN]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_branches_round_trip() {
        assert_eq!(lane_branch("p", "l"), "refs/heads/wtc/p/l");
        assert_eq!(
            parse_lane_branch("refs/heads/wtc/p/l"),
            Some(("p".into(), "l".into()))
        );
        assert_eq!(parse_lane_branch("refs/heads/main"), None);
        assert_eq!(parse_lane_branch("refs/heads/wtc/p/l/x"), None);
        assert!(is_lane_branch("wtc/p/l"));
        assert!(!is_lane_branch("main"));
    }

    #[test]
    fn plan_refs_and_tracking() {
        assert_eq!(plan_ref("p"), "refs/wtc/p/plan");
        assert_eq!(parse_plan_ref("refs/wtc/p/plan"), Some("p"));
        assert_eq!(parse_plan_ref("refs/wtc/remotes/o/p/plan"), None);
        assert_eq!(plan_of_plan_ref("refs/wtc/remotes/o/p/plan"), Some("p"));
        assert_eq!(
            tracking_of_published("o", "p", "refs/wtc/p/lanes/a").as_deref(),
            Some("refs/wtc/remotes/o/p/lanes/a")
        );
        assert_eq!(
            published_of_tracking("o", "p", &tracking_lane("o", "p", "a")).as_deref(),
            Some("refs/wtc/p/lanes/a")
        );
        assert_eq!(
            plan_fetch_refspec("o", "p"),
            "+refs/wtc/p/*:refs/wtc/remotes/o/p/*"
        );
    }

    #[test]
    fn trailer_detection() {
        use trailers::*;
        assert!(is_done(b"done: schema\n\nWtc-State: done\n"));
        assert!(is_done(b"x\n\nsome body\n\nWtc-Lane: a\nWtc-State: done"));
        assert!(!is_done(b"Wtc-State: done\n\nlater paragraph\n"));
        assert!(!is_done(b"wip\n"));
        let id = ObjectId::null(gix::hash::Kind::Sha1);
        let msg = format!("s\n\n{}\n{}\n", plan_line("p"), lane_line("a", id));
        assert_eq!(plan_of(msg.as_bytes()).as_deref(), Some("p"));
        assert_eq!(lanes_of(msg.as_bytes()), vec![("a".to_string(), id)]);
    }
}
