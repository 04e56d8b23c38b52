//! The command line: global flags, one subcommand per file in [`crate::commands`], dispatch,
//! signals and the panic hook. [`render`] prints what a command returned.

pub mod docs;
pub mod error;
pub mod progress;
pub mod render;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::Ctx;
use crate::error::exit;

use crate::commands;
use crate::commands::ui::{ColorChoice, Ui};

/// Coordinate parallel agents on one git repository: every agent works in its own worktree on
/// a scratch branch, its commits flow into the lanes that depend on it, and one squash lands
/// ONE clean integration commit on the target branch.
///
/// A typical session:
///
///   wtc init marketing                      # in the main worktree, on `main`
///   wtc add schema
///   wtc add services --after schema
///   cd ../repo.wtc/marketing/services
///   wtc wait schema && wtc sync             # schema's files appear here
///   wtc done                                # hand off
///   wtc squash                              # back in the main worktree: one commit on main
///
/// Exit codes: 0 ok, 1 error, 2 usage, 3 conflicts, 4 wait timed out, 5 --verify failed,
/// 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "wtc", version, verbatim_doc_comment, propagate_version = true)]
pub struct Cli {
    /// Run as if wtc was started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The plan to work on (default: the plan of the lane you stand in, else the only plan).
    #[arg(long, global = true, env = "WTC_PLAN", value_name = "NAME", add = clap_complete::engine::ArgValueCandidates::new(crate::commands::complete::plans))]
    pub plan: Option<String>,
    /// Print one JSON document on stdout (`"version": 1`), errors included.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only data and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Say more.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Skip the hooks that can refuse: commit-msg (the integration commit), pre-push (every
    /// push wtc makes) and save's opt-in pre-commit, like git's `--no-verify`.
    #[arg(long = "no-hooks", visible_alias = "no-verify", global = true)]
    pub no_hooks: bool,
    /// When to colour the output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(commands::init::InitArgs),
    Add(commands::add::AddArgs),
    Rm(commands::rm::RmArgs),
    Join(commands::join::JoinArgs),
    Save(commands::save::SaveArgs),
    Done(commands::save::DoneArgs),
    Sync(commands::sync::SyncArgs),
    Wait(commands::wait::WaitArgs),
    Watch(commands::watch::WatchArgs),
    Run(commands::run::RunArgs),
    Status(commands::status::StatusArgs),
    Graph(commands::status::GraphArgs),
    Log(commands::status::LogArgs),
    Squash(commands::squash::SquashArgs),
    Clean(commands::clean::CleanArgs),
    Demo(commands::demo::DemoArgs),
    Env(commands::env::EnvArgs),
    Diff(commands::diff::DiffArgs),
    AgentsMd(commands::agents_md::AgentsMdArgs),
    Completions(docs::CompletionsArgs),
    Man(docs::ManArgs),
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init(_) => "init",
            Command::Add(_) => "add",
            Command::Rm(_) => "rm",
            Command::Join(_) => "join",
            Command::Save(_) => "save",
            Command::Done(_) => "done",
            Command::Sync(_) => "sync",
            Command::Wait(_) => "wait",
            Command::Watch(_) => "watch",
            Command::Run(_) => "run",
            Command::Status(_) => "status",
            Command::Graph(_) => "graph",
            Command::Log(_) => "log",
            Command::Squash(_) => "squash",
            Command::Clean(_) => "clean",
            Command::Demo(_) => "demo",
            Command::Env(_) => "env",
            Command::Diff(_) => "diff",
            Command::AgentsMd(_) => "agents-md",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }
}

