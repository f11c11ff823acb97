//! The sandbox, proved from outside: the built `sdp-agent` runs a hostile probe component
//! (`tests/components/probe`, via `--component`) and we check what it could see and reach,
//! and that the host stops it when it spins or eats memory.

mod common;

use common::recorder;
use common::*;
use recorder::Recorder;
use sdp_agent_e2e::PROBE_WASM;
use sdp_emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

/// Generous: these bound a hang, they do not measure speed.
const WALL_LIMIT: Duration = Duration::from_secs(60);

/// `sdp-agent [flags] predict <command>` with the probe as the component.
fn probe_command(emu: &Emulator, flags: &[&str], command: &Value) -> Command {
    let mut cmd = agent_command(emu);
    cmd.arg("--component")
        .arg(PROBE_WASM)
        .args(flags)
        .arg("predict")
        .arg(command.to_string());
    cmd
}

fn probe(emu: &Emulator, flags: &[&str], command: &Value) -> Outcome {
    finish(probe_command(emu, flags, command))
}

/// The error message of a failed call, asserting it failed with exit 1 and `kind`.
fn failure(out: &Outcome, kind: &str) -> String {
    assert_eq!(out.code, 1, "{}\nstderr:\n{}", out.json, out.stderr);
    assert_eq!(out.kind(), kind, "{}", out.json);
    out.json["error"]["message"].as_str().unwrap().to_string()
}

/// The probe's environment as reported by its `env` command.
fn guest_env(out: &Outcome) -> (String, serde_json::Map<String, Value>) {
    let text = out.assert_ok()["run_url"].as_str().unwrap().to_string();
    let Value::Object(vars) = serde_json::from_str(&text).unwrap() else {
        panic!("env probe answered {text}")
    };
    (text, vars)
}

fn names(vars: &serde_json::Map<String, Value>) -> BTreeSet<&str> {
    vars.keys().map(String::as_str).collect()
}

#[test]
fn the_component_sees_the_workspace_url_and_nothing_else() {
    let emu = emulator();
    let token = emu.token().unwrap();
    let canary = "canary-f3d1c9-not-for-the-guest";
    let mut cmd = probe_command(&emu, &[], &json!({"probe": "env"}));
    cmd.env("SDP_SANDBOX_CANARY", canary)
        .env("CLAUDE_ENDPOINT_NAME", "databricks-claude-sonnet-4-5");
    let (text, vars) = guest_env(&finish(cmd));

    assert_eq!(
        names(&vars),
        BTreeSet::from(["CLAUDE_ENDPOINT_NAME", "DATABRICKS_HOST"]),
        "{text}"
    );
    assert_eq!(vars["DATABRICKS_HOST"], emu.url());
    assert!(!text.contains(&token), "the token leaked: {text}");
    assert!(
        !text.contains(canary),
        "the host environment leaked: {text}"
    );
}

#[test]
fn oauth_client_credentials_stay_in_the_host_too() {
    let (id, secret) = ("sandbox-client", "sandbox-secret-7b2e55");
    let emu = emulator_with(EmulatorConfig {
        token: None,
        oauth_clients: vec![(id.into(), secret.into())],
        ..EmulatorConfig::default()
    });
    let mut cmd = probe_command(&emu, &[], &json!({"probe": "env"}));
    cmd.env("DATABRICKS_CLIENT_ID", id)
        .env("DATABRICKS_CLIENT_SECRET", secret);
    let (text, vars) = guest_env(&finish(cmd));

    assert_eq!(names(&vars), BTreeSet::from(["DATABRICKS_HOST"]), "{text}");
    assert!(!text.contains(secret), "the client secret leaked: {text}");
    for issued in emu.issued_tokens() {
        assert!(
            !text.contains(&issued.access_token),
            "an OAuth token leaked: {text}"
        );
    }
}

