//! What a command produced ([`Report`]) and how to talk ([`Ui`]): the data `cli::render`
//! prints as human text or as one `--json` document.

use std::io::IsTerminal;

use serde_json::{Map, Value};

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
    /// Colour on stderr (messages).
    pub color: bool,
    /// Colour on stdout (data such as `diff`'s patch): the same rules, asked of stdout.
    pub color_out: bool,
}

impl Ui {
    pub fn new(json: bool, quiet: bool, verbose: bool, color: ColorChoice) -> Self {
        Ui {
            json,
            quiet,
            verbose,
            color: wants_color(color, std::io::stderr().is_terminal()),
            color_out: wants_color(color, std::io::stdout().is_terminal()),
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
            Style::Meta => "36",
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
    /// Hunk headers of a patch (cyan, as git has them).
    Meta,
}

/// Colour on a stream, by `--color` and the environment.
fn wants_color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        // The ecosystem's convention: NO_COLOR (any non-empty value) turns colour off,
        // CLICOLOR_FORCE (not "0") turns it on off a terminal, CLICOLOR=0 turns it off.
        ColorChoice::Auto => {
            let set = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
            if set("NO_COLOR").is_some() {
                false
            } else if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
                true
            } else if set("CLICOLOR").is_some_and(|v| v == "0") {
                false
            } else {
                terminal
            }
        }
    }
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
    /// Show stdout through this pager command (`sh -c`), as git pages `git diff`.
    pub pager: Option<String>,
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
