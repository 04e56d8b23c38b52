//! Acceptance 3 (issue 2) and invariant 1: no command loses uncommitted work.
//!
//! Upstream lane `up` changes `src/config.ts` (line 2) and adds `src/up_new.ts`; the
//! downstream lane `down` has uncommitted work when it syncs. Local work that overlaps
//! the incoming change (same path) and work that does not, tracked and untracked, with
//! the default autosave and with `--no-autosave`: every byte the user had is afterwards
//! still in the file or in a commit reachable from the lane branch. Sync looks only at the
//! paths the merge changes: work there is autosaved (default) or refused; work elsewhere
//! stays in the worktree, uncommitted, as `git merge` leaves it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::env::{code, crashed, s, stderr, stdout, TestEnv};

const CONFIG: &str = "src/config.ts";
const UP_NEW: &str = "src/up_new.ts";
const OTHER: &str = "notes/other.txt";
const DRAFT: &str = "src/draft.ts";
const DRAFT_TS: &str = "export const draft = \"unsaved idea\";\n";

struct Lanes {
    env: TestEnv,
    repo: PathBuf,
    up: PathBuf,
    down: PathBuf,
    up_tip: String,
    up_config: String,
}

/// `up` done with its change; `down` (after up) still at the base, clean.
fn setup() -> Lanes {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let up = env.add_lane(&repo, "up", &[]);
    let down = env.add_lane(&repo, "down", &["up"]);
    let up_config = replace_line(&env.read(&up.join(CONFIG)), 2, "  retries: 5,");
    env.write(&up.join(CONFIG), &up_config);
    env.write(&up.join(UP_NEW), "export const fromUp = true;\n");
    let done = env.wtc_json(&up, &["done"]);
    let up_tip = s(&done["commit"]).to_string();
    Lanes {
        env,
        repo,
        up,
        down,
        up_tip,
        up_config,
    }
}

fn replace_line(text: &str, n: usize, line: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines[n - 1] = line;
    lines.join("\n") + "\n"
}

impl Lanes {
    fn down_file(&self, path: &str) -> PathBuf {
        self.down.join(path)
    }

    fn branch(&self) -> String {
        self.env.rev(&self.repo, "refs/heads/wtc/p/down")
    }

    /// Everything a refused sync must leave as it was in `down`.
    fn state(&self, files: &[&str]) -> String {
        let env = &self.env;
        let mut state = env.snapshot(&self.repo);
        state += &format!("HEAD {}\n", env.rev(&self.down, "HEAD"));
        state += &env.git(&self.down, &["ls-files", "-s"]);
        state += &env.status(&self.down);
        for f in files {
            let path = self.down_file(f);
            state += &format!("{f}: {:?}\n", std::fs::read(&path).ok());
        }
        state
    }

    /// The bytes of `path` as committed in `rev`.
    fn show(&self, rev: &str, path: &str) -> String {
        self.env
            .git(&self.repo, &["show", &format!("{rev}:{path}")])
    }

    /// The autosave commit a sync reports: on the lane branch, holding `files` as given.
    fn assert_autosaved(&self, sync: &Value, files: &[(&str, &str)]) -> String {
        let autosaved = sync["autosaved"]
            .as_str()
            .unwrap_or_else(|| panic!("a dirty sync autosaves first: {sync}"))
            .to_string();
        assert!(
            self.env.is_ancestor(&self.repo, &autosaved, &self.branch()),
            "the autosave commit is reachable from the lane branch"
        );
        for (path, content) in files {
            assert_eq!(
                &self.show(&autosaved, path),
                content,
                "{path} in the autosave commit"
            );
        }
        autosaved
    }
}

