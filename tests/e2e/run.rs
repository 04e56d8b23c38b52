//! Issue 4, acceptance 2 and 3 (run): `wtc run FILE` takes the reference scenario from nothing
//! to ONE integration commit with one command; a failing lane stops the lanes after it and
//! integrates nothing; SIGINT/SIGTERM stop every lane command (and what it started) with no
//! lock left behind.
//!
//! The lane commands are small shell scripts under the test root, called by absolute path:
//! each writes its lane's file in its worktree (`sh -c` runs there) and checks that the files
//! of the lanes it comes after are already present.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::env::{code, stderr, stdout, TestEnv};
use crate::watch::{locks, signal};

const PLAN: &str = "marketing";
const TYPES: &str = "src/types/marketing.ts";
const SERVICE: &str = "src/services/marketing.ts";
const HOOK: &str = "src/hooks/useMarketingCampaign.ts";

struct World {
    env: TestEnv,
    repo: PathBuf,
    base: String,
}

fn world() -> World {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    let base = env.rev(&repo, "main");
    World { env, repo, base }
}

impl World {
    /// Write `agents/<name>.sh` under the test root; returns `sh <path>` to put in `run`.
    fn script(&self, name: &str, body: &str) -> String {
        let path = self.env.path(&format!("agents/{name}.sh"));
        self.env.write(&path, format!("set -eu\n{body}"));
        format!("sh {}", path.display())
    }

    /// Write the run file; `lanes` are `(name, after, run)`.
    fn run_file(&self, name: &str, lanes: &[(&str, &[&str], &str)]) -> PathBuf {
        let mut toml = format!("plan = \"{PLAN}\"\n");
        for (lane, after, run) in lanes {
            let after: Vec<String> = after.iter().map(|a| format!("\"{a}\"")).collect();
            toml += &format!(
                "\n[[lane]]\nname = \"{lane}\"\nafter = [{}]\nrun = '{run}'\n",
                after.join(", ")
            );
        }
        let path = self.env.path(name);
        self.env.write(&path, toml);
        path
    }

    fn log(&self, lane: &str) -> PathBuf {
        self.repo.join(format!(".git/wtc/logs/{PLAN}/{lane}.log"))
    }

    fn worktree(&self, lane: &str) -> PathBuf {
        self.env.path(&format!("repo.wtc/{PLAN}/{lane}"))
    }

    /// `wtc status` says the lane is done (its tip is its own handoff).
    fn is_done(&self, lane: &str) -> bool {
        let status = self.env.wtc_json(&self.repo, &["status", "--plan", PLAN]);
        let lanes = status["lanes"].as_array().expect("status lists lanes");
        lanes
            .iter()
            .find(|l| l["name"] == lane)
            .is_some_and(|l| l["state"] == "done")
    }

    fn assert_no_locks(&self, when: &str) {
        let left = locks(&self.repo.join(".git"));
        assert!(left.is_empty(), "{when}: lock files left: {left:?}");
    }
}

/// The three agents of the reference scenario as scripts; `services` and `hooks` refuse to
/// work unless their upstream lanes' files are in their worktree.
fn scenario_lanes(w: &World) -> [(String, &'static [&'static str]); 3] {
    let schema = w.script(
        "schema",
        &format!("mkdir -p src/types\nprintf 'export interface MarketingCampaign {{ id: string }}\\n' > {TYPES}\necho \"schema wrote {TYPES}\"\n"),
    );
    let services = w.script(
        "services",
        &format!(
            "test -f {TYPES} || {{ echo 'no types yet' >&2; exit 9; }}\nmkdir -p src/services\nprintf 'import type {{ MarketingCampaign }} from \"../types/marketing\";\\n' > {SERVICE}\necho \"env: $WTC_PLAN $WTC_LANE $WTC_WORKTREE\"\n"
        ),
    );
    let hooks = w.script(
        "hooks",
        &format!(
            "test -f {TYPES} && test -f {SERVICE} || {{ echo 'upstream files missing' >&2; exit 9; }}\nmkdir -p src/hooks\nprintf 'export function useMarketingCampaign() {{}}\\n' > {HOOK}\n"
        ),
    );
    [
        (schema, &[]),
        (services, &["schema"]),
        (hooks, &["services"]),
    ]
}

