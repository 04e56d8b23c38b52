//! `.worktreeinclude`: the ignored files a new worktree gets from the main one (a `.env`,
//! `node_modules/`), so an agent's lane starts with what a fresh checkout lacks.
//!
//! The file sits at the main worktree's root and uses gitignore syntax. An entry is copied
//! when it is ignored by git in the main worktree AND named there; tracked files never are
//! (they come from the checkout), nor are untracked ones. Both questions are gix's: the
//! directory walk (`emit_ignored`) says what git ignores, `gix::ignore::Search` matches the
//! patterns, with git's rule that naming a directory names everything under it.
//!
//! Copying never overwrites anything in the new worktree, keeps symlinks as symlinks (never
//! following one, on either side), skips nested repositories, and copies only what the new
//! worktree's own checkout ignores as well, so nothing copied ever shows in its `git status`
//! or gets saved. Writes stay inside the new worktree (invariant 4): every path is validated
//! like an incoming tree's, and a symlink or a file where a directory would go stops that
//! entry. A pattern with a `..` component is refused before anything is written.
//!
//! [`find`] looks before the worktree exists (its errors change nothing); [`Candidates::copy_into`]
//! copies once it does.

use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use gix::bstr::{BStr, BString, ByteSlice, ByteVec};
use gix::dir::entry::{Kind, Status};
use gix::glob::pattern::Case;
use serde::Serialize;

use super::validate::{validate_path, PathRules};
use crate::error::Diagnostic;

/// The file's name, at the root of the main worktree.
pub const FILE: &str = ".worktreeinclude";

/// Why the `.worktreeinclude` file cannot be used; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum IncludeError {
    #[error("{}:{line}: the pattern {pattern:?} reaches outside the repository", file.display())]
    Outside {
        file: PathBuf,
        line: usize,
        pattern: String,
    },
    #[error("{} is not a regular file", file.display())]
    NotAFile { file: PathBuf },
}

impl Diagnostic for IncludeError {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::User
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            IncludeError::Outside { .. } => "patterns name ignored paths inside the main worktree (gitignore syntax, relative to its root); remove the `..`".into(),
            // As git does for `.gitignore`: a symlinked one is not read.
            IncludeError::NotAFile { .. } => "make it a plain file (wtc, like git for .gitignore, does not follow a symlink there)".into(),
        })
    }
}

/// The patterns of a `.worktreeinclude`.
struct Patterns {
    search: gix::ignore::Search,
    case: Case,
}

impl Patterns {
    /// Parse `bytes` (read from `file`) the way git parses an ignore file; a pattern with a
    /// `..` component could only mean a path outside the worktree, so it is refused.
    fn parse(bytes: &[u8], file: &Path, case: Case) -> Result<Patterns, IncludeError> {
        for (pattern, line, _) in gix::ignore::parse(bytes, false) {
            if pattern.text.split_str("/").any(|c| c == b"..") {
                return Err(IncludeError::Outside {
                    file: file.to_owned(),
                    line,
                    pattern: pattern.text.to_str_lossy().into_owned(),
                });
            }
        }
        let mut search = gix::ignore::Search::default();
        search
            .add_patterns_buffer(bytes, file, None, Default::default())
            .expect("parsing a buffer does no I/O");
        Ok(Patterns { search, case })
    }

    /// Whether the last pattern matching `path` names it (not a `!` one).
    fn matches(&self, path: &BStr, is_dir: bool) -> bool {
        self.search
            .pattern_matching_relative_path(path, Some(is_dir), self.case)
            .is_some_and(|m| !m.pattern.is_negative())
    }

    /// Whether `path` is named, directly or through a directory above it (git's rule: a
    /// directory an ignore file names takes everything under it along).
    fn includes(&self, path: &BStr, is_dir: bool) -> bool {
        path.find_iter("/")
            .any(|i| self.matches(path[..i].as_bstr(), true))
            || self.matches(path, is_dir)
    }