#[test]
fn other_hosts_are_denied_undialled_unless_allowed_and_then_get_no_credentials() {
    let emu = emulator();
    let other = Recorder::start();
    let url = format!("http://127.0.0.1:{}/collect?x=1", other.port());
    let fetch = json!({"probe": "fetch", "url": url});

    let denied = probe(&emu, &[], &fetch);
    let message = failure(&denied, "transport");
    assert!(message.contains("HttpRequestDenied"), "{message}");
    assert_eq!(other.accepted(), 0, "a denied request was dialled");

    let allow = format!("127.0.0.1:{}", other.port());
    let allowed = probe(&emu, &["--allow-host", &allow], &fetch);
    assert_eq!(allowed.assert_ok()["run_id"], 200);
    // Exactly one: this call's. A stray connection from the denied call would make it two.
    assert_eq!(other.accepted(), 1);
    let received = other.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method, "GET");
    assert_eq!(received[0].path, "/collect?x=1");
    assert_eq!(received[0].header("authorization"), None, "{received:?}");
    let token = emu.token().unwrap();
    assert!(
        received[0].headers.iter().all(|(_, v)| !v.contains(&token)),
        "{received:?}"
    );
    assert!(emu.requests().is_empty(), "the workspace was not involved");
}

#[test]
fn the_component_cannot_set_authorization_itself() {
    let emu = emulator();
    let forged = "Bearer forged-by-the-guest";
    let workspace_url = format!("{}/api/2.0/pipelines", emu.url());
    let out = probe(
        &emu,
        &[],
        &json!({"probe": "fetch", "url": workspace_url, "authorization": forged}),
    );
    let message = failure(&out, "transport");
    assert!(
        message.contains("authorization") && message.contains("Forbidden"),
        "{message}"
    );
    // Refused inside the host: no request left at all, let alone with the guest's header.
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());

    // Not even towards an allowed host, where the host adds nothing itself.
    let other = Recorder::start();
    let allow = format!("127.0.0.1:{}", other.port());
    let url = format!("http://{allow}/");
    let out = probe(
        &emu,
        &["--allow-host", &allow],
        &json!({"probe": "fetch", "url": url, "authorization": forged}),
    );
    failure(&out, "transport");
    assert_eq!(other.accepted(), 0);

    // The same call without the header works, and the credentials are the host's.
    let out = probe(&emu, &[], &json!({"probe": "fetch", "url": workspace_url}));
    assert_eq!(out.assert_ok()["run_id"], 200);
    let seen = emu.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].authorization,
        Some(format!("Bearer {}", emu.token().unwrap()))
    );
}

/// Runs `cmd`, asserting it ends within [`WALL_LIMIT`].
fn finish_bounded(cmd: Command) -> Outcome {
    let started = Instant::now();
    let out = finish(cmd);
    let took = started.elapsed();
    assert!(took < WALL_LIMIT, "took {took:?}: {}", out.json);
    out
}

/// After a guest was stopped, the real agent still does its job (fresh process, same cache).
fn real_agent_still_works(emu: &Emulator) {
    let out = predict(emu, &full_payload(emu, "after_the_probe"));
    assert!(out.assert_ok()["run_id"].as_i64().is_some(), "{}", out.json);
}

#[test]
fn a_spinning_component_is_stopped_by_the_timeout() {
    let emu = emulator();
    let cmd = probe_command(&emu, &["--timeout", "2"], &json!({"probe": "spin"}));
    let out = finish_bounded(cmd);
    let message = failure(&out, "timeout");
    assert!(message.contains("within 2s (--timeout)"), "{message}");
    real_agent_still_works(&emu);
}

#[test]
fn a_component_eating_memory_is_stopped_by_the_memory_limit() {
    let emu = emulator();
    let cmd = probe_command(&emu, &["--max-memory", "64"], &json!({"probe": "alloc"}));
    let out = finish_bounded(cmd);
    let message = failure(&out, "trap");
    assert!(
        message.starts_with("predict exceeded the memory limit of 64 MiB (--max-memory)"),
        "{message}"
    );
    real_agent_still_works(&emu);
}

#[test]
fn a_limit_below_what_the_component_needs_to_start_is_named() {
    let emu = emulator();
    let out = probe(&emu, &["--max-memory", "1"], &json!({"probe": "ok"}));
    let message = failure(&out, "trap");
    assert!(
        message.contains("the memory limit of 1 MiB (--max-memory)"),
        "{message}"
    );
    // The same component within the default limit.
    let out = probe(&emu, &[], &json!({"probe": "ok"}));
    assert_eq!(out.assert_ok()["run_url"], "probe ok");
}
