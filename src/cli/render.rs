//! Rendering: human text or one `--json` document, and where each goes.
//!
//! Data goes to stdout, messages to stderr. With `--json` every command prints exactly one
//! document, `{"version": 1, "command": ..., ...}`, errors included, so scripts never have to
//! parse prose.

use std::io::Write;

use serde_json::{json, Map, Value};

use crate::commands::ui::{Report, Style, Ui};

/// Print a report; returns its exit code.
pub fn render(ui: &Ui, report: Report) -> i32 {
    if report.streamed {
        return report.exit;
    }
    if ui.json {
        let mut doc = Map::new();
        doc.insert("version".into(), json!(1));
        doc.insert("command".into(), json!(report.command));
        doc.extend(report.data);
        print_json(&Value::Object(doc));
    } else {
        let mut out = std::io::stdout().lock();
        for line in &report.stdout {
            let _ = writeln!(out, "{line}");
        }
        if !ui.quiet {
            let mut err = std::io::stderr().lock();
            for line in &report.stderr {
                let _ = writeln!(err, "{line}");
            }
        }
    }
    report.exit
}

/// Print an error; returns its exit code.
pub fn render_error(ui: &Ui, command: &str, err: &anyhow::Error) -> i32 {
    let d = super::error::diagnose(err);
    if ui.json {
        let doc = json!({
            "version": 1,
            "command": command,
            "error": d,
        });
        print_json(&doc);
    } else {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "{} {}", ui.paint(Style::Bad, "error:"), d.message);
        for p in &d.paths {
            let _ = writeln!(e, "  {p}");
        }
        if let Some(h) = &d.hint {
            let _ = writeln!(e, "{} {h}", ui.paint(Style::Dim, "hint:"));
        }
        if ui.verbose && d.kind == crate::error::Kind::Environment {
            let _ = writeln!(e, "{err:?}");
        }
    }
    d.exit_code
}

fn print_json(doc: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, doc);
    let _ = writeln!(out);
}
