//! Signals: an interrupted command exits 130 and leaves no lock and nothing half-written.

use std::time::Duration;

use crate::env::{code, TestEnv};

fn signal(child: &std::process::Child, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// `wtc wait` blocked on a lane: SIGINT ends it with 130, SIGTERM too, and no lock remains.
#[test]
fn interrupted_wait_exits_130_and_leaves_no_lock() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    env.add_lane(&repo, "up", &[]);
    let before = env.snapshot(&repo);
    for (sig, expected) in [("-INT", 130), ("-TERM", 130)] {
        let child = env.wtc_spawn(&repo, &["wait", "up"]);
        std::thread::sleep(Duration::from_millis(400));
        signal(&child, sig);
        let out = env.finish(child, "wtc wait up", Duration::from_secs(10));
        assert_eq!(code(&out), expected, "{sig}: {}", env.describe(&out));
        assert_eq!(env.snapshot(&repo), before, "{sig} changed the repository");
        let locks: Vec<_> = walk(&repo.join(".git"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "lock"))
            .collect();
        assert!(locks.is_empty(), "locks left behind: {locks:?}");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