#[test]
fn overlapping_edit_is_autosaved_and_merged() {
    let l = setup();
    let env = &l.env;
    let local = replace_line(&env.read(&l.down_file(CONFIG)), 9, "  owner: \"growth\",");
    env.write(&l.down_file(CONFIG), &local);
    env.write(&l.down_file(DRAFT), DRAFT_TS);

    let sync = env.wtc_json(&l.down, &["sync"]);
    let autosaved = l.assert_autosaved(&sync, &[(CONFIG, &local)]);
    assert!(
        !env.git(&l.repo, &["ls-tree", "-r", "--name-only", &autosaved])
            .contains(DRAFT),
        "only the overlapping path is autosaved; the draft is not the merge's business"
    );
    assert_eq!(sync["result"], "merged", "{sync}");
    let merged = replace_line(&l.up_config, 9, "  owner: \"growth\",");
    assert_eq!(
        env.read(&l.down_file(CONFIG)),
        merged,
        "both edits in the file"
    );
    assert_eq!(
        env.read(&l.down_file(DRAFT)),
        DRAFT_TS,
        "the untracked file is still there"
    );
    assert!(l.down_file(UP_NEW).exists(), "the upstream file arrived");
    assert!(env.is_ancestor(&l.repo, &l.up_tip, &l.branch()));
    assert_eq!(
        env.status(&l.down),
        format!("?? {DRAFT}\n"),
        "the draft is still uncommitted, everything else is committed"
    );
}

#[test]
fn conflicting_edit_is_autosaved_before_the_conflict() {
    let l = setup();
    let env = &l.env;
    let local = replace_line(&env.read(&l.down_file(CONFIG)), 2, "  retries: 9, // mine");
    env.write(&l.down_file(CONFIG), &local);

    let (code, sync) = env.wtc_json_code(&l.down, &["sync"]);
    assert_eq!(code, 3, "{sync}");
    let autosaved = l.assert_autosaved(&sync, &[(CONFIG, &local)]);
    assert_eq!(
        l.branch(),
        autosaved,
        "the lane branch holds the user's work"
    );
    assert_eq!(env.rev(&l.down, "MERGE_HEAD"), l.up_tip);
    let file = env.read(&l.down_file(CONFIG));
    assert!(
        file.contains("retries: 9, // mine") && file.contains("retries: 5,"),
        "{file}"
    );
    assert!(file.contains("<<<<<<<"), "{file}");
}

#[test]
fn overlapping_edit_with_no_autosave_is_refused() {
    let l = setup();
    let env = &l.env;
    let local = replace_line(&env.read(&l.down_file(CONFIG)), 9, "  owner: \"growth\",");
    env.write(&l.down_file(CONFIG), &local);
    env.write(&l.down_file(DRAFT), DRAFT_TS);
    let before = l.state(&[CONFIG, DRAFT, UP_NEW]);

    let out = env.wtc(&l.down, &["sync", "--no-autosave"]);
    assert!(
        code(&out) != 0 && !crashed(&out),
        "overlapping local edits refuse the sync\n{}",
        env.describe(&out)
    );
    assert!(
        format!("{}{}", stdout(&out), stderr(&out)).contains(CONFIG),
        "the refusal names the overlapping path\n{}",
        env.describe(&out)
    );
    assert_eq!(
        l.state(&[CONFIG, DRAFT, UP_NEW]),
        before,
        "a refused sync changes nothing"
    );
    assert_eq!(env.read(&l.down_file(CONFIG)), local);
}

#[test]
fn separate_edits_stay_uncommitted_and_ignored_files_untouched() {
    let l = setup();
    let env = &l.env;
    let other = "first note\nsecond note\nmy third note\n";
    env.write(&l.down_file(OTHER), other);
    env.write(&l.down_file(DRAFT), DRAFT_TS);
    env.write(&l.down_file("debug.log"), "ignored noise\n");

    let sync = env.wtc_json(&l.down, &["sync"]);
    assert!(
        sync["autosaved"].is_null(),
        "nothing overlaps: nothing is autosaved, as `git merge` commits nothing of yours: {sync}"
    );
    assert_eq!(sync["result"], "fast-forward", "{sync}");
    assert_eq!(l.branch(), l.up_tip, "nothing of the user's was committed");
    assert_eq!(
        env.read(&l.down_file("debug.log")),
        "ignored noise\n",
        "ignored file untouched"
    );
    assert_eq!(env.read(&l.down_file(OTHER)), other);
    assert_eq!(env.read(&l.down_file(DRAFT)), DRAFT_TS);
    assert_eq!(
        env.read(&l.down_file(CONFIG)),
        l.up_config,
        "the upstream edit arrived"
    );
    assert!(l.down_file(UP_NEW).exists(), "the upstream file arrived");
    assert_eq!(
        env.status(&l.down),
        format!(" M {OTHER}\n?? {DRAFT}\n"),
        "the local work is still uncommitted, and the index matches the new HEAD"
    );
    // The next save records it, on top of the upstream work.
    let saved = env.wtc_json(&l.down, &["save"]);
    let commit = s(&saved["commit"]).to_string();
    assert_eq!(l.show(&commit, OTHER), other);
    assert_eq!(l.show(&commit, DRAFT), DRAFT_TS);
    env.assert_clean(&l.down, "after saving");
}