    /// Whether some pattern could name a path under `dir` (which none names itself), so the
    /// walk need not read ignored directories no pattern reaches (`target/`, say): a pattern
    /// without a slash matches at any depth, one with a slash only under its literal prefix,
    /// `/name` only at the root.
    fn could_match_below(&self, dir: &BStr) -> bool {
        let mut prefix = BString::from(dir);
        prefix.push(b'/');
        self.search
            .patterns
            .iter()
            .flat_map(|list| &list.patterns)
            .map(|m| &m.pattern)
            .filter(|p| !p.is_negative())
            .any(|p| {
                use gix::glob::pattern::Mode;
                if p.mode.contains(Mode::NO_SUB_DIR) {
                    // `/name` is anchored at the root: nothing below a directory.
                    return !p.mode.contains(Mode::ABSOLUTE);
                }
                let literal = &p.text[..p.first_wildcard_pos.unwrap_or(p.text.len())];
                let n = literal.len().min(prefix.len());
                match self.case {
                    Case::Fold => literal[..n].eq_ignore_ascii_case(&prefix[..n]),
                    Case::Sensitive => literal[..n] == prefix[..n],
                }
            })
    }
}

/// One ignored entry of the main worktree that `.worktreeinclude` names.
#[derive(Debug, Clone)]
struct Candidate {
    path: BString,
    kind: Kind,
}

/// What a new worktree will get from the main worktree.
pub struct Candidates {
    root: PathBuf,
    entries: Vec<Candidate>,
    /// The main worktree's index: tracked files under an ignored directory are not copied.
    index: gix::worktree::Index,
}

/// An entry `.worktreeinclude` names that was not copied, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub path: String,
    pub why: String,
}

/// What [`Candidates::copy_into`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Copied {
    /// Worktree-relative paths copied, sorted; a directory copied whole ends in `/`.
    pub paths: Vec<String>,
    pub skipped: Vec<Skipped>,
}

/// The dirwalk's delegate: collects ignored entries the patterns name, and looks inside an
/// ignored directory only when a pattern could name something there.
struct Walk<'a> {
    patterns: &'a Patterns,
    root: &'a Path,
    found: Vec<Candidate>,
}

impl gix::dir::walk::Delegate for Walk<'_> {
    fn emit(
        &mut self,
        entry: gix::dir::EntryRef<'_>,
        _collapsed: Option<Status>,
    ) -> gix::dir::walk::Action {
        if let (Status::Ignored(_), Some(kind @ (Kind::File | Kind::Symlink | Kind::Directory))) =
            (entry.status, entry.disk_kind)
        {
            if self
                .patterns
                .includes(&entry.rela_path, kind == Kind::Directory)
            {
                self.found.push(Candidate {
                    path: entry.rela_path.into_owned(),
                    kind,
                });
            }
        }
        std::ops::ControlFlow::Continue(())
    }

    fn can_recurse(
        &mut self,
        entry: gix::dir::EntryRef<'_>,
        for_deletion: Option<gix::dir::walk::ForDeletionMode>,
        worktree_root_is_repository: bool,
    ) -> bool {
        let path = entry.rela_path.as_ref();
        if matches!(entry.status, Status::Ignored(_)) && entry.disk_kind == Some(Kind::Directory) {
            // A nested repository is another project's files: never looked into.
            let nested = std::fs::symlink_metadata(self.root.join(native(path)).join(".git"));
            return nested.is_err()
                && !self.patterns.includes(path, true)
                && self.patterns.could_match_below(path);
        }
        entry.status.can_recurse(
            entry.disk_kind,
            entry.pathspec_match,
            for_deletion,
            worktree_root_is_repository,
        )
    }
}

/// A worktree-relative path as the file system takes it (on Unix, the same bytes).
fn native(path: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt as _;
    Path::new(std::ffi::OsStr::from_bytes(path))
}

