//! Placeholder replaced by the benchmark harness (issue 5).
fn main() {}
