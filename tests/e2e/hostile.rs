//! Hostile input (invariants 4 and 6): trees and plans a broken or malicious clone could
//! publish, from an upstream lane or through a remote.
//!
//! Trees are crafted below git's own checks (`git hash-object -t tree --literally`, a
//! hand-made loose object, `git fast-import` for a 10,000-level path): `..`, absolute paths,
//! every spelling of `.git` git knows to be dangerous on some file system, a symlink with a
//! path under it, file/directory clashes, a blob whose header claims 2 GiB, invalid UTF-8.
//! `sync` (and `squash`) must refuse or handle each without writing anything outside the
//! worktree (a sentinel directory and the rest of the test root are compared), without a
//! panic, and a refusal must leave the worktree as it was. A corrupted `plan.toml` in the
//! plan ref must make every command that reads it fail clearly, and nothing in it is ever
//! executed (`pwned` never appears).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::crash::walk_files;
use crate::env::{code, crashed, stderr, TestEnv};
use crate::servers::bare_remote;

struct Lanes {
    env: TestEnv,
    repo: PathBuf,
    down: PathBuf,
    sentinel: PathBuf,
}

fn setup() -> Lanes {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    env.add_lane(&repo, "up", &[]);
    let down = env.add_lane(&repo, "down", &["up"]);
    let sentinel = env.path("sentinel");
    env.write(&sentinel.join("keep.txt"), "sentinel\n");
    Lanes {
        env,
        repo,
        down,
        sentinel,
    }
}

/// `git hash-object -w` of `content`.
fn blob(env: &TestEnv, repo: &Path, content: &[u8]) -> String {
    env.git_stdin(repo, &["hash-object", "-w", "--stdin"], content)
        .trim()
        .to_string()
}

/// A tree object written byte for byte, with no checks at all (names may hold `/`, repeat,
/// or be empty).
fn raw_tree(env: &TestEnv, repo: &Path, entries: &[(&str, Vec<u8>, String)]) -> String {
    let mut raw = Vec::new();
    for (mode, name, id) in entries {
        raw.extend_from_slice(mode.as_bytes());
        raw.push(b' ');
        raw.extend_from_slice(name);
        raw.push(0);
        for i in (0..40).step_by(2) {
            raw.push(u8::from_str_radix(&id[i..i + 2], 16).expect("hex id"));
        }
    }
    env.git_stdin(
        repo,
        &["hash-object", "-t", "tree", "--literally", "-w", "--stdin"],
        &raw,
    )
    .trim()
    .to_string()
}

/// The entries of `rev`'s root tree, for [`raw_tree`].
fn root_entries(env: &TestEnv, repo: &Path, rev: &str) -> Vec<(&'static str, Vec<u8>, String)> {
    env.git(repo, &["ls-tree", "-z", rev])
        .split('\0')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (meta, name) = line.split_once('\t').expect("ls-tree line");
            let mut meta = meta.split(' ');
            let mode = match meta.next().expect("mode") {
                "040000" => "40000",
                "100755" => "100755",
                "120000" => "120000",
                _ => "100644",
            };
            let id = meta.nth(1).expect("id").to_string();
            (mode, name.as_bytes().to_vec(), id)
        })
        .collect()
}

/// A directory `name` holding one file `file`.
fn dir_with(
    env: &TestEnv,
    repo: &Path,
    name: &[u8],
    file: &[u8],
    content: &[u8],
) -> (&'static str, Vec<u8>, String) {
    let b = blob(env, repo, content);
    let t = raw_tree(env, repo, &[("100644", file.to_vec(), b)]);
    ("40000", name.to_vec(), t)
}

/// Put a commit with `tree` (and the handoff trailer) on top of lane `up`.
fn publish(env: &TestEnv, repo: &Path, tree: &str) {
    let old = env.rev(repo, "refs/heads/wtc/p/up");
    let commit = env.git(
        repo,
        &[
            "commit-tree",
            tree,
            "-p",
            &old,
            "-m",
            "hostile\n\nWtc-State: done",
        ],
    );
    env.git(
        repo,
        &["update-ref", "refs/heads/wtc/p/up", commit.trim(), &old],
    );
}

