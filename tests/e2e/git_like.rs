//! Feels like part of git: `git wtc`, shell completion (scripts loaded in the real shells,
//! the completion engine called the way they call it), man pages, settings in git config,
//! suggestions for mistyped names, colour conventions.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::env::{code, stderr, stdout, TestEnv};

/// A PATH with the directory of the built `wtc` and `git-wtc` first.
pub fn path_with_wtc() -> std::ffi::OsString {
    let bin = Path::new(env!("CARGO_BIN_EXE_wtc"))
        .parent()
        .expect("bin dir")
        .to_owned();
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("join PATH")
}

fn shell(env: &TestEnv, dir: &Path, program: &str, script: &str) -> std::process::Output {
    let mut cmd: Command = env.command(program, dir);
    cmd.env("PATH", path_with_wtc());
    match program {
        "fish" => cmd.args(["--no-config", "-c", script]),
        "zsh" => cmd.args(["-f", "-c", script]),
        _ => cmd.args(["--norc", "--noprofile", "-c", script]),
    };
    env.run(cmd, &format!("{program} -c {script}"))
}

/// A plan `p` with lanes schema, services (after schema) and hooks; plus a plan `other`.
fn world(env: &TestEnv) -> PathBuf {
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    env.wtc_json(&repo, &["add", "schema", "--no-worktree"]);
    env.wtc_json(
        &repo,
        &["add", "services", "--no-worktree", "--after", "schema"],
    );
    env.wtc_json(&repo, &["add", "hooks", "--no-worktree"]);
    repo
}

#[test]
fn git_wtc_behaves_exactly_like_wtc() {
    let env = TestEnv::new();
    let repo = world(&env);
    for args in [
        &["--json", "status"][..],
        &["--json", "rm", "nope"][..],
        &["graph"][..],
    ] {
        let direct = env.wtc(&repo, args);
        let mut cmd = env.command("git", &repo);
        cmd.env("PATH", path_with_wtc()).arg("wtc").args(args);
        let via_git = env.run(cmd, &format!("git wtc {}", args.join(" ")));
        assert_eq!(
            code(&via_git),
            code(&direct),
            "git wtc {args:?}: {}",
            env.describe(&via_git)
        );
        assert_eq!(stdout(&via_git), stdout(&direct), "git wtc {args:?}");
    }
    // Help names the command the way it was invoked.
    let mut cmd = env.command("git", &repo);
    cmd.env("PATH", path_with_wtc()).args(["wtc", "sync", "-h"]);
    let help = env.run(cmd, "git wtc sync -h");
    assert!(
        stdout(&help).contains("Usage: git wtc sync"),
        "{}",
        stdout(&help)
    );
    assert!(env
        .wtc_ok(&repo, &["sync", "-h"])
        .contains("Usage: wtc sync"));
}

/// The candidates the completion engine offers for `words` (the last one being completed),
/// called as bash's script calls it.
fn engine(env: &TestEnv, dir: &Path, words: &[&str]) -> Vec<String> {
    let mut cmd = env.command(env!("CARGO_BIN_EXE_wtc"), dir);
    cmd.env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_IFS", "\n")
        .arg("--")
        .args(words);
    let out = env.run(cmd, &format!("COMPLETE=bash wtc -- {}", words.join(" ")));
    assert_eq!(code(&out), 0, "{}", env.describe(&out));
    stdout(&out).lines().map(str::to_string).collect()
}

#[test]
fn lane_and_plan_names_complete_from_the_repository() {
    let env = TestEnv::new();
    let repo = world(&env);
    env.wtc_json(&repo, &["init", "other"]);
    let lanes = engine(&env, &repo, &["wtc", "--plan", "p", "wait", ""]);
    for l in ["schema", "services", "hooks"] {
        assert!(lanes.contains(&l.to_string()), "{lanes:?}");
    }
    let after = engine(
        &env,
        &repo,
        &["wtc", "--plan", "p", "add", "x", "--after", "s"],
    );
    assert_eq!(after, ["schema", "services"], "prefix-filtered");
    let plans = engine(&env, &repo, &["wtc", "--plan", ""]);
    assert!(
        plans.contains(&"p".to_string()) && plans.contains(&"other".to_string()),
        "{plans:?}"
    );
    let subcommands = engine(&env, &repo, &["wtc", "sy"]);
    assert_eq!(subcommands, ["sync"]);
    // Outside a repository: nothing to offer, no error.
    let outside = env.path("nowhere");
    std::fs::create_dir_all(&outside).unwrap();
    let offered = engine(&env, &outside, &["wtc", "wait", ""]);
    assert!(
        offered.iter().all(|c| c.starts_with('-')),
        "only options: {offered:?}"
    );
}

