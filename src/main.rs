fn main() {
    std::process::exit(wtc::cli::main());
}
