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
        let paged = match report.pager.as_deref() {
            Some(pager) if !report.stdout.is_empty() => page(pager, &report.stdout),
            _ => false,
        };
        if !paged {
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
/// short output stays on the screen, colours pass through). `false` when the pager could not
/// be started or run (nothing was shown): the caller prints them itself.
fn page(pager: &str, lines: &[String]) -> bool {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(pager).stdin(std::process::Stdio::piped());
    for (key, value) in [("LESS", "FRX"), ("LV", "-c")] {
        if std::env::var_os(key).is_none() {
            cmd.env(key, value);
        }
    }
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    // Ctrl-C is a key of the pager (less stops a search with it), pressed twice it would
    // kill us and leave the pager holding the terminal: like git, wait for it.
    let _quiet = SignalsIgnored::now();
    if let Some(stdin) = child.stdin.take() {
        let mut stdin = std::io::BufWriter::new(stdin);
        for line in lines {
            // The user quit the pager early: stop writing, as git does.
            if writeln!(stdin, "{line}").is_err() {
                break;
            }
        }
        let _ = stdin.flush();
    }
    // 127/126: the shell found no such pager, or cannot run it (no `less` installed).
    child
        .wait()
        .is_ok_and(|s| !matches!(s.code(), Some(126 | 127)))
}

/// SIGINT and SIGQUIT ignored while it lives (the pager, started before, keeps its own).
struct SignalsIgnored {
    old: Vec<(libc::c_int, libc::sigaction)>,
}

impl SignalsIgnored {
    fn now() -> Self {
        let mut old = Vec::new();
        for sig in [libc::SIGINT, libc::SIGQUIT] {
            // SAFETY: plain sigaction calls with zero-initialised structs; the previous
            // action is kept and restored on drop.
            #[allow(unsafe_code)]
            unsafe {
                let mut ignore: libc::sigaction = std::mem::zeroed();
                ignore.sa_sigaction = libc::SIG_IGN;
                libc::sigemptyset(&mut ignore.sa_mask);
                let mut previous: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &ignore, &mut previous) == 0 {
                    old.push((sig, previous));
                }
            }
        }
        SignalsIgnored { old }
    }
}

impl Drop for SignalsIgnored {
    fn drop(&mut self) {
        for (sig, previous) in &self.old {
            // SAFETY: restoring the action saved in `now`.
            #[allow(unsafe_code)]
            unsafe {
                libc::sigaction(*sig, previous, std::ptr::null_mut());
            }
        }
    }
}

fn print_json(doc: &Value) {
    // Encoded whole, then written at once: stdout is line-buffered, and writing the document
    // straight into it cost a system call per line.
    let mut buf = Vec::with_capacity(1024);
    if serde_json::to_writer_pretty(&mut buf, doc).is_err() {
        return;
    }
    buf.push(b'\n');
    let _ = std::io::stdout().lock().write_all(&buf);
}
