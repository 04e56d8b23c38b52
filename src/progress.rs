//! Progress of long work (checking out thousands of files, fetching, a `--verify` run), for
//! whoever shows it: the command line draws it on a terminal (`cli::progress`). Off unless
//! [`enable`]d, and then only as cheap as gix's own progress counters.
//!
//! A process-wide sink instead of a parameter on every operation: progress is presentation,
//! and threading it through each layer's signatures would make every caller choose.

use std::sync::{Arc, OnceLock};

pub use gix::progress::tree::Root;

/// The gix progress handed to long operations: a task in the tree, or nothing.
pub type Task = gix::progress::DoOrDiscard<gix::progress::tree::Item>;

struct Sink {
    root: Arc<Root>,
    /// Prints a line without tearing the drawing (a `--verify` command's output).
    println: Box<dyn Fn(&str) + Send + Sync>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Show progress from now on: tasks go into `root`; lines printed meanwhile go through
/// `println`. Once per process.
pub fn enable(root: Arc<Root>, println: impl Fn(&str) + Send + Sync + 'static) {
    let _ = SINK.set(Sink {
        root,
        println: Box::new(println),
    });
}

/// Is progress shown?
pub fn enabled() -> bool {
    SINK.get().is_some()
}

/// A new task called `name` (what the user sees), or a discarding one.
pub fn task(name: impl Into<String>) -> Task {
    Task::from(SINK.get().map(|s| s.root.add_child(name)))
}

/// Print `line` on stderr, through the progress drawing when there is one.
pub fn println(line: &str) {
    match SINK.get() {
        Some(s) => (s.println)(line),
        None => eprintln!("{line}"),
    }
}
