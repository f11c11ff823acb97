//! Credentials, resolved in the host like the Databricks SDKs (environment, then a
//! `~/.databrickscfg` profile, OAuth M2M tokens fetched and refreshed), proved from the
//! workspace's side: what the emulator received, and what the agent printed.

mod common;

use base64::Engine as _;
use common::*;
use sdp_emulator::{Emulator, EmulatorConfig, Fault, RecordedRequest};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TOKEN_PATH: &str = "/oidc/v1/token";
const CLIENT_ID: &str = "svc-e2e-7f3a";
const CLIENT_SECRET: &str = "dose-e2e-secret-91c4";

/// A directory of its own per test (removed on drop): a fake home, config files.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("sdp-agent-e2e-auth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write config");
        path
    }

    fn path(&self) -> &Path {
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
fn bare_command(emu: &Emulator, home: &Path) -> Command {
    let mut cmd = agent_command(emu);
    cmd.env_remove("DATABRICKS_HOST")
        .env_remove("DATABRICKS_TOKEN")
        .env("HOME", home);
    cmd
}

fn predict_with(mut cmd: Command, emu: &Emulator, flags: &[&str]) -> Outcome {
    let payload = full_payload(emu, "auth_e2e");
    cmd.args(flags).arg("predict").arg(payload.to_string());
    finish(cmd)
}

/// Requests the component made (everything but the host's own token requests).
fn guest_requests(emu: &Emulator) -> Vec<RecordedRequest> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path != TOKEN_PATH)
        .collect()
}

fn token_requests(emu: &Emulator) -> Vec<RecordedRequest> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path == TOKEN_PATH)
        .collect()
}

/// Every guest request carried exactly `expected`, and there was at least one.
fn assert_all_carried(emu: &Emulator, expected: &str) {
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

fn m2m_emulator(ttl_secs: u64) -> Emulator {
    emulator_with(EmulatorConfig {
        // Only OAuth tokens open the workspace: a PAT could not have been used by mistake.
        token: None,
        oauth_clients: vec![(CLIENT_ID.into(), CLIENT_SECRET.into())],
        oauth_token_ttl_secs: ttl_secs,
        ..Default::default()
    })
}

fn m2m_command(emu: &Emulator, home: &Path, secret: &str) -> Command {
    let mut cmd = bare_command(emu, home);
    cmd.env("DATABRICKS_HOST", emu.url())
        .env("DATABRICKS_CLIENT_ID", CLIENT_ID)
        .env("DATABRICKS_CLIENT_SECRET", secret);
    cmd
}

/// The message of a failure, asserting exit 1 and `kind`.
fn failure(out: &Outcome, kind: &str) -> String {
    assert_eq!(out.code, 1, "{}\nstderr:\n{}", out.json, out.stderr);
    assert_eq!(out.kind(), kind, "{}", out.json);
    out.json["error"]["message"].as_str().unwrap().to_string()
}

#[test]
fn a_personal_access_token_from_the_environment_is_sent_by_the_host() {
    let emu = emulator();
    let out = predict(&emu, &full_payload(&emu, "pat_env"));
    out.assert_ok();
    assert_all_carried(&emu, &format!("Bearer {}", emu.token().unwrap()));
    assert!(token_requests(&emu).is_empty());
}

#[test]
fn a_profile_supplies_host_and_token_named_by_env_var_or_flag() {
    let emu = emulator_with(EmulatorConfig {
        token: Some("dapi-from-profile".into()),
        ..Default::default()
    });
    let home = TempDir::new("profiles");
    let config = home.write(
        "team.databrickscfg",
        &format!(
            "; profiles for the e2e test\n\
             [DEFAULT]\n\
             host = http://127.0.0.1:9\n\
             token = dapi-decoy-default\n\
             [decoy]\n\
             host = {url}\n\
             token = dapi-decoy\n\
             [ci]\n\
             host = {url}/\n\
             token = dapi-from-profile\n",
            url = emu.url()
        ),
    );
    let expected = "Bearer dapi-from-profile";

    let mut by_env = bare_command(&emu, home.path());
    by_env
        .env("DATABRICKS_CONFIG_FILE", &config)
        .env("DATABRICKS_CONFIG_PROFILE", "ci");
    predict_with(by_env, &emu, &[]).assert_ok();
    assert_all_carried(&emu, expected);

    // --profile overrides DATABRICKS_CONFIG_PROFILE (the decoy's token would answer 401).
    let seen = emu.requests().len();
    let mut by_flag = bare_command(&emu, home.path());
    by_flag
        .env("DATABRICKS_CONFIG_FILE", &config)
        .env("DATABRICKS_CONFIG_PROFILE", "decoy");
    predict_with(by_flag, &emu, &["--profile", "ci"]).assert_ok();
    assert!(emu.requests().len() > seen);
    assert_all_carried(&emu, expected);

    // An environment value wins over the profile's for the same setting.
    let seen = emu.requests().len();
    let mut env_wins = bare_command(&emu, home.path());
    env_wins
        .env("DATABRICKS_CONFIG_FILE", &config)
        .env("DATABRICKS_TOKEN", "dapi-from-profile");
    predict_with(env_wins, &emu, &["--profile", "decoy"]).assert_ok();
    assert!(emu.requests().len() > seen);
    assert_all_carried(&emu, expected);
}

#[test]
fn the_default_profile_of_the_home_config_file_is_used_when_nothing_else_is_set() {
    let emu = emulator();
    let home = TempDir::new("home");
    home.write(
        ".databrickscfg",
        &format!(
            "[DEFAULT]\nhost = {}\ntoken = {}\n",
            emu.url(),
            emu.token().unwrap()
        ),
    );
    predict_with(bare_command(&emu, home.path()), &emu, &[]).assert_ok();
    assert_all_carried(&emu, &format!("Bearer {}", emu.token().unwrap()));
}

#[test]
fn oauth_m2m_fetches_a_token_with_basic_auth_and_sends_it() {
    let emu = m2m_emulator(3600);
    let home = TempDir::new("m2m");
    let out = predict_with(m2m_command(&emu, home.path(), CLIENT_SECRET), &emu, &[]);
    out.assert_ok();

    let grants = token_requests(&emu);
    assert_eq!(grants.len(), 1, "one token for the whole call: {grants:?}");
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    assert_eq!(
        grants[0].authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(grants[0].method, "POST");
    assert_eq!(grants[0].status, 200);
    // The token came first, before any guest request.
    assert_eq!(emu.requests()[0].path, TOKEN_PATH);

    let issued = emu.issued_tokens();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].client_id, CLIENT_ID);
    assert_all_carried(&emu, &format!("Bearer {}", issued[0].access_token));
}

