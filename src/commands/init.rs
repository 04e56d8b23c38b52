//! `wtc init PLAN`: create a plan whose base is the target branch's tip.

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::Report;
use crate::ops::init::{self, InitOptions};
use crate::plan::names;

/// Create a plan: a named piece of work that lanes will contribute to.
///
/// The plan is stored in git at refs/wtc/PLAN/plan (one commit per change, see `wtc log`);
/// its base is the target branch's current tip, where new lanes start.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Name of the plan: a-z, 0-9, '.', '_' and '-', e.g. `marketing`.
    pub plan: String,
    /// The branch the integration commit lands on (default: the branch checked out here).
    #[arg(long, value_name = "BRANCH")]
    pub target: Option<String>,
    /// Share the plan through this git remote (e.g. `origin`): lanes in other clones `wtc join`
    /// it, and every save publishes to refs/wtc/PLAN/ there (hidden from plain fetches).
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
}

pub fn run(ctx: &Ctx, args: InitArgs) -> Result<Report> {
    names::validate_plan(&args.plan)?;
    let ws = ctx.workspace()?;
    let done = init::init(
        &ws,
        &InitOptions {
            plan: args.plan,
            target: args.target,
            remote: args.remote,
        },
    )?;
    let mut r = Report::new("init");
    r.extend(&done);
    r.note(format!(
        "created plan '{}' onto '{}' at {}; add lanes with `wtc add LANE [--after LANE]`",
        done.plan,
        done.target,
        &done.base[..9]
    ));
    Ok(r)
}