#[test]
fn completion_scripts_load_in_bash_zsh_and_fish() {
    let env = TestEnv::new();
    let repo = world(&env);
    // bash: the script registers a function; calling it as bash's completion does fills
    // COMPREPLY with the lanes.
    let bash = shell(
        &env,
        &repo,
        "bash",
        r#"source <(wtc completions bash) && complete -p wtc && COMP_WORDS=(wtc --plan p wait "") && COMP_CWORD=4 && COMP_TYPE=9 && _clap_complete_wtc wtc "" wait && printf '%s\n' "${COMPREPLY[@]}""#,
    );
    assert_eq!(code(&bash), 0, "{}", env.describe(&bash));
    let out = stdout(&bash);
    assert!(out.contains("_clap_complete_wtc wtc"), "{out}");
    assert!(out.contains("services") && out.contains("schema"), "{out}");
    // zsh: the script loads under compinit and registers its completer for wtc.
    let zsh = shell(
        &env,
        &repo,
        "zsh",
        "autoload -U compinit && compinit -u && source <(wtc completions zsh) && print -r -- ${_comps[wtc]}",
    );
    assert_eq!(code(&zsh), 0, "{}", env.describe(&zsh));
    assert!(
        !stdout(&zsh).trim().is_empty(),
        "zsh registered nothing: {}",
        env.describe(&zsh)
    );
    // fish: the script loads and fish's own `complete -C` asks wtc for the lanes.
    let fish = shell(
        &env,
        &repo,
        "fish",
        "wtc completions fish | source; and complete -C 'wtc --plan p wait '",
    );
    assert_eq!(code(&fish), 0, "{}", env.describe(&fish));
    let out = stdout(&fish);
    assert!(out.contains("services") && out.contains("hooks"), "{out}");
    for s in ["elvish", "powershell"] {
        assert!(!env.wtc_ok(&repo, &["completions", s]).is_empty(), "{s}");
    }
    let bad = env.wtc(&repo, &["completions", "tcsh"]);
    assert_eq!(code(&bad), 2, "{}", env.describe(&bad));
}

#[test]
fn man_pages_exist_for_every_command_under_both_names() {
    let env = TestEnv::new();
    let dir = env.path("man/man1");
    let out = env.wtc(env.root(), &["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", env.describe(&out));
    let mut names: Vec<String> = vec![String::new()];
    names.extend(
        <wtc::cli::Cli as clap::CommandFactory>::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string()),
    );
    for prefix in ["wtc", "git-wtc"] {
        for n in &names {
            let page = match n.is_empty() {
                true => format!("{prefix}.1"),
                false => format!("{prefix}-{n}.1"),
            };
            let text =
                std::fs::read_to_string(dir.join(&page)).unwrap_or_else(|e| panic!("{page}: {e}"));
            assert!(text.contains(".TH"), "{page} is a man page");
        }
    }
    let sync = std::fs::read_to_string(dir.join("wtc-sync.1")).unwrap();
    assert!(
        sync.contains("no\\-autosave"),
        "the page carries the help: {sync}"
    );
    // man renders them, and finds them under git's name.
    let manpath = env.path("man");
    let mut cmd = env.command("man", env.root());
    cmd.env("MANPATH", &manpath)
        .env("PATH", path_with_wtc())
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .args(["git-wtc-sync"]);
    let rendered = env.run(cmd, "man git-wtc-sync");
    assert_eq!(code(&rendered), 0, "{}", env.describe(&rendered));
    assert!(
        stdout(&rendered).contains("autosave"),
        "{}",
        stdout(&rendered)
    );
    // `git help wtc` (and `git wtc --help`, which git turns into it) opens git-wtc(1).
    let mut cmd = env.command("git", env.root());
    cmd.env("MANPATH", &manpath)
        .env("PATH", path_with_wtc())
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .args(["help", "wtc"]);
    let help = env.run(cmd, "git help wtc");
    assert_eq!(code(&help), 0, "{}", env.describe(&help));
    assert!(stdout(&help).contains("squash"), "{}", stdout(&help));
    assert!(env.wtc_ok(env.root(), &["man"]).contains(".TH wtc"));
}