/// Makes the first poll of the update answer 503 with a Retry-After longer than a token
/// lives, so the run spans an expiry however fast the machine is.
fn outlive_the_token(emu: &Emulator, ttl_secs: u64) {
    emu.inject_fault(Fault {
        method: Some("GET".into()),
        path_prefix: "/api/2.0/pipelines/".into(),
        status: 503,
        error_code: "TEMPORARILY_UNAVAILABLE".into(),
        message: "busy".into(),
        retry_after_secs: Some(ttl_secs + 1),
        ..Default::default()
    });
}

#[test]
fn a_run_outliving_its_oauth_token_refreshes_it_and_never_sees_a_401() {
    const TTL_SECS: u64 = 3;
    let emu = m2m_emulator(TTL_SECS);
    outlive_the_token(&emu, TTL_SECS);
    let home = TempDir::new("refresh");
    let mut payload = full_payload(&emu, "outlives_its_token");
    payload["wait"] = json!(true);
    let mut cmd = m2m_command(&emu, home.path(), CLIENT_SECRET);
    cmd.arg("run").arg(b64(&payload));
    let out = finish(cmd);
    assert_eq!(out.assert_ok()["state"], "COMPLETED", "{}", out.json);

    let requests = emu.requests();
    assert!(
        requests.iter().any(|r| r.status == 503),
        "the fault fired: {requests:?}"
    );
    assert!(
        requests.iter().all(|r| r.status != 401),
        "no request was refused: {requests:?}"
    );
    let issued: Vec<String> = emu
        .issued_tokens()
        .into_iter()
        .map(|t| format!("Bearer {}", t.access_token))
        .collect();
    assert!(issued.len() >= 2, "the token was refreshed: {issued:?}");
    let guest = guest_requests(&emu);
    let used: BTreeSet<&str> = guest
        .iter()
        .map(|r| {
            r.authorization
                .as_deref()
                .expect("every request authorised")
        })
        .collect();
    assert!(
        used.iter().all(|u| issued.iter().any(|i| i == u)),
        "only issued tokens were sent: {used:?}"
    );
    assert!(
        used.len() >= 2,
        "requests after the expiry used the new token: {used:?}"
    );
}

