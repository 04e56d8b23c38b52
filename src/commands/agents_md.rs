//! `wtc agents-md`: a section for `AGENTS.md` / `CLAUDE.md` that teaches a coding agent the
//! lane protocol.

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;

/// Print a Markdown section for AGENTS.md (or CLAUDE.md) teaching a coding agent the lane
/// protocol: where it is, how to save, sync and hand off, what exit code 3 means.
///
/// In a lane worktree the section names the lane, its plan and the lanes it comes after;
/// elsewhere it is generic. Append it to the file your agent reads:
///
///   wtc agents-md >> AGENTS.md
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct AgentsMdArgs {}

/// The section; `here` = (plan, lane, the lanes it comes after) when run in a lane.
pub fn section(here: Option<(&str, &str, &[String])>) -> String {
    let whereabouts = match here {
        Some((plan, lane, [])) => format!(
            "You work in lane `{lane}` of the wtc plan `{plan}`: this worktree, on branch \
             `wtc/{plan}/{lane}`. No other lane comes before yours."
        ),
        Some((plan, lane, after)) => format!(
            "You work in lane `{lane}` of the wtc plan `{plan}`: this worktree, on branch \
             `wtc/{plan}/{lane}`. It comes after {}: their work flows into this worktree.",
            after
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "You work in a lane of a wtc plan: your own git worktree, on a scratch branch \
                 `wtc/PLAN/LANE` (`wtc status` shows which)."
            .to_string(),
    };
    format!(
        "## Working in a wtc lane\n\n\
{whereabouts} Other agents work in other lanes at the same time; one integration commit \
will combine everyone's work at the end, so your commits here are scratch history.\n\n\
- Commit often: `git commit -am \"...\"` or `wtc save -m \"...\"` (saves every change, new \
files included). Small commits are fine; they never reach the target branch as they are.\n\
- Get the work of the lanes before yours: `wtc sync` (`wtc wait LANE` first if you need a \
lane to be finished). Local edits where incoming changes land are saved first.\n\
- When your part is finished and committed: `wtc done`. Do nothing in this worktree \
afterwards unless asked.\n\
- Never switch branches, rebase, reset, push, or edit other worktrees; never run `wtc \
squash` or `wtc clean` (the integrator does).\n\
- Exit code 3 from `wtc sync` means conflicts: the files have conflict markers, as after \
`git merge`. Resolve them, then `git commit -am \"resolve\"` (or `wtc save`), then `wtc sync` \
again. Exit 1 is an error whose message says what to do.\n\
- `eval \"$(wtc env)\"` sets WTC_PORT: start dev servers on $WTC_PORT..$WTC_PORT+9 so \
lanes do not collide.\n\
- `wtc status` shows every lane and its state; `git log` and `git diff` work as usual.\n"
    )
}

pub fn run(ctx: &Ctx, _args: AgentsMdArgs) -> Result<Report> {
    // In a lane: personal; anywhere else (or outside a repository): generic.
    let here = ctx.lane().ok().map(|(_, stored, lane, _)| {
        let after = stored
            .plan
            .lane(&lane)
            .map(|l| l.after.clone())
            .unwrap_or_default();
        (stored.plan.name.clone(), lane, after)
    });
    let text = section(
        here.as_ref()
            .map(|(p, l, a)| (p.as_str(), l.as_str(), a.as_slice())),
    );
    let mut r = Report::new("agents-md");
    for line in text.lines() {
        r.out(line.to_string());
    }
    r.set("plan", here.as_ref().map(|h| h.0.clone()))
        .set("lane", here.as_ref().map(|h| h.1.clone()))
        .set("markdown", &text);
    Ok(r)
}
