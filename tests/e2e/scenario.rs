//! Acceptance 1 (issue 2): the reference scenario, end to end, on one clone.
//!
//! Three agents build a "marketing" feature: `schema` writes the type, `services` (after
//! schema) a service importing it, `hooks` (after services) a hook importing both. Each
//! agent works in its own linked worktree; `wait` + `sync` carry the upstream work across;
//! `squash` lands everything as ONE commit on `main`; `clean` removes the scaffolding.
//! The scenario runs twice: agents committing with `wtc save`, and with plain `git commit`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::env::{code, parse_worktrees, s, same_path, stdout, TestEnv};

const PLAN: &str = "marketing";

const TYPES: &str = "src/types/marketing.ts";
const SERVICE: &str = "src/services/marketing.ts";
const HOOK: &str = "src/hooks/useMarketingCampaign.ts";

const TYPES_V1: &str = "\
export interface MarketingCampaign {
  id: string;
  name: string;
  startsAt: Date;
}
";

/// schema's follow-up after services already handed off: hooks must still get it.
const TYPES_V2: &str = "\
export interface MarketingCampaign {
  id: string;
  name: string;
  startsAt: Date;
  budget: number;
}
";

const SERVICE_TS: &str = "\
import type { MarketingCampaign } from \"../types/marketing\";

export async function fetchCampaign(id: string): Promise<MarketingCampaign> {
  const res = await fetch(`/api/campaigns/${id}`);
  return (await res.json()) as MarketingCampaign;
}
";

const HOOK_TS: &str = "\
import { useEffect, useState } from \"react\";
import type { MarketingCampaign } from \"../types/marketing\";
import { fetchCampaign } from \"../services/marketing\";

export function useMarketingCampaign(id: string): MarketingCampaign | undefined {
  const [campaign, setCampaign] = useState<MarketingCampaign>();
  useEffect(() => {
    fetchCampaign(id).then(setCampaign);
  }, [id]);
  return campaign;
}
";

/// How the agents record their work.
#[derive(Clone, Copy, PartialEq)]
enum Agents {
    /// `wtc save` / `wtc done -m` on a dirty worktree.
    WtcSave,
    /// `git add -A && git commit`, then `wtc done` on a clean worktree.
    GitCommit,
}

#[test]
fn reference_scenario_with_wtc_save() {
    run_scenario(Agents::WtcSave);
}

#[test]
fn reference_scenario_with_plain_git_commit() {
    run_scenario(Agents::GitCommit);
}

struct World {
    env: TestEnv,
    repo: PathBuf,
    base: String,
    lanes: BTreeMap<&'static str, PathBuf>,
}

impl World {
    fn wt(&self, lane: &str) -> &Path {
        &self.lanes[lane]
    }

    fn branch_tip(&self, lane: &str) -> String {
        self.env
            .rev(&self.repo, &format!("refs/heads/wtc/{PLAN}/{lane}"))
    }

    /// `path` in `lane`'s worktree has exactly `content` (or is absent when `None`).
    fn assert_file(&self, lane: &str, path: &str, content: Option<&str>, when: &str) {
        let file = self.wt(lane).join(path);
        match content {
            Some(content) => {
                assert!(
                    file.exists(),
                    "{when}: {path} missing in the {lane} worktree"
                );
                assert_eq!(
                    self.env.read(&file),
                    content,
                    "{when}: {path} in the {lane} worktree"
                );
            }
            None => assert!(
                !file.exists(),
                "{when}: {path} must not exist yet in {lane}"
            ),
        }
    }

    /// One agent step: record the work in `lane` (as `agents` do) and hand off.
    fn work_and_done(&self, agents: Agents, lane: &str, subject: &str) -> String {
        let wt = self.wt(lane);
        match agents {
            Agents::WtcSave => {
                let done = self.env.wtc_json(wt, &["done", "-m", subject]);
                assert_eq!(done["lane"], lane, "done --json names the lane: {done}");
                assert!(
                    done["commit"].is_string(),
                    "done on a dirty worktree commits: {done}"
                );
            }
            Agents::GitCommit => {
                self.env.git(wt, &["add", "-A"]);
                self.env.git(wt, &["commit", "-q", "-m", subject]);
                let done = self.env.wtc_json(wt, &["done"]);
                assert!(
                    done["commit"].is_string(),
                    "done on a clean worktree still hands off: {done}"
                );
            }
        }
        self.env.assert_clean(wt, &format!("after {lane} is done"));
        let tip = self.branch_tip(lane);
        assert_eq!(
            self.env.rev(wt, "HEAD"),
            tip,
            "{lane}: HEAD is the lane branch tip"
        );
        let state = self.env.git(
            wt,
            &[
                "log",
                "-1",
                "--format=%(trailers:key=Wtc-State,valueonly)",
                &tip,
            ],
        );
        assert_eq!(
            state.trim(),
            "done",
            "{lane}'s tip carries `Wtc-State: done`"
        );
        tip
    }

