//! Issue 4, acceptance 1 and 3 (watch): `wtc watch` carries upstream commits into a lane's
//! worktree with no other command, holds back (never clobbers) a lane whose sync would
//! conflict or overwrite uncommitted work, refuses a second watcher, and stops cleanly on
//! SIGINT/SIGTERM: exit 130, no lock file left, no half-updated worktree.
//!
//! Every test drives the real binary with `--json` and reads its NDJSON events as they come;
//! waits poll with a deadline instead of sleeping for a fixed time.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::env::{code, stderr, TestEnv};

const PLAN: &str = "marketing";
const TYPES: &str = "src/types/marketing.ts";
const SERVICE: &str = "src/services/marketing.ts";
const TYPES_TS: &str = "export interface MarketingCampaign {\n  id: string;\n}\n";
const SERVICE_TS: &str =
    "import type { MarketingCampaign } from \"../types/marketing\";\nexport const campaigns: MarketingCampaign[] = [];\n";

/// How long a change may take to show up before the test fails (a hang, not slowness).
const DEADLINE: Duration = Duration::from_secs(10);

pub struct Lanes {
    pub env: TestEnv,
    pub repo: PathBuf,
    pub schema: PathBuf,
    pub services: PathBuf,
    pub hooks: PathBuf,
}

/// The reference scenario's three lanes: schema -> services -> hooks.
pub fn lanes() -> Lanes {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", PLAN]);
    let schema = env.add_lane(&repo, "schema", &[]);
    let services = env.add_lane(&repo, "services", &["schema"]);
    let hooks = env.add_lane(&repo, "hooks", &["services"]);
    Lanes {
        env,
        repo,
        schema,
        services,
        hooks,
    }
}

impl Lanes {
    /// Write `files` in `wt` and record them with a plain `git commit`.
    fn commit(&self, wt: &Path, files: &[(&str, &str)], subject: &str) -> String {
        for (path, content) in files {
            self.env.write(&wt.join(path), content);
        }
        self.env.git(wt, &["add", "-A"]);
        self.env.git(wt, &["commit", "-q", "-m", subject]);
        self.env.rev(wt, "HEAD")
    }

    fn tip(&self, lane: &str) -> String {
        self.env
            .rev(&self.repo, &format!("refs/heads/wtc/{PLAN}/{lane}"))
    }

    /// The lane worktree is consistent: HEAD is the branch tip, `git status` as expected.
    fn assert_settled(&self, wt: &Path, lane: &str, status: &str, when: &str) {
        assert_eq!(
            self.env.rev(wt, "HEAD"),
            self.tip(lane),
            "{when}: {lane} HEAD"
        );
        assert_eq!(
            self.env.status(wt),
            status,
            "{when}: `git status` in {lane}"
        );
        assert!(
            !git_dir(&self.env, wt).join("MERGE_HEAD").exists(),
            "{when}: no merge may be left in progress in {lane}"
        );
    }
}

pub fn git_dir(env: &TestEnv, wt: &Path) -> PathBuf {
    PathBuf::from(env.git(wt, &["rev-parse", "--absolute-git-dir"]).trim())
}

/// A running `wtc --json ...` whose NDJSON events are collected as they arrive.
pub struct Streaming {
    child: Child,
    events: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    what: String,
}