#[test]
fn a_failed_refresh_mid_run_is_an_auth_error() {
    const TTL_SECS: u64 = 3;
    let emu = m2m_emulator(TTL_SECS);
    outlive_the_token(&emu, TTL_SECS);
    let home = TempDir::new("refresh-fails");
    let mut payload = full_payload(&emu, "refresh_fails");
    payload["wait"] = json!(true);
    let mut cmd = m2m_command(&emu, home.path(), CLIENT_SECRET);
    cmd.arg("run")
        .arg(b64(&payload))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The first token is granted; the token endpoint is down for every request after it, so
    // the refresh that the 503's Retry-After makes due fails.
    emu.inject_fault(Fault {
        path_prefix: TOKEN_PATH.into(),
        status: 503,
        error_code: "TEMPORARILY_UNAVAILABLE".into(),
        message: "token service down".into(),
        skip: 1,
        times: 100,
        ..Default::default()
    });
    let child = cmd.spawn().expect("sdp-agent starts");
    let out = child.wait_with_output().expect("sdp-agent finishes");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(1), "{json}");
    assert_eq!(json["error"]["kind"], "auth", "{json}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("client id \"{CLIENT_ID}\"")) && message.contains("HTTP 503"),
        "{message}"
    );
    assert!(!message.contains(CLIENT_SECRET), "{message}");
    assert!(token_requests(&emu).len() >= 2, "a refresh was attempted");
}

#[test]
fn rejected_client_credentials_are_an_auth_error_naming_the_client_not_the_secret() {
    let emu = m2m_emulator(3600);
    let home = TempDir::new("bad-secret");
    let wrong = "dose-wrong-secret-0d1e";
    let out = predict_with(m2m_command(&emu, home.path(), wrong), &emu, &[]);
    let message = failure(&out, "auth");
    assert!(
        message.contains(&format!("client id \"{CLIENT_ID}\""))
            && message.contains(TOKEN_PATH)
            && message.contains("HTTP 401 invalid_client"),
        "{message}"
    );
    assert!(
        !message.contains(wrong) && !out.stderr.contains(wrong),
        "{message}"
    );
    let requests = emu.requests();
    assert_eq!(
        requests.len(),
        1,
        "nothing but the token request: {requests:?}"
    );
    assert_eq!(
        (requests[0].path.as_str(), requests[0].status),
        (TOKEN_PATH, 401)
    );
}

#[test]
fn misconfigurations_exit_1_with_a_clear_config_error_and_send_nothing() {
    let emu = emulator();
    let home = TempDir::new("misconfig");
    let profiles = home.write(
        "profiles.cfg",
        "[DEFAULT]\nhost = http://127.0.0.1:9\ntoken = dapi-x\n[ci]\nhost = http://127.0.0.1:9\n",
    );
    let broken = home.write("broken.cfg", "[ci\nhost = x\n");
    let url = emu.url();
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "nothing set",
            vec![],
            vec![],
            vec!["no workspace host", "DATABRICKS_HOST"],
        ),
        (
            "two methods",
            vec![
                ("DATABRICKS_HOST", &url),
                ("DATABRICKS_TOKEN", "dapi-x"),
                ("DATABRICKS_CLIENT_ID", CLIENT_ID),
                ("DATABRICKS_CLIENT_SECRET", CLIENT_SECRET),
            ],
            vec![],
            vec![
                "validate: more than one authorization method configured",
                "DATABRICKS_TOKEN (environment)",
                "DATABRICKS_CLIENT_ID (environment)",
            ],
        ),
        (
            "unknown profile",
            vec![("DATABRICKS_CONFIG_FILE", profiles.to_str().unwrap())],
            vec!["--profile", "prod"],
            vec![
                "profile [prod] (named by --profile) is not in",
                "profiles there: [DEFAULT], [ci]",
            ],
        ),
        (
            "invalid file",
            vec![
                ("DATABRICKS_CONFIG_FILE", broken.to_str().unwrap()),
                ("DATABRICKS_CONFIG_PROFILE", "ci"),
            ],
            vec![],
            vec!["broken.cfg is not valid"],
        ),
        (
            "profile without credentials",
            vec![("DATABRICKS_CONFIG_FILE", profiles.to_str().unwrap())],
            vec!["--profile", "ci"],
            vec!["no credentials", "profile [ci]"],
        ),
        (
            "half an M2M pair",
            vec![
                ("DATABRICKS_HOST", &url),
                ("DATABRICKS_CLIENT_ID", CLIENT_ID),
            ],
            vec![],
            vec![
                "incomplete OAuth M2M credentials",
                "DATABRICKS_CLIENT_SECRET",
            ],
        ),
    ];
    for (name, vars, flags, expected) in cases {
        let mut cmd = bare_command(&emu, home.path());
        cmd.envs(vars);
        let out = predict_with(cmd, &emu, &flags);
        let message = failure(&out, "config");
        for part in expected {
            assert!(message.contains(part), "{name}: {message}");
        }
        assert!(
            !message.contains(CLIENT_SECRET) && !message.contains("dapi-x"),
            "{name}: {message}"
        );
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}
