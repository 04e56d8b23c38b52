//! The command line: global flags and one subcommand per file in [`crate::commands`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::ui::ColorChoice;

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
    #[arg(long, global = true, env = "WTC_PLAN", value_name = "NAME")]
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
        }
    }
}