    fn sync(&self, lane: &str) -> Value {
        let sync = self.env.wtc_json(self.wt(lane), &["sync"]);
        assert_eq!(sync["lane"], lane, "sync --json names the lane: {sync}");
        self.env
            .assert_clean(self.wt(lane), &format!("after sync in {lane}"));
        assert_eq!(
            self.env.rev(self.wt(lane), "HEAD"),
            self.branch_tip(lane),
            "{lane}: HEAD is the lane branch tip after sync"
        );
        sync
    }
}

fn run_scenario(agents: Agents) {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    let base_history: Vec<String> = env
        .git(&repo, &["rev-list", "main"])
        .lines()
        .map(str::to_string)
        .collect();

    // ---- init and add ------------------------------------------------------------------
    let init = env.wtc_json(&repo, &["init", PLAN]);
    assert_eq!(init["plan"], PLAN, "{init}");
    assert_eq!(
        init["target"], "main",
        "the target defaults to the current branch: {init}"
    );
    let base = env.rev(&repo, "main");
    assert_eq!(
        init["base"],
        base.as_str(),
        "the base is the target's tip: {init}"
    );
    assert!(
        env.rev_exists(&repo, &format!("refs/wtc/{PLAN}/plan")),
        "init creates the plan ref"
    );

    // The human form of `add` prints the worktree path, and only that, on stdout.
    let out = env.wtc(&repo, &["add", "schema"]);
    env.assert_code(&out, 0, "wtc add schema");
    let schema_wt = PathBuf::from(stdout(&out).trim());
    let expected = env.path(&format!("repo.wtc/{PLAN}/schema"));
    assert!(
        same_path(&schema_wt, &expected),
        "default worktree path: got {}, want [ROOT]/repo.wtc/{PLAN}/schema",
        env.redact(&schema_wt.display().to_string())
    );

    let services = env.wtc_json(&repo, &["add", "services", "--after", "schema"]);
    assert_eq!(services["lane"], "services", "{services}");
    assert_eq!(
        services["branch"],
        format!("wtc/{PLAN}/services"),
        "{services}"
    );
    let services_wt = PathBuf::from(s(&services["worktree"]));
    assert!(same_path(
        &services_wt,
        &env.path(&format!("repo.wtc/{PLAN}/services"))
    ));
    let hooks_wt = env.add_lane(&repo, "hooks", &["services"]);

    let mut lanes = BTreeMap::new();
    lanes.insert("schema", schema_wt);
    lanes.insert("services", services_wt);
    lanes.insert("hooks", hooks_wt);
    let w = World {
        env,
        repo,
        base,
        lanes,
    };
    let env = &w.env;

    // The plan lives in git: one commit per change (init + three adds).
    let plan_toml = env.git(
        &w.repo,
        &["show", &format!("refs/wtc/{PLAN}/plan:plan.toml")],
    );
    for lane in ["schema", "services", "hooks"] {
        assert!(
            plan_toml.contains(lane),
            "plan.toml lists {lane}:\n{plan_toml}"
        );
    }
    assert_eq!(
        env.git(
            &w.repo,
            &["rev-list", "--count", &format!("refs/wtc/{PLAN}/plan")]
        )
        .trim(),
        "4",
        "the plan ref has one commit per change (init + 3 adds)"
    );

    for (lane, wt) in &w.lanes {
        env.assert_clean(wt, &format!("fresh {lane} worktree"));
        assert_eq!(
            env.rev(wt, "HEAD"),
            w.base,
            "{lane} starts at the plan base"
        );
        assert_eq!(
            env.git(wt, &["symbolic-ref", "HEAD"]).trim(),
            format!("refs/heads/wtc/{PLAN}/{lane}"),
            "{lane}'s worktree has its scratch branch checked out"
        );
        assert_eq!(
            env.read(&wt.join("src/config.ts")),
            env.read(&w.repo.join("src/config.ts"))
        );
    }
    let status = env.wtc_json(&w.repo, &["status"]);
    assert_status(
        &w,
        &status,
        &[
            ("schema", &[]),
            ("services", &["schema"]),
            ("hooks", &["services"]),
        ],
    );
    assert_worktrees_agree(&w, &status);
    for cmd in [&["graph"][..], &["log"][..]] {
        let out = env.wtc_ok(&w.repo, cmd);
        assert!(
            out.contains("services"),
            "wtc {cmd:?} mentions the lanes:\n{out}"
        );
    }

    // ---- schema ----------------------------------------------------------------------
    env.write(&w.wt("schema").join(TYPES), TYPES_V1);
    if agents == Agents::WtcSave {
        let save = env.wtc_json(w.wt("schema"), &["save", "-m", "wip: types"]);
        assert_eq!(save["lane"], "schema", "{save}");
        let commit = s(&save["commit"]).to_string();
        env.assert_clean(w.wt("schema"), "after save");
        assert_eq!(w.branch_tip("schema"), commit, "save moves the lane branch");
        assert_eq!(
            env.git(&w.repo, &["show", &format!("{commit}:{TYPES}")]),
            TYPES_V1
        );
        let again = env.wtc_json(w.wt("schema"), &["save"]);
        assert!(
            again["commit"].is_null(),
            "nothing to save on a clean worktree: {again}"
        );
        assert_eq!(
            w.branch_tip("schema"),
            commit,
            "an empty save commits nothing"
        );
    }

    // hooks cannot have services yet: waiting times out with exit code 4.
    let out = env.wtc(w.wt("hooks"), &["wait", "services", "--timeout", "300ms"]);
    env.assert_code(
        &out,
        4,
        "wtc wait services --timeout 300ms (services not done)",
    );

    // services blocks on schema's handoff; schema hands off; the waiter returns.
    let waiter = env.wtc_spawn(w.wt("services"), &["wait", "schema", "--timeout", "30s"]);
    std::thread::sleep(Duration::from_millis(100));
    let schema_tip = w.work_and_done(agents, "schema", "Add MarketingCampaign type");
    let out = env.finish(waiter, "wtc wait schema", Duration::from_secs(30));
    env.assert_code(&out, 0, "wtc wait schema (while schema hands off)");
    let wait = env.wtc_json(w.wt("services"), &["wait", "schema", "--timeout", "1s"]);
    assert_eq!(wait["done"], serde_json::json!(["schema"]), "{wait}");
    assert_eq!(wait["pending"], serde_json::json!([]), "{wait}");

    // ---- services sees schema's file -------------------------------------------------------
    let sync = w.sync("services");
    assert_eq!(
        sync["result"], "fast-forward",
        "services had no work of its own: {sync}"
    );
    assert!(sync["autosaved"].is_null(), "nothing to autosave: {sync}");
    assert_eq!(
        w.branch_tip("services"),
        schema_tip,
        "fast-forward to schema's tip"
    );
    w.assert_file("services", TYPES, Some(TYPES_V1), "services after sync");
    w.assert_file("hooks", TYPES, None, "hooks before it syncs");

    env.write(&w.wt("services").join(SERVICE), SERVICE_TS);
    let services_tip = w.work_and_done(agents, "services", "Add marketing service");

    // ---- schema follows up after services handed off -------------------------------------
    env.write(&w.wt("schema").join(TYPES), TYPES_V2);
    let schema_tip2 = w.work_and_done(agents, "schema", "Add campaign budget");
    assert!(!env.is_ancestor(&w.repo, &schema_tip2, &services_tip));

    // ---- hooks sees both, including schema's follow-up (transitive upstreams) ------------
    env.wtc_ok(w.wt("hooks"), &["wait", "services", "--timeout", "10s"]);
    let sync = w.sync("hooks");
    assert_eq!(
        sync["result"], "merged",
        "two new upstream tips need one merge: {sync}"
    );
    let head = env.rev(w.wt("hooks"), "HEAD");
    assert!(
        env.is_ancestor(&w.repo, &services_tip, &head),
        "hooks contains services"
    );
    assert!(
        env.is_ancestor(&w.repo, &schema_tip2, &head),
        "hooks contains schema's follow-up"
    );
    w.assert_file("hooks", TYPES, Some(TYPES_V2), "hooks after sync");
    w.assert_file("hooks", SERVICE, Some(SERVICE_TS), "hooks after sync");
    let again = w.sync("hooks");
    assert_eq!(again["result"], "up-to-date", "{again}");
    assert_eq!(
        env.rev(w.wt("hooks"), "HEAD"),
        head,
        "an up-to-date sync commits nothing"
    );

    // services catches up with schema's follow-up and hands off again.
    let sync = w.sync("services");
    assert_eq!(
        sync["result"], "merged",
        "services has its own commits: {sync}"
    );
    w.assert_file(
        "services",
        TYPES,
        Some(TYPES_V2),
        "services after the second sync",
    );
    w.assert_file(
        "services",
        SERVICE,
        Some(SERVICE_TS),
        "services after the second sync",
    );
    let done = env.wtc_json(w.wt("services"), &["done"]);
    assert!(done["commit"].is_string(), "{done}");

    env.write(&w.wt("hooks").join(HOOK), HOOK_TS);
    w.work_and_done(agents, "hooks", "Add useMarketingCampaign hook");

    // ---- every lane done; git agrees with wtc --------------------------------------------
    let status = env.wtc_json(&w.repo, &["status"]);
    for lane in status["lanes"].as_array().expect("lanes array") {
        assert_eq!(lane["state"], "done", "every lane handed off: {status}");
    }
    assert_worktrees_agree(&w, &status);
    let tips: BTreeMap<String, String> = ["schema", "services", "hooks"]
        .iter()
        .map(|l| (l.to_string(), w.branch_tip(l)))
        .collect();

    // ---- squash --------------------------------------------------------------------------
    let old_main = env.rev(&w.repo, "main");
    let squash = match agents {
        Agents::WtcSave => env.wtc_json(&w.repo, &["squash", "-m", "Add marketing campaigns"]),
        Agents::GitCommit => env.wtc_json(&w.repo, &["squash"]),
    };
    let commit = s(&squash["commit"]).to_string();
    assert_eq!(squash["parent"], old_main.as_str(), "{squash}");
    assert_eq!(squash["target"], "main", "{squash}");
    let reported: BTreeMap<String, String> = squash["lanes"]
        .as_array()
        .expect("squash lanes")
        .iter()
        .map(|l| (s(&l["name"]).to_string(), s(&l["tip"]).to_string()))
        .collect();
    assert_eq!(reported, tips, "squash reports every lane with its tip");
    assert_eq!(
        env.rev(&w.repo, "main"),
        commit,
        "main moved to the integration commit"
    );
    assert_eq!(
        env.git(
            &w.repo,
            &["rev-list", "--count", &format!("{}..main", w.base)]
        )
        .trim(),
        "1",
        "exactly one new commit on main"
    );
    assert_eq!(
        env.git(&w.repo, &["rev-list", "--parents", "-n1", "main"])
            .split_whitespace()
            .count(),
        2,
        "the integration commit has exactly one parent (no lane history on main)"
    );
    let history: Vec<String> = env
        .git(&w.repo, &["rev-list", "main"])
        .lines()
        .map(str::to_string)
        .collect();
    let mut expected_history = vec![commit.clone()];
    expected_history.extend(base_history.iter().cloned());
    assert_eq!(
        history, expected_history,
        "main = the base commits + the integration commit"
    );

    // The final tree: base files + the three new ones, with their final contents.
    let files = env.git(&w.repo, &["ls-tree", "-r", "--name-only", "main"]);
    let mut expected_files: Vec<&str> = vec![
        ".gitignore",
        "README.md",
        "notes/other.txt",
        "package.json",
        "src/config.ts",
        "src/index.ts",
        TYPES,
        SERVICE,
        HOOK,
    ];
    expected_files.sort();
    assert_eq!(files.lines().collect::<Vec<_>>(), expected_files);
    for (path, content) in [(TYPES, TYPES_V2), (SERVICE, SERVICE_TS), (HOOK, HOOK_TS)] {
        assert_eq!(
            env.git(&w.repo, &["show", &format!("main:{path}")]),
            content,
            "main:{path}"
        );
        // The checked-out, clean target worktree follows.
        assert_eq!(
            env.read(&w.repo.join(path)),
            content,
            "{path} in the main worktree"
        );
    }
    env.assert_clean(&w.repo, "main worktree after squash");

    // The message: lanes and their tips as trailers; meaningful subjects when no -m.
    let message = env.git(&w.repo, &["log", "-1", "--format=%B", "main"]);
    let trailers = env.git(
        &w.repo,
        &[
            "log",
            "-1",
            "--format=%(trailers:key=Wtc-Lane,valueonly)",
            "main",
        ],
    );
    let trailers: BTreeMap<String, String> = trailers
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (lane, tip) = l.trim().split_once(' ').expect("`Wtc-Lane: <lane> <tip>`");
            (lane.to_string(), tip.to_string())
        })
        .collect();
    assert_eq!(
        trailers, tips,
        "Wtc-Lane trailers name every lane tip:\n{message}"
    );
    match agents {
        Agents::WtcSave => assert_eq!(
            message.lines().next(),
            Some("Add marketing campaigns"),
            "-m sets the subject:\n{message}"
        ),
        Agents::GitCommit => {
            for subject in [
                "Add MarketingCampaign type",
                "Add marketing service",
                "Add useMarketingCampaign hook",
            ] {
                // Once: an upstream lane's subjects belong to that lane only, even though
                // the downstream lanes contain its commits.
                assert_eq!(
                    message.matches(subject).count(),
                    1,
                    "the message lists `{subject}` once:\n{message}"
                );
            }
        }
    }
    env.assert_fsck(&w.repo);

    // ---- clean ---------------------------------------------------------------------------
    let keep = agents == Agents::GitCommit;
    if keep {
        env.wtc_ok(&w.repo, &["clean", "--keep-archive"]);
    } else {
        env.wtc_ok(&w.repo, &["clean"]);
    }
    for (lane, wt) in &w.lanes {
        assert!(!wt.exists(), "clean removes the {lane} worktree");
    }
    let worktrees = parse_worktrees(&env.git(&w.repo, &["worktree", "list", "--porcelain"]));
    assert_eq!(
        worktrees.len(),
        1,
        "only the main worktree is left: {worktrees:?}"
    );
    assert_eq!(
        env.git(
            &w.repo,
            &["for-each-ref", "--format=%(refname)", "refs/heads/wtc/"]
        ),
        "",
        "clean removes the lane branches"
    );
    let archive = env.git(
        &w.repo,
        &[
            "for-each-ref",
            "--format=%(objectname)",
            &format!("refs/wtc/archive/{PLAN}/"),
        ],
    );
    for (lane, tip) in &tips {
        assert_eq!(
            archive.contains(tip.as_str()),
            keep,
            "{lane}'s tip under refs/wtc/archive/{PLAN}/ only with --keep-archive:\n{archive}"
        );
    }
    assert_eq!(
        env.rev(&w.repo, "main"),
        commit,
        "clean leaves the target alone"
    );
    env.assert_clean(&w.repo, "main worktree after clean");
    env.assert_fsck(&w.repo);
}