#[test]
fn separate_edits_with_no_autosave_are_carried_across() {
    let l = setup();
    let env = &l.env;
    let other = "first note\nsecond note\nmy third note\n";
    env.write(&l.down_file(OTHER), other);
    env.write(&l.down_file(DRAFT), DRAFT_TS);

    let sync = env.wtc_json(&l.down, &["sync", "--no-autosave"]);
    assert!(sync["autosaved"].is_null(), "{sync}");
    assert_eq!(sync["result"], "fast-forward", "{sync}");
    assert_eq!(l.branch(), l.up_tip, "nothing of the user's was committed");
    assert_eq!(env.rev(&l.down, "HEAD"), l.up_tip);
    assert_eq!(
        env.read(&l.down_file(CONFIG)),
        l.up_config,
        "the upstream edit arrived"
    );
    assert_eq!(
        env.read(&l.down_file(UP_NEW)),
        "export const fromUp = true;\n"
    );
    assert_eq!(
        env.read(&l.down_file(OTHER)),
        other,
        "the local edit is still there"
    );
    assert_eq!(
        env.read(&l.down_file(DRAFT)),
        DRAFT_TS,
        "the untracked file is still there"
    );
    assert_eq!(
        env.status(&l.down),
        format!(" M {OTHER}\n?? {DRAFT}\n"),
        "the local work is still uncommitted, and the index matches the new HEAD"
    );
}

/// An untracked file where upstream adds one: refused with `--no-autosave`...
#[test]
fn untracked_file_in_the_way_with_no_autosave_is_refused() {
    let l = setup();
    let env = &l.env;
    env.write(&l.down_file(UP_NEW), "my own up_new\n");
    let before = l.state(&[UP_NEW, CONFIG]);

    let out = env.wtc(&l.down, &["sync", "--no-autosave"]);
    assert!(
        code(&out) != 0 && !crashed(&out),
        "an untracked file in the way refuses the sync\n{}",
        env.describe(&out)
    );
    assert_eq!(
        l.state(&[UP_NEW, CONFIG]),
        before,
        "a refused sync changes nothing"
    );
    assert_eq!(env.read(&l.down_file(UP_NEW)), "my own up_new\n");
}

/// ...and autosaved (then an add/add conflict) by default.
#[test]
fn untracked_file_in_the_way_is_autosaved() {
    let l = setup();
    let env = &l.env;
    env.write(&l.down_file(UP_NEW), "my own up_new\n");

    let (code, sync) = env.wtc_json_code(&l.down, &["sync"]);
    assert_eq!(code, 3, "add/add conflict: {sync}");
    let autosaved = l.assert_autosaved(&sync, &[(UP_NEW, "my own up_new\n")]);
    assert_eq!(l.branch(), autosaved);
    assert_eq!(sync["conflicts"], serde_json::json!([UP_NEW]), "{sync}");
    let file = env.read(&l.down_file(UP_NEW));
    assert!(
        file.contains("my own up_new") && file.contains("fromUp"),
        "{file}"
    );
}

