//! `wtc wait`: block until lanes are handed off.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::Ctx;
use crate::error::{user, Kind, WtcError};
use crate::lane;
use crate::names;
use crate::plan;
use crate::refs;
use crate::ui::Report;

/// Wait until the given lanes are done (their tips carry `Wtc-State: done`).
///
/// Without LANE arguments: in a lane worktree, wait for the lanes it comes after; elsewhere,
/// for every lane. Exit code 4 when --timeout passes first. Replaces
/// `while [ ! -f handoff ]; do sleep 5; done`.
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// Lanes to wait for.
    pub lanes: Vec<String>,
    /// Wait for every lane of the plan.
    #[arg(long, conflicts_with = "lanes")]
    pub all: bool,
    /// Give up after this long (e.g. 500ms, 30s, 10m); default: wait forever.
    #[arg(long, value_name = "DUR", value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
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
    } else if let Some((_, here)) = ws.current_lane()? {
        p.upstream_closure(&here)
            .into_iter()
            .map(|l| l.name.clone())
            .collect()
    } else {
        p.lanes.iter().map(|l| l.name.clone()).collect()
    };
    let start = Instant::now();
    let mut delay = Duration::from_millis(20);
    loop {
        let (done, pending) = check(&ws.repo, &p.name, &wanted)?;
        if pending.is_empty() {
            let mut r = Report::new("wait");
            r.set("plan", &p.name)
                .set("done", &done)
                .set("pending", &pending);
            r.note(if done.is_empty() {
                "nothing to wait for".to_string()
            } else {
                format!("done: {}", done.join(", "))
            });
            return Ok(r);
        }
        if let Some(t) = args.timeout {
            if start.elapsed() >= t {
                return Err(WtcError::new(
                    Kind::Timeout,
                    format!("timed out after {:?} waiting for {}", t, pending.join(", ")),
                )
                .paths(pending)
                .into());
            }
        }
        // Short polling of a few refs is cheap; back off to at most 250 ms between looks.
        std::thread::sleep(delay);
        crate::error::check_interrupt()?;
        delay = (delay * 2).min(Duration::from_millis(250));
        // A lane may be added or removed while we wait: re-read the plan.
        if let Some(fresh) = plan::load_from(&ws.repo, &plan::plan_ref(&p.name))? {
            for l in &wanted {
                if fresh.plan.lane(l).is_none() {
                    return Err(user(format!(
                        "lane '{l}' was removed from the plan while waiting"
                    ))
                    .into());
                }
            }
        }
    }
}

fn check(
    repo: &gix::Repository,
    plan: &str,
    wanted: &[String],
) -> Result<(Vec<String>, Vec<String>)> {
    let mut done = Vec::new();
    let mut pending = Vec::new();
    for l in wanted {
        let tip = refs::peel(repo, &lane::branch_ref(plan, l))?;
        match tip {
            Some(t) if lane::tip_is_done(repo, t)? => done.push(l.clone()),
            _ => pending.push(l.clone()),
        }
    }
    Ok((done, pending))
}