/// `status --json` describes the plan and every lane as created.
fn assert_status(w: &World, status: &Value, lanes: &[(&str, &[&str])]) {
    assert_eq!(status["plan"], PLAN, "{status}");
    assert_eq!(status["target"], "main", "{status}");
    assert_eq!(status["base"], w.base.as_str(), "{status}");
    let got = status["lanes"].as_array().expect("status lanes");
    assert_eq!(got.len(), lanes.len(), "{status}");
    for (name, after) in lanes {
        let lane = got
            .iter()
            .find(|l| l["name"] == *name)
            .unwrap_or_else(|| panic!("status lists {name}: {status}"));
        assert_eq!(lane["after"], serde_json::json!(after), "{name}: {status}");
        assert!(
            s(&lane["branch"]).trim_start_matches("refs/heads/") == format!("wtc/{PLAN}/{name}"),
            "{name}'s branch: {status}"
        );
        assert_eq!(
            lane["tip"],
            w.base.as_str(),
            "{name} starts at the base: {status}"
        );
        assert_eq!(lane["state"], "working", "{name}: {status}");
        assert!(
            same_path(Path::new(s(&lane["worktree"])), w.wt(name)),
            "{name}: {status}"
        );
    }
}

/// Every lane worktree `status --json` reports is one `git worktree list` knows, with
/// the lane's branch checked out at the reported tip, and `git status` clean.
fn assert_worktrees_agree(w: &World, status: &Value) {
    let env = &w.env;
    let listed = parse_worktrees(&env.git(&w.repo, &["worktree", "list", "--porcelain"]));
    let lanes = status["lanes"].as_array().expect("status lanes");
    assert_eq!(
        listed.len(),
        lanes.len() + 1,
        "git lists main + one worktree per lane: {listed:?}"
    );
    for lane in lanes {
        let wt = Path::new(s(&lane["worktree"]));
        let entry = listed
            .iter()
            .find(|e| {
                e.iter()
                    .any(|(k, v)| k == "worktree" && same_path(Path::new(v), wt))
            })
            .unwrap_or_else(|| {
                panic!(
                    "git worktree list lacks {}: {listed:?}",
                    env.redact(&wt.display().to_string())
                )
            });
        let get = |key: &str| {
            entry
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let branch = format!(
            "refs/heads/{}",
            s(&lane["branch"]).trim_start_matches("refs/heads/")
        );
        assert_eq!(get("branch"), Some(branch.as_str()), "{entry:?}");
        assert_eq!(get("HEAD"), Some(s(&lane["tip"])), "{entry:?}");
        env.assert_clean(
            wt,
            &format!("lane {} (status says {})", lane["name"], lane["state"]),
        );
    }
}

/// `wtc rm` removes one lane: its worktree, its branch, its entry in the plan.
#[test]
fn rm_removes_a_lane() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", PLAN]);
    let keep = env.add_lane(&repo, "keep", &[]);
    let gone = env.add_lane(&repo, "gone", &[]);

    let out = env.wtc(&repo, &["rm", "gone"]);
    env.assert_code(&out, 0, "wtc rm gone");
    assert!(!gone.exists(), "rm removes the worktree");
    assert!(keep.exists(), "rm leaves other lanes alone");
    assert!(
        !env.rev_exists(&repo, &format!("refs/heads/wtc/{PLAN}/gone")),
        "rm removes the branch"
    );
    let status = env.wtc_json(&repo, &["status"]);
    let names: Vec<&str> = status["lanes"]
        .as_array()
        .expect("lanes")
        .iter()
        .map(|l| s(&l["name"]))
        .collect();
    assert_eq!(names, vec!["keep"], "{status}");
    let worktrees = parse_worktrees(&env.git(&repo, &["worktree", "list", "--porcelain"]));
    assert_eq!(worktrees.len(), 2, "{worktrees:?}");
    assert_ne!(
        code(&env.wtc(&repo, &["rm", "gone"])),
        0,
        "a removed lane is unknown"
    );
}

