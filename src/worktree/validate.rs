//! Paths from incoming trees are data from another machine: refuse any that could write
//! outside the worktree or into `.git` (ARCHITECTURE.md, invariant 4), before anything is written.

use std::collections::BTreeSet;

use anyhow::Result;
use gix::bstr::{BStr, ByteSlice};
use gix::object::tree::EntryKind;

use super::diff::{shown_path, PathChange};

/// Which names git's own checkout refuses in this repository, beyond `..`, `.git` and
/// absolute paths: `core.protectNTFS` (default on) refuses the NTFS spellings of `.git`
/// (`git~1`, `.git.`, `.git::$INDEX_ALLOCATION`), `core.protectHFS` (default on macOS
/// only) the HFS+ ones (`.g\u{200c}it`). On Linux git checks out everything else a tree can
/// name (newlines, backslashes, `CON`, `a:b`, trailing dots): so does wtc.
#[derive(Debug, Clone, Copy)]
pub struct PathRules {
    pub protect_ntfs: bool,
    pub protect_hfs: bool,
}

impl Default for PathRules {
    fn default() -> Self {
        PathRules {
            protect_ntfs: true,
            protect_hfs: cfg!(target_os = "macos"),
        }
    }
}

impl PathRules {
    /// The rules `repo`'s configuration sets (git's defaults where it is silent).
    pub fn of(repo: &gix::Repository) -> PathRules {
        let config = repo.config_snapshot();
        let d = PathRules::default();
        PathRules {
            protect_ntfs: config.boolean("core.protectNTFS").unwrap_or(d.protect_ntfs),
            protect_hfs: config.boolean("core.protectHFS").unwrap_or(d.protect_hfs),
        }
    }
}

/// Refuse any path that could write outside the worktree or into `.git` (invariant 4), or
/// that git's own checkout would refuse under `rules`.
pub fn validate_path(path: &BStr, kind: Option<EntryKind>, rules: PathRules) -> Result<()> {
    let opts = gix::validate::path::component::Options {
        // git on Linux checks out Windows-illegal names (`CON`, `a:b`, newlines): only
        // Windows itself refuses them.
        protect_windows: cfg!(windows),
        protect_hfs: rules.protect_hfs,
        protect_ntfs: rules.protect_ntfs,
    };
    let bad = |why: &str| -> anyhow::Error {
        super::Error::UnsafePath {
            path: shown_path(path),
            why: why.to_string(),
        }
        .into()
    };
    if path.is_empty() || path.starts_with(b"/") {
        return Err(bad("absolute or empty"));
    }
    // Linux's PATH_MAX and NAME_MAX: longer paths cannot be written, and refusing them here
    // keeps a hostile 10,000-level path from leaving half its directories behind.
    if path.len() >= 4096 {
        return Err(bad("longer than 4095 bytes"));
    }
    let comps: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
    for (i, comp) in comps.iter().enumerate() {
        let is_last = i + 1 == comps.len();
        let mode = match (is_last, kind) {
            (true, Some(EntryKind::Link)) => Some(gix::validate::path::component::Mode::Symlink),
            _ => None,
        };
        if comp.is_empty() || *comp == b"." || *comp == b".." {
            return Err(bad("empty, '.' or '..' component"));
        }
        if comp.contains(&0) {
            return Err(bad("NUL in a component"));
        }
        // A backslash is a directory separator only on Windows (where git refuses it).
        if cfg!(windows) && comp.contains(&b'\\') {
            return Err(bad("backslash in a component"));
        }
        if comp.len() > 255 {
            return Err(bad("a component longer than 255 bytes"));
        }
        gix::validate::path::component(comp.as_bstr(), mode, opts)
            .map_err(|e| bad(&e.to_string()))?;
    }
    Ok(())
}

/// Check every incoming path before anything is written: each must be safe on its own
/// ([`validate_path`]), and no incoming leaf may also be a directory of another incoming leaf
/// (a corrupt tree could otherwise create a symlink `e` and then be refused at `e/x`, leaving
/// half an update behind).
pub fn validate_new_paths(changes: &[PathChange], rules: PathRules) -> Result<()> {
    let leaves: BTreeSet<&BStr> = changes
        .iter()
        .filter(|c| c.new.is_some())
        .map(|c| c.path.as_bstr())
        .collect();
    for c in changes {
        let Some(new) = c.new else { continue };
        validate_path(c.path.as_bstr(), Some(new.kind), rules)?;
        for (i, b) in c.path.iter().enumerate() {
            if *b == b'/' && leaves.contains(c.path[..i].as_bstr()) {
                return Err(super::Error::FileAndDirectory {
                    file: format!("{:?}", c.path[..i].as_bstr()),
                    path: format!("{:?}", c.path),
                }
                .into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 6): a 10,000-level path failed half-way with ENAMETOOLONG, leaving
    /// its directories behind, and quoted the whole path in the error.
    #[test]
    fn overlong_paths_are_refused_with_a_short_message() {
        let deep = vec!["d"; 10_000].join("/");
        let err = validate_path(
            deep.as_str().into(),
            Some(EntryKind::Blob),
            PathRules::default(),
        )
        .unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
        let long_name = "n".repeat(256);
        assert!(validate_path(
            long_name.as_str().into(),
            Some(EntryKind::Blob),
            PathRules::default()
        )
        .is_err());
        let ok = format!("{}/x", "n".repeat(255));
        assert!(validate_path(
            ok.as_str().into(),
            Some(EntryKind::Blob),
            PathRules::default()
        )
        .is_ok());
    }

    /// core.protectHFS refuses the HFS+ spellings of `.git`; off (Linux's default), they are
    /// ordinary names there.
    #[test]
    fn hfs_protection_follows_the_setting() {
        let alias = ".g\u{200c}it/config";
        let on = PathRules {
            protect_ntfs: true,
            protect_hfs: true,
        };
        let off = PathRules {
            protect_ntfs: true,
            protect_hfs: false,
        };
        assert!(validate_path(alias.into(), Some(EntryKind::Blob), on).is_err());
        assert!(validate_path(alias.into(), Some(EntryKind::Blob), off).is_ok());
        assert!(validate_path(".git/config".into(), Some(EntryKind::Blob), off).is_err());
    }

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "../x",
            "/etc/passwd",
            ".git/config",
            "a/.git/hooks/x",
            ".GIT/x",
            "a/../../x",
            ".git./x",
            "git~1/x",
            "a//b",
            "",
        ] {
            assert!(
                validate_path(bad.into(), Some(EntryKind::Blob), PathRules::default()).is_err(),
                "{bad:?} must be refused"
            );
        }
        for ok in [
            "a",
            "a/b/c.txt",
            ".gitignore",
            "x.git",
            ".github/workflows/ci.yml",
            // Names git checks out on Linux (issue 10, case 6).
            "new\nline.txt",
            "back\\slash",
            "CON",
            "a:b",
            "trailing.",
        ] {
            assert!(
                validate_path(ok.into(), Some(EntryKind::Blob), PathRules::default()).is_ok(),
                "{ok:?} is fine"
            );
        }
    }
}
