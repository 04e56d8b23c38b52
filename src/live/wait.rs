//! `wait`: block until lanes are handed off. Locally a look is a few ref reads, polled fast;
//! over a remote a look is a ref listing (no pack), starting at the caller's interval and
//! backing off x1.5 (up to 8x) while nothing changes, with a fetch when something did.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use crate::plan::lanes as lane;
use crate::plan::{self, Plan};

/// What `wait` saw at the end.
#[derive(Debug, Clone, Serialize)]
pub struct Waited {
    pub plan: String,
    pub done: Vec<String>,
    pub pending: Vec<String>,
}

/// Wait until every lane of `wanted` is done, or `timeout` passes (an error of kind
/// timeout). `interval`: remote mode's first pause between two listings.
pub fn wait(
    repo: &gix::Repository,
    p: &Plan,
    wanted: &[String],
    timeout: Option<Duration>,
    interval: Duration,
) -> Result<Waited> {
    let wanted = wanted.to_vec();
    let args = (timeout, interval);
    let start = Instant::now();
    let remote = crate::plan::settings::remote_of(repo, &p.name);
    // Locally a look is a few ref reads: poll fast. Over a remote a look is a ref listing (no
    // pack): start at --interval and back off (x1.5, up to 8x) while nothing changes.
    let base_delay = if remote.is_some() {
        args.1
    } else {
        Duration::from_millis(20)
    };
    let max_delay = if remote.is_some() {
        args.1 * 8
    } else {
        Duration::from_millis(250)
    };
    let mut delay = base_delay;
    loop {
        let (done, pending) = check(repo, p, &wanted)?;
        if pending.is_empty() {
            return Ok(Waited {
                plan: p.name.clone(),
                done,
                pending,
            });
        }
        if let Some(t) = args.0 {
            if start.elapsed() >= t {
                return Err(super::Error::Timeout { after: t, pending }.into());
            }
        }
        let deadline = args.0.map(|t| start + t);
        sleep_until(Instant::now() + delay, deadline)?;
        delay = (delay.mul_f64(1.5)).min(max_delay);
        if let Some(remote) = &remote {
            let published = crate::ops::publish::list(repo, remote, &p.name)?;
            let mut changed = false;
            for l in &wanted {
                let tracked = crate::git::refs::peel(
                    repo,
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
                crate::ops::publish::refresh(repo, remote, &p.name)?;
                delay = base_delay;
            }
        }
        // A lane may be added or removed while we wait: re-read the plan.
        if let Some(fresh) = plan::load_from(repo, &crate::plan::refnames::plan_ref(&p.name))? {
            for l in &wanted {
                if fresh.plan.lane(l).is_none() {
                    return Err(super::Error::LaneRemoved { lane: l.clone() }.into());
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