/// `wtc squash --unfinished` integrates lanes that never handed off; `--verify` runs
/// in a worktree of the result and blocks the squash when it fails.
#[test]
fn squash_unfinished_and_verify() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", PLAN]);
    let a = env.add_lane(&repo, "a", &[]);
    env.write(&a.join("lane-a.txt"), "from a\n");
    env.wtc_json(&a, &["save"]);
    let before = env.snapshot(&repo);

    let out = env.wtc(&repo, &["squash"]);
    env.assert_code(&out, 1, "wtc squash while a is still working");
    assert!(
        crate::env::stderr(&out).contains('a'),
        "the refusal lists the lane"
    );
    assert_eq!(
        env.snapshot(&repo),
        before,
        "a refused squash changes nothing"
    );

    let out = env.wtc(
        &repo,
        &["squash", "--unfinished", "--verify", "test ! -e lane-a.txt"],
    );
    env.assert_code(&out, 5, "wtc squash --verify <failing command>");
    assert_eq!(
        env.snapshot(&repo),
        before,
        "a failed --verify writes nothing"
    );
    env.assert_clean(&repo, "main worktree after a failed --verify");

    let old_main = env.rev(&repo, "main");
    let squash = env.wtc_json(
        &repo,
        &["squash", "--unfinished", "--verify", "test -f lane-a.txt"],
    );
    assert_eq!(squash["parent"], old_main.as_str(), "{squash}");
    assert_eq!(env.git(&repo, &["show", "main:lane-a.txt"]), "from a\n");
    assert_eq!(env.read(&repo.join("lane-a.txt")), "from a\n");
    env.assert_fsck(&repo);
}

