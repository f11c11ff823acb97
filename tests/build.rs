//! Builds the sandbox probe component (`tests/components/probe`) for wasm32-wasip2 and hands
//! its path to the tests as `SDP_PROBE_WASM`.
//!
//! Same scheme as `host/build.rs`: a nested `cargo build` in its own target directory, because
//! the outer build holds the lock on `target/`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

#[path = "../build-support/nested_cargo.rs"]
mod nested_cargo;

const TARGET: &str = "wasm32-wasip2";
const PACKAGE: &str = "sdp-probe-component";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("tests/ lives in the workspace root")
        .to_path_buf();
    let probe = manifest_dir.join("components").join("probe");
    let target_dir = workspace.join("target").join("probe-build");
    for watched in [
        probe.join("src"),
        probe.join("Cargo.toml"),
        workspace.join("wit"),
        workspace.join("Cargo.lock"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", PACKAGE, "--release", "--target", TARGET])
        .arg("--manifest-path")
        .arg(probe.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    nested_cargo::scrub_env(&mut cmd);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo for the probe component: {e}"));
    if !status.success() {
        panic!(
            "building {PACKAGE} failed ({status}); see the cargo output above.\n\
             If the target is missing: rustup target add {TARGET}"
        );
    }
    let wasm = target_dir
        .join(TARGET)
        .join("release")
        .join("sdp_probe_component.wasm");
    assert!(
        wasm.is_file(),
        "the probe build succeeded but {} is missing",
        wasm.display()
    );
    println!("cargo:rustc-env=SDP_PROBE_WASM={}", wasm.display());
}
