//! Dynamic shell completion: lane and plan names from the repository the shell stands in.
//! clap_complete's engine calls these while completing (`COMPLETE=bash wtc -- wtc sync ...`,
//! which the scripts of `wtc completions SHELL` run); they must be fast and never fail
//! loudly: outside a repository there is simply nothing to offer.

use clap_complete::engine::CompletionCandidate;

fn repo() -> Option<gix::Repository> {
    gix::discover(std::env::current_dir().ok()?).ok()
}

/// Every plan with a local plan ref.
pub fn plans() -> Vec<CompletionCandidate> {
    let Some(repo) = repo() else {
        return Vec::new();
    };
    crate::plan::store::list(&repo)
        .unwrap_or_default()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// The lanes of the plan in question: `WTC_PLAN`, else the plan of the lane checked out
/// here, else every plan's lanes.
pub fn lanes() -> Vec<CompletionCandidate> {
    let Some(repo) = repo() else {
        return Vec::new();
    };
    let here = repo
        .head_name()
        .ok()
        .flatten()
        .and_then(|n| crate::plan::refnames::parse_lane_branch(&n.as_bstr().to_string()));
    let plans: Vec<String> = match (std::env::var("WTC_PLAN").ok(), here) {
        (Some(p), _) if !p.is_empty() => vec![p],
        (_, Some((p, _))) => vec![p],
        _ => crate::plan::store::list(&repo).unwrap_or_default(),
    };
    let mut out = Vec::new();
    for name in plans {
        if let Ok(stored) = crate::plan::store::load(&repo, &name) {
            for lane in &stored.plan.lanes {
                let help = match lane.after.is_empty() {
                    true => format!("lane of {name}"),
                    false => format!("lane of {name}, after {}", lane.after.join(", ")),
                };
                out.push(CompletionCandidate::new(lane.name.clone()).help(Some(help.into())));
            }
        }
    }
    out
}
