//! `wtc completions SHELL` and `wtc man`: shell completion scripts and man pages, both made
//! from the clap definitions in [`super`] (one source for `--help`, completion and `man`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};

/// Print a shell completion script; lane and plan names complete from the repository you
/// stand in.
///
/// Enable it (once per shell start-up file):
///
///   bash:        echo 'source <(wtc completions bash)' >> ~/.bashrc
///   zsh:         echo 'source <(wtc completions zsh)' >> ~/.zshrc
///   fish:        echo 'wtc completions fish | source' >> ~/.config/fish/config.fish
///   elvish:      echo 'eval (wtc completions elvish | slurp)' >> ~/.config/elvish/rc.elv
///   powershell:  wtc completions powershell | Out-String | Invoke-Expression
///
/// The script calls back into wtc (`COMPLETE=<shell> wtc ...`) while completing, so it stays
/// right across upgrades.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_parser = ["bash", "zsh", "fish", "elvish", "powershell"])]
    pub shell: String,
}

/// Write the man pages: wtc(1), one per subcommand (wtc-sync(1)...), and the same under the
/// names git looks for (git-wtc(1), git-wtc-sync(1)), so `man wtc`, `man wtc-sync` and
/// `git help wtc` find them.
///
/// Without --dir, prints wtc(1) on stdout. To install for your user:
///
///   wtc man --dir ~/.local/share/man/man1
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ManArgs {
    /// Write every page into DIR (created if missing).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The environment variable the completion scripts set to call back into wtc.
pub const COMPLETE_VAR: &str = "COMPLETE";

pub fn completions(bin: &str, args: CompletionsArgs) -> Result<i32> {
    let shells = clap_complete::env::Shells::builtins();
    let shell = shells
        .completer(&args.shell)
        .context("clap's completion generator knows this shell")?;
    let program = match bin {
        "git wtc" => "git-wtc",
        _ => "wtc",
    };
    let mut out = std::io::stdout().lock();
    shell.write_registration(COMPLETE_VAR, program, program, program, &mut out)?;
    out.flush()?;
    Ok(0)
}

/// Every page: `(file name, roff)`.
pub fn pages(cmd: &clap::Command) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let root = cmd.clone();
    let version: &'static str = Box::leak(
        root.get_version()
            .unwrap_or_default()
            .to_string()
            .into_boxed_str(),
    );
    for (prefix, bin) in [("wtc", "wtc"), ("git-wtc", "git wtc")] {
        let mut page = Vec::new();
        clap_mangen::Man::new(root.clone().name(prefix).bin_name(bin)).render(&mut page)?;
        out.push((format!("{prefix}.1"), page));
        for sub in root.get_subcommands() {
            if sub.is_hide_set() {
                continue;
            }
            let name = format!("{prefix}-{}", sub.get_name());
            let shown = format!("{bin} {}", sub.get_name());
            // clap names are `&'static str` (no `string` feature): this runs once per page.
            let name: &'static str = Box::leak(name.into_boxed_str());
            let sub = sub.clone().name(name).bin_name(shown).version(version);
            let mut page = Vec::new();
            clap_mangen::Man::new(sub).render(&mut page)?;
            out.push((format!("{name}.1"), page));
        }
    }
    Ok(out)
}

pub fn man(cmd: &clap::Command, args: ManArgs) -> Result<i32> {
    let pages = pages(cmd)?;
    match args.dir {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&pages[0].1)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, page) in &pages {
                let path = dir.join(name);
                std::fs::write(&path, page)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            eprintln!("wrote {} man pages to {}", pages.len(), dir.display());
        }
    }
    Ok(0)
}
