//! `wtc env`: the lane's environment as shell `export` lines.

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;

/// Print `export` lines for the lane you stand in: WTC_PLAN, WTC_LANE, WTC_WORKTREE,
/// WTC_LANE_INDEX (the lane's position in the plan) and WTC_PORT (the first of 10 ports
/// that are this lane's: `git config wtc.portBase`, default 20000, + 10 x WTC_LANE_INDEX).
///
///   eval "$(wtc env)"              # then start the dev server on $WTC_PORT
///
/// `wtc run` gives each lane's command the same variables.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct EnvArgs {}

/// `value` quoted for a POSIX shell.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

pub fn run(ctx: &Ctx, _args: EnvArgs) -> Result<Report> {
    let (ws, stored, lane, _) = ctx.lane()?;
    let vars =
        crate::plan::settings::lane_environment(&ws.repo, &stored.plan, &lane, ws.workdir())?;
    let mut r = Report::new("env");
    let mut object = serde_json::Map::new();
    for (k, v) in &vars {
        r.out(format!("export {k}={}", quote(v)));
        object.insert((*k).to_string(), serde_json::Value::String(v.clone()));
    }
    r.set("plan", &stored.plan.name)
        .set("lane", &lane)
        .set("variables", object);
    Ok(r)
}
