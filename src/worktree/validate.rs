//! Paths from incoming trees are data from another machine: refuse any that could write
//! outside the worktree or into `.git` (ARCHITECTURE.md, invariant 4), before anything is written.

use std::collections::BTreeSet;

use anyhow::Result;
use gix::bstr::{BStr, ByteSlice};
use gix::object::tree::EntryKind;

use super::diff::{shown_path, PathChange};

/// Refuse any path that could write outside the worktree or into `.git` (invariant 4).
pub fn validate_path(path: &BStr, kind: Option<EntryKind>) -> Result<()> {
    let opts = gix::validate::path::component::Options {
        protect_windows: true,
        protect_hfs: true,
        protect_ntfs: true,
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
        if comp.contains(&0) || comp.contains(&b'\\') {
            return Err(bad("NUL or backslash in a component"));
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
pub fn validate_new_paths(changes: &[PathChange]) -> Result<()> {
    let leaves: BTreeSet<&BStr> = changes
        .iter()
        .filter(|c| c.new.is_some())
        .map(|c| c.path.as_bstr())
        .collect();
    for c in changes {
        let Some(new) = c.new else { continue };
        validate_path(c.path.as_bstr(), Some(new.kind))?;
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
        let err = validate_path(deep.as_str().into(), Some(EntryKind::Blob)).unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
        let long_name = "n".repeat(256);
        assert!(validate_path(long_name.as_str().into(), Some(EntryKind::Blob)).is_err());
        let ok = format!("{}/x", "n".repeat(255));
        assert!(validate_path(ok.as_str().into(), Some(EntryKind::Blob)).is_ok());
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
                validate_path(bad.into(), Some(EntryKind::Blob)).is_err(),
                "{bad:?} must be refused"
            );
        }
        for ok in [
            "a",
            "a/b/c.txt",
            ".gitignore",
            "x.git",
            ".github/workflows/ci.yml",
        ] {
            assert!(
                validate_path(ok.into(), Some(EntryKind::Blob)).is_ok(),
                "{ok:?} is fine"
            );
        }
    }
}
