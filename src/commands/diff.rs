//! `wtc diff`: a lane's own work (without what it synced from upstream lanes), or the whole
//! integration, as a git-style patch.

use std::path::{Component, Path, PathBuf};

use anyhow::Result;

use super::Ctx;
use crate::commands::ui::{Report, Style};
use crate::ops::diff::{self, DiffOptions, Diffed, FileDiff};

/// Show what a lane itself changed, as a git-style patch.
///
/// LANE's tip against the merge of the upstream lanes' work it contains (computed in
/// memory), so a reviewer sees one agent's work apart from what it synced. Without LANE:
/// the lane you stand in, or, outside a lane worktree, the whole integration: the target's
/// tip against what `wtc squash` would land (the current tips of the lanes that have not
/// landed yet, see `wtc status`). Nothing is written.
/// On a terminal the output is coloured (`--color`) and shown through a pager, as git
/// chooses one: `GIT_PAGER`, `core.pager`, `PAGER`, else `less` (with `LESS=FRX` unless set);
/// `--no-pager` (or a pager of `cat`) prints it directly.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The lane to show (default: the lane you stand in, else the whole integration).
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::commands::complete::lanes))]
    pub lane: Option<String>,
    /// Show a diffstat (changed lines per file) instead of the patch.
    #[arg(long, conflicts_with = "name_only")]
    pub stat: bool,
    /// Show only the names of the changed paths.
    #[arg(long)]
    pub name_only: bool,
    /// Only these paths (files or directories, relative to the current directory).
    #[arg(last = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Print straight to the terminal, without a pager.
    #[arg(long)]
    pub no_pager: bool,
}

pub fn run(ctx: &Ctx, args: DiffArgs) -> Result<Report> {
    if let Some(l) = &args.lane {
        crate::plan::names::validate_lane(l)?;
    }
    let (ws, stored) = ctx.plan()?;
    let plan = &stored.plan;
    let lane = match args.lane {
        Some(l) => Some(l),
        None => crate::plan::lanes::checked_out(&ws)?
            .filter(|(p, _)| *p == plan.name)
            .map(|(_, l)| l),
    };
    let paths = repo_paths(&ctx.dir, ws.workdir(), &args.paths);
    let out = diff::diff(
        &ws,
        plan,
        &DiffOptions {
            lane: lane.as_deref(),
            paths: &paths,
        },
    )?;
    let mut r = Report::new("diff");
    if !args.no_pager && !ctx.ui.json {
        r.pager = pager(&ws.repo);
    }
    r.set("plan", &plan.name);
    r.extend(&out);
    let paint = |style: Style, text: &str| match ctx.ui.color_out {
        true => ctx.ui.paint(style, text),
        false => text.to_string(),
    };
    if args.name_only {
        for f in &out.files {
            r.out(f.path.clone());
        }
    } else if args.stat {
        stat(&mut r, &out, &paint);
    } else {
        for f in &out.files {
            patch(&mut r, f, &paint);
        }
    }
    if out.files.is_empty() {
        r.note(match &out.lane {
            Some(l) => format!("lane '{l}' changes nothing of its own"),
            None => format!("the lanes change nothing on '{}'", plan.target),
        });
    }
    Ok(r)
}

/// The pager for output to a terminal, chosen as git chooses it; `None` off a terminal or
/// when it is `cat` or empty.
fn pager(repo: &gix::Repository) -> Option<String> {
    use std::io::IsTerminal as _;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let env = |k: &str| std::env::var(k).ok();
    let pager = env("GIT_PAGER")
        .or_else(|| {
            repo.config_snapshot()
                .string("core.pager")
                .map(|s| s.to_string())
        })
        .or_else(|| env("PAGER"))
        .unwrap_or_else(|| "less".to_string());
    let trimmed = pager.trim();
    (!trimmed.is_empty() && trimmed != "cat").then(|| trimmed.to_string())
}