/// `sync --dry-run` reports and touches nothing, even with a dirty worktree.
#[test]
fn dry_run_sync_changes_nothing() {
    let l = setup();
    let env = &l.env;
    env.write(&l.down_file(OTHER), "changed\n");
    env.write(&l.down_file(DRAFT), DRAFT_TS);
    let before = l.state(&[OTHER, DRAFT, CONFIG, UP_NEW]);
    let out = env.wtc(&l.down, &["sync", "--dry-run"]);
    env.assert_code(&out, 0, "wtc sync --dry-run");
    assert_eq!(l.state(&[OTHER, DRAFT, CONFIG, UP_NEW]), before);
}

/// `clean` and `rm` refuse a dirty lane worktree without `--force`.
#[test]
fn clean_and_rm_refuse_dirty_worktrees() {
    let l = setup();
    let env = &l.env;
    env.write(&l.down_file(DRAFT), DRAFT_TS);
    env.write(&l.down_file(OTHER), "changed\n");

    for args in [&["clean"][..], &["rm", "down"][..]] {
        let out = env.wtc(&l.repo, args);
        assert!(
            code(&out) != 0 && !crashed(&out),
            "wtc {args:?} refuses a dirty worktree\n{}",
            env.describe(&out)
        );
        assert_eq!(
            env.read(&l.down_file(DRAFT)),
            DRAFT_TS,
            "after wtc {args:?}"
        );
        assert_eq!(
            env.read(&l.down_file(OTHER)),
            "changed\n",
            "after wtc {args:?}"
        );
        assert!(
            env.rev_exists(&l.repo, "refs/heads/wtc/p/down"),
            "after wtc {args:?}"
        );
    }
}

/// Invariant 1 read literally: even `clean --force` leaves the dirty bytes in a commit
/// reachable from some ref (here with `--keep-archive`), and says so.
#[test]
fn clean_force_keep_archive_keeps_dirty_work_reachable() {
    let l = setup();
    let env = &l.env;
    env.write(&l.down_file(DRAFT), DRAFT_TS);
    let out = env.wtc(&l.repo, &["clean", "--force", "--keep-archive"]);
    env.assert_code(&out, 0, "wtc clean --force --keep-archive");
    assert!(!l.down.exists(), "the worktree is gone");
    assert!(
        reachable_content(env, &l.repo, DRAFT_TS.trim()),
        "the uncommitted draft is in no commit reachable from a ref\n{}",
        env.describe(&out)
    );
}

/// Whether any commit reachable from any ref has a file containing `needle`.
fn reachable_content(env: &TestEnv, repo: &Path, needle: &str) -> bool {
    let commits = env.git(repo, &["rev-list", "--all"]);
    commits.lines().any(|c| {
        env.git_output(repo, &["grep", "-q", "-F", needle, c])
            .status
            .success()
    })
}

/// The autosave names paths literally: a file called `glob[1].txt` in the way is saved, the
/// `glob1.txt` a glob `[1]` would also match is not.
#[test]
fn autosave_takes_paths_literally() {
    let env = TestEnv::new();
    let repo = env.path("repo");
    env.fixture("make_base.sh", &repo);
    env.wtc_json(&repo, &["init", "p"]);
    let up = env.add_lane(&repo, "up", &[]);
    let down = env.add_lane(&repo, "down", &["up"]);
    env.write(&up.join("glob[1].txt"), "from up\n");
    env.wtc_ok(&up, &["done"]);
    env.write(&down.join("glob[1].txt"), "mine\n");
    env.write(&down.join("glob1.txt"), "not in the way\n");
    let (code, sync) = env.wtc_json_code(&down, &["sync"]);
    assert_eq!(code, 3, "add/add conflict: {sync}");
    let autosaved = s(&sync["autosaved"]).to_string();
    let names = env.git(&repo, &["ls-tree", "--name-only", &autosaved]);
    assert!(names.contains("glob[1].txt"), "{names}");
    assert!(!names.contains("glob1.txt"), "{names}");
    assert_eq!(env.read(&down.join("glob1.txt")), "not in the way\n");
}

