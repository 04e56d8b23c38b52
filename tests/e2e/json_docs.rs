//! `docs/json.md` is the contract of `--json`: every document and watch event the suite sees
//! is checked against its field list there ([`check`], called by the shared helpers that
//! parse wtc's JSON), both ways: a described field missing or of another type, or a field
//! printed but not described, fails the test that produced it. The tests here make sure every
//! command and event is described and seen at least once.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use std::path::PathBuf;

use serde_json::Value;

use crate::env::{s, TestEnv};

/// One described field: its path (`a`, `a.b`, `a[].b`), whether it may be absent, its types.
#[derive(Debug)]
struct Field {
    path: String,
    optional: bool,
    types: Vec<String>,
}

fn schemas() -> &'static BTreeMap<String, Vec<Field>> {
    static SCHEMAS: OnceLock<BTreeMap<String, Vec<Field>>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md"))
            .expect("docs/json.md");
        let mut out = BTreeMap::new();
        let mut current: Option<(String, Vec<Field>)> = None;
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("```fields ") {
                current = Some((name.trim().to_string(), Vec::new()));
            } else if line.starts_with("```") {
                if let Some((name, fields)) = current.take() {
                    assert!(out.insert(name.clone(), fields).is_none(), "{name} twice");
                }
            } else if let Some((_, fields)) = current.as_mut() {
                let (name, types) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad field line {line:?}"));
                let (path, optional) = match name.trim().strip_suffix('?') {
                    Some(p) => (p.to_string(), true),
                    None => (name.trim().to_string(), false),
                };
                fields.push(Field {
                    path,
                    optional,
                    types: types.trim().split('|').map(str::to_string).collect(),
                });
            }
        }
        out
    })
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Which description `doc` answers to.
pub fn kind_of(doc: &Value) -> String {
    if doc.get("error").is_some() {
        "error".into()
    } else if let Some(e) = doc.get("event").and_then(Value::as_str) {
        format!("event:{e}")
    } else {
        s(&doc["command"]).to_string()
    }
}