/// `--path` puts the worktree where asked; `--no-worktree` creates only the branch.
#[test]
fn add_with_path_and_without_worktree() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", PLAN]);
    let custom = env.path("elsewhere/x");
    let add = env.wtc_json(
        &repo,
        &["add", "x", "--path", custom.to_str().expect("UTF-8")],
    );
    assert!(same_path(Path::new(s(&add["worktree"])), &custom), "{add}");
    assert_eq!(
        env.git(&custom, &["symbolic-ref", "HEAD"]).trim(),
        format!("refs/heads/wtc/{PLAN}/x")
    );
    env.write(&custom.join("x.txt"), "x\n");
    env.wtc_json(&custom, &["done"]);

    let add = env.wtc_json(&repo, &["add", "y", "--no-worktree", "--after", "x"]);
    assert!(add["worktree"].is_null(), "{add}");
    assert_eq!(
        env.rev(&repo, &format!("wtc/{PLAN}/y")),
        env.rev(&repo, "main")
    );
    assert!(!env.path(&format!("repo.wtc/{PLAN}/y")).exists());
    let worktrees = parse_worktrees(&env.git(&repo, &["worktree", "list", "--porcelain"]));
    assert_eq!(worktrees.len(), 2, "main + x: {worktrees:?}");

    // An agent checks y out itself, with plain git, and wtc recognises the lane.
    let y = env.path("own/y");
    env.git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            y.to_str().expect("UTF-8"),
            &format!("wtc/{PLAN}/y"),
        ],
    );
    let sync = env.wtc_json(&y, &["sync"]);
    assert_eq!(sync["lane"], "y", "{sync}");
    assert_eq!(env.read(&y.join("x.txt")), "x\n");
}