impl Streaming {
    pub fn start(env: &TestEnv, dir: &Path, args: &[&str]) -> Streaming {
        let mut cmd = env.command(env!("CARGO_BIN_EXE_wtc"), dir);
        cmd.arg("--json")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start wtc");
        let events = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("piped");
        let sink = Arc::clone(&events);
        let r1 = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
                sink.lock().unwrap().push(v);
            }
        });
        let mut errpipe = child.stderr.take().expect("piped");
        let esink = Arc::clone(&err);
        let r2 = std::thread::spawn(move || {
            let mut buf = String::new();
            let _ = errpipe.read_to_string(&mut buf);
            esink.lock().unwrap().push_str(&buf);
        });
        Streaming {
            child,
            events,
            stderr: err,
            readers: vec![r1, r2],
            what: format!("wtc --json {}", args.join(" ")),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The events so far, each checked against docs/json.md.
    pub fn events(&self) -> Vec<Value> {
        let events = self.events.lock().unwrap().clone();
        for e in &events {
            crate::json_docs::check(e);
        }
        events
    }

    /// The first event (from index `from` on) matching `pred`; fails after [`DEADLINE`].
    pub fn wait_for(&mut self, from: usize, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            if let Some(v) = self.events().into_iter().skip(from).find(|v| pred(v)) {
                return v;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(50));
                panic!(
                    "{} exited ({status}) before {what}\nevents: {:#?}\nstderr: {}",
                    self.what,
                    self.events(),
                    self.stderr.lock().unwrap()
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{}: no {what} within {DEADLINE:?}\nevents: {:#?}",
                self.what,
                self.events()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn started(&mut self) -> Value {
        self.wait_for(0, "started event", |v| v["event"] == "started")
    }

    /// Send `sig` (`-INT`, `-TERM`) and wait for the exit: (code, events, stderr).
    pub fn stop(self, sig: &str) -> (i32, Vec<Value>, String) {
        signal(self.child.id(), sig);
        self.wait_exit()
    }

    /// Wait for the exit (a signal was sent already): (code, events, stderr).
    pub fn wait_exit(mut self) -> (i32, Vec<Value>, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("poll the child") {
                break st;
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("{} did not stop within {DEADLINE:?}", self.what);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        for r in self.readers.drain(..) {
            r.join().expect("reader thread");
        }
        let err = self.stderr.lock().unwrap().clone();
        (status.code().unwrap_or(-1), self.events(), err)
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig} {pid}");
}

/// Every `*.lock` file under `dir`.
pub fn locks(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(locks(&p));
        } else if p.extension().is_some_and(|e| e == "lock") {
            out.push(p);
        }
    }
    out
}

/// Poll until `path` holds exactly `content`; fails after [`DEADLINE`].
fn wait_for_file(env: &TestEnv, path: &Path, content: &str, when: &str) {
    let start = Instant::now();
    while std::fs::read_to_string(path).ok().as_deref() != Some(content) {
        assert!(
            start.elapsed() < DEADLINE,
            "{when}: {} did not get the expected content within {DEADLINE:?}",
            env.redact(&path.display().to_string())
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn replace_line(text: &str, needle: &str, line: &str) -> String {
    assert!(text.contains(needle), "{needle:?} in {text}");
    text.lines()
        .map(|l| if l.contains(needle) { line } else { l })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn is(v: &Value, event: &str, lane: &str) -> bool {
    v["event"] == event && v["lane"] == lane
}

/// Acceptance 1: plain commits in schema and in services appear in hooks' worktree with no
/// other command; uncommitted work in the way holds hooks back (bytes intact) until its agent
/// commits; a conflicting upstream change is held back, not merged over hooks' own work.
#[test]
fn watch_carries_plain_commits_into_hooks_and_holds_back_what_would_clobber() {
    let w = lanes();
    let env = &w.env;
    let mut watch = Streaming::start(env, &w.hooks, &["watch"]);
    let started = watch.started();
    assert_eq!(started["lanes"], serde_json::json!(["hooks"]), "{started}");
    assert_eq!(started["version"], 1, "{started}");

    // schema commits with plain git: the file appears in hooks, nobody runs a command.
    w.commit(&w.schema, &[(TYPES, TYPES_TS)], "Add marketing types");
    wait_for_file(env, &w.hooks.join(TYPES), TYPES_TS, "schema's commit");
    // services too (it never synced schema itself: hooks merges both).
    w.commit(
        &w.services,
        &[(SERVICE, SERVICE_TS)],
        "Add marketing service",
    );
    wait_for_file(env, &w.hooks.join(SERVICE), SERVICE_TS, "services' commit");
    let synced = watch.wait_for(0, "a synced event naming services", |v| {
        is(v, "synced", "hooks") && v["merged"].to_string().contains("services")
    });
    for key in ["result", "commit", "ms"] {
        assert!(!synced[key].is_null(), "synced event has {key}: {synced}");
    }
    wait_until(|| env.rev(&w.hooks, "HEAD") == w.tip("hooks"), "hooks HEAD");
    w.assert_settled(&w.hooks, "hooks", "", "after live syncs");
    assert_eq!(env.read(&w.hooks.join(TYPES)), TYPES_TS);

    // hooks' agent edits config.ts (uncommitted); services changes that file elsewhere: the
    // sync would write over the uncommitted edit, so hooks is held and its bytes stay.
    let config = env.read(&w.repo.join("src/config.ts"));
    let mine = replace_line(&config, "retries", "  retries: 5,");
    env.write(&w.hooks.join("src/config.ts"), &mine);
    let n = watch.events().len();
    let theirs = replace_line(&config, "owner", "  owner: \"growth\",");
    let services_tip = w.commit(&w.services, &[("src/config.ts", &theirs)], "Owner");
    let held = watch.wait_for(n, "hooks held for local changes", |v| {
        is(v, "held", "hooks")
    });
    assert_eq!(held["reason"], "local-changes", "{held}");
    assert_eq!(
        held["paths"],
        serde_json::json!(["src/config.ts"]),
        "{held}"
    );
    assert_eq!(
        env.read(&w.hooks.join("src/config.ts")),
        mine,
        "uncommitted bytes intact"
    );
    assert!(!env.is_ancestor(&w.repo, &services_tip, &w.tip("hooks")));
    w.assert_settled(&w.hooks, "hooks", " M src/config.ts\n", "while held");

    // Held means not retried while nothing changes; hooks' agent commits: it flows again.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        watch.events().len(),
        n + 1,
        "a held lane is not retried until it or its upstreams move: {:#?}",
        &watch.events()[n..]
    );
    env.git(&w.hooks, &["commit", "-q", "-am", "More retries"]);
    let both = replace_line(&theirs, "retries", "  retries: 5,");
    wait_for_file(
        env,
        &w.hooks.join("src/config.ts"),
        &both,
        "after hooks committed",
    );
    watch.wait_for(n, "hooks merged", |v| {
        is(v, "synced", "hooks") && v["result"] == "merged"
    });
    wait_until(
        || env.is_ancestor(&w.repo, &services_tip, &w.tip("hooks")),
        "hooks contains services",
    );
    w.assert_settled(&w.hooks, "hooks", "", "after the merge");

    // A real conflict: schema changes the line hooks committed. Held, nothing written.
    let hooks_tip = w.tip("hooks");
    let n = watch.events().len();
    let conflicting = replace_line(&config, "retries", "  retries: 9,");
    w.commit(
        &w.schema,
        &[("src/config.ts", &conflicting)],
        "Fewer retries",
    );
    let held = watch.wait_for(n, "hooks held for a conflict", |v| is(v, "held", "hooks"));
    assert_eq!(held["reason"], "conflict", "{held}");
    assert_eq!(
        held["paths"],
        serde_json::json!(["src/config.ts"]),
        "{held}"
    );
    assert!(
        held["message"].as_str().unwrap().contains("conflict"),
        "{held}"
    );
    assert_eq!(
        env.read(&w.hooks.join("src/config.ts")),
        both,
        "hooks' bytes intact"
    );
    assert_eq!(w.tip("hooks"), hooks_tip, "hooks did not move");
    w.assert_settled(&w.hooks, "hooks", "", "held on a conflict");

    let (code, events, err) = watch.stop("-INT");
    assert_eq!(code, 130, "{err}");
    let last = events.last().expect("events");
    assert_eq!(last["event"], "stopped", "{last}");
    assert_eq!(last["exit_code"], 130, "{last}");
    assert!(
        locks(&w.repo.join(".git")).is_empty(),
        "{:?}",
        locks(&w.repo.join(".git"))
    );
    env.assert_fsck(&w.repo);
}

/// `--all` from the main worktree: one process keeps every lane synced; a lane held on a
/// conflict does not stop the others.
#[test]
fn watch_all_keeps_other_lanes_flowing_while_one_is_held() {
    let w = lanes();
    let env = &w.env;
    let config = env.read(&w.repo.join("src/config.ts"));
    let mine = replace_line(&config, "region", "  region: \"us-east-1\",");
    let hooks_tip = w.commit(&w.hooks, &[("src/config.ts", &mine)], "Region for hooks");

    let mut watch = Streaming::start(env, &w.repo, &["watch", "--all"]);
    let started = watch.started();
    assert_eq!(
        started["lanes"],
        serde_json::json!(["hooks", "schema", "services"]),
        "{started}"
    );
    let theirs = replace_line(&config, "region", "  region: \"ap-south-1\",");
    w.commit(
        &w.schema,
        &[(TYPES, TYPES_TS), ("src/config.ts", &theirs)],
        "Types and region",
    );
    wait_for_file(
        env,
        &w.services.join(TYPES),
        TYPES_TS,
        "services gets schema",
    );
    let held = watch.wait_for(0, "hooks held", |v| is(v, "held", "hooks"));
    assert_eq!(held["reason"], "conflict", "{held}");

    // schema keeps going: services keeps getting it, hooks stays held and untouched.
    w.commit(&w.schema, &[("src/types/more.ts", "export {};\n")], "More");
    wait_for_file(
        env,
        &w.services.join("src/types/more.ts"),
        "export {};\n",
        "services again",
    );
    assert!(
        !w.hooks.join(TYPES).exists(),
        "nothing was merged into held hooks"
    );
    assert_eq!(env.read(&w.hooks.join("src/config.ts")), mine);
    assert_eq!(w.tip("hooks"), hooks_tip);
    w.assert_settled(&w.hooks, "hooks", "", "held");
    wait_until(
        || env.rev(&w.services, "HEAD") == w.tip("services"),
        "services HEAD",
    );
    w.assert_settled(&w.services, "services", "", "flowing");

    let (code, _, err) = watch.stop("-TERM");
    assert_eq!(code, 130, "{err}");
    assert!(locks(&w.repo.join(".git")).is_empty());
}

/// One watcher per lane: a second is refused with the owner's pid; a lock left by a dead
/// process is taken over; `--poll` works without file-system events.
#[test]
fn second_watch_is_refused_and_a_stale_lock_is_taken_over() {
    let w = lanes();
    let env = &w.env;
    let mut first = Streaming::start(env, &w.hooks, &["watch"]);
    first.started();
    let out = env.wtc(&w.hooks, &["watch"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    let msg = stderr(&out);
    assert!(
        msg.contains("already watched") && msg.contains(&first.pid().to_string()),
        "the refusal names the watcher's pid:\n{msg}"
    );
    let (c, doc) = env.wtc_json_code(&w.repo, &["watch", "--all"]);
    assert_eq!(c, 1, "{doc}");
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("hooks"),
        "{doc}"
    );
    let (c, _, err) = first.stop("-TERM");
    assert_eq!(c, 130, "{err}");

    // A crashed watcher's lock: its pid is gone, so the next watch takes over.
    let mut dead = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let dead_pid = dead.id();
    dead.wait().expect("wait");
    let lock = git_dir(env, &w.hooks).join("wtc-watch.lock");
    env.write(&lock, format!("{dead_pid}\n"));
    let mut second = Streaming::start(env, &w.hooks, &["watch", "--poll"]);
    let started = second.started();
    assert_eq!(started["mode"], "poll", "{started}");
    assert_eq!(env.read(&lock).trim(), second.pid().to_string());
    w.commit(&w.schema, &[(TYPES, TYPES_TS)], "Types");
    wait_for_file(env, &w.hooks.join(TYPES), TYPES_TS, "polling watch");
    let (c, _, err) = second.stop("-INT");
    assert_eq!(c, 130, "{err}");
    assert!(!lock.exists(), "the lock is removed on exit");
}

/// `--autosave IDLE`: a worktree quiet for IDLE is saved as a WIP commit.
#[test]
fn autosave_saves_a_quiet_worktree() {
    let w = lanes();
    let env = &w.env;
    let before = w.tip("hooks");
    let mut watch = Streaming::start(env, &w.hooks, &["watch", "--autosave", "200ms"]);
    assert_eq!(watch.started()["autosave_ms"], 200);
    env.write(&w.hooks.join("src/hooks/draft.ts"), "export {};\n");
    let saved = watch.wait_for(0, "autosaved", |v| is(v, "autosaved", "hooks"));
    assert_eq!(
        saved["paths"],
        serde_json::json!(["src/hooks/draft.ts"]),
        "{saved}"
    );
    let tip = w.tip("hooks");
    assert_ne!(tip, before);
    assert_eq!(saved["commit"], tip.as_str());
    let subject = env.git(&w.hooks, &["log", "-1", "--format=%s", &tip]);
    assert!(subject.starts_with("wip: hooks"), "{subject}");
    w.assert_settled(&w.hooks, "hooks", "", "after autosave");
    let (c, _, err) = watch.stop("-INT");
    assert_eq!(c, 130, "{err}");
}

/// Acceptance 3 (watch): SIGINT and SIGTERM while commits are streaming in: exit 130, no lock
/// anywhere under .git, hooks' worktree consistent (HEAD = branch tip, `git status` clean).
#[test]
fn watch_stops_cleanly_on_sigint_and_sigterm_mid_flight() {
    let w = lanes();
    let env = &w.env;
    for sig in ["-INT", "-TERM"] {
        let mut watch = Streaming::start(env, &w.hooks, &["watch"]);
        watch.started();
        let mut signalled = false;
        for i in 0..12 {
            w.commit(
                &w.schema,
                &[(
                    &format!("src/gen/{sig}-{i}.ts"),
                    &format!("export const n = {i};\n"),
                )],
                &format!("gen {i}"),
            );
            if i == 5 {
                signal(watch.pid(), sig);
                signalled = true;
            }
        }
        assert!(signalled);
        let (c, events, err) = watch.wait_exit();
        assert_eq!(c, 130, "{sig}: {err}");
        assert_eq!(events.last().unwrap()["event"], "stopped", "{sig}");
        let left = locks(&w.repo.join(".git"));
        assert!(left.is_empty(), "{sig}: locks left: {left:?}");
        w.assert_settled(&w.hooks, "hooks", "", sig);
        env.assert_fsck(&w.repo);
    }
}

fn wait_until(cond: impl Fn() -> bool, what: &str) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Remote mode: the upstream lane lives in another clone and publishes to the remote; the
/// watcher lists the remote's refs, fetches what moved, syncs, and publishes its own lane.
#[test]
fn watch_follows_a_lane_published_from_another_clone() {
    let env = TestEnv::new();
    let source = env.path("source");
    env.fixture("make_base.sh", &source);
    let bare = crate::servers::bare_remote(&env, &source, &env.path("srv"), "shop.git");
    let clone = |name: &str| crate::servers::clone_of(&env, bare.to_str().unwrap(), name, &[]);
    let lead = clone("lead");
    env.wtc_ok(&lead, &["init", PLAN, "--remote", "origin"]);
    env.wtc_ok(&lead, &["add", "schema", "--no-worktree"]);
    env.wtc_ok(
        &lead,
        &["add", "hooks", "--after", "schema", "--no-worktree"],
    );
    let schema = clone("schema");
    env.wtc_ok(&schema, &["join", PLAN, "schema"]);
    let hooks = clone("hooks");
    env.wtc_ok(&hooks, &["join", PLAN, "hooks"]);

    let mut watch = Streaming::start(&env, &hooks, &["watch", "--interval", "100ms"]);
    assert_eq!(watch.started()["remote"], "origin");
    env.write(&schema.join(TYPES), TYPES_TS);
    env.wtc_ok(&schema, &["save", "-m", "Add marketing types"]);
    wait_for_file(
        &env,
        &hooks.join(TYPES),
        TYPES_TS,
        "schema's save in another clone",
    );
    watch.wait_for(0, "hooks synced", |v| is(v, "synced", "hooks"));
    let published = format!("refs/wtc/{PLAN}/lanes/hooks");
    let local = env.rev(&hooks, &format!("refs/heads/wtc/{PLAN}/hooks"));
    wait_until(
        || env.git(&bare, &["rev-parse", &published]).trim() == local,
        "hooks' sync is published",
    );
    let (c, _, err) = watch.stop("-INT");
    assert_eq!(c, 130, "{err}");
    assert!(locks(&hooks.join(".git")).is_empty());
}

/// Regression (found while building `run`): a fast-forward sync makes a lane's tip its
/// upstream's handoff commit, trailer included. That is the upstream's handoff, not this
/// lane's: `status` must say "working" and `wait` must keep waiting.
#[test]
fn fast_forward_onto_a_handoff_does_not_hand_off_the_lane() {
    let w = lanes();
    let env = &w.env;
    env.write(&w.schema.join(TYPES), TYPES_TS);
    env.wtc_ok(&w.schema, &["done"]);
    let sync = env.wtc_json(&w.services, &["sync"]);
    assert_eq!(sync["result"], "fast-forward", "{sync}");
    assert_eq!(w.tip("services"), w.tip("schema"));
    let status = env.wtc_json(&w.repo, &["status"]);
    let state = |lane: &str| {
        status["lanes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == lane)
            .map(|l| l["state"].clone())
    };
    assert_eq!(state("schema"), Some("done".into()), "{status}");
    assert_eq!(state("services"), Some("working".into()), "{status}");
    let (c, doc) = env.wtc_json_code(&w.repo, &["wait", "services", "--timeout", "200ms"]);
    assert_eq!(c, 4, "services has not handed off: {doc}");
    env.wtc_ok(&w.services, &["done"]);
    env.wtc_ok(&w.repo, &["wait", "services", "--timeout", "1s"]);
}

/// Without --json: one human line per event on stderr, nothing on stdout.
#[test]
fn human_output_is_one_line_per_event() {
    let w = lanes();
    let env = &w.env;
    let child = env.wtc_spawn(&w.hooks, &["watch"]);
    let lock = git_dir(env, &w.hooks).join("wtc-watch.lock");
    wait_until(|| lock.exists(), "watch started");
    w.commit(&w.schema, &[(TYPES, TYPES_TS)], "Types");
    wait_for_file(env, &w.hooks.join(TYPES), TYPES_TS, "human watch");
    wait_until(
        || env.rev(&w.hooks, "HEAD") == w.tip("schema"),
        "hooks moved",
    );
    signal(child.id(), "-TERM");
    let out = env.finish(child, "wtc watch", DEADLINE);
    assert_eq!(code(&out), 130, "{}", env.describe(&out));
    assert!(out.stdout.is_empty(), "{}", env.describe(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "started, synced, stopped:\n{err}");
    assert!(
        lines[0].starts_with("watching plan 'marketing': hooks"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("hooks: fast-forward to include schema -> "),
        "{err}"
    );
    assert_eq!(lines[2], "stopped: interrupted", "{err}");
}

/// Issue "Agent-ready lanes", item 5: `watch --all` reports a pair of lanes the DAG does not
/// order the first time their changes conflict (the forecast of `wtc status`), once while it
/// keeps conflicting and again after it stopped; a pair whose edits of one file merge
/// cleanly is never reported. A pair that conflicts when a watch starts is reported at once.
#[test]
fn watch_all_reports_each_pair_of_lanes_once_when_it_starts_to_conflict() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", PLAN]);
    let left = env.add_lane(&repo, "left", &[]);
    let right = env.add_lane(&repo, "right", &[]);
    let calm = env.add_lane(&repo, "calm", &[]);
    // `tail` syncs from calm: its `synced` event marks the end of a round that saw every
    // commit made before calm's.
    env.add_lane(&repo, "tail", &["calm"]);
    let config = env.read(&repo.join("src/config.ts"));
    let commit = |wt: &Path, files: &[(&str, &str)], subject: &str| {
        for (path, content) in files {
            env.write(&wt.join(path), content);
        }
        env.git(wt, &["add", "-A"]);
        env.git(wt, &["commit", "-q", "-m", subject]);
    };
    let config_with = |needle: &str, line: &str| replace_line(&config, needle, line);
    let mut rounds = 0;
    let round_marker = |watch: &mut Streaming, n: &mut usize| {
        *n += 1;
        commit(&calm, &[("calm.txt", &format!("{n}\n"))], "calm again");
        let tip = env.rev(&calm, "HEAD");
        watch.wait_for(0, "tail synced", |v| {
            is(v, "synced", "tail") && v["commit"] == tip.as_str()
        });
    };

    let mut watch = Streaming::start(&env, &repo, &["watch", "--all"]);
    watch.started();
    // Same file, distant lines: an overlap that merges cleanly (status shows it), no event.
    commit(
        &calm,
        &[("src/config.ts", &config_with("owner", "  owner: \"calm\","))],
        "calm owner",
    );
    commit(
        &left,
        &[("src/config.ts", &config_with("retries", "  retries: 4,"))],
        "left retries",
    );
    round_marker(&mut watch, &mut rounds);
    let status = env.wtc_json(&repo, &["status"]);
    let clean: Vec<&Value> = status["overlaps"].as_array().unwrap().iter().collect();
    assert!(
        clean
            .iter()
            .any(|o| o["lanes"] == serde_json::json!(["calm", "left"]) && o["conflicts"] == false),
        "calm and left overlap cleanly: {status}"
    );
    let overlap_events = |events: &[Value]| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["event"] == "overlap")
            .cloned()
            .collect()
    };
    assert_eq!(overlap_events(&watch.events()), Vec::<Value>::new());

    // The same line, differently: reported once, with the path.
    commit(
        &right,
        &[("src/config.ts", &config_with("retries", "  retries: 5,"))],
        "right retries",
    );
    let first = watch.wait_for(0, "overlap", |v| v["event"] == "overlap");
    assert_eq!(
        first,
        serde_json::json!({"version": 1, "event": "overlap", "lanes": ["left", "right"],
            "paths": ["src/config.ts"], "conflicts": true})
    );
    // Both lanes move on, still conflicting: no new event.
    commit(&right, &[("right.txt", "r\n")], "right more");
    commit(&left, &[("left.txt", "l\n")], "left more");
    round_marker(&mut watch, &mut rounds);
    assert_eq!(
        overlap_events(&watch.events()).len(),
        1,
        "{:#?}",
        watch.events()
    );

    // right takes left's value (no conflict), then changes it again: reported again.
    commit(
        &right,
        &[("src/config.ts", &config_with("retries", "  retries: 4,"))],
        "right agrees",
    );
    round_marker(&mut watch, &mut rounds);
    assert_eq!(overlap_events(&watch.events()).len(), 1);
    let n = watch.events().len();
    commit(
        &right,
        &[("src/config.ts", &config_with("retries", "  retries: 6,"))],
        "right disagrees",
    );
    watch.wait_for(n, "overlap again", |v| v["event"] == "overlap");
    let (code, events, err) = watch.stop("-INT");
    assert_eq!(code, 130, "{err}");
    let overlaps = overlap_events(&events);
    assert_eq!(overlaps.len(), 2, "{overlaps:#?}");
    assert_eq!(overlaps[1], first, "the same pair and path");
    assert!(
        events.iter().all(|e| e["event"] != "held"),
        "no lane syncs from another: nothing held: {events:#?}"
    );

    // A new watch reports the pair that conflicts already, at start; human: one line.
    let log = env.path("watch.log");
    let mut cmd = env.command(env!("CARGO_BIN_EXE_wtc"), &repo);
    cmd.args(["watch", "--all"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = cmd.spawn().expect("start wtc watch");
    wait_until(
        || std::fs::read_to_string(&log).is_ok_and(|t| t.contains("overlap:")),
        "overlap line",
    );
    signal(child.id(), "-TERM");
    let status = child.wait().expect("wtc watch exits");
    assert_eq!(status.code(), Some(130));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1..],
        [
            "overlap: left and right both change src/config.ts: would conflict",
            "stopped: interrupted"
        ],
        "{text}"
    );
}
