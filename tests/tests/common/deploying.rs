//! What the deploy tests share: a dist folder holding the built agent, running `deploy`
//! against an emulator, the writes it received, and the databricks-sdk check of their bodies.
#![allow(dead_code)]

use super::*;
use sdp_emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const VOLUME: &str = "main.tools.sdp_agent";
pub const VOLUME_PATH: &str = concat!("/Volumes/main/tools/sdp_agent/", env!("CARGO_PKG_VERSION"));
pub const APP_CLIENT: (&str, &str) = ("app-service-principal", "app-secret");

pub fn emulator_with_app_client() -> Emulator {
    emulator_with(EmulatorConfig {
        oauth_clients: vec![(APP_CLIENT.0.into(), APP_CLIENT.1.into())],
        ..Default::default()
    })
}

/// A private folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "sdp-agent-deploy-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A dist folder holding the built agent as the x86_64 release binary (a link, not a copy).
pub fn dist() -> TempDir {
    let dir = TempDir::new("dist");
    std::os::unix::fs::symlink(
        agent_bin(),
        dir.0.join("sdp-agent-x86_64-unknown-linux-musl"),
    )
    .unwrap();
    dir
}

pub fn deploy(emu: &Emulator, dist: &Path, extra: &[&str]) -> Outcome {
    let mut cmd = agent_command(emu);
    cmd.args(["deploy", "--volume", VOLUME, "--dist"])
        .arg(dist)
        .args(extra);
    finish(cmd)
}

pub fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// The writes the emulator received, as `{"call": "METHOD /path", "body"}` (uploads excluded).
pub fn writes(emu: &Emulator) -> Vec<Value> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.method != "HEAD" && !r.path.starts_with("/api/2.0/fs/"))
        .map(|r| json!({"call": format!("{} {}", r.method, r.path), "body": r.body}))
        .collect()
}

/// Every body must survive the databricks-sdk dataclasses (tests/tests/common/sdk_check.py).
pub fn assert_sdk_accepts(bodies: &[Value]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/common/sdk_check.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(bodies.to_vec()).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "bodies the databricks-sdk does not accept:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A free loopback port for the app (Databricks hands the app one in DATABRICKS_APP_PORT).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