/// The ignored entries of `main`'s worktree that its `.worktreeinclude` names; `None` when
/// there is no such file (or no main worktree). Reads only: errors change nothing.
pub fn find(main: &gix::Repository) -> Result<Option<Candidates>> {
    let Some(root) = main.workdir() else {
        return Ok(None);
    };
    let file = root.join(FILE);
    match std::fs::symlink_metadata(&file) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", file.display()))),
        Ok(md) if !md.is_file() => return Err(IncludeError::NotAFile { file }.into()),
        Ok(_) => {}
    }
    let bytes = std::fs::read(&file)
        .map_err(|e| anyhow::Error::new(e).context(format!("reading {}", file.display())))?;
    let case = if main.filesystem_options()?.ignore_case {
        Case::Fold
    } else {
        Case::Sensitive
    };
    let patterns = Patterns::parse(&bytes, &file, case)?;
    let index = main.index_or_empty()?;
    let options = main
        .dirwalk_options()?
        .emit_ignored(Some(gix::dir::walk::EmissionMode::Matching));
    let mut walk = Walk {
        patterns: &patterns,
        root,
        found: Vec::new(),
    };
    main.dirwalk(
        &index,
        None::<&BStr>,
        &gix::interrupt::IS_INTERRUPTED,
        options,
        &mut walk,
    )?;
    let mut entries = walk.found;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Some(Candidates {
        root: root.to_owned(),
        entries,
        index,
    }))
}

impl Candidates {
    /// Copy every candidate into the new worktree `new` (just checked out), skipping what
    /// its own checkout does not ignore, what it tracks, and what is already there.
    pub fn copy_into(&self, new: &gix::Repository) -> Result<Copied> {
        let to = new.workdir().context("the new worktree has no files")?;
        let index = new.index_or_empty()?;
        let mut excludes = new.excludes(
            &index,
            None,
            gix::worktree::stack::state::ignore::Source::WorktreeThenIdMappingIfNotSkipped,
        )?;
        let mut copier = Copier {
            from: &self.root,
            to,
            rules: PathRules::of(new),
            main_index: &self.index,
            new_index: &index,
            out: Copied::default(),
        };
        for c in &self.entries {
            let path = c.path.as_bstr();
            let mode = match c.kind {
                Kind::Directory => gix::index::entry::Mode::DIR,
                Kind::Symlink => gix::index::entry::Mode::SYMLINK,
                _ => gix::index::entry::Mode::FILE,
            };
            // Checked before asking about ignores there, which would read through a symlink.
            if let Err(why) = copier.parents(path, false) {
                copier.skip(path, why);
                continue;
            }
            // Ignored there too, or it would show in the new worktree's status and be saved.
            if !excludes.at_entry(path, Some(mode))?.is_excluded() {
                copier.skip(path, "not ignored by the new worktree's checkout");
                continue;
            }
            if let Err(why) = copier.parents(path, true) {
                copier.skip(path, why);
                continue;
            }
            if copier.entry(path, c.kind) {
                let shown = path.to_str_lossy();
                copier.out.paths.push(match c.kind {
                    Kind::Directory => format!("{shown}/"),
                    _ => shown.into_owned(),
                });
            }
        }
        Ok(copier.out)
    }
}

/// One copy from the main worktree (`from`) into a new one (`to`).
struct Copier<'a> {
    from: &'a Path,
    to: &'a Path,
    rules: PathRules,
    /// What the main worktree tracks is not an ignored file; what the new one tracks is
    /// its checkout's.
    main_index: &'a gix::index::State,
    new_index: &'a gix::index::State,
    out: Copied,
}

