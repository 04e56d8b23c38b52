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
        if let Some(pager) = report
            .pager
            .as_deref()
            .filter(|_| !report.stdout.is_empty())
        {
            page(pager, &report.stdout);
        } else {
            let mut out = std::io::stdout().lock();
            for line in &report.stdout {
                let _ = writeln!(out, "{line}");
            }
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

/// Show `lines` through `pager` (`sh -c`, with git's defaults `LESS=FRX` and `LV=-c`: a
/// short output stays on the screen, colours pass through); if it cannot start, print them.
fn page(pager: &str, lines: &[String]) {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(pager).stdin(std::process::Stdio::piped());
    for (key, value) in [("LESS", "FRX"), ("LV", "-c")] {
        if std::env::var_os(key).is_none() {
            cmd.env(key, value);
        }
    }
    match cmd.spawn() {
        Ok(mut child) => {
            if let Some(mut stdin) = child.stdin.take() {
                for line in lines {
                    // The user quit the pager early: stop writing, as git does.
                    if writeln!(stdin, "{line}").is_err() {
                        break;
                    }
                }
            }
            // 127: the shell found no such pager (no `less` installed): print it here.
            if child.wait().is_ok_and(|s| s.code() != Some(127)) {
                return;
            }
            let mut out = std::io::stdout().lock();
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
        }
        Err(_) => {
            let mut out = std::io::stdout().lock();
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
        }
    }
}

fn print_json(doc: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, doc);
    let _ = writeln!(out);
}