/// Check `obj` (at `prefix`: "" for the document, "a." or "a[]." inside) against `fields`.
fn check_object(
    kind: &str,
    obj: &serde_json::Map<String, Value>,
    prefix: &str,
    fields: &[Field],
    doc: &Value,
) {
    let here: Vec<&Field> = fields
        .iter()
        .filter(|f| {
            f.path
                .strip_prefix(prefix)
                .is_some_and(|rest| !rest.contains('.') && !rest.contains("[]"))
        })
        .collect();
    for key in obj.keys() {
        assert!(
            here.iter().any(|f| f.path[prefix.len()..] == *key),
            "docs/json.md does not describe `{prefix}{key}` of `{kind}` documents: {doc}"
        );
    }
    for f in here {
        let key = &f.path[prefix.len()..];
        match obj.get(key) {
            None => assert!(
                f.optional,
                "`{kind}` document lacks `{}` (docs/json.md): {doc}",
                f.path
            ),
            Some(v) => {
                let t = type_of(v);
                assert!(
                    f.types.iter().any(|x| x == t),
                    "`{}` of `{kind}` is {t}, docs/json.md says {}: {doc}",
                    f.path,
                    f.types.join("|")
                );
                let nested_obj = format!("{}.", f.path);
                let nested_arr = format!("{}[].", f.path);
                match v {
                    Value::Object(o) if fields.iter().any(|g| g.path.starts_with(&nested_obj)) => {
                        check_object(kind, o, &nested_obj, fields, doc)
                    }
                    Value::Array(items)
                        if fields.iter().any(|g| g.path.starts_with(&nested_arr)) =>
                    {
                        for item in items {
                            let o = item.as_object().unwrap_or_else(|| {
                                panic!("`{}` of `{kind}` holds a non-object: {doc}", f.path)
                            });
                            check_object(kind, o, &nested_arr, fields, doc);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Fail unless `doc` is what docs/json.md describes for its kind.
#[track_caller]
pub fn check(doc: &Value) {
    let kind = kind_of(doc);
    let fields = schemas()
        .get(&kind)
        .unwrap_or_else(|| panic!("docs/json.md describes no `{kind}` document: {doc}"));
    let obj = doc
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {doc}"));
    assert_eq!(doc["version"], 1, "every document carries version 1: {doc}");
    check_object(&kind, obj, "", fields, doc);
}

#[test]
fn every_command_and_watch_event_is_described() {
    let described = schemas();
    let mut commands: Vec<String> = <wtc::cli::Cli as clap::CommandFactory>::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        // These print a script or a man page, never JSON.
        .filter(|n| n != "completions" && n != "man")
        .collect();
    // `watch` prints events, described one by one.
    commands.retain(|c| c != "watch");
    for c in &commands {
        assert!(described.contains_key(c), "docs/json.md lacks `{c}`");
    }
    for e in [
        "started",
        "watching",
        "unwatched",
        "synced",
        "held",
        "autosaved",
        "overlap",
        "remote-error",
        "stopped",
    ] {
        assert!(
            described.contains_key(&format!("event:{e}")),
            "docs/json.md lacks event {e}"
        );
    }
    assert!(described.contains_key("error"));
}

/// One run through the commands a session uses: each document checked (by the helpers).
#[test]
fn a_session_prints_documented_json() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let up = env.add_lane(&repo, "up", &[]);
    let down = env.add_lane(&repo, "down", &["up"]);
    env.wtc_json(&repo, &["add", "side", "--no-worktree"]);
    env.write(&up.join("u.txt"), "u\n");
    env.wtc_json(&up, &["save", "-m", "u"]);
    env.wtc_json(&up, &["done"]);
    env.wtc_json(&down, &["wait"]);
    env.wtc_json(&down, &["sync"]);
    for args in [
        &["status"][..],
        &["graph"],
        &["log"],
        &["squash", "--dry-run", "--unfinished"],
    ] {
        env.wtc_json(&repo, args);
    }
    let (code, err) = env.wtc_json_code(&repo, &["rm", "nope"]);
    assert_eq!((code, kind_of(&err)), (1, "error".to_string()));
    let (code, _) = env.wtc_json_code(&repo, &["squash", "--bogus"]);
    assert_eq!(code, 2);
    env.wtc_json(&repo, &["rm", "side"]);
    env.wtc_json(&repo, &["squash", "--unfinished"]);
    env.wtc_json(&repo, &["clean"]);
}

/// The documents and events the session above does not make: `join`, `run`, `demo`, and a
/// watch that sees every event kind (each checked as it is read).
#[test]
fn run_join_demo_and_every_watch_event_print_documented_json() {
    use crate::watch::Streaming;
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    // run: two lanes whose commands each write a file.
    let file = env.path("run.toml");
    env.write(
        &file,
        "plan = \"r\"\n[[lane]]\nname = \"a\"\nrun = \"echo a > a.txt\"\n[[lane]]\nname = \"b\"\nafter = [\"a\"]\nrun = \"echo b > b.txt\"\n",
    );
    let ran = env.wtc_json(&repo, &["run", file.to_str().unwrap(), "--no-squash"]);
    assert_eq!(ran["lanes"].as_array().map(Vec::len), Some(2), "{ran}");

    // join: another clone through a bare remote.
    let servers = env.path("srv");
    let bare = crate::servers::bare_remote(&env, &repo, &servers, "shop.git");
    env.git(&repo, &["remote", "add", "origin", bare.to_str().unwrap()]);
    env.wtc_json(&repo, &["init", "q", "--remote", "origin"]);
    let clone = env.path("clone");
    env.git(
        env.root(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    env.wtc_json(&clone, &["join", "q"]);

    // watch --all on plan p: started, watching, synced, held, autosaved, unwatched, stopped.
    env.wtc_json(&repo, &["init", "p"]);
    let up = PathBuf::from(s(
        &env.wtc_json(&repo, &["--plan", "p", "add", "up"])["worktree"]
    ));
    let down =
        PathBuf::from(s(&env
            .wtc_json(&repo, &["--plan", "p", "add", "down", "--after", "up"])
            ["worktree"]));
    let mut w = Streaming::start(
        &env,
        &repo,
        &["--plan", "p", "watch", "--all", "--autosave", "300ms"],
    );
    w.started();
    let other = PathBuf::from(s(
        &env.wtc_json(&repo, &["--plan", "p", "add", "other"])["worktree"]
    ));
    w.wait_for(0, "watching", |v| {
        v["event"] == "watching" && v["lane"] == "other"
    });
    env.write(&up.join("shared.txt"), "from up\n");
    env.git(&up, &["add", "-A"]);
    env.git(&up, &["commit", "-qm", "up"]);
    w.wait_for(0, "synced", |v| {
        v["event"] == "synced" && v["lane"] == "down"
    });
    env.write(&down.join("mine.txt"), "mine\n");
    w.wait_for(0, "autosaved", |v| {
        v["event"] == "autosaved" && v["lane"] == "down"
    });
    env.write(&up.join("shared.txt"), "up again\n");
    env.write(&down.join("shared.txt"), "down's\n");
    env.git(&down, &["commit", "-qam", "down"]);
    env.git(&up, &["commit", "-qam", "up again"]);
    w.wait_for(0, "held", |v| v["event"] == "held" && v["lane"] == "down");
    env.wtc_json(&repo, &["--plan", "p", "rm", "other"]);
    w.wait_for(0, "unwatched", |v| {
        v["event"] == "unwatched" && v["lane"] == "other"
    });
    let (_, events, _) = w.stop("-INT");
    assert_eq!(
        events.last().map(|e| e["event"].clone()),
        Some("stopped".into())
    );
    drop(other);

    // remote-error: a plan in remote mode whose remote is gone.
    let clone_lane = PathBuf::from(s(
        &env.wtc_json(&repo, &["--plan", "q", "add", "w"])["worktree"]
    ));
    let mut w = Streaming::start(&env, &clone_lane, &["watch"]);
    w.started();
    std::fs::rename(&bare, servers.join("gone.git")).unwrap();
    w.wait_for(0, "remote-error", |v| v["event"] == "remote-error");
    w.stop("-INT");

    // demo: the whole reference scenario.
    let demo = env.wtc_json(env.root(), &["demo"]);
    assert_eq!(demo["new_commits_on_main"], 1, "{demo}");
}