/// Acceptance 2: one command, three lanes in order, logs per lane, ONE integration commit.
#[test]
fn run_file_takes_the_reference_scenario_to_one_commit() {
    let w = world();
    let env = &w.env;
    let [(schema, _), (services, _), (hooks, _)] = scenario_lanes(&w);
    let file = w.run_file(
        "run.toml",
        &[
            ("schema", &[], &schema),
            ("services", &["schema"], &services),
            ("hooks", &["services"], &hooks),
        ],
    );
    let out = env.wtc(&w.repo, &["run", file.to_str().unwrap()]);
    env.assert_code(&out, 0, "wtc run run.toml");

    assert_eq!(
        env.git(
            &w.repo,
            &["rev-list", "--count", &format!("{}..main", w.base)]
        )
        .trim(),
        "1",
        "ONE integration commit on main"
    );
    let main = env.rev(&w.repo, "main");
    assert_eq!(
        stdout(&out).trim(),
        main,
        "stdout is the integration commit"
    );
    assert_eq!(env.rev(&w.repo, "main^"), w.base);
    for path in [TYPES, SERVICE, HOOK] {
        env.git(&w.repo, &["cat-file", "-e", &format!("main:{path}")]);
        assert!(
            w.repo.join(path).exists(),
            "the checked-out main has {path}"
        );
    }
    env.assert_clean(&w.repo, "main after run");
    for lane in ["schema", "services", "hooks"] {
        assert!(w.is_done(lane), "{lane} is marked done");
        let log = w.log(lane);
        assert!(log.exists(), "{lane} has a log");
        let err = stderr(&out);
        assert!(
            err.contains(&log.display().to_string()),
            "the output names {lane}'s log:\n{err}"
        );
    }
    let services_log = env.read(&w.log("services"));
    let wt = w.worktree("services");
    assert!(
        services_log.contains(&format!("env: {PLAN} services {}", wt.display())),
        "WTC_PLAN, WTC_LANE and WTC_WORKTREE are set:\n{services_log}"
    );
    assert!(env.read(&w.log("schema")).contains("schema wrote"));
    w.assert_no_locks("after run");
    env.assert_fsck(&w.repo);
}

