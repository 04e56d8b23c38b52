//! Link options for the `wtc` binary.
//!
//! On Linux the binary is linked position-dependent (`-no-pie`): a position-independent
//! executable of this size carries ~39,000 relative relocations that the dynamic loader
//! applies at every start (~0.6 ms and ~150 page faults of each command, measured with
//! `perf stat wtc --version`: 2.2 ms against 1.6 ms); wtc is run hundreds of times by
//! agents and hooks. Shared libraries and the heap are still placed at random addresses;
//! only the executable's own image is not. Set `WTC_BUILD_PIE=1` when building to keep the
//! default (a position-independent executable).
fn main() {
    println!("cargo:rerun-if-env-changed=WTC_BUILD_PIE");
    println!("cargo:rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if linux && std::env::var_os("WTC_BUILD_PIE").is_none() {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
