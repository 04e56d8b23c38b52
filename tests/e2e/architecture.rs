//! The map in ARCHITECTURE.md, checked: layers only import the layers below them, one module
//! spells wtc's ref names and trailer keys, every module says what it is for, and every
//! module doc link points into the repository.

use std::path::{Path, PathBuf};

/// The layers, lowest first (`error` and `faults` sit below everything).
const LAYERS: &[&str] = &[
    "error", "faults", "git", "worktree", "plan", "ops", "live", "commands", "cli",
];

fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read src") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out.sort();
    out
}

/// The code of a file without comments and without its `#[cfg(test)]` module.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("//") || t.starts_with("///") || t.starts_with("//!"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn layer_of(path: &Path) -> Option<&'static str> {
    let rel = path
        .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
        .ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let first = first.trim_end_matches(".rs");
    LAYERS.iter().copied().find(|l| *l == first)
}

#[test]
fn layers_only_import_lower_layers() {
    let mut violations = Vec::new();
    for file in sources() {
        let Some(layer) = layer_of(&file) else {
            continue;
        };
        let rank = LAYERS
            .iter()
            .position(|l| *l == layer)
            .expect("known layer");
        let code = code_of(&std::fs::read_to_string(&file).expect("read a source file"));
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if let Some(target) = LAYERS.iter().position(|l| *l == name) {
                if target > rank {
                    violations.push(format!("{}: {layer} -> {name}", file.display()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "upward imports:\n{}",
        violations.join("\n")
    );
}

#[test]
fn one_module_spells_ref_names_and_trailer_keys() {
    let mut violations = Vec::new();
    for file in sources() {
        if file.ends_with("plan/refnames.rs") {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).expect("read a source file"));
        for needle in ["\"refs/wtc", "refs/heads/wtc", "\"Wtc-", ": Wtc-"] {
            if code.contains(needle) {
                violations.push(format!("{}: {needle}", file.display()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "ref names or trailer keys spelled outside plan/refnames.rs:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_module_says_what_it_is_for() {
    let mut missing = Vec::new();
    for file in sources() {
        if file.ends_with("main.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read a source file");
        if !text.trim_start().starts_with("//!") {
            missing.push(file.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "modules without a //! doc:\n{}",
        missing.join("\n")
    );
}

/// Module docs point into the repository: any `*.md` they name exists.
#[test]
fn module_docs_point_into_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Files of the user's repository that wtc writes for (`wtc agents-md`), not ours.
    let users = ["AGENTS.md", "CLAUDE.md"];
    let mut broken = Vec::new();
    for file in sources() {
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for line in text.lines().filter(|l| l.trim_start().starts_with("//")) {
            for word in line.split(|c: char| c.is_whitespace() || "`()[],".contains(c)) {
                let word = word.trim_end_matches(['.', ':', ';']);
                if word.ends_with(".md")
                    && !users.contains(&word)
                    && !word.starts_with("http")
                    && !word.contains("../")
                    && !root.join(word).exists()
                {
                    broken.push(format!("{}: {word}", file.display()));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "module docs name documents that are not in the repository:\n{}",
        broken.join("\n")
    );
}
