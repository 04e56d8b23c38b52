//! Validation of plan and lane names.
//!
//! Names end up in ref names (`refs/wtc/<plan>/...`, `refs/heads/wtc/<plan>/<lane>`), in
//! directory names and in git config keys, so they are restricted to a small, portable alphabet:
//! `[a-z0-9][a-z0-9._-]{0,62}`, without `..` and without a trailing `.lock`.

use super::Error;

/// Plan names that would collide with wtc's own ref namespaces.
pub const RESERVED_PLAN_NAMES: &[&str] = &["remotes", "archive"];

/// Check a lane name; the error says exactly what is wrong.
///
/// ```
/// assert!(wtc::plan::names::validate_lane("schema").is_ok());
/// assert!(wtc::plan::names::validate_lane("Bad Name").is_err());
/// assert!(wtc::plan::names::validate_lane("x.lock").is_err());
/// ```
pub fn validate_lane(name: &str) -> Result<(), Error> {
    validate(name, "lane")
}

/// Check a plan name, including the reserved names.
pub fn validate_plan(name: &str) -> Result<(), Error> {
    validate(name, "plan")?;
    if RESERVED_PLAN_NAMES.contains(&name) {
        return Err(Error::ReservedName {
            name: name.to_string(),
        });
    }
    Ok(())
}

fn validate(name: &str, what: &'static str) -> Result<(), Error> {
    let problem = problem(name);
    match problem {
        None => Ok(()),
        Some(why) => Err(Error::InvalidName {
            what,
            shown: shown(name),
            why,
        }),
    }
}

fn problem(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return Some("must not be empty");
    };
    if bytes.len() > 63 {
        return Some("longer than 63 characters");
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Some("must start with a lowercase letter or a digit");
    }
    if let Some(bad) = bytes.iter().find(|b| {
        !(b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    }) {
        return Some(if bad.is_ascii_uppercase() {
            "uppercase letters are not allowed"
        } else {
            "only a-z, 0-9, '.', '_' and '-' are allowed"
        });
    }
    if name.contains("..") {
        return Some("'..' is not allowed");
    }
    if name.ends_with(".lock") {
        return Some("must not end with '.lock'");
    }
    if name.ends_with('.') {
        return Some("must not end with '.'");
    }
    None
}

fn shown(name: &str) -> String {
    if name.is_empty() {
        "''".into()
    } else if name.len() > 80 {
        format!("'{}...'", name.chars().take(60).collect::<String>())
    } else {
        format!("'{}'", name.escape_debug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["schema", "a", "0", "lane-1", "v1.2_x", &"a".repeat(63)] {
            assert!(validate_lane(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "Bad",
            "bad name",
            "..",
            "a..b",
            "x.lock",
            "-x",
            ".x",
            "_x",
            "a/b",
            "a\\b",
            "é",
            "x.",
            &"a".repeat(64),
            "a\0b",
            "a:b",
            "a~b",
            "a^b",
            "a?b",
            "a*b",
            "a[b",
        ] {
            assert!(validate_lane(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn reserved_plan_names() {
        assert!(validate_plan("remotes").is_err());
        assert!(validate_plan("archive").is_err());
        assert!(validate_lane("remotes").is_ok());
    }
}