impl Copier<'_> {
    fn skip(&mut self, path: &BStr, why: impl Into<String>) {
        self.out.skipped.push(Skipped {
            path: path.to_str_lossy().into_owned(),
            why: why.into(),
        });
    }

    /// Check (and with `create`, make) the directories leading to `path` in the new
    /// worktree; a symlink or a file on the way stops it (writing through a symlinked
    /// directory could leave the worktree).
    fn parents(&self, path: &BStr, create: bool) -> Result<(), String> {
        let mut dir = self.to.to_owned();
        let comps: Vec<&[u8]> = path.split_str("/").collect();
        for comp in &comps[..comps.len() - 1] {
            dir.push(native(comp));
            match std::fs::symlink_metadata(&dir) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => {
                    let shown = dir.strip_prefix(self.to).unwrap_or(&dir).display();
                    return Err(format!(
                        "{shown} is a symlink or a file in the new worktree"
                    ));
                }
                Err(e) if e.kind() == ErrorKind::NotFound && !create => return Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    std::fs::create_dir(&dir).map_err(|e| e.to_string())?
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    /// Copy the file, symlink or directory at `path` (its parent exists in the new
    /// worktree); whether anything was written.
    fn entry(&mut self, path: &BStr, kind: Kind) -> bool {
        if validate_path(path, None, self.rules).is_err() {
            self.skip(path, "not a path git would write");
            return false;
        }
        if self.main_index.entry_by_path(path).is_some() {
            return false;
        }
        if self.new_index.entry_by_path(path).is_some() {
            self.skip(
                path,
                "tracked in the new worktree (its checkout's version stays)",
            );
            return false;
        }
        let src = self.from.join(native(path));
        let dst = self.to.join(native(path));
        let done = match kind {
            Kind::Directory => return self.directory(path, &src, &dst),
            // The link itself, never what it points to.
            Kind::Symlink => {
                std::fs::read_link(&src).and_then(|t| std::os::unix::fs::symlink(t, &dst))
            }
            _ => copy_file(&src, &dst),
        };
        match done {
            Ok(()) => true,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                self.skip(path, "already in the new worktree (kept)");
                false
            }
            Err(e) => {
                self.skip(path, e.to_string());
                false
            }
        }
    }

    fn directory(&mut self, path: &BStr, src: &Path, dst: &Path) -> bool {
        if std::fs::symlink_metadata(src.join(".git")).is_ok() {
            self.skip(path, "a nested repository or worktree");
            return false;
        }
        let created = match std::fs::create_dir(dst) {
            Ok(()) => true,
            Err(e)
                if e.kind() == ErrorKind::AlreadyExists
                    && std::fs::symlink_metadata(dst).is_ok_and(|m| m.is_dir()) =>
            {
                false
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                self.skip(path, "a symlink or a file stands there in the new worktree");
                return false;
            }
            Err(e) => {
                self.skip(path, e.to_string());
                return false;
            }
        };
        let mut children: Vec<std::fs::DirEntry> = match std::fs::read_dir(src) {
            Ok(entries) => entries.flatten().collect(),
            Err(e) => {
                self.skip(path, e.to_string());
                return false;
            }
        };
        children.sort_by_key(|e| e.file_name());
        let mut wrote = false;
        for e in children {
            let Ok(ft) = e.file_type() else { continue };
            let kind = if ft.is_dir() {
                Kind::Directory
            } else if ft.is_symlink() {
                Kind::Symlink
            } else if ft.is_file() {
                Kind::File
            } else {
                continue; // sockets, FIFOs, devices: nothing git knows either
            };
            let mut child = path.to_owned();
            child.push(b'/');
            child.push_str(std::os::unix::ffi::OsStrExt::as_bytes(
                e.file_name().as_os_str(),
            ));
            wrote |= self.entry(child.as_bstr(), kind);
        }
        if created && !wrote {
            let _ = std::fs::remove_dir(dst);
        }
        wrote
    }
}