/// Parse the command line, run the command, print, and return the exit code.
pub fn main() -> i32 {
    let startup = crate::trace::span("startup: hooks, parse");
    install_panic_hook();
    install_signal_handler();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let bin = invoked_as(args.first().map(|a| a.as_os_str()));
    // Called back by a completion script (`COMPLETE=bash wtc -- wtc sync ...`): complete and
    // exit; otherwise this returns at once.
    clap_complete::CompleteEnv::with_factory(move || command(bin))
        .var(docs::COMPLETE_VAR)
        .complete();
    let cli = match parse(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, args.iter().any(|a| a == "--json")),
    };
    if cli.no_hooks {
        crate::git::hooks::skip_verify_hooks();
    }
    let ui = Ui::new(cli.json, cli.quiet, cli.verbose, cli.color);
    let dir = match &cli.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let ctx = Ctx {
        dir,
        plan: cli.plan.clone(),
        ui,
    };
    let name = cli.command.name();
    drop(startup);
    let total = crate::trace::span("total");
    // Progress on a terminal: long checkouts, fetches and `--verify` runs say what they do
    // (`run` and `watch` draw their own lines).
    let long = matches!(
        cli.command,
        Command::Add(_)
            | Command::Join(_)
            | Command::Sync(_)
            | Command::Wait(_)
            | Command::Squash(_)
    );
    let drawing = long.then(|| progress::start(&ctx.ui)).flatten();
    let result = match cli.command {
        Command::Completions(a) => return report_plain(docs::completions(bin, a)),
        Command::Man(a) => return report_plain(docs::man(&command(bin), a)),
        Command::Init(a) => commands::init::run(&ctx, a),
        Command::Join(a) => commands::join::run(&ctx, a),
        Command::Add(a) => commands::add::run(&ctx, a),
        Command::Rm(a) => commands::rm::run(&ctx, a),
        Command::Save(a) => commands::save::run_save(&ctx, a),
        Command::Done(a) => commands::save::run_done(&ctx, a),
        Command::Sync(a) => commands::sync::run(&ctx, a),
        Command::Wait(a) => commands::wait::run(&ctx, a),
        Command::Watch(a) => commands::watch::run(&ctx, a),
        Command::Run(a) => commands::run::run(&ctx, a),
        Command::Status(a) => commands::status::run_status(&ctx, a),
        Command::Graph(a) => commands::status::run_graph(&ctx, a),
        Command::Log(a) => commands::status::run_log(&ctx, a),
        Command::Squash(a) => commands::squash::run(&ctx, a),
        Command::Clean(a) => commands::clean::run(&ctx, a),
        Command::Demo(a) => commands::demo::run(&ctx, a),
        Command::Env(a) => commands::env::run(&ctx, a),
        Command::Diff(a) => commands::diff::run(&ctx, a),
        Command::AgentsMd(a) => commands::agents_md::run(&ctx, a),
    };
    drop(drawing);
    drop(total);
    let code = match result {
        Ok(report) => render::render(&ctx.ui, report),
        Err(e) => render::render_error(&ctx.ui, name, &e),
    };
    if std::env::var_os("WTC_FAULT_COUNT").is_some() {
        eprintln!("wtc-fault-points: {}", crate::faults::passed());
    }
    code
}

/// The commands that print a document of their own (a script, a man page): no `--json`.
fn report_plain(result: anyhow::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::ERROR
        }
    }
}

/// How the user invoked us: `git wtc` when git ran us as `git-wtc`, else `wtc`.
pub fn invoked_as(argv0: Option<&std::ffi::OsStr>) -> &'static str {
    let name = argv0
        .map(std::path::Path::new)
        .and_then(|p| p.file_stem())
        .map(|n| n.to_string_lossy().into_owned());
    match name.as_deref() {
        Some("git-wtc") => "git wtc",
        _ => "wtc",
    }
}

/// The clap definition, named the way it was invoked (usage and help say `git wtc sync`
/// under git).
pub fn command(bin_name: &str) -> clap::Command {
    use clap::CommandFactory;
    Cli::command().bin_name(bin_name)
}

fn parse(args: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let name = invoked_as(args.first().map(|a| a.as_os_str()));
    let mut matches = command(name).try_get_matches_from(args)?;
    Cli::from_arg_matches_mut(&mut matches)
}

fn usage_error(e: clap::Error, json: bool) -> i32 {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) || !json {
        let _ = e.print();
        return e.exit_code();
    }
    let doc = serde_json::json!({
        "version": 1,
        "error": { "message": e.kind().to_string(), "detail": e.to_string(), "kind": "usage", "exit_code": exit::USAGE }
    });
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    exit::USAGE
}

/// SIGINT/SIGTERM/SIGHUP: the first one sets gix's interrupt flag, which long waits and the
/// points before any write check (exit 130, nothing half-written); a second one removes every
/// lock file wtc holds and terminates at once, so no `index.lock` is left behind either way.
fn install_signal_handler() {
    // SAFETY: the handler only touches atomics and gix's signal-safe tempfile registry.
    #[allow(unsafe_code)]
    // The returned `Deregister` does nothing when dropped: the handler stays installed.
    let _ = unsafe { gix::interrupt::init_handler(1, || {}) };
    // The worktree writer probes files with write leases (who else holds this file open?);
    // someone opening the file in that instant breaks the lease, and the kernel tells the
    // holder with SIGIO, whose default action would kill wtc mid-update. Nothing in wtc
    // waits for SIGIO, so it is ignored.
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGIO, libc::SIG_IGN);
    }
}

/// A panic is a bug: say so in one line, with where to report it, and exit 1.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = format!("wtc hit an internal bug: {msg}{at}");
        let hint = "please report it with the command you ran; set RUST_BACKTRACE=1 for details";
        if std::env::args_os().any(|a| a == "--json") {
            // Scripts get the same one document as for any error, with its own kind.
            let doc = serde_json::json!({
                "version": 1,
                "error": error::Diagnosis {
                    message,
                    hint: Some(hint.into()),
                    kind: crate::error::Kind::Bug,
                    paths: Vec::new(),
                    exit_code: exit::ERROR,
                    data: Default::default(),
                },
            });
            println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        } else {
            eprintln!("error: {message}");
            eprintln!("hint: {hint}");
        }
        std::process::exit(exit::ERROR);
    }));
}