/// up's clean tree plus `extra` entries, in git's tree order (names compared as if a
/// directory's had a trailing `/`): the hostile part is the names, not the order. (An
/// unsorted tree confuses git itself: after `git read-tree HEAD` of one, `git status`
/// reports entries as added that HEAD has.)
fn with_extra(l: &Lanes, extra: Vec<(&'static str, Vec<u8>, String)>) -> String {
    let mut entries = root_entries(&l.env, &l.repo, "refs/heads/wtc/p/up");
    entries.extend(extra);
    entries.sort_by_key(|(mode, name, _)| {
        let mut key = name.clone();
        if *mode == "40000" {
            key.push(b'/');
        }
        key
    });
    raw_tree(&l.env, &l.repo, &entries)
}

/// Everything under the test root that no wtc command may create or change: all but the
/// git dir's own bookkeeping (objects, refs, logs, index, locks, merge state), `tmp`, and
/// the files of the worktree being updated (`dir`, whose `.git` stays included).
fn outside_state(l: &Lanes, dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let root = l.env.root();
    let mut out = BTreeMap::new();
    for p in walk_files(root) {
        let rel = p
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bookkeeping = rel.starts_with("repo/.git/objects/")
            || rel.starts_with("repo/.git/refs/")
            || rel.starts_with("repo/.git/logs/")
            || rel.contains("/logs/")
            || rel.starts_with("tmp/")
            || name == "index"
            || name == "index.wtc-old"
            || name == "ORIG_HEAD"
            || name.ends_with(".lock")
            || name.starts_with("MERGE_")
            || name.starts_with("wtc-update");
        let in_worktree = p.starts_with(dir) && !p.starts_with(dir.join(".git"));
        if !bookkeeping && !in_worktree {
            out.insert(rel, std::fs::read(&p).ok());
        }
    }
    out
}

/// Run `args` in `dir` against a hostile tree: no crash, nothing outside the worktrees
/// written; a refusal leaves `down` exactly as it was. Returns whether it refused.
fn check(l: &Lanes, case: &str, dir: &Path, args: &[&str], must_refuse: bool) -> bool {
    let env = &l.env;
    let outside = outside_state(l, dir);
    let down_files = worktree_listing(&l.down);
    let head = env.rev(&l.down, "HEAD");
    let out = env.wtc(dir, args);
    let what = format!("{case}: wtc {}", args.join(" "));
    assert!(!crashed(&out), "{what} crashed\n{}", env.describe(&out));
    assert_eq!(
        l.env.read(&l.sentinel.join("keep.txt")),
        "sentinel\n",
        "{what}: the sentinel changed"
    );
    let after = outside_state(l, dir);
    for (path, content) in &after {
        assert_eq!(
            outside.get(path),
            Some(content),
            "{what}: wrote {path} outside the worktree\n{}",
            env.describe(&out)
        );
    }
    let refused = code(&out) != 0;
    if must_refuse {
        assert!(refused, "{what} must be refused\n{}", env.describe(&out));
    }
    if refused {
        assert!(
            stderr(&out).contains("error:") && stderr(&out).len() < 4000,
            "{what}: the refusal must be short and clear\n{}",
            env.describe(&out)
        );
        assert_eq!(env.rev(&l.down, "HEAD"), head, "{what}: HEAD moved");
        assert!(
            worktree_listing(&l.down) == down_files,
            "{what}: a refusal changed the worktree (files or directories)"
        );
        env.assert_clean(&l.down, &what);
    } else {
        env.assert_clean(dir, &what);
    }
    refused
}

/// One hostile tree published on `up`: `sync` in down and `squash --unfinished` in main.
fn hostile_tree(case: &str, must_refuse: bool, make: impl Fn(&Lanes) -> String) -> usize {
    hostile_tree_with(case, must_refuse, &[], make)
}

/// [`hostile_tree`] with git config `settings` in the repository.
fn hostile_tree_with(
    case: &str,
    must_refuse: bool,
    settings: &[(&str, &str)],
    make: impl Fn(&Lanes) -> String,
) -> usize {
    let l = setup();
    for (key, value) in settings {
        l.env.git(&l.repo, &["config", key, value]);
    }
    let tree = make(&l);
    publish(&l.env, &l.repo, &tree);
    let mut refused = 0;
    if check(&l, case, &l.down.clone(), &["sync"], must_refuse) {
        refused += 1;
    }
    let main_before = l.env.rev(&l.repo, "main");
    if check(
        &l,
        case,
        &l.repo.clone(),
        &["squash", "--unfinished"],
        must_refuse,
    ) {
        refused += 1;
        assert_eq!(
            l.env.rev(&l.repo, "main"),
            main_before,
            "{case}: main moved"
        );
    }
    refused
}

/// The bytes of a zlib stream holding `data` in stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let chunks: Vec<&[u8]> = data.chunks(65535).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in data {
        a = (a + u32::from(*byte)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

#[test]
fn hostile_trees_are_refused_or_handled_safely() {
    let mut refused = 0;
    let mut cases = 0;
    // Runs that are safe either way (git on Linux checks these names out): they must write
    // nothing outside, but need not be refused.
    let mut optional = 0;
    let hook = b"#!/bin/sh\ntouch pwned\n";
    let git_aliases: &[&[u8]] = &[
        b".git",
        b".GIT",
        b".Git",
        b".git.",
        b".git ",
        b"git~1",
        b"GIT~1",
        b".git::$INDEX_ALLOCATION",
        b".git::$index_allocation",
        ".g\u{200c}it".as_bytes(),
        ".gi\u{200d}t".as_bytes(),
        ".git\u{feff}".as_bytes(),
    ];
    for name in git_aliases {
        let case = format!(
            "a `{}` directory",
            String::from_utf8_lossy(name).escape_debug()
        );
        // The HFS+ spellings are `.git` only on macOS: refused where core.protectHFS is on
        // (checked below), ordinary names on Linux by default, as for git itself.
        let hfs_only = !name.is_ascii();
        let settings: &[(&str, &str)] = if hfs_only {
            &[("core.protectHFS", "true")]
        } else {
            &[]
        };
        refused += hostile_tree_with(&case, true, settings, |l| {
            let d = dir_with(
                &l.env,
                &l.repo,
                name,
                b"config",
                b"[core]\n\tfsmonitor = touch pwned\n",
            );
            let hooks = dir_with(&l.env, &l.repo, b"hooks", b"post-checkout", hook);
            let nested = raw_tree(&l.env, &l.repo, &[hooks]);
            with_extra(
                l,
                vec![
                    d,
                    (
                        "40000",
                        b"sub".to_vec(),
                        raw_tree(&l.env, &l.repo, &[("40000", name.to_vec(), nested)]),
                    ),
                ],
            )
        });
        cases += 2;
    }
    let cases_with_slashes: Vec<(String, Vec<u8>)> = vec![
        ("`..` as a directory".into(), b"..".to_vec()),
        ("`.` as a directory".into(), b".".to_vec()),
        ("a `../escaped` name".into(), b"../escaped.txt".to_vec()),
        (
            "an absolute name".into(),
            format!("{}/abs.txt", std::env::temp_dir().display()).into_bytes(),
        ),
        ("an empty name".into(), Vec::new()),
    ];
    for (case, name) in &cases_with_slashes {
        refused += hostile_tree(case, true, |l| {
            let escaped = dir_with(&l.env, &l.repo, name, b"escaped.txt", b"outside\n");
            let file = ("100644", name.clone(), blob(&l.env, &l.repo, b"outside\n"));
            let entry = if name.contains(&b'/') || name.contains(&b'\\') || name.is_empty() {
                file
            } else {
                escaped
            };
            with_extra(l, vec![entry])
        });
        cases += 2;
    }
    // Issue 10, case 6: a backslash is an ordinary character on Linux (git checks
    // `..\..\escaped.txt` out as one file name), and the HFS+ spellings of `.git` are
    // ordinary names while core.protectHFS is off: handled, and nothing written outside.
    hostile_tree("a backslash name", false, |l| {
        let file = (
            "100644",
            b"..\\..\\escaped.txt".to_vec(),
            blob(&l.env, &l.repo, b"inside\n"),
        );
        with_extra(l, vec![file])
    });
    optional += 2;
    hostile_tree("an HFS+ `.git` spelling, protectHFS off", false, |l| {
        let d = dir_with(
            &l.env,
            &l.repo,
            ".g\u{200c}it".as_bytes(),
            b"config",
            b"[core]\n",
        );
        with_extra(l, vec![d])
    });
    optional += 2;
    // An absolute name pointing into the sentinel, as one entry with slashes.
    refused += hostile_tree("a name into the sentinel", true, |l| {
        let name = format!("{}/abs.txt", l.sentinel.display()).into_bytes();
        with_extra(
            l,
            vec![("100644", name, blob(&l.env, &l.repo, b"outside\n"))],
        )
    });
    cases += 2;
    // A symlink to the sentinel AND a directory of the same name (`e/x/evil.txt`).
    refused += hostile_tree("a symlink with a path under it", true, |l| {
        let link = blob(
            &l.env,
            &l.repo,
            l.sentinel.to_str().expect("UTF-8").as_bytes(),
        );
        let x = dir_with(&l.env, &l.repo, b"x", b"evil.txt", b"evil\n");
        let dir = raw_tree(&l.env, &l.repo, &[x]);
        with_extra(
            l,
            vec![
                ("120000", b"e".to_vec(), link),
                ("40000", b"e".to_vec(), dir),
            ],
        )
    });
    cases += 2;
    // A file and a directory of the same name.
    refused += hostile_tree("a file/directory clash", true, |l| {
        let file = blob(&l.env, &l.repo, b"a file\n");
        let dir = dir_with(&l.env, &l.repo, b"clash", b"inner.txt", b"inner\n");
        with_extra(l, vec![("100644", b"clash".to_vec(), file), dir])
    });
    cases += 2;
    // The same file twice.
    // Regression: a duplicate entry used to be "handled" into an index git saw as modified.
    refused += hostile_tree("a duplicate entry", true, |l| {
        let one = blob(&l.env, &l.repo, b"one\n");
        let two = blob(&l.env, &l.repo, b"two\n");
        with_extra(
            l,
            vec![
                ("100644", b"twice".to_vec(), one),
                ("100644", b"twice".to_vec(), two),
            ],
        )
    });
    cases += 2;
    // A symlink whose target is a `.git` path, and one named like `.gitmodules`.
    refused += hostile_tree("a symlink named .gitmodules", true, |l| {
        let link = blob(&l.env, &l.repo, b"../../../.git/config");
        with_extra(l, vec![("120000", b".gitmodules".to_vec(), link)])
    });
    cases += 2;
    // Invalid UTF-8 names: written as bytes or refused, never a panic.
    refused += hostile_tree("invalid UTF-8 names", false, |l| {
        let d = dir_with(
            &l.env,
            &l.repo,
            b"bad\xff\xfedir",
            b"in\xc3\x28.txt",
            b"bytes\n",
        );
        with_extra(
            l,
            vec![
                d,
                (
                    "100644",
                    b"top\x80.txt".to_vec(),
                    blob(&l.env, &l.repo, b"x\n"),
                ),
            ],
        )
    });
    cases += 2;
    // A blob whose loose-object header claims 2 GiB.
    refused += hostile_tree("a blob claiming 2 GiB", true, |l| {
        let id = format!("ab{}", "cd".repeat(19));
        let dir = l.repo.join(".git/objects/ab");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mut data = b"blob 2147483648\0".to_vec();
        data.extend_from_slice(b"only a few bytes");
        std::fs::write(dir.join(&id[2..]), zlib_stored(&data)).expect("write the object");
        with_extra(l, vec![("100644", b"huge.bin".to_vec(), id)])
    });
    cases += 2;
    // A path 10,000 directories deep (fast-import builds it in one process).
    refused += hostile_tree("a 10,000-level path", true, |l| {
        let path = vec!["d"; 10_000].join("/") + "/leaf.txt";
        let old = l.env.rev(&l.repo, "refs/heads/wtc/p/up");
        let script = format!(
            "commit refs/heads/deep\ncommitter T <t@example.test> 0 +0000\ndata 4\ndeep\nfrom {old}\nM 100644 inline {path}\ndata 5\ndeep\n\n"
        );
        l.env
            .git_stdin(&l.repo, &["fast-import", "--quiet"], script.as_bytes());
        l.env.tree(&l.repo, "refs/heads/deep")
    });
    cases += 2;
    tally!("hostile: {refused} of {cases} hostile tree runs refused, {optional} more handled like git on Linux, none wrote outside");
    assert!(refused >= cases - 2, "{refused} of {cases}");
}

/// Remote mode: a lane published on the remote with a `.git/hooks` directory is refused by
/// `sync` in a clone that joined the plan; no hook lands anywhere.
#[test]
fn hostile_tree_from_a_remote_is_refused() {
    let env = TestEnv::new();
    let source = env.path("source");
    env.fixture("make_base.sh", &source);
    let bare = bare_remote(&env, &source, &env.path("srv"), "shop.git");
    let lead = env.path("lead");
    env.git(
        env.root(),
        &["clone", "-q", bare.to_str().expect("UTF-8"), "lead"],
    );
    env.wtc_ok(&lead, &["init", "p", "--remote", "origin"]);
    env.wtc_ok(&lead, &["add", "up", "--no-worktree"]);
    env.wtc_ok(&lead, &["add", "down", "--after", "up", "--no-worktree"]);
    let b = env.path("b");
    env.git(
        env.root(),
        &["clone", "-q", bare.to_str().expect("UTF-8"), "b"],
    );
    env.wtc_ok(&b, &["join", "p", "down"]);
    // The hostile clone publishes `up` straight to the remote.
    let base = env.rev(&bare, "main");
    let hooks = {
        let hook = blob(&env, &bare, b"#!/bin/sh\ntouch pwned\n");
        let h = raw_tree(&env, &bare, &[("100755", b"post-checkout".to_vec(), hook)]);
        raw_tree(&env, &bare, &[("40000", b"hooks".to_vec(), h)])
    };
    let mut entries = root_entries(&env, &bare, &base);
    entries.push(("40000", b".git".to_vec(), hooks));
    let tree = raw_tree(&env, &bare, &entries);
    let commit = env.git(
        &bare,
        &[
            "commit-tree",
            &tree,
            "-p",
            &base,
            "-m",
            "x\n\nWtc-State: done",
        ],
    );
    env.git(&bare, &["update-ref", "refs/wtc/p/lanes/up", commit.trim()]);
    let head = env.rev(&b, "HEAD");
    let out = env.wtc(&b, &["sync"]);
    assert!(code(&out) != 0 && !crashed(&out), "{}", env.describe(&out));
    assert_eq!(env.rev(&b, "HEAD"), head);
    env.assert_clean(&b, "after refusing a hostile remote lane");
    assert!(!b.join(".git/hooks/post-checkout").exists());
    assert!(!find_named(env.root(), "pwned"));

    // A plan on the remote that tries to smuggle commands in: every reader refuses it.
    let old = env.rev(&bare, "refs/wtc/p/plan");
    let good = env.git(&bare, &["show", "refs/wtc/p/plan:plan.toml"]);
    let text = format!("{good}verify = \"touch pwned\"\n[[lane]]\nname = \"../../pwned\"\n");
    let b2 = blob(&env, &bare, text.as_bytes());
    let tree = raw_tree(&env, &bare, &[("100644", b"plan.toml".to_vec(), b2)]);
    let commit = env.git(&bare, &["commit-tree", &tree, "-p", &old, "-m", "x"]);
    env.git(
        &bare,
        &["update-ref", "refs/wtc/p/plan", commit.trim(), &old],
    );
    let c = env.path("c");
    env.git(
        env.root(),
        &["clone", "-q", bare.to_str().expect("UTF-8"), "c"],
    );
    let mut refused = 0;
    for (dir, args) in [
        (&b, &["sync"][..]),
        (&b, &["status"][..]),
        (&lead, &["squash", "--push", "--unfinished"][..]),
        (&c, &["join", "p", "down"][..]),
    ] {
        let out = env.wtc(dir, args);
        assert!(
            code(&out) != 0 && !crashed(&out) && stderr(&out).contains("plan"),
            "wtc {args:?} must refuse the remote's hostile plan\n{}",
            env.describe(&out)
        );
        refused += 1;
    }
    assert!(!find_named(env.root(), "pwned"), "something ran");
    tally!("hostile: 1 of 1 remote hostile trees refused; remote hostile plan refused by {refused} of 4 commands");
}

/// Every file and directory under `wt` (`.git` excluded) with the bytes of each file: a
/// refusal must leave no file and no empty directory behind.
fn worktree_listing(wt: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut all: Vec<_> = walk_all(wt)
        .into_iter()
        .filter(|p| !p.starts_with(wt.join(".git")))
        .map(|p| {
            let bytes = std::fs::read(&p).ok();
            (p, bytes)
        })
        .collect();
    all.sort();
    all
}

/// Whether a file called `name` exists anywhere under `dir`.
fn find_named(dir: &Path, name: &str) -> bool {
    walk_all(dir)
        .iter()
        .any(|p| p.file_name().is_some_and(|n| n == name))
}

fn walk_all(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk_all(&p));
        }
        out.push(p);
    }
    out
}