/// Copy a regular file, following a symlink at neither end and replacing nothing (the
/// source is opened with `O_NOFOLLOW`, the destination created with `O_EXCL`); its mode
/// bits go along. A reflink first, the bytes when the file system has none.
fn copy_file(src: &Path, dst: &Path) -> std::io::Result<()> {
    let mut from = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(src)?;
    let mode = from.metadata()?.permissions().mode() & 0o777;
    let mut to = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(dst)?;
    let copied = if reflink(&from, &to) {
        Ok(())
    } else {
        std::io::copy(&mut from, &mut to).map(drop)
    };
    if copied.is_err() {
        let _ = std::fs::remove_file(dst);
    }
    copied
}

/// Copy-on-write where the file system offers it: Linux's FICLONE ioctl makes `to` share
/// `from`'s blocks (btrfs, XFS, bcachefs), so a large `node_modules/` costs no space. It
/// fails on file systems without reflinks (ext4, tmpfs) or across file systems; then the
/// caller copies the bytes (`std::io::copy`, which uses `copy_file_range` on Linux).
#[cfg(target_os = "linux")]
fn reflink(from: &std::fs::File, to: &std::fs::File) -> bool {
    use std::os::unix::io::AsRawFd as _;
    // SAFETY: both descriptors are open files we own for the whole call; FICLONE reads the
    // source descriptor from its argument and changes nothing but `to`'s contents.
    #[allow(unsafe_code)]
    let r = unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) };
    r == 0
}

#[cfg(not(target_os = "linux"))]
fn reflink(_from: &std::fs::File, _to: &std::fs::File) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(text: &str) -> Patterns {
        Patterns::parse(text.as_bytes(), Path::new(FILE), Case::Sensitive).expect("valid")
    }

    #[test]
    fn a_named_directory_takes_everything_under_it_along() {
        let p = patterns("node_modules/\n/.env\nconfig/*.local\n!keep.local\n");
        assert!(p.includes("node_modules".into(), true));
        assert!(p.includes("node_modules/a/b.js".into(), false));
        assert!(
            p.includes("pkg/node_modules/x".into(), false),
            "no slash: any depth"
        );
        assert!(
            !p.includes("node_modules".into(), false),
            "a file of that name is not the directory"
        );
        assert!(p.includes(".env".into(), false));
        assert!(!p.includes("sub/.env".into(), false), "anchored");
        assert!(p.includes("config/db.local".into(), false));
        assert!(
            !p.includes("config/keep.local".into(), false),
            "negated last"
        );
        assert!(!p.includes("other".into(), false));
    }

    #[test]
    fn only_directories_a_pattern_can_reach_are_looked_into() {
        let p = patterns("/.env\nconfig/*.local\n");
        assert!(p.could_match_below("config".into()));
        assert!(!p.could_match_below("target".into()));
        assert!(!p.could_match_below("configs".into()));
        assert!(patterns("*.local\n").could_match_below("target".into()));
        assert!(patterns("**/x\n").could_match_below("target".into()));
        assert!(!patterns("!*.local\n").could_match_below("target".into()));
        assert!(!patterns("/target\n").could_match_below("target".into()));
        assert!(patterns("target/deep/\n").could_match_below("target".into()));
    }

    #[test]
    fn patterns_reaching_outside_are_refused_and_malformed_lines_skipped() {
        for bad in [
            "../secrets\n",
            "a/../../x\n",
            "/..\n",
            "ok\n!../x\n",
            "x/..\n",
        ] {
            let err = Patterns::parse(bad.as_bytes(), Path::new(FILE), Case::Sensitive);
            assert!(
                matches!(err, Err(IncludeError::Outside { .. })),
                "{bad:?} must be refused"
            );
        }
        // Lines git's parser drops (blank, comments, a lone `!`, spaces, invalid UTF-8)
        // are dropped; what remains still works.
        let p = Patterns::parse(
            b"\n# c\n!\n   \n\xff\xfe\n[\n\\\n.env\n",
            Path::new(FILE),
            Case::Sensitive,
        )
        .expect("not refused");
        assert!(p.includes(".env".into(), false));
        assert!(!p.includes("x".into(), false));
    }
}
