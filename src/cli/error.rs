//! The one place an error becomes what the user sees: a kind, an exit code, a message, a
//! `hint:` line and the paths involved (and the same as `--json`).

use crate::error::{Diagnostic, Kind};

/// An error, ready to show.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Diagnosis {
    pub message: String,
    pub hint: Option<String>,
    pub kind: Kind,
    pub paths: Vec<String>,
    pub exit_code: i32,
    /// A typed error's [`Diagnostic::data`], as a field of its own.
    #[serde(flatten)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// The typed error in `err`'s chain, if any (the outermost one).
pub fn typed(err: &anyhow::Error) -> Option<&dyn Diagnostic> {
    err.chain().find_map(crate::commands::diagnostic)
}

/// Turn any error into what the user sees. A typed error gives its kind, hint and paths;
/// the context added around it stays in the message, outermost first. An untyped error is
/// the environment failing (git, I/O), and its whole chain is the message.
pub fn diagnose(err: &anyhow::Error) -> Diagnosis {
    let Some(t) = typed(err) else {
        return Diagnosis {
            message: format!("{err:#}"),
            hint: None,
            kind: Kind::Environment,
            paths: Vec::new(),
            exit_code: Kind::Environment.exit_code(),
            data: Default::default(),
        };
    };
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        if crate::commands::diagnostic(cause).is_some() {
            break;
        }
        parts.push(cause.to_string());
    }
    parts.push(t.to_string());
    let kind = t.kind();
    Diagnosis {
        message: parts.join(": "),
        hint: t.hint(),
        kind,
        paths: t.paths(),
        exit_code: kind.exit_code(),
        data: t
            .data()
            .map(|(k, v)| (k.to_string(), v))
            .into_iter()
            .collect(),
    }
}
