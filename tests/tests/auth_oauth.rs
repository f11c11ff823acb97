//! OAuth M2M credentials, proved from the workspace's side: a token fetched with the client's
//! Basic auth, refreshed before it expires mid-run, and refusals that name the client, never
//! the secret.

mod common;

use base64::Engine as _;
use common::credentials::*;
use common::*;
use sdp_emulator::{Emulator, Fault};
use serde_json::json;
use std::collections::BTreeSet;
use std::process::Stdio;

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
