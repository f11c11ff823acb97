//! The release build in `dist/` (`scripts/release`): each binary is statically linked, under
//! 40 MB, matches its .sha256 file, runs `--version` and answers `predict` against the emulator
//! (the aarch64 one under `qemu-aarch64-static`); the published component is a component and
//! matches its .sha256.
//!
//! A release build takes ~15 minutes, so plain `cargo test` does not make one: when `dist/`
//! has no binaries these tests say so on stderr and pass, unless `SDP_REQUIRE_RELEASE` names
//! the target (`scripts/test`, hence CI, builds the x86_64 one and sets it: there a missing
//! binary fails). Run them for real with
//! `scripts/release && cargo test -p sdp-agent-e2e --test release`.

mod common;

use common::{agent_command, emulator, finish, full_payload};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const MAX_BYTES: u64 = 40 * 1024 * 1024;

fn dist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist")
}

/// Said outside the test harness's capture, so a skip is visible in every run.
fn skip(what: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {what} (run scripts/release first; see README, \"Release binaries\")"
    );
}

fn check_sha256_file(path: &Path) {
    let listed = std::fs::read_to_string(format!("{}.sha256", path.display()))
        .unwrap_or_else(|e| panic!("{}.sha256: {e}", path.display()));
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    let actual = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        listed.split_whitespace().next(),
        actual.split_whitespace().next(),
        "{} does not match its .sha256",
        path.display()
    );
}

fn check_binary(triple: &str, runner: Option<&str>) {
    let bin = dist().join(format!("sdp-agent-{triple}"));
    if !bin.exists() {
        let required = std::env::var("SDP_REQUIRE_RELEASE").unwrap_or_default();
        assert!(
            !required.split(',').any(|t| t.trim() == triple),
            "{} is not built, but SDP_REQUIRE_RELEASE={required} requires it",
            bin.display()
        );
        return skip(&format!("{} is not built", bin.display()));
    }
    let described = Command::new("file")
        .arg("-L")
        .arg(&bin)
        .output()
        .expect("`file` runs");
    let described = String::from_utf8_lossy(&described.stdout).into_owned();
    assert!(
        described.contains("statically linked") || described.contains("static-pie linked"),
        "{triple} is not static: {described}"
    );
    let machine = if triple.starts_with("aarch64") {
        "ARM aarch64"
    } else {
        "x86-64"
    };
    assert!(described.contains(machine), "{triple}: {described}");
    let size = std::fs::metadata(&bin).unwrap().len();
    assert!(
        size < MAX_BYTES,
        "{triple} is {size} bytes (limit {MAX_BYTES})"
    );
    check_sha256_file(&bin);

    // The binary, run directly or by the CPU emulator.
    let command = || match runner {
        Some(emulator) => {
            let mut cmd = Command::new(emulator);
            cmd.arg(&bin);
            cmd
        }
        None => Command::new(&bin),
    };
    if let Some(emulator) = runner {
        let found = Command::new(emulator).arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "{emulator} is needed to run the {triple} binary: scripts/setup --release (apt-get install qemu-user-static)"
        );
    }
    let out = command().arg("--version").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{triple} --version: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        concat!("sdp-agent ", env!("CARGO_PKG_VERSION"))
    );

    // The embedded component works: predict submits the run (same environment as the tests'
    // own binary gets).
    let emu = emulator();
    let payload = full_payload(&emu, "release_binary");
    let template = agent_command(&emu);
    let mut cmd = command();
    for (key, value) in template.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    cmd.arg("predict").arg(payload.to_string());
    let out = finish(cmd);
    let answer = out.assert_ok();
    let runs = emu.runs();
    assert_eq!(runs.len(), 1, "{triple}: {answer}");
    assert_eq!(answer["run_id"], runs[0]["run_id"], "{triple}");
}

#[test]
fn x86_64_binary_is_static_and_runs() {
    check_binary("x86_64-unknown-linux-musl", None);
}

#[test]
fn aarch64_binary_is_static_and_runs_under_qemu() {
    check_binary("aarch64-unknown-linux-musl", Some("qemu-aarch64-static"));
}

#[test]
fn published_component_matches_its_checksum() {
    let wasm = dist().join("sdp_agent_guest.wasm");
    if !wasm.exists() {
        return skip(&format!("{} is not built", wasm.display()));
    }
    let bytes = std::fs::read(&wasm).unwrap();
    // A component (layer 1), not a core module: `\0asm`, version 0x0d, layer 1.
    assert_eq!(
        bytes[..8],
        *b"\0asm\x0d\x00\x01\x00",
        "not a WebAssembly component"
    );
    check_sha256_file(&wasm);
}

/// `scripts/release --component` publishes the component every binary embeds (the one the
/// workspace build made in target/guest-build) with its checksum, without a cross build: this
/// runs in every `cargo test`, so the published-component path cannot rot between releases.
#[test]
fn component_release_publishes_the_embedded_wasm_with_its_checksum() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::env::temp_dir().join(format!("sdp-agent-release-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts/release"))
        .arg("--component")
        .env("SDP_AGENT_DIST", &out);
    // The nested cargo must see the build the workspace's build script made, not this test's
    // cargo environment (which would change its fingerprints and rebuild the guest).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" || key.contains("RUSTFLAGS") {
            cmd.env_remove(key);
        }
    }
    let run = cmd.output().expect("bash runs scripts/release");
    assert!(
        run.status.success(),
        "scripts/release --component: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let wasm = out.join("sdp_agent_guest.wasm");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        wasm.display().to_string()
    );
    let published = std::fs::read(&wasm).unwrap();
    assert_eq!(published[..8], *b"\0asm\x0d\x00\x01\x00", "not a component");
    let embedded =
        std::fs::read(root.join("target/guest-build/wasm32-wasip2/release/sdp_agent_guest.wasm"))
            .unwrap();
    assert!(
        published == embedded,
        "the published component is not the embedded one"
    );
    check_sha256_file(&wasm);
    let listed = std::fs::read_to_string(out.join("sdp_agent_guest.wasm.sha256")).unwrap();
    assert!(
        listed.trim_end().ends_with("  sdp_agent_guest.wasm"),
        "a .sha256 names the file as `sha256sum -c` expects: {listed}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}