/// Acceptance 2 (failure): services fails; hooks (after it) never starts; docs (independent)
/// finishes; exit non-zero, main unchanged, the message names services' log.
#[test]
fn failing_lane_stops_its_dependents_and_integrates_nothing() {
    let w = world();
    let env = &w.env;
    let [(schema, _), _, _] = scenario_lanes(&w);
    let marker = env.path("hooks-started");
    let services = w.script(
        "services-fails",
        "echo 'compiling services...'\necho 'boom' >&2\nexit 3\n",
    );
    let hooks = w.script("hooks-marker", &format!("touch {}\n", marker.display()));
    let docs = w.script(
        "docs",
        "mkdir -p docs\necho '# Marketing' > docs/marketing.md\n",
    );
    let file = w.run_file(
        "run.toml",
        &[
            ("schema", &[], &schema),
            ("services", &["schema"], &services),
            ("hooks", &["services"], &hooks),
            ("docs", &[], &docs),
        ],
    );
    let before = env.rev(&w.repo, "main");
    let out = env.wtc(&w.repo, &["run", file.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    let err = stderr(&out);
    let services_log = w.log("services").display().to_string();
    assert!(
        err.contains(&services_log),
        "the message names the failing lane's log:\n{err}"
    );
    assert!(err.contains("services") && err.contains("hooks"), "{err}");
    assert!(!marker.exists(), "hooks' command never started");
    assert_eq!(env.rev(&w.repo, "main"), before, "nothing was integrated");
    assert!(
        w.is_done("schema") && w.is_done("docs"),
        "independent lanes finish"
    );
    assert!(!w.is_done("services") && !w.is_done("hooks"));
    assert!(
        env.read(&w.log("services")).contains("boom"),
        "stderr is in the log"
    );
    w.assert_no_locks("after a failed run");

    // --json: one error document naming the log.
    let (c, doc) = env.wtc_json_code(&w.repo, &["run", file.to_str().unwrap()]);
    assert_eq!(c, 1, "{doc}");
    assert_eq!(
        doc["error"]["paths"],
        serde_json::json!([services_log]),
        "{doc}"
    );
    assert!(!marker.exists());
}

/// `--eager`: every command starts at once; the running lanes are kept synced live, so a
/// downstream command sees its upstream's commit appear in its own worktree.
#[test]
fn eager_run_syncs_running_lanes_live() {
    let w = world();
    let env = &w.env;
    let wait_for = |path: &str| {
        format!("i=0; while [ ! -f {path} ]; do i=$((i+1)); [ $i -lt 500 ] || exit 8; sleep 0.02; done\n")
    };
    let schema = w.script(
        "schema-eager",
        &format!("sleep 0.2\nmkdir -p src/types\necho 'export {{}};' > {TYPES}\ngit add -A\ngit commit -q -m 'Add types'\n"),
    );
    let services = w.script(
        "services-eager",
        &format!(
            "{}mkdir -p src/services\necho 'export {{}};' > {SERVICE}\n",
            wait_for(TYPES)
        ),
    );
    let file = w.run_file(
        "eager.toml",
        &[
            ("schema", &[], &schema),
            ("services", &["schema"], &services),
        ],
    );
    let out = env.wtc(&w.repo, &["run", "--eager", file.to_str().unwrap()]);
    env.assert_code(&out, 0, "wtc run --eager");
    assert_eq!(
        env.git(
            &w.repo,
            &["rev-list", "--count", &format!("{}..main", w.base)]
        )
        .trim(),
        "1"
    );
    env.git(&w.repo, &["cat-file", "-e", &format!("main:{SERVICE}")]);
    w.assert_no_locks("after an eager run");
}

/// Acceptance 3 (run): SIGINT/SIGTERM mid-flight terminate the lane command and what it
/// started, leave no lock, integrate nothing, mark nothing done; exit 130.
#[test]
fn interrupted_run_terminates_lane_commands() {
    let w = world();
    let env = &w.env;
    for sig in ["-INT", "-TERM"] {
        let pidfile = env.path(&format!("sleep{sig}.pid"));
        let cmd = w.script(
            &format!("sleeper{sig}"),
            &format!(
                "echo partial > partial.txt\nsleep 30 &\necho $! > {}\nwait\n",
                pidfile.display()
            ),
        );
        let file = w.run_file("slow.toml", &[("slow", &[], &cmd)]);
        let before = env.rev(&w.repo, "main");
        let child = env.wtc_spawn(&w.repo, &["run", file.to_str().unwrap()]);
        let start = Instant::now();
        let sleep_pid: u32 = loop {
            if let Some(pid) = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break pid;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the lane command never started"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(alive(sleep_pid), "the lane's background sleep runs");
        signal(child.id(), sig);
        let out = env.finish(child, "wtc run slow.toml", Duration::from_secs(10));
        assert_eq!(code(&out), 130, "{sig}: {}", env.describe(&out));
        let gone = Instant::now();
        while alive(sleep_pid) {
            assert!(
                gone.elapsed() < Duration::from_secs(5),
                "{sig}: the lane's child survived"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        w.assert_no_locks(sig);
        assert_eq!(
            env.rev(&w.repo, "main"),
            before,
            "{sig}: nothing integrated"
        );
        assert!(!w.is_done("slow"), "{sig}: an interrupted lane is not done");
        let wt = w.worktree("slow");
        assert_eq!(env.rev(&wt, "HEAD"), w.base, "{sig}: nothing was saved");
        assert_eq!(
            env.status(&wt),
            "?? partial.txt\n",
            "{sig}: the worktree is as the command left it"
        );
        std::fs::remove_file(wt.join("partial.txt")).expect("remove partial.txt");
        assert!(
            stderr(&out).contains("interrupted"),
            "{}",
            env.describe(&out)
        );
    }
    env.assert_fsck(&w.repo);
}

/// Whether `pid` runs (a zombie waiting for its parent to reap it counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
