//! What the credential tests share: a throwaway home, the agent with no workspace settings of
//! its own, an emulator that only OAuth M2M opens, and readers of what it received.

use super::{Outcome, agent_command, emulator_with, finish, full_payload};
use sdp_emulator::{Emulator, EmulatorConfig, RecordedRequest};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TOKEN_PATH: &str = "/oidc/v1/token";
pub const CLIENT_ID: &str = "svc-e2e-7f3a";
pub const CLIENT_SECRET: &str = "dose-e2e-secret-91c4";

/// A directory of its own per test (removed on drop): a fake home, config files.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("sdp-agent-e2e-auth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write config");
        path
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The agent with no workspace settings at all in its environment, and `home` as its home
/// directory (so the developer's own ~/.databrickscfg is never read).
pub fn bare_command(emu: &Emulator, home: &Path) -> Command {
    let mut cmd = agent_command(emu);
    cmd.env_remove("DATABRICKS_HOST")
        .env_remove("DATABRICKS_TOKEN")
        .env("HOME", home);
    cmd
}

pub fn predict_with(mut cmd: Command, emu: &Emulator, flags: &[&str]) -> Outcome {
    let payload = full_payload(emu, "auth_e2e");
    cmd.args(flags).arg("predict").arg(payload.to_string());
    finish(cmd)
}

/// Requests the component made (everything but the host's own token requests).
pub fn guest_requests(emu: &Emulator) -> Vec<RecordedRequest> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path != TOKEN_PATH)
        .collect()
}

pub fn token_requests(emu: &Emulator) -> Vec<RecordedRequest> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path == TOKEN_PATH)
        .collect()
}

/// Every guest request carried exactly `expected`, and there was at least one.
pub fn assert_all_carried(emu: &Emulator, expected: &str) {
    let requests = guest_requests(emu);
    assert!(!requests.is_empty(), "the workspace saw no request");
    for r in &requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some(expected),
            "{} {}",
            r.method,
            r.path
        );
    }
}

pub fn m2m_emulator(ttl_secs: u64) -> Emulator {
    emulator_with(EmulatorConfig {
        // Only OAuth tokens open the workspace: a PAT could not have been used by mistake.
        token: None,
        oauth_clients: vec![(CLIENT_ID.into(), CLIENT_SECRET.into())],
        oauth_token_ttl_secs: ttl_secs,
        ..Default::default()
    })
}

pub fn m2m_command(emu: &Emulator, home: &Path, secret: &str) -> Command {
    let mut cmd = bare_command(emu, home);
    cmd.env("DATABRICKS_HOST", emu.url())
        .env("DATABRICKS_CLIENT_ID", CLIENT_ID)
        .env("DATABRICKS_CLIENT_SECRET", secret);
    cmd
}

/// The message of a failure, asserting exit 1 and `kind`.
pub fn failure(out: &Outcome, kind: &str) -> String {
    assert_eq!(out.code, 1, "{}\nstderr:\n{}", out.json, out.stderr);
    assert_eq!(out.kind(), kind, "{}", out.json);
    out.json["error"]["message"].as_str().unwrap().to_string()
}
