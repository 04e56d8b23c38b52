//! `wtc status`, `wtc graph`, `wtc log`: where every lane stands, the DAG, the op log.

use anyhow::Result;
use gix::bstr::ByteSlice;

use super::Ctx;
use crate::commands::ui::{Report, Style, Ui};
use crate::git::refs;
use crate::plan::lanes as lane;

/// Show where every lane stands.
///
/// For each lane: its tip, state (working/done), worktree, which upstream lanes it has not
/// synced yet, and whether its work has landed on the target and how: integrated (by a
/// squash), merged, contained (the target has the lane's version of every path it changed:
/// a cherry-pick) or empty. `squash` and `clean` go by the same verdict.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

/// Show the lanes as a dependency graph (upstream lanes first).
#[derive(Debug, clap::Args)]
pub struct GraphArgs {}

/// Show the plan's operation log: every change to the plan, newest first.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// Show at most N entries.
    #[arg(short = 'n', long, value_name = "N")]
    pub max_count: Option<usize>,
}

pub fn run_status(ctx: &Ctx, _args: StatusArgs) -> Result<Report> {
    let (ws, stored) = ctx.plan()?;
    let p = &stored.plan;
    let lanes = crate::ops::landed::statuses(&ws, p)?;
    let tips: Vec<(String, Option<gix::ObjectId>)> = lanes
        .iter()
        .map(|l| {
            let tip = l.status.tip.as_deref();
            let tip = tip.and_then(|t| gix::ObjectId::from_hex(t.as_bytes()).ok());
            (l.status.name.clone(), tip)
        })
        .collect();
    let overlaps = crate::ops::forecast::overlaps(&ws.repo, p, &tips)?;
    let mut r = Report::new("status");
    r.set("plan", &p.name)
        .set("target", &p.target)
        .set("base", &p.base)
        .set("integrated", &p.integrated)
        .set("lanes", &lanes)
        .set("overlaps", &overlaps);
    let target_tip = refs::peel(&ws.repo, &crate::plan::refnames::branch(&p.target))?;
    r.out(format!(
        "plan {} -> {} (base {}{})",
        ctx.ui.paint(Style::Bold, &p.name),
        p.target,
        &p.base[..9],
        match (&p.integrated, target_tip) {
            (Some(i), _) => format!(", integrated as {}", &i[..9]),
            (None, Some(t)) if t != p.base_id() => format!(", target moved to {}", refs::short(t)),
            _ => String::new(),
        }
    ));
    if lanes.is_empty() {
        r.out("  no lanes yet: `wtc add LANE [--after LANE]`");
    }
    let width = lanes.iter().map(|l| l.status.name.len()).max().unwrap_or(0);
    for standing in &lanes {
        let l = &standing.status;
        let state = match l.state {
            "done" => ctx.ui.paint(Style::Good, "done   "),
            "missing" => ctx.ui.paint(Style::Bad, "missing"),
            _ => ctx.ui.paint(Style::Warn, "working"),
        };
        let tip = l.tip.as_deref().map(|t| &t[..9]).unwrap_or("---------");
        let mut extra = Vec::new();
        if let Some(how) = standing.landed {
            extra.push(
                ctx.ui
                    .paint(Style::Good, &format!("landed ({})", how.as_str())),
            );
        }
        if !l.behind.is_empty() {
            extra.push(format!("needs sync: {}", l.behind.join(", ")));
        }
        if standing.behind_target > 0 && standing.landed.is_none() {
            extra.push(format!(
                "{} behind {} (`wtc sync --target`)",
                standing.behind_target, p.target
            ));
        }
        match (&l.worktree, l.worktree_missing) {
            (Some(w), true) => extra.push(format!(
                "worktree MISSING: {} (`git worktree prune`)",
                w.display()
            )),
            (Some(w), false) => extra.push(w.display().to_string()),
            (None, _) => extra.push("no worktree".into()),
        }
        r.out(format!(
            "  {:width$}  {state}  {tip}  {:>3} commit(s)  {}",
            l.name,
            l.commits,
            extra.join("  "),
        ));
    }
    for o in &overlaps {
        r.out(format!(
            "  overlap: {}",
            overlap_text(&ctx.ui, &o.lanes, &o.paths, o.conflicts)
        ));
    }
    Ok(r)
}

/// One overlap of the conflict forecast, as `status` and `watch` show it: "a and b both
/// change PATHS: would conflict" (the first five paths).
pub fn overlap_text(ui: &Ui, lanes: &[String; 2], paths: &[String], conflicts: bool) -> String {
    let shown: Vec<&str> = paths.iter().take(5).map(String::as_str).collect();
    let more = match paths.len() > 5 {
        true => format!(" and {} more", paths.len() - 5),
        false => String::new(),
    };
    let verdict = match conflicts {
        true => ui.paint(Style::Bad, "would conflict"),
        false => "merge cleanly".to_string(),
    };
    format!(
        "{} and {} both change {}{more}: {verdict}",
        lanes[0],
        lanes[1],
        shown.join(", ")
    )
}

pub fn run_graph(ctx: &Ctx, _args: GraphArgs) -> Result<Report> {
    let (ws, stored) = ctx.plan()?;
    let p = &stored.plan;
    let lanes = lane::statuses(&ws, p)?;
    let mut r = Report::new("graph");
    let edges: Vec<(String, String)> = p
        .lanes
        .iter()
        .flat_map(|l| l.after.iter().map(move |a| (a.clone(), l.name.clone())))
        .collect();
    r.set("plan", &p.name)
        .set("lanes", lanes.iter().map(|l| &l.name).collect::<Vec<_>>())
        .set(
            "edges",
            edges
                .iter()
                .map(|(a, b)| serde_json::json!({"from": a, "to": b}))
                .collect::<Vec<_>>(),
        );
    r.out(format!("{} (onto {})", p.name, p.target));
    for l in &lanes {
        let mark = if l.state == "done" { "●" } else { "○" };
        let after = if l.after.is_empty() {
            String::new()
        } else {
            format!("  <- {}", l.after.join(", "))
        };
        r.out(format!("  {mark} {}{after}", l.name));
    }
    r.out(format!("  => {} (squash)", p.target));
    Ok(r)
}

pub fn run_log(ctx: &Ctx, args: LogArgs) -> Result<Report> {
    let (ws, stored) = ctx.plan()?;
    let repo = &ws.repo;
    let mut entries = Vec::new();
    for info in repo.rev_walk([stored.commit]).first_parent_only().all()? {
        let info = info?;
        let commit = repo.find_commit(info.id)?;
        let msg = commit.message_raw()?.to_str_lossy().trim().to_string();
        let time = commit.time()?.format(gix::date::time::format::ISO8601)?;
        entries
            .push(serde_json::json!({"commit": info.id.to_string(), "time": time, "message": msg}));
        if args.max_count.is_some_and(|n| entries.len() >= n) {
            break;
        }
    }
    let mut r = Report::new("log");
    for e in &entries {
        r.out(format!(
            "{}  {}  {}",
            &e["commit"].as_str().expect("str")[..9],
            e["time"].as_str().expect("str"),
            e["message"].as_str().expect("str")
        ));
    }
    r.set("plan", &stored.plan.name).set("entries", entries);
    let _ = crate::plan::refnames::plan_ref(&stored.plan.name);
    Ok(r)
}
