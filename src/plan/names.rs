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

/// The hint for a name that does not exist: the closest existing one ("did you mean
/// 'services'?"), and every choice when there are few (`what`: "its lanes").
pub fn suggest(wrong: &str, known: &[String], what: &str) -> String {
    // Close enough to be a typo: edits within a third of the length (at least one).
    let closest = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(wrong, k), k))
        .filter(|(d, k)| *d <= (k.chars().count().max(wrong.chars().count()) / 3).max(1))
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, k)| k.as_str())
        .or_else(|| {
            // A prefix ("serv" for "services") is a likely slip too.
            let mut prefixed = known
                .iter()
                .filter(|k| !wrong.is_empty() && k.starts_with(wrong));
            match (prefixed.next(), prefixed.next()) {
                (Some(only), None) => Some(only.as_str()),
                _ => None,
            }
        });
    const FEW: usize = 8;
    let list = (known.len() <= FEW).then(|| format!("{what} are: {}", known.join(", ")));
    match (closest, list) {
        (Some(c), Some(l)) => format!("did you mean '{c}'? {l}"),
        (Some(c), None) => format!("did you mean '{c}'?"),
        (None, Some(l)) => l,
        (None, None) => format!(
            "{what}: {} (and {} more)",
            known[..FEW].join(", "),
            known.len() - FEW
        ),
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
    fn suggestions_name_the_closest_and_list_few() {
        let known: Vec<String> = ["schema", "services", "hooks"].map(String::from).to_vec();
        assert_eq!(
            suggest("servces", &known, "its lanes"),
            "did you mean 'services'? its lanes are: schema, services, hooks"
        );
        assert_eq!(
            suggest("serv", &known, "its lanes"),
            "did you mean 'services'? its lanes are: schema, services, hooks"
        );
        assert_eq!(
            suggest("zzz", &known, "its lanes"),
            "its lanes are: schema, services, hooks"
        );
        let many: Vec<String> = (0..12).map(|i| format!("lane{i}")).collect();
        assert_eq!(
            suggest("lane11x", &many, "its lanes"),
            "did you mean 'lane11'?"
        );
    }

    #[test]
    fn reserved_plan_names() {
        assert!(validate_plan("remotes").is_err());
        assert!(validate_plan("archive").is_err());
        assert!(validate_lane("remotes").is_ok());
    }
}
