//! Rendering: human text or one `--json` document, and where each goes.
//!
//! Data goes to stdout, messages to stderr. With `--json` every command prints exactly one
//! document, `{"version": 1, "command": ..., ...}`, errors included, so scripts never have to
//! parse prose.

use std::io::{IsTerminal, Write};

use serde_json::{json, Map, Value};

use crate::error::{self, exit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// How to talk to the user.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ui {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub color: bool,
}

impl Ui {
    pub fn new(json: bool, quiet: bool, verbose: bool, color: ColorChoice) -> Self {
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        Ui {
            json,
            quiet,
            verbose,
            color,
        }
    }

    /// Wrap `text` in an ANSI style when colour is on.
    pub fn paint(&self, style: Style, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match style {
            Style::Good => "32",
            Style::Warn => "33",
            Style::Bad => "31",
            Style::Dim => "2",
            Style::Bold => "1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Style {
    Good,
    Warn,
    Bad,
    Dim,
    Bold,
}

/// What a command produced.
#[derive(Debug, Default)]
pub struct Report {
    pub command: &'static str,
    pub data: Map<String, Value>,
    /// Human data lines for stdout.
    pub stdout: Vec<String>,
    /// Human messages for stderr (suppressed by `-q`).
    pub stderr: Vec<String>,
    pub exit: i32,
    /// The command already printed its output as it went (`watch`: one line or one NDJSON
    /// object per event), so rendering adds nothing.
    pub streamed: bool,
}

impl Report {
    pub fn new(command: &'static str) -> Self {
        Report {
            command,
            ..Default::default()
        }
    }
    pub fn set(&mut self, key: &str, value: impl serde::Serialize) -> &mut Self {
        self.data.insert(
            key.to_string(),
            serde_json::to_value(value).expect("plain data serializes"),
        );
        self
    }
    /// Add every field of a serializable struct to the JSON document.
    pub fn extend(&mut self, fields: &impl serde::Serialize) -> &mut Self {
        if let Value::Object(map) = serde_json::to_value(fields).expect("plain data serializes") {
            self.data.extend(map);
        }
        self
    }
    pub fn out(&mut self, line: impl Into<String>) -> &mut Self {
        self.stdout.push(line.into());
        self
    }
    pub fn note(&mut self, line: impl Into<String>) -> &mut Self {
        self.stderr.push(line.into());
        self
    }
}

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
    let code = error::exit_code(err);
    let typed = error::find(err);
    let message = match typed {
        Some(t) => {
            // Keep context added around the typed error, outermost first.
            let mut parts: Vec<String> = Vec::new();
            for cause in err.chain() {
                if cause.downcast_ref::<error::WtcError>().is_some() {
                    break;
                }
                parts.push(cause.to_string());
            }
            parts.push(t.message.clone());
            parts.join(": ")
        }
        None => format!("{err:#}"),
    };
    let hint = typed.and_then(|t| t.hint.clone());
    let paths = typed.map(|t| t.paths.clone()).unwrap_or_default();
    if ui.json {
        let doc = json!({
            "version": 1,
            "command": command,
            "error": {
                "message": message,
                "hint": hint,
                "kind": typed.map(|t| t.kind),
                "paths": paths,
                "exit_code": code,
            }
        });
        print_json(&doc);
    } else {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "{} {message}", ui.paint(Style::Bad, "error:"));
        for p in &paths {
            let _ = writeln!(e, "  {p}");
        }
        if let Some(h) = hint {
            let _ = writeln!(e, "{} {h}", ui.paint(Style::Dim, "hint:"));
        }
        if code == exit::ERROR && typed.is_none() && ui.verbose {
            let _ = writeln!(e, "{err:?}");
        }
    }
    code
}

fn print_json(doc: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, doc);
    let _ = writeln!(out);
}
