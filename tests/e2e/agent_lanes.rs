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

#[test]
fn agents_md_teaches_the_lane_protocol_and_a_stand_in_agent_follows_it() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    // Outside a lane: the generic section.
    let generic = env.wtc_json(&repo, &["agents-md"]);
    assert!(generic["lane"].is_null(), "{generic}");
    let text = generic["markdown"].as_str().unwrap();
    for must in ["wtc sync", "wtc done", "Exit code 3", "git commit"] {
        assert!(text.contains(must), "{must}: {text}");
    }
    // A stand-in agent, run through a run FILE as a real agent CLI would be: it reads the
    // section wtc gives it, does its work, commits, and syncs as the section says.
    let agent = env.path("agent.sh");
    env.write(
        &agent,
        r#"set -e
wtc agents-md > AGENT_NOTES.md.tmp
grep -q "lane \`$WTC_LANE\` of the wtc plan \`$WTC_PLAN\`" AGENT_NOTES.md.tmp
rm AGENT_NOTES.md.tmp
echo "work of $WTC_LANE" > "$WTC_LANE.txt"
git add -A && git commit -qm "$WTC_LANE: its part"
wtc sync
"#,
    );
    let file = env.path("run.toml");
    let cmd = format!("sh {}", agent.display());
    env.write(
        &file,
        format!("plan = \"a\"\n[[lane]]\nname = \"schema\"\nrun = \"{cmd}\"\n[[lane]]\nname = \"services\"\nafter = [\"schema\"]\nrun = \"{cmd}\"\n"),
    );
    let before = env.rev(&repo, "main");
    let mut run = env.command(env!("CARGO_BIN_EXE_wtc"), &repo);
    run.env("PATH", crate::git_like::path_with_wtc()).args([
        "--json",
        "run",
        file.to_str().unwrap(),
    ]);
    let out = env.run(run, "wtc run");
    assert_eq!(code(&out), 0, "{}", env.describe(&out));
    assert_eq!(
        env.git(&repo, &["show", "main:services.txt"]),
        "work of services\n"
    );
    assert_eq!(
        env.git(&repo, &["show", "main:schema.txt"]),
        "work of schema\n"
    );
    let range = format!("{before}..main");
    assert_eq!(
        env.git(&repo, &["rev-list", "--count", &range]).trim(),
        "1",
        "ONE commit"
    );
    // In a lane: the section names it, its plan and the lanes before it.
    let lane = env.path("repo.wtc/a/services");
    let doc = env.wtc_json(&lane, &["agents-md"]);
    assert_eq!(doc["lane"], "services", "{doc}");
    assert!(
        doc["markdown"]
            .as_str()
            .unwrap()
            .contains("comes after `schema`"),
        "{doc}"
    );
}
