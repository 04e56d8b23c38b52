//! Drawing [`crate::progress`] on a terminal: one indicatif line on stderr for the task that
//! is running now (a bar with counts when its total is known, a spinner otherwise). Never
//! with `--json` or `-q`, never off a terminal: there the output is exactly as without it.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::commands::ui::Ui;
use crate::progress::Root;

/// The drawing thread; stopped (and the line cleared) when dropped.
pub struct Drawing {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    bar: ProgressBar,
}

/// Start drawing progress for this process, if `ui` and stderr allow it.
pub fn start(ui: &Ui) -> Option<Drawing> {
    if ui.json || ui.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let root = Root::new();
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10))
        .with_style(ProgressStyle::with_template("{wide_msg}").expect("valid template"));
    let printer = bar.clone();
    crate::progress::enable(root.clone(), move |line| {
        printer.suspend(|| eprintln!("{line}"));
    });
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (stop, bar) = (stop.clone(), bar.clone());
        std::thread::Builder::new()
            .name("wtc-progress".into())
            .spawn(move || draw(&root, &bar, &stop))
            .ok()?
    };
    Some(Drawing {
        stop,
        thread: Some(thread),
        bar,
    })
}

fn draw(root: &Root, bar: &ProgressBar, stop: &AtomicBool) {
    let counted = ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
        .expect("valid template")
        .progress_chars("=> ");
    let open = ProgressStyle::with_template("{spinner} {pos} {wide_msg}").expect("valid template");
    let spinner =
        ProgressStyle::with_template("{spinner} {elapsed} {wide_msg}").expect("valid template");
    let mut tasks = Vec::new();
    let mut shown: Option<(String, bool)> = None;
    while !stop.load(Ordering::Relaxed) {
        root.sorted_snapshot(&mut tasks);
        // What to show: the innermost task with a known total (files to check out), else
        // the innermost with any progress (bytes received, a command running), named after
        // the top-level task wtc started ("checking out DIR: files").
        // (A total of 0 is a task not started yet.)
        let with_value = || {
            tasks
                .iter()
                .rev()
                .filter_map(|(_, t)| t.progress.as_ref().map(|v| (t, v)))
                .filter(|(_, v)| v.done_at != Some(0))
        };
        let current = with_value()
            .find(|(_, v)| v.done_at.is_some_and(|n| n > 0))
            .or_else(|| with_value().next());
        match current {
            Some((task, value)) => {
                let step = value.step.load(Ordering::Relaxed) as u64;
                let top = tasks
                    .first()
                    .map(|(_, t)| t.name.as_str())
                    .unwrap_or_default();
                let name = match top == task.name {
                    true => task.name.clone(),
                    false => format!("{top}: {}", task.name),
                };
                let key = (name, value.done_at.is_some());
                if shown.as_ref() != Some(&key) {
                    bar.reset();
                    match value.done_at {
                        Some(_) => bar.set_style(counted.clone()),
                        None if step > 0 => bar.set_style(open.clone()),
                        None => bar.set_style(spinner.clone()),
                    }
                    bar.set_message(key.0.clone());
                    shown = Some(key);
                }
                if let Some(total) = value.done_at {
                    bar.set_length(total as u64);
                }
                bar.set_position(step);
                bar.tick();
            }
            None if shown.is_some() => {
                bar.set_style(ProgressStyle::default_spinner());
                bar.set_message("");
                bar.finish_and_clear();
                bar.reset();
                shown = None;
            }
            None => {}
        }
        std::thread::sleep(Duration::from_millis(80));
    }
}

impl Drop for Drawing {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}
