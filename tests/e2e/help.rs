//! Every command's `--help` is snapshotted (`tests/e2e/snapshots/`), so a change to the help
//! text shows up in review. The list of commands comes from the clap definitions themselves:
//! a new command without a snapshot fails here. Update with `INSTA_UPDATE=always cargo test
//! help` (or `cargo insta review`).

use clap::CommandFactory;

use crate::env::{stdout, TestEnv};

#[test]
fn every_command_help_is_snapshotted() {
    let env = TestEnv::new();
    let dir = env.root().to_owned();
    let mut names = vec![String::new()];
    names.extend(
        wtc::cli::Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string()),
    );
    for name in &names {
        let mut args: Vec<&str> = Vec::new();
        if !name.is_empty() {
            args.push(name);
        }
        args.push("--help");
        let mut cmd = env.command(env!("CARGO_BIN_EXE_wtc"), &dir);
        cmd.args(&args).env("COLUMNS", "100");
        let out = env.run(cmd, &format!("wtc {}", args.join(" ")));
        env.assert_code(&out, 0, &format!("wtc {} --help", name));
        let snapshot = if name.is_empty() { "wtc" } else { name };
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(format!("help-{snapshot}"), stdout(&out));
        });
    }
    tally!("help: {} snapshots", names.len());
}
