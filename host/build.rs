//! Embeds the sdp-agent component into the host binary.
//!
//! `SDP_AGENT_GUEST_WASM=/path/to/component.wasm` embeds that file as is (fast path for CI and
//! for trying a prebuilt guest). Otherwise the guest is built here with a nested
//! `cargo build --target wasm32-wasip2 --release`, in its own target directory: the outer build
//! holds the lock on `target/`, so sharing it would deadlock.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../build-support/nested_cargo.rs"]
mod nested_cargo;
use nested_cargo::scrub_env;

const WASM_ENV: &str = "SDP_AGENT_GUEST_WASM";
const GUEST_TARGET: &str = "wasm32-wasip2";

fn main() {
    println!("cargo:rerun-if-env-changed={WASM_ENV}");
    let wasm = match env::var_os(WASM_ENV).filter(|v| !v.is_empty()) {
        Some(path) => prebuilt(PathBuf::from(path)),
        None => build_guest(),
    };
    println!("cargo:rustc-env={WASM_ENV}={}", wasm.display());
}

fn prebuilt(path: PathBuf) -> PathBuf {
    let path = path.canonicalize().unwrap_or_else(|e| {
        panic!(
            "{WASM_ENV}={}: cannot read the component: {e}",
            path.display()
        )
    });
    println!("cargo:rerun-if-changed={}", path.display());
    path
}

fn build_guest() -> PathBuf {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ lives in the workspace root")
        .to_path_buf();
    let guest = workspace.join("guest");
    let target_dir = workspace.join("target").join("guest-build");
    for watched in [
        guest.join("src"),
        guest.join("Cargo.toml"),
        workspace.join("wit"),
        workspace.join("Cargo.lock"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "-p",
        "sdp-agent-guest",
        "--release",
        "--target",
        GUEST_TARGET,
    ])
    .arg("--manifest-path")
    .arg(guest.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir);
    scrub_env(&mut cmd);

    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo for the guest: {e}"));
    if !status.success() {
        panic!(
            "building the sdp-agent component failed ({status}); see the cargo output above.\n\
             If the target is missing: rustup target add {GUEST_TARGET}\n\
             Or embed a prebuilt component: {WASM_ENV}=/path/to/sdp_agent_guest.wasm cargo build -p sdp-agent"
        );
    }
    let wasm = target_dir
        .join(GUEST_TARGET)
        .join("release")
        .join("sdp_agent_guest.wasm");
    assert!(
        Path::new(&wasm).is_file(),
        "the guest build succeeded but {} is missing",
        wasm.display()
    );
    wasm
}
