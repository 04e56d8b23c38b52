//! `WTC_TRACE_PERF=1`: each traced phase prints its wall time to stderr when it ends, like
//! git's `GIT_TRACE_PERFORMANCE`. For profiling; off (one relaxed load) otherwise.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("WTC_TRACE_PERF").is_some_and(|v| !v.is_empty() && v != "0")
    })
}

/// A phase being timed; prints `wtc-perf: <name> <ms>` when dropped (tracing on).
pub struct Span {
    name: &'static str,
    start: Option<Instant>,
}

/// Start timing phase `name`.
pub fn span(name: &'static str) -> Span {
    Span {
        name,
        start: enabled().then(Instant::now),
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(start) = self.start {
            eprintln!(
                "wtc-perf: {:<28} {:>8.2} ms",
                self.name,
                start.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
}
