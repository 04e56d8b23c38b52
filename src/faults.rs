//! Fault injection for the crash tests: `WTC_FAULT_AFTER=N` kills the process (SIGKILL, no
//! cleanup at all) when it reaches its N-th fault point. Fault points sit between the steps
//! that write: each file, each object, each ref, each index write. Without the variable a
//! point is one relaxed atomic increment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static COUNT: AtomicU64 = AtomicU64::new(0);

fn limit() -> Option<u64> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("WTC_FAULT_AFTER")
            .ok()
            .and_then(|v| v.parse().ok())
    })
}

/// A place where a crash must leave the repository consistent.
pub fn point() {
    let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    if limit() == Some(n) {
        // SAFETY: raising SIGKILL on ourselves; nothing runs after it.
        #[allow(unsafe_code)]
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}

/// How many fault points this process passed (printed with `WTC_FAULT_COUNT=1`, so tests
/// know how many kill points a command has).
pub fn passed() -> u64 {
    COUNT.load(Ordering::Relaxed)
}

/// A writer that, in a crash test (`WTC_FAULT_AFTER` set), writes its first buffer in two
/// halves with a fault point between them, so a kill can leave a file half-written as a
/// real crash mid-write would; otherwise it writes straight through.
pub struct Halves<'w> {
    inner: &'w mut dyn std::io::Write,
    split: bool,
}

impl<'w> Halves<'w> {
    pub fn new(inner: &'w mut dyn std::io::Write) -> Self {
        Halves {
            inner,
            split: limit().is_some(),
        }
    }
}

impl std::io::Write for Halves<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.split && buf.len() >= 2 {
            self.split = false;
            self.inner.write_all(&buf[..buf.len() / 2])?;
            self.inner.flush()?;
            point();
            return Ok(buf.len() / 2);
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