/// Replace the plan ref's `plan.toml` with `text` (a new commit on the plan chain).
fn corrupt_plan(env: &TestEnv, repo: &Path, text: &[u8]) {
    let old = env.rev(repo, "refs/wtc/p/plan");
    let b = blob(env, repo, text);
    let tree = raw_tree(env, repo, &[("100644", b"plan.toml".to_vec(), b)]);
    let commit = env.git(repo, &["commit-tree", &tree, "-p", &old, "-m", "corrupt"]);
    env.git(
        repo,
        &["update-ref", "refs/wtc/p/plan", commit.trim(), &old],
    );
}

/// Every command that reads the plan, from where it would run.
fn plan_readers(l: &Lanes, run_file: &Path) -> Vec<(PathBuf, Vec<String>)> {
    let run = run_file.display().to_string();
    let main = |a: &[&str]| (l.repo.clone(), a.iter().map(|s| s.to_string()).collect());
    let down = |a: &[&str]| (l.down.clone(), a.iter().map(|s| s.to_string()).collect());
    vec![
        main(&["status"]),
        main(&["graph"]),
        main(&["log"]),
        main(&["--json", "status"]),
        main(&["squash"]),
        main(&["squash", "--unfinished", "--verify", "true"]),
        main(&["clean"]),
        main(&["add", "x"]),
        main(&["rm", "up"]),
        main(&["wait", "--all", "--timeout", "1s"]),
        main(&["watch", "--all"]),
        main(&["run", &run]),
        down(&["sync"]),
        down(&["save"]),
        down(&["done"]),
        down(&["watch"]),
        down(&["status"]),
    ]
}