/// `paths` (relative to `cwd`) as paths from the repository's root.
fn repo_paths(cwd: &Path, workdir: &Path, paths: &[String]) -> Vec<String> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let prefix = canon(cwd)
        .strip_prefix(canon(workdir))
        .map(Path::to_owned)
        .unwrap_or_default();
    paths
        .iter()
        .map(|p| {
            let mut out = PathBuf::new();
            for c in prefix.join(p).components() {
                match c {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::Normal(n) => out.push(n),
                    _ => {}
                }
            }
            out.to_string_lossy().replace('\\', "/")
        })
        .collect()
}

/// One file's section of the patch, as `git diff` prints it.
fn patch(r: &mut Report, f: &FileDiff, paint: &dyn Fn(Style, &str) -> String) {
    let short = |id: Option<gix::ObjectId>| match id {
        Some(id) => id.to_hex_with_len(7).to_string(),
        None => "0000000".to_string(),
    };
    let mut head = vec![format!("diff --git a/{0} b/{0}", f.path)];
    let (old_mode, new_mode) = (
        f.old.as_ref().map(diff::mode),
        f.new.as_ref().map(diff::mode),
    );
    let index = format!(
        "index {}..{}",
        short(f.old.map(|l| l.id)),
        short(f.new.map(|l| l.id))
    );
    match (old_mode, new_mode) {
        (None, Some(m)) => head.extend([format!("new file mode {m}"), index]),
        (Some(m), None) => head.extend([format!("deleted file mode {m}"), index]),
        (Some(a), Some(b)) if a != b => {
            head.extend([format!("old mode {a}"), format!("new mode {b}")]);
            if f.old.map(|l| l.id) != f.new.map(|l| l.id) {
                head.push(index);
            }
        }
        (Some(m), Some(_)) => head.push(format!("{index} {m}")),
        (None, None) => {}
    }
    let side = |prefix: &str, present: bool| match present {
        true => format!("{prefix}/{}", f.path),
        false => "/dev/null".to_string(),
    };
    if f.binary {
        head.push(format!(
            "Binary files {} and {} differ",
            side("a", f.old.is_some()),
            side("b", f.new.is_some())
        ));
    } else if !f.hunks.is_empty() {
        head.push(format!("--- {}", side("a", f.old.is_some())));
        head.push(format!("+++ {}", side("b", f.new.is_some())));
    }
    for h in head {
        r.out(paint(Style::Bold, &h));
    }
    let text = String::from_utf8_lossy(&f.hunks);
    for line in text.lines() {
        let style = match line.as_bytes().first() {
            Some(b'@') => Some(Style::Meta),
            Some(b'+') => Some(Style::Good),
            Some(b'-') => Some(Style::Bad),
            _ => None,
        };
        r.out(match style {
            Some(s) => paint(s, line),
            None => line.to_string(),
        });
    }
}

/// `git diff --stat`: one line per file, then the totals.
fn stat(r: &mut Report, out: &Diffed, paint: &dyn Fn(Style, &str) -> String) {
    let width = out.files.iter().map(|f| f.path.len()).max().unwrap_or(0);
    let most = out
        .files
        .iter()
        .map(|f| f.additions + f.deletions)
        .max()
        .unwrap_or(0);
    let digits = most.to_string().len();
    let scale = |n: u32| match most > 50 {
        true => ((n as u64 * 50).div_ceil(most as u64)) as usize,
        false => n as usize,
    };
    for f in &out.files {
        let counts = match f.binary {
            true => "Bin".to_string(),
            false => format!(
                "{:>digits$} {}{}",
                f.additions + f.deletions,
                paint(Style::Good, &"+".repeat(scale(f.additions))),
                paint(Style::Bad, &"-".repeat(scale(f.deletions)))
            ),
        };
        r.out(format!(" {:width$} | {counts}", f.path));
    }
    let n = out.files.len();
    let plural = |k: u32, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
    r.out(format!(
        " {}, {}(+), {}(-)",
        plural(n as u32, "file changed", "files changed"),
        plural(out.additions, "insertion", "insertions"),
        plural(out.deletions, "deletion", "deletions")
    ));
}
