//! Shared by the build scripts that run a nested `cargo build` for wasm32-wasip2
//! (`host/build.rs` for the agent, `tests/build.rs` for the sandbox probe).

use std::env;
use std::process::Command;

/// The outer build exports settings meant for the host target (flags, target triple, wrappers
/// such as clippy-driver); the nested build must not inherit them.
pub fn scrub_env(cmd: &mut Command) {
    const EXACT: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
    ];
    // Kept: where cargo lives, how it reaches the registry, and the jobserver.
    const KEEP_PREFIXES: &[&str] = &[
        "CARGO_HOME",
        // The jobserver: the nested build shares the outer build's CPU budget.
        "CARGO_MAKEFLAGS",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
    ];
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let cargo_set =
            key.starts_with("CARGO_") && !KEEP_PREFIXES.iter().any(|p| key.starts_with(p));
        if cargo_set || EXACT.contains(&key) || key.starts_with("__CARGO") {
            cmd.env_remove(key);
        }
    }
}
