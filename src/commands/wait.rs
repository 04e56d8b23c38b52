//! `wtc wait`: block until lanes are handed off.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::Ctx;
use crate::error::{user, Kind, WtcError};
use crate::plan;
use crate::plan::lanes as lane;
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
    let start = Instant::now();
    let remote = crate::plan::settings::remote_of(&ws.repo, &p.name);
    // Locally a look is a few ref reads: poll fast. Over a remote a look is a ref listing (no
    // pack): start at --interval and back off (x1.5, up to 8x) while nothing changes.
    let base_delay = if remote.is_some() {
        args.interval
    } else {
        Duration::from_millis(20)
    };
    let max_delay = if remote.is_some() {
        args.interval * 8
    } else {
        Duration::from_millis(250)
    };
    let mut delay = base_delay;
    loop {
        let (done, pending) = check(&ws.repo, p, &wanted)?;
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
        let deadline = args.timeout.map(|t| start + t);
        sleep_until(Instant::now() + delay, deadline)?;
        delay = (delay.mul_f64(1.5)).min(max_delay);
        if let Some(remote) = &remote {
            let published = crate::ops::publish::list(&ws.repo, remote, &p.name)?;
            let mut changed = false;
            for l in &wanted {
                let tracked = crate::git::refs::peel(
                    &ws.repo,
                    &crate::plan::refnames::tracking_lane(remote, &p.name, l),
                )?;
                if published
                    .get(&crate::plan::refnames::published_lane(&p.name, l))
                    .copied()
                    != tracked
                {
                    changed = true;
                }
            }
            if changed {
                crate::ops::publish::refresh(&ws.repo, remote, &p.name)?;
                delay = base_delay;
            }
        }
        // A lane may be added or removed while we wait: re-read the plan.
        if let Some(fresh) = plan::load_from(&ws.repo, &crate::plan::refnames::plan_ref(&p.name))? {
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
    plan: &crate::plan::Plan,
    wanted: &[String],
) -> Result<(Vec<String>, Vec<String>)> {
    let mut done = Vec::new();
    let mut pending = Vec::new();
    for l in wanted {
        let tip = lane::tip(repo, &plan.name, l)?;
        match tip {
            Some(t) if lane::is_done(repo, plan, l, t)? => done.push(l.clone()),
            _ => pending.push(l.clone()),
        }
    }
    Ok((done, pending))
}

/// Sleep until `until` (or the deadline, whichever is first) in short slices, so a signal or
/// the time-out is noticed at once.
fn sleep_until(until: Instant, deadline: Option<Instant>) -> Result<()> {
    let until = deadline.map_or(until, |d| d.min(until));
    loop {
        crate::error::check_interrupt()?;
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}
