fn main() {
    std::process::exit(wtc::commands::main());
}
