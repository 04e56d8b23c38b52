//! `WTC_TRACE_PERF=1`: each traced phase prints its wall time to stderr when it ends, like
//! git's `GIT_TRACE_PERFORMANCE`, with when it started and ended (ms since the first span),
//! the thread it ran on and that thread's CPU time in it (less than the wall time: the
//! thread waited, for a lock, the disk, another thread or a core). For profiling; off (one
//! relaxed load) otherwise.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("WTC_TRACE_PERF").is_some_and(|v| !v.is_empty() && v != "0")
    })
}

/// When tracing started: the zero of the timeline.
fn epoch() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// A phase being timed; prints `wtc-perf: <name> <ms>` when dropped (tracing on).
pub struct Span {
    name: &'static str,
    start: Option<(Instant, f64)>,
}

/// This thread's CPU time so far, in ms.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and room for the result.
    #[allow(unsafe_code)]
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts)
    };
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

/// Start timing phase `name`.
pub fn span(name: &'static str) -> Span {
    Span {
        name,
        start: enabled().then(|| {
            epoch();
            (Instant::now(), thread_cpu_ms())
        }),
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some((start, cpu)) = self.start {
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
            let thread = std::thread::current();
            eprintln!(
                "wtc-perf: {:<34} {:>8.2} ms  [{:>7.2} .. {:>7.2}] {} cpu {:.2} ms",
                self.name,
                ms(start.elapsed()),
                ms(start - epoch()),
                ms(epoch().elapsed()),
                thread
                    .name()
                    .map_or_else(|| format!("{:?}", thread.id()), str::to_string),
                thread_cpu_ms() - cpu
            );
        }
    }
}
