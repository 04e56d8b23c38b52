//! `wtc squash`: ONE integration commit on the target branch.

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;
use crate::ops::squash::{self, SquashOptions};

/// Fold every lane onto the target branch's current tip and land ONE commit there.
///
/// The merge happens in memory: on conflicts (exit 3), a failing --verify (exit 5) or with
/// --dry-run, nothing is written. The commit's parent is the target's tip; its message lists
/// each lane's meaningful (non-"wip") subjects and `Wtc-Lane: <lane> <tip>` trailers. A
/// checked-out target worktree is updated if the files the integration changes are clean.
/// When the target already has every lane's work (`wtc status` shows them landed: merged,
/// cherry-picked, integrated before, or only empty commits), it says "already integrated",
/// writes nothing and exits 0.
///
/// When --verify fails, --bisect runs CMD on folds without some lanes (dropping a lane drops
/// the lanes after it) to name the lanes whose work makes it fail: dropping any one of them
/// makes it pass. One culprit among N lanes takes about log2(N) runs, plus a re-run of the
/// failing fold (a command that passes then is reported as flaky) and the runs that prove
/// the claim. Each run's output is in a log under `<git common dir>/wtc/logs/PLAN/verify/`.
/// --skip-failing then lands the other lanes as ONE commit (exit 0) and leaves the culprits
/// and the lanes after them in the plan, untouched, for a later squash.
#[derive(Debug, clap::Args)]
pub struct SquashArgs {
    /// Subject of the integration commit (default: "PLAN: integrate LANES").
    #[arg(short, long, value_name = "MSG")]
    pub message: Option<String>,
    /// Run CMD (with `sh -c`) in a temporary checkout of the result first; land only if it succeeds.
    #[arg(long, value_name = "CMD")]
    pub verify: Option<String>,
    /// When --verify fails, find the lanes that make it fail (exit 5, naming them and the log).
    #[arg(long, requires = "verify")]
    pub bisect: bool,
    /// Like --bisect, then land the other lanes; the culprits stay in the plan.
    #[arg(long, requires = "verify")]
    pub skip_failing: bool,
    /// Show what would be integrated, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Integrate lanes that are not done yet, as they are.
    #[arg(long)]
    pub unfinished: bool,
    /// Remote mode: fold onto the REMOTE target's tip and push it there with a lease; if the
    /// remote target moves meanwhile, re-fold once, then fail without overwriting anything.
    #[arg(long)]
    pub push: bool,
}

pub fn run(ctx: &Ctx, args: SquashArgs) -> Result<Report> {
    let (ws, stored) = ctx.plan()?;
    let op = ctx.operation(&ws, "squash")?;
    let opts = SquashOptions {
        loaded_integration: stored.plan.integrated.clone(),
        message: args.message,
        verify: args.verify,
        bisect: args.bisect || args.skip_failing,
        skip_failing: args.skip_failing,
        dry_run: args.dry_run,
        unfinished: args.unfinished,
        push: args.push,
    };
    let out = squash::squash(&op, &ws, &stored, &opts)?;
    let mut r = Report::new("squash");
    r.set("plan", &stored.plan.name);
    r.extend(&out);
    let lanes: Vec<&str> = out.lanes.iter().map(|l| l.name.as_str()).collect();
    match &out.commit {
        Some(c) if out.already_integrated => {
            r.out(c.clone());
            r.note(format!(
                "'{}' already integrates {} (already integrated by {}); nothing new to commit",
                out.target,
                lanes.join(", "),
                &c[..9]
            ));
            r.note("clean up the lanes with `wtc clean`");
        }
        Some(c) => {
            r.out(c.clone());
            r.note(format!(
                "integrated {} into '{}' as ONE commit {}",
                lanes.join(", "),
                out.target,
                &c[..9]
            ));
            skipped_notes(&mut r, &out);
            if let Some(w) = &out.worktree_updated {
                r.note(format!(
                    "updated the checked-out '{}' at {}",
                    out.target,
                    w.display()
                ));
            }
            if !out.raced.is_empty() {
                r.note(format!(
                    "warning: {} file(s) of the checked-out '{}' changed while they were written; your version is kept there (`git diff` shows it against the integration): {}",
                    out.raced.len(),
                    out.target,
                    out.raced.join(", ")
                ));
            }
            if !out.kept.is_empty() {
                r.note(format!(
                    "note: older versions of those edits are kept beside them (untracked): {}",
                    out.kept.join(", ")
                ));
            }
            r.note("clean up the lanes with `wtc clean`");
        }
        None if out.already_integrated => {
            let how: Vec<String> = out
                .landed
                .iter()
                .map(|l| format!("{} ({})", l.name, l.how.as_str()))
                .collect();
            r.note(format!(
                "already integrated: '{}' has the work of every lane: {}; nothing to commit",
                out.target,
                how.join(", ")
            ));
            if !out.dry_run {
                r.note("clean up the lanes with `wtc clean`");
            }
        }
        None => {
            r.note(format!(
                "would integrate {} into '{}' (dry run):",
                lanes.join(", "),
                out.target
            ));
            for line in out.message.lines() {
                r.note(format!("    {line}"));
            }
            skipped_notes(&mut r, &out);
        }
    }
    Ok(r)
}

/// What `--bisect`/`--skip-failing` ran and left out.
fn skipped_notes(r: &mut Report, out: &squash::Squashed) {
    let Some(b) = &out.bisect else { return };
    let passed = b.runs.iter().filter(|r| r.passed).count();
    r.note(format!(
        "verified in {} run(s) ({passed} passed)",
        b.runs.len()
    ));
    for c in &b.culprits {
        let with = match c.with.is_empty() {
            true => String::new(),
            false => format!(" together with {}", c.with.join(", ")),
        };
        r.note(format!(
            "warning: skipped '{}': its work{with} makes the command fail (log: {})",
            c.name,
            c.log.display()
        ));
    }
    if !b.held_back.is_empty() {
        r.note(format!(
            "warning: skipped {} too: they come after a failing lane",
            b.held_back.join(", ")
        ));
    }
    if !out.skipped.is_empty() {
        r.note(format!(
            "the skipped lanes stay in the plan; fix them, then `wtc squash` lands them ({})",
            out.skipped.join(", ")
        ));
    }
}
