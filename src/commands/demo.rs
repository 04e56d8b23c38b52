//! `wtc demo`: the reference scenario on a throwaway repository, narrated.
//!
//! Three scripted agents (schema -> services -> hooks) run at the same time, each in its own
//! lane worktree, each driving the real `wtc` binary (this one) and plain `git`. The story
//! ends with `git log --oneline` of `main` showing ONE new commit.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _, Result};

use super::Ctx;
use crate::commands::ui::{Report, Style, Ui};

/// Play the whole workflow on a throwaway repository.
///
/// Three agents, live handoffs, one integration commit. Needs nothing but this binary and git.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep the throwaway repository (its path is printed) instead of deleting it.
    #[arg(long)]
    pub keep: bool,
}

const TYPES: &str =
    "export interface MarketingCampaign {\n  id: string;\n  name: string;\n  budget: number;\n}\n";
const SERVICE: &str = "import { MarketingCampaign } from '../types/marketing';\n\nexport async function fetchCampaign(id: string): Promise<MarketingCampaign> {\n  const res = await fetch(`/api/campaigns/${id}`);\n  return res.json();\n}\n";
const HOOK: &str = "import { useEffect, useState } from 'react';\nimport { MarketingCampaign } from '../types/marketing';\nimport { fetchCampaign } from '../services/marketing';\n\nexport function useMarketingCampaign(id: string) {\n  const [campaign, setCampaign] = useState<MarketingCampaign | null>(null);\n  useEffect(() => { fetchCampaign(id).then(setCampaign); }, [id]);\n  return campaign;\n}\n";

struct Narrator {
    ui: Ui,
    lines: Mutex<Vec<String>>,
}

impl Narrator {
    fn say(&self, who: &str, text: &str) {
        let line = format!("{:>9} | {text}", who);
        if !self.ui.json {
            let who_painted = self.ui.paint(Style::Bold, &format!("{:>9}", who));
            println!("{who_painted} | {text}");
        }
        self.lines.lock().expect("narrator lock").push(line);
    }
}

