//! Placeholder replaced by the watch latency benchmark (issue 4).
fn main() {}