#[test]
fn corrupted_plans_fail_clearly_and_run_nothing() {
    let l = setup();
    let env = &l.env;
    let base = env.rev(&l.repo, "main");
    let good = env.git(&l.repo, &["show", "refs/wtc/p/plan:plan.toml"]);
    let header = format!("version = 1\nname = \"p\"\ntarget = \"main\"\nbase = \"{base}\"\n");
    let nested = format!(
        "{header}x = {}1{}\n",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let deep_tables = format!(
        "{header}{}\n",
        // Lanes without a name: 50,000 tables, each one invalid.
        (0..50_000)
            .map(|i| format!("[[lane]]\nx{i} = 1\n"))
            .collect::<String>()
    );
    let inline = format!(
        "{header}y = {}1{}\n",
        "{a=".repeat(100_000),
        "}".repeat(100_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad TOML", b"version = 1\nname = \"p\"\n[[lane]\nname=".to_vec()),
        ("unknown version", good.replace("version = 1", "version = 2").into_bytes()),
        ("a version string", good.replace("version = 1", "version = \"1\"").into_bytes()),
        ("no version", good.replace("version = 1\n", "").into_bytes()),
        ("duplicate lanes", format!("{good}\n[[lane]]\nname = \"up\"\n").into_bytes()),
        ("a cycle", format!("{header}[[lane]]\nname = \"up\"\nafter = [\"down\"]\n[[lane]]\nname = \"down\"\nafter = [\"up\"]\n").into_bytes()),
        ("a self-loop", format!("{header}[[lane]]\nname = \"up\"\nafter = [\"up\"]\n[[lane]]\nname = \"down\"\n").into_bytes()),
        ("an unknown upstream", format!("{header}[[lane]]\nname = \"up\"\nafter = [\"ghost\"]\n").into_bytes()),
        ("a hostile lane name", format!("{header}[[lane]]\nname = \"../../pwned\"\n").into_bytes()),
        ("a hostile target", good.replace("target = \"main\"", "target = \"main/../../x\"").into_bytes()),
        ("a short base", good.replace(&base, "abc").into_bytes()),
        ("a plan name that is not the ref's", good.replace("name = \"p\"", "name = \"q\"").into_bytes()),
        ("1 MB of text", format!("{good}#{}\n", "x".repeat(1024 * 1024)).into_bytes()),
        ("200,000 nested arrays", nested.into_bytes()),
        ("200,000 nested inline tables", inline.into_bytes()),
        ("50,000 nameless lanes", deep_tables.into_bytes()),
        ("invalid UTF-8", b"version = 1\nname = \"p\xff\"\n".to_vec()),
        ("NUL bytes", b"version = 1\0\0\0".to_vec()),
        ("empty", Vec::new()),
    ];
    let run_file = env.path("lanes.toml");
    env.write(
        &run_file,
        "plan = \"p\"\n[[lane]]\nname = \"up\"\nrun = \"true\"\n",
    );
    let mut refused = 0;
    let mut runs = 0;
    for (case, text) in &cases {
        corrupt_plan(env, &l.repo, text);
        let before = env.snapshot(&l.repo);
        // All readers of one plan at once: each must fail before it writes anything.
        let started: Vec<_> = plan_readers(&l, &run_file)
            .into_iter()
            .map(|(dir, args)| {
                let what = format!("{case}: wtc {}", args.join(" "));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                (env.wtc_spawn(&dir, &args), what)
            })
            .collect();
        for (child, what) in started {
            let out = env.finish(child, &what, Duration::from_secs(30));
            runs += 1;
            assert!(!crashed(&out), "{what} crashed\n{}", env.describe(&out));
            assert!(code(&out) != 0, "{what} must fail\n{}", env.describe(&out));
            let err = stderr(&out);
            let json = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                err.contains("plan") || json.contains("plan"),
                "{what}: the error does not say the plan is the problem\n{}",
                env.describe(&out)
            );
            assert!(
                err.len() < 4000,
                "{what}: a runaway message\n{}",
                env.describe(&out)
            );
            // Regression: the hint sent users to `wtc log`, which fails on the same plan.
            assert!(
                !err.contains("`wtc log`"),
                "{what}: the hint points at a command that fails too\n{}",
                env.describe(&out)
            );
            refused += 1;
        }
        assert!(!find_named(env.root(), "pwned"), "{case}: something ran");
        assert_eq!(
            env.snapshot(&l.repo),
            before,
            "{case}: a command changed the repository"
        );
    }
    // Keys this wtc does not know (a newer wtc's, or smuggled commands) are data: the plan
    // is read, nothing in them runs, and they survive this wtc's own changes to the plan.
    let smuggled = format!(
        "{header}verify = \"touch pwned\"\n[[lane]]\nname = \"up\"\nrun = \"touch pwned\"\n[[lane]]\nname = \"down\"\nafter = [\"up\"]\n"
    );
    corrupt_plan(env, &l.repo, smuggled.as_bytes());
    for (dir, args) in [
        (&l.repo, &["status"][..]),
        (&l.down, &["sync"][..]),
        (&l.repo, &["graph"][..]),
        (&l.repo, &["add", "later"][..]),
    ] {
        let out = env.wtc(dir, args);
        assert!(
            code(&out) == 0,
            "wtc {args:?} must read a plan with unknown keys\n{}",
            env.describe(&out)
        );
    }
    assert!(!find_named(env.root(), "pwned"), "an unknown key ran");
    let kept = env.git(&l.repo, &["show", "refs/wtc/p/plan:plan.toml"]);
    assert!(
        kept.contains("verify = \"touch pwned\"")
            && kept.contains("run = \"touch pwned\"")
            && kept.contains("later"),
        "the unknown keys were dropped when the plan changed:\n{kept}"
    );
    tally!(
        "hostile: {} corrupted plans x {} commands: {refused} of {runs} refused clearly, nothing ran",
        cases.len(),
        runs / cases.len()
    );
}
