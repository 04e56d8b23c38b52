//! `wtc wait`: block until lanes are handed off.

use std::time::Duration;

use anyhow::Result;

use super::Ctx;
use crate::live::wait;
use crate::plan::names;

use crate::commands::ui::Report;

/// Wait until the given lanes are done (their tips carry `Wtc-State: done`).
///
/// Without LANE arguments: in a lane worktree, wait for the lanes it comes after; elsewhere,
/// for every lane. Exit code 4 when --timeout passes first. Replaces
/// `while [ ! -f handoff ]; do sleep 5; done`.
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// Lanes to wait for.
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::commands::complete::lanes))]
    pub lanes: Vec<String>,
    /// Wait for every lane of the plan.
    #[arg(long, conflicts_with = "lanes")]
    pub all: bool,
    /// Give up after this long (e.g. 500ms, 30s, 10m); default: wait forever.
    #[arg(long, value_name = "DUR", value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
    /// Remote mode: how often to look at the remote at first (a ref listing, no download);
    /// the pause grows x1.5 up to 8x while nothing changes.
    #[arg(long, value_name = "DUR", value_parser = super::parse_duration, default_value = "1s")]
    pub interval: Duration,
}

pub fn run(ctx: &Ctx, args: WaitArgs) -> Result<Report> {
    for l in &args.lanes {
        names::validate_lane(l)?;
    }
    let (ws, stored) = ctx.plan()?;
    let p = &stored.plan;
    let wanted: Vec<String> = if args.all {
        p.lanes.iter().map(|l| l.name.clone()).collect()
    } else if !args.lanes.is_empty() {
        for l in &args.lanes {
            p.require_lane(l)?;
        }
        args.lanes.clone()
    } else if let Some((_, here)) = crate::plan::lanes::checked_out(&ws)? {
        p.upstream_closure(&here)
            .into_iter()
            .map(|l| l.name.clone())
            .collect()
    } else {
        p.lanes.iter().map(|l| l.name.clone()).collect()
    };
    let waited = wait::wait(&ws.repo, p, &wanted, args.timeout, args.interval)?;
    let mut r = Report::new("wait");
    r.extend(&waited);
    r.note(if waited.done.is_empty() {
        "nothing to wait for".to_string()
    } else {
        format!("done: {}", waited.done.join(", "))
    });
    Ok(r)
}