/// Racy git: an edit made in the very second the index was written, keeping the file's
/// size and (here, put back) its mtime, leaves stat data the index cannot tell from the
/// committed file's (`core.trustctime=false`, as many set it, takes the ctime out of the
/// comparison); only "the entry is as new as the index" says the file must be hashed. A
/// sync that writes a new index (a second later, so that entry no longer looks racy) must
/// not vouch for the file on the old index's word: it smudges the entry as git does, so git
/// still sees the edit, and the next sync that brings a change to that path finds it and
/// autosaves it instead of writing over it.
#[test]
fn an_edit_racing_the_index_write_stays_visible_after_sync() {
    use std::os::unix::fs::MetadataExt as _;
    let l = setup();
    let env = &l.env;
    env.git(&l.repo, &["config", "core.trustctime", "false"]);
    let racy = l.down_file("racy.txt");
    let index = PathBuf::from(
        env.git(&l.down, &["rev-parse", "--absolute-git-dir"])
            .trim(),
    )
    .join("index");
    // Commit "aaaa", stage it again with `git add` (the index written in the file's second),
    // then write "bbbb" (same size) and put the mtime back.
    env.write(&racy, "aaaa\n");
    env.git(&l.down, &["add", "racy.txt"]);
    env.git(&l.down, &["commit", "-q", "-m", "racy file"]);
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(
            attempts < 20,
            "could not stage a file in the index's second"
        );
        env.write(&racy, "aaaa\n");
        let mtime = std::fs::metadata(&racy).unwrap().modified().unwrap();
        env.git(&l.down, &["add", "racy.txt"]);
        env.write(&racy, "bbbb\n");
        let f = std::fs::File::options().write(true).open(&racy).unwrap();
        f.set_modified(mtime).unwrap();
        drop(f);
        let (file, idx) = (
            std::fs::metadata(&racy).unwrap(),
            std::fs::metadata(&index).unwrap(),
        );
        if file.mtime() == idx.mtime() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let seen = |what: &str| {
        let diff = env.git(&l.down, &["diff", "--name-only"]);
        assert_eq!(diff.trim(), "racy.txt", "{what}: git sees the edit");
    };
    seen("before the sync");
    // The next second: sync writes a new index (up changed other paths).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.wtc_json(&l.down, &["sync"]);
    assert_eq!(env.read(&racy), "bbbb\n");
    seen("after the sync");
    // A change to that path arrives: the edit is autosaved, never written over.
    let up = &l.up;
    env.git(up, &["merge", "-q", "--no-edit", "refs/heads/wtc/p/down"]);
    env.write(&up.join("racy.txt"), "from up\n");
    env.git(up, &["commit", "-q", "-am", "up changes racy.txt"]);
    env.wtc_json_code(&l.down, &["sync"]);
    assert!(
        env.read(&racy).contains("bbbb") || reachable_content(env, &l.repo, "bbbb"),
        "the racy edit survives: {:?}",
        env.read(&racy)
    );
}

/// A save refreshes what it hashed and found unchanged, as `git status` does: a file whose
/// stat data moved but whose content did not gets its fresh stat data in the index written
/// (not hashed again by every later command, never left smudged).
#[test]
fn save_refreshes_files_it_found_unchanged() {
    use std::os::unix::fs::MetadataExt as _;
    let l = setup();
    let env = &l.env;
    // A first save: the index is then wtc's own, with its cache-tree.
    env.write(&l.down_file(DRAFT), DRAFT_TS);
    env.wtc_json(&l.down, &["save"]);
    let touched = l.down_file(CONFIG);
    let content = std::fs::read(&touched).unwrap();
    // Same bytes, new inode and times: the stat data moved, the content did not.
    std::fs::remove_file(&touched).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&touched, &content).unwrap();
    env.write(&l.down_file(OTHER), "a real change\n");
    env.wtc_json(&l.down, &["save"]);
    let debug = env.git(&l.down, &["ls-files", "--debug", CONFIG]);
    let md = std::fs::metadata(&touched).unwrap();
    assert!(
        debug.contains(&format!("ino: {}", md.ino())),
        "the entry has the file's fresh stat data: {debug}"
    );
    assert!(
        debug.contains(&format!("size: {}", md.len())),
        "and is not smudged: {debug}"
    );
}
