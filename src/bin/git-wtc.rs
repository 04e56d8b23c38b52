//! `git-wtc`: what git runs for `git wtc ...` (git finds `git-<name>` on the PATH). The same
//! program as `wtc`; help and messages name it `git wtc`.

fn main() {
    std::process::exit(wtc::cli::main());
}