/// A handoff made with plain git (`--trailer "Wtc-State: done"`) is a handoff.
#[test]
fn handoff_made_with_plain_git_counts() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", PLAN]);
    let a = env.add_lane(&repo, "a", &[]);
    env.write(&a.join("a.txt"), "a\n");
    env.git(&a, &["add", "-A"]);
    env.git(
        &a,
        &[
            "commit",
            "-q",
            "-m",
            "a: work",
            "--trailer",
            "Wtc-State: done",
        ],
    );
    let wait = env.wtc_json(&repo, &["wait", "a", "--timeout", "2s"]);
    assert_eq!(wait["done"], serde_json::json!(["a"]), "{wait}");
    // And a later commit without the trailer means working again.
    env.write(&a.join("a.txt"), "a again\n");
    env.git(&a, &["commit", "-q", "-a", "-m", "a: more"]);
    let out = env.wtc(&repo, &["wait", "a", "--timeout", "200ms"]);
    env.assert_code(&out, 4, "wtc wait a (a is working again)");
}

/// squash moves the target wherever it is checked out: the main worktree on another
/// branch stays as it is; a linked worktree that has the target is updated.
#[test]
fn squash_updates_the_worktree_that_has_the_target() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", PLAN]);
    let a = env.add_lane(&repo, "a", &[]);
    env.write(&a.join("a.txt"), "from a\n");
    env.wtc_json(&a, &["done"]);
    env.git(&repo, &["switch", "-q", "-c", "elsewhere"]);
    let main_wt = env.path("main-wt");
    env.git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            main_wt.to_str().expect("UTF-8"),
            "main",
        ],
    );

    let squash = env.wtc_json(&repo, &["squash"]);
    let commit = s(&squash["commit"]).to_string();
    assert_eq!(env.rev(&repo, "main"), commit);
    assert_eq!(
        env.git(&repo, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/elsewhere"
    );
    assert!(
        !repo.join("a.txt").exists(),
        "the main worktree is on another branch"
    );
    env.assert_clean(&repo, "main worktree (on `elsewhere`)");
    assert_eq!(
        env.read(&main_wt.join("a.txt")),
        "from a\n",
        "the target's worktree follows"
    );
    env.assert_clean(&main_wt, "the linked worktree that has main");
}

/// README's main job: `wtc demo` plays the scenario on a throwaway repository and ends with
/// ONE new commit on main.
#[test]
fn demo_runs_and_lands_one_commit() {
    let env = TestEnv::new();
    let doc = env.wtc_json(env.root(), &["demo"]);
    assert_eq!(doc["new_commits_on_main"], 1, "{doc}");
    let log = doc["log"].as_array().expect("log lines");
    assert_eq!(log.len(), 2, "base + one integration commit: {doc}");
    assert!(
        log[0]
            .as_str()
            .expect("line")
            .contains("integrate schema, services, hooks"),
        "{doc}"
    );
}
