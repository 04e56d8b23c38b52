//! Agent-ready lanes: `wtc env` (and the same variables for `wtc run` commands).

use crate::env::{code, stderr, stdout, TestEnv};

#[test]
fn env_gives_each_lane_its_own_port_block() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let a = env.add_lane(&repo, "a", &[]);
    let b = env.add_lane(&repo, "b", &["a"]);
    // Evaluated by a real shell, as `eval "$(wtc env)"` is meant to be.
    let mut sh = env.command("sh", &b);
    sh.env("WTC", env!("CARGO_BIN_EXE_wtc"))
        .args(["-c", r#"eval "$("$WTC" env)" && printf '%s|%s|%s|%s|%s\n' "$WTC_PLAN" "$WTC_LANE" "$WTC_WORKTREE" "$WTC_LANE_INDEX" "$WTC_PORT""#]);
    let out = env.run(sh, "eval wtc env");
    assert_eq!(code(&out), 0, "{}", env.describe(&out));
    let b_dir = b.display().to_string();
    assert_eq!(stdout(&out).trim(), format!("p|b|{b_dir}|1|20010"));
    let doc = env.wtc_json(&a, &["env"]);
    assert_eq!(doc["variables"]["WTC_PORT"], "20000", "{doc}");
    assert_eq!(doc["variables"]["WTC_LANE_INDEX"], "0", "{doc}");

    env.git(&repo, &["config", "wtc.portBase", "30000"]);
    assert_eq!(env.wtc_json(&b, &["env"])["variables"]["WTC_PORT"], "30010");
    for bad in ["80", "x", "65530"] {
        env.git(&repo, &["config", "wtc.portBase", bad]);
        let out = env.wtc(&b, &["env"]);
        assert_eq!(code(&out), 1, "{bad}: {}", env.describe(&out));
        assert!(
            stderr(&out).contains("wtc.portBase"),
            "{bad}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "nothing to eval on an error");
    }
    env.git(&repo, &["config", "--unset", "wtc.portBase"]);
    // Not in a lane: a clear error, no export lines.
    let out = env.wtc(&repo, &["env"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn run_commands_get_the_lane_environment() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    let file = env.path("run.toml");
    env.write(
        &file,
        "plan = \"r\"\n[[lane]]\nname = \"a\"\nrun = \"echo $WTC_LANE $WTC_LANE_INDEX $WTC_PORT > seen.txt\"\n[[lane]]\nname = \"b\"\nafter = [\"a\"]\nrun = \"echo $WTC_LANE $WTC_LANE_INDEX $WTC_PORT > seen.txt\"\n",
    );
    let doc = env.wtc_json(&repo, &["run", file.to_str().unwrap(), "--no-squash"]);
    for (lane, expect) in [("a", "a 0 20000\n"), ("b", "b 1 20010\n")] {
        let tip = format!("refs/heads/wtc/r/{lane}:seen.txt");
        assert_eq!(env.git(&repo, &["show", &tip]), expect, "{doc}");
    }
}