#[test]
fn settings_in_git_config_are_read_and_bad_values_named() {
    let env = TestEnv::new();
    let repo = world(&env);
    env.git(&repo, &["config", "wtc.worktreeDir", "lanes/{plan}-{lane}"]);
    let added = env.wtc_json(&repo, &["add", "ui"]);
    let expected = repo.parent().unwrap().join("lanes/p-ui");
    assert!(expected.join(".git").exists(), "{added}");
    assert_eq!(
        Path::new(added["worktree"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        expected.canonicalize().unwrap()
    );
    env.git(&repo, &["config", "wtc.worktreeDir", "lanes/{plan}"]);
    let out = env.wtc(&repo, &["add", "api"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(stderr(&out).contains("wtc.worktreeDir"), "{}", stderr(&out));
    assert!(
        env.wtc_ok(&repo, &["status"]).contains("ui")
            && !env.wtc_ok(&repo, &["status"]).contains("api"),
        "nothing was added"
    );
    env.git(&repo, &["config", "--unset", "wtc.worktreeDir"]);

    // wtc.autosave=false: sync refuses over local edits on incoming paths.
    let up = env.add_lane(&repo, "up", &[]);
    let down = env.add_lane(&repo, "down", &["up"]);
    env.write(&up.join("src/shared.ts"), "from up\n");
    env.wtc_ok(&up, &["done"]);
    env.write(&down.join("src/shared.ts"), "mine\n");
    env.git(&repo, &["config", "wtc.autosave", "false"]);
    let out = env.wtc(&down, &["sync"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert_eq!(env.read(&down.join("src/shared.ts")), "mine\n");
    env.git(&repo, &["config", "wtc.autosave", "maybe"]);
    let out = env.wtc(&down, &["sync"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(stderr(&out).contains("wtc.autosave"), "{}", stderr(&out));
    env.git(&repo, &["config", "wtc.autosave", "true"]);
    let (c, doc) = env.wtc_json_code(&down, &["sync"]);
    assert_eq!(c, 3, "autosaved, then add/add conflict: {doc}");
}

#[test]
fn mistyped_names_get_the_closest_one() {
    let env = TestEnv::new();
    let repo = world(&env);
    let out = env.wtc(&repo, &["rm", "servces"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("did you mean 'services'?"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("schema"),
        "few choices are listed: {}",
        stderr(&out)
    );
    let out = env.wtc(&repo, &["--plan", "q", "status"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("did you mean 'p'?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn colour_follows_no_color_and_clicolor_force() {
    let env = TestEnv::new();
    let repo = world(&env);
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = env.command(env!("CARGO_BIN_EXE_wtc"), &repo);
        cmd.args(["rm", "nope"]);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        stderr(&env.run(cmd, "wtc rm nope"))
    };
    assert!(!run(&[]).contains('\x1b'), "no colour off a terminal");
    assert!(
        run(&[("CLICOLOR_FORCE", "1")]).contains('\x1b'),
        "CLICOLOR_FORCE forces colour"
    );
    assert!(
        !run(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\x1b'),
        "NO_COLOR wins"
    );
}

/// `cmd` run under a pseudo-terminal (util-linux `script`), as a user at a shell runs it: its
/// output as the terminal received it.
fn under_pty(env: &TestEnv, dir: &Path, cmd: &str) -> String {
    let mut c = env.command("script", dir);
    c.env("PATH", path_with_wtc())
        .env("COLUMNS", "120")
        .env("TERM", "xterm")
        .args(["-qec", cmd, "/dev/null"]);
    let out = env.run(c, &format!("script -qec {cmd}"));
    assert_eq!(code(&out), 0, "{}", env.describe(&out));
    stdout(&out)
}

#[test]
fn progress_shows_on_a_terminal_and_nowhere_else() {
    let env = TestEnv::new();
    let repo = world(&env);
    // A slow smudge filter keeps the checkout of these files on screen long enough to draw.
    for i in 0..200 {
        env.write(
            &repo.join(format!("many/d{}/f{i}.slow", i % 10)),
            format!("{i}\n"),
        );
    }
    env.write(&repo.join(".gitattributes"), "*.slow filter=slow\n");
    env.git(&repo, &["config", "filter.slow.smudge", "sleep 0.005; cat"]);
    env.git(&repo, &["config", "filter.slow.clean", "cat"]);
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "many files"]);
    env.wtc_json(&repo, &["init", "big"]);
    let shown = under_pty(&env, &repo, "wtc --plan big add one");
    assert!(
        shown.contains("checking out"),
        "a bar while the worktree is checked out: {shown:?}"
    );
    assert!(shown.contains("/2"), "with counts: {shown:?}");
    assert!(shown.contains("added lane 'one'"), "{shown:?}");
    // Off the terminal, and with --json or -q on it: exactly the output without progress.
    let plain = env.wtc(&repo, &["--plan", "big", "add", "two"]);
    assert_eq!(code(&plain), 0);
    assert!(!stderr(&plain).contains("checking out") && !stderr(&plain).contains('\r'));
    let json = under_pty(&env, &repo, "wtc --plan big --json add three");
    assert!(!json.contains("checking out"), "{json:?}");
    assert!(json.trim_start().starts_with('{'), "{json:?}");
    let quiet = under_pty(&env, &repo, "wtc --plan big -q add four");
    assert!(!quiet.contains("checking out"), "{quiet:?}");

    // A spinner names the --verify command while it runs; its output still arrives.
    let added = env.wtc_json(&repo, &["--plan", "big", "add", "v"]);
    let lane = PathBuf::from(added["worktree"].as_str().expect("a worktree"));
    env.write(&lane.join("v.txt"), "v\n");
    env.wtc_ok(&lane, &["done"]);
    let verify = under_pty(
        &env,
        &repo,
        "wtc --plan big squash --unfinished --verify 'sleep 0.5; echo verified-output'",
    );
    assert!(verify.contains("verifying: sleep 0.5"), "{verify:?}");
    assert!(verify.contains("verified-output"), "{verify:?}");
}

/// Issue "Feels like part of git", item 5: a fetch from the remote (`join` here; `sync`,
/// `wait` and `squash --push` fetch the same way) draws its progress on a terminal, and
/// nowhere else: not off a terminal, not with `--json`.
#[test]
fn fetch_progress_shows_on_a_terminal_and_nowhere_else() {
    let env = TestEnv::new();
    let source = env.path("source");
    env.fixture("make_base.sh", &source);
    let bare = crate::servers::bare_remote(&env, &source, &env.path("srv"), "shop.git");
    // `--no-local`: no hard-linked copy of every object of the remote.
    let clone =
        |name: &str| crate::servers::clone_of(&env, bare.to_str().unwrap(), name, &["--no-local"]);
    let lead = clone("lead");
    env.wtc_json(&lead, &["init", "p", "--remote", "origin"]);
    let big = env.add_lane(&lead, "big", &[]);
    // A thousand files and 16 MB of random bytes: receiving and indexing the pack takes a few
    // hundred milliseconds, several frames of the drawing. Stored uncompressed, so making
    // and pushing them does not spend its time compressing noise.
    const FILES: usize = 1000;
    const BLOB: usize = 16_000_000;
    env.git(&lead, &["config", "core.compression", "0"]);
    for i in 0..FILES {
        env.write(
            &big.join(format!("many/d{}/f{i}.txt", i % 20)),
            format!("file {i}\n"),
        );
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let blob: Vec<u8> = (0..BLOB)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    env.write(&big.join("big.bin"), blob);
    // A plain commit (the quickest way in), published by `save`.
    env.git(&big, &["add", "-A"]);
    env.git(&big, &["commit", "-qm", "many files"]);
    env.wtc_json(&big, &["save"]);
    let tip = env.rev(&big, "HEAD");
    // Each clone lacks the lane's objects (a clone never fetches `refs/wtc/`): its join
    // downloads them all.
    let fresh = |name: &str| {
        let dir = clone(name);
        assert!(
            !env.rev_exists(&dir, &format!("{tip}^{{commit}}")),
            "{name} must fetch the lane"
        );
        dir
    };

    let shown = under_pty(&env, &fresh("one"), "wtc join p big");
    let frames: Vec<&str> = shown
        .split(['\r', '\n'])
        .filter(|f| f.contains("fetching from origin: "))
        .collect();
    assert!(
        frames.iter().any(|f| f
            .split_whitespace()
            .any(|w| w.contains('/') && w.ends_with(|c: char| c.is_ascii_digit()))),
        "the fetch draws its progress, with counts: {shown:?}"
    );
    assert!(shown.contains("joined plan 'p' as lane 'big'"), "{shown:?}");
    // Off the terminal, and with --json on it: exactly the output without progress.
    let plain = env.wtc(&fresh("two"), &["join", "p", "big"]);
    assert_eq!(code(&plain), 0, "{}", env.describe(&plain));
    assert!(
        !stderr(&plain).contains("fetching") && !stderr(&plain).contains('\r'),
        "{}",
        env.describe(&plain)
    );
    let json = under_pty(&env, &fresh("three"), "wtc --json join p big");
    assert!(!json.contains("fetching"), "{json:?}");
    assert!(json.trim_start().starts_with('{'), "{json:?}");
}

#[test]
fn diff_pages_on_a_terminal_like_git_diff() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let lane = env.add_lane(&repo, "a", &[]);
    env.write(&lane.join("src/paged.ts"), "export const paged = 1;\n");
    env.wtc_json(&lane, &["save"]);
    // The pager git would use (GIT_PAGER first) gets the patch; a marking "pager" shows it.
    let paged = under_pty(
        &env,
        &lane,
        "GIT_PAGER='sed s/^/PAGED:/' wtc --color never diff",
    );
    assert!(paged.contains("PAGED:diff --git a/src/paged.ts"), "{paged}");
    let direct = under_pty(
        &env,
        &lane,
        "GIT_PAGER='sed s/^/PAGED:/' wtc diff --no-pager",
    );
    assert!(
        direct.contains("diff --git") && !direct.contains("PAGED:"),
        "{direct}"
    );
    env.git(&lane, &["config", "core.pager", "sed s/^/CORE:/"]);
    let core = under_pty(&env, &lane, "wtc --color never diff");
    assert!(core.contains("CORE:+export const paged"), "{core}");
    // A pager that is not installed: the patch is printed anyway.
    env.git(&lane, &["config", "core.pager", "no-such-pager-here"]);
    let missing = under_pty(&env, &lane, "wtc --color never diff");
    assert!(missing.contains("diff --git a/src/paged.ts"), "{missing}");
    // Off a terminal, and with --json: never paged.
    env.git(&lane, &["config", "core.pager", "sed s/^/CORE:/"]);
    let piped = env.wtc_ok(&lane, &["diff"]);
    assert!(piped.starts_with("diff --git"), "{piped}");
    let json = under_pty(&env, &lane, "wtc --json diff");
    assert!(!json.contains("CORE:"), "{json}");
}

/// `save` finds untracked files through wtc's own cache of directory listings (in the lane's
/// git dir); `git config wtc.untrackedCache false` walks everything through gix instead. Both
/// save the same files, and an invalid value refuses the save and changes nothing.
#[test]
fn the_untracked_cache_saves_what_a_full_walk_saves_and_can_be_turned_off() {
    let env = TestEnv::new();
    let repo = world(&env);
    let lane = env.add_lane(&repo, "cached", &[]);
    let saved = |want: &str| {
        let doc = env.wtc_json(&lane, &["save"]);
        let paths: Vec<&str> = doc["paths"]
            .as_array()
            .expect("paths")
            .iter()
            .filter_map(|p| p.as_str())
            .collect();
        assert_eq!(paths, vec![want], "{doc}");
    };
    env.write(&lane.join("src/new/one.ts"), "one\n");
    saved("src/new/one.ts");
    let git_dir = PathBuf::from(env.git(&lane, &["rev-parse", "--absolute-git-dir"]).trim());
    assert!(
        git_dir.join("wtc/untracked-cache").is_file(),
        "the cache lives in the lane's own git dir"
    );
    // A second untracked file in a directory the cache has seen.
    env.write(&lane.join("src/new/two.ts"), "two\n");
    saved("src/new/two.ts");

    env.git(&lane, &["config", "wtc.untrackedCache", "false"]);
    env.write(&lane.join("src/new/three.ts"), "three\n");
    saved("src/new/three.ts");

    env.git(&lane, &["config", "wtc.untrackedCache", "maybe"]);
    env.write(&lane.join("src/new/four.ts"), "four\n");
    let head = env.git(&lane, &["rev-parse", "HEAD"]);
    let out = env.wtc(&lane, &["save"]);
    assert_eq!(code(&out), 1, "{}", env.describe(&out));
    assert!(
        stderr(&out).contains("wtc.untrackedCache"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.git(&lane, &["rev-parse", "HEAD"]),
        head,
        "nothing saved"
    );
    assert_eq!(
        env.git(&lane, &["status", "--porcelain"]).trim(),
        "?? src/new/four.ts"
    );
}