pub fn run(ctx: &Ctx, args: DemoArgs) -> Result<Report> {
    let tmp = tempfile::Builder::new().prefix("wtc-demo-").tempdir()?;
    let root = tmp.path().to_owned();
    let repo = root.join("shop");
    let n = Arc::new(Narrator {
        ui: ctx.ui,
        lines: Mutex::new(Vec::new()),
    });
    let wtc = std::env::current_exe().context("finding the wtc binary")?;

    n.say(
        "setup",
        &format!("a throwaway repository at {}", repo.display()),
    );
    std::fs::create_dir_all(repo.join("src"))?;
    git(&repo, &["init", "-q", "-b", "main"])?;
    git(&repo, &["config", "user.name", "Demo Lead"])?;
    git(&repo, &["config", "user.email", "lead@example.invalid"])?;
    git(&repo, &["config", "commit.gpgsign", "false"])?;
    std::fs::write(repo.join("README.md"), "# shop\n")?;
    std::fs::write(repo.join("src/index.ts"), "export {};\n")?;
    git(&repo, &["add", "-A"])?;
    git(&repo, &["commit", "-q", "-m", "Initial shop"])?;
    let base = git(&repo, &["rev-parse", "HEAD"])?;

    step(&n, "lead", &wtc, &repo, &["init", "marketing"])?;
    step(&n, "lead", &wtc, &repo, &["add", "schema"])?;
    step(
        &n,
        "lead",
        &wtc,
        &repo,
        &["add", "services", "--after", "schema"],
    )?;
    step(
        &n,
        "lead",
        &wtc,
        &repo,
        &["add", "hooks", "--after", "services"],
    )?;
    let lane_dir = |lane: &str| root.join("shop.wtc").join("marketing").join(lane);

    // Three agents at once: each waits for its upstream through `wtc wait`, not a poll loop.
    let mut handles = Vec::new();
    for (lane, upstream, file, content, subject) in [
        (
            "schema",
            None,
            "src/types/marketing.ts",
            TYPES,
            "Add marketing campaign types",
        ),
        (
            "services",
            Some("schema"),
            "src/services/marketing.ts",
            SERVICE,
            "Add marketing campaign service",
        ),
        (
            "hooks",
            Some("services"),
            "src/hooks/useMarketingCampaign.ts",
            HOOK,
            "Add useMarketingCampaign hook",
        ),
    ] {
        let n = Arc::clone(&n);
        let wtc = wtc.clone();
        let dir = lane_dir(lane);
        handles.push(std::thread::spawn(move || -> Result<()> {
            if let Some(up) = upstream {
                n.say(lane, &format!("waiting for '{up}' to hand off..."));
                step(&n, lane, &wtc, &dir, &["wait", up, "--timeout", "60s"])?;
                step(&n, lane, &wtc, &dir, &["sync"])?;
                let mut seen = Vec::new();
                for f in ["src/types/marketing.ts", "src/services/marketing.ts"] {
                    if dir.join(f).exists() {
                        seen.push(f);
                    }
                }
                n.say(
                    lane,
                    &format!("now sees in its own worktree: {}", seen.join(", ")),
                );
            }
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().expect("nested"))?;
            std::fs::write(&path, content)?;
            n.say(lane, &format!("writes {file}"));
            if lane == "services" {
                // Agents may just use git: a plain commit is a valid WIP commit.
                git(&dir, &["add", "-A"])?;
                git(&dir, &["commit", "-q", "-m", subject])?;
                n.say(lane, &format!("$ git commit -m {subject:?}"));
                step(&n, lane, &wtc, &dir, &["done"])?;
            } else {
                step(&n, lane, &wtc, &dir, &["save", "-m", "wip: first draft"])?;
                step(&n, lane, &wtc, &dir, &["done", "-m", subject])?;
            }
            Ok(())
        }));
    }
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("a demo agent panicked"))??;
    }

    step(&n, "lead", &wtc, &repo, &["status"])?;
    step(&n, "lead", &wtc, &repo, &["squash"])?;
    let log = git(&repo, &["log", "--oneline", "main"])?;
    n.say("lead", "$ git log --oneline main");
    for line in log.lines() {
        n.say("lead", &format!("  {line}"));
    }
    let count = git(&repo, &["rev-list", "--count", &format!("{base}..main")])?;
    step(&n, "lead", &wtc, &repo, &["clean"])?;
    if count.trim() != "1" {
        bail!(
            "the demo expected ONE new commit on main, found {}",
            count.trim()
        );
    }
    n.say(
        "lead",
        "ONE commit on main holds all three lanes' work; no WIP commit reached main.",
    );

    let kept: Option<PathBuf> = if args.keep {
        let p = tmp.keep();
        n.say("lead", &format!("kept the repository at {}", p.display()));
        Some(p)
    } else {
        None
    };
    let mut r = Report::new("demo");
    r.set("repository", kept.map(|p| p.join("shop")))
        .set("new_commits_on_main", 1)
        .set("log", log.lines().collect::<Vec<_>>())
        .set("narration", n.lines.lock().expect("narrator lock").clone());
    Ok(r)
}

/// Run `wtc ARGS` in `dir` and narrate it; its messages are shown indented.
fn step(n: &Narrator, who: &str, wtc: &Path, dir: &Path, args: &[&str]) -> Result<String> {
    n.say(who, &format!("$ wtc {}", args.join(" ")));
    let out = Command::new(wtc)
        .args(args)
        .arg("--color=never")
        .current_dir(dir)
        .env_remove("WTC_PLAN")
        .output()
        .with_context(|| format!("running wtc {}", args.join(" ")))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in String::from_utf8_lossy(&out.stderr)
        .lines()
        .chain(stdout.lines())
    {
        n.say(who, &format!("  {line}"));
    }
    if !out.status.success() {
        bail!("`wtc {}` failed in {}", args.join(" "), dir.display());
    }
    Ok(stdout)
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
