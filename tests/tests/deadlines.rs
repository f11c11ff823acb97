//! Deadlines that must not cut real work short: the model call's own deadline wins over the
//! host's default wait for an answer, and `run` that waits for its update gets that wait on
//! top of `--timeout`.

mod common;

use common::*;
use sdp_emulator::{ChatReply, Fault};
use serde_json::json;

const ENDPOINT: &str = "databricks-claude-sonnet-4-5";

/// A non-streaming answer of a few thousand tokens takes longer than the host's default 60 s
/// wait for an answer; the component asks for 300 s on that call, and gets it: one request,
/// answered, never cut off and asked (and billed) again.
#[test]
fn a_slow_model_answer_outlives_the_default_wait() {
    let emu = emulator();
    let root = "/Workspace/Shared/slow_model";
    let answer = json!({
        "pipelineName": "slow_model", "catalog": "main", "schema": "clicks", "root_path": root,
        "workspace_file_paths": [format!("{root}/bronze.sql")],
        "sources": {format!("{root}/bronze.sql"): "CREATE OR REFRESH MATERIALIZED VIEW bronze AS SELECT 1 AS id"},
    });
    emu.script_chat(ENDPOINT, vec![ChatReply::Text(answer.to_string())]);
    emu.inject_fault(Fault {
        method: Some("POST".into()),
        path_prefix: format!("/serving-endpoints/{ENDPOINT}/invocations"),
        delay_ms: 62_000,
        times: 1,
        ..Default::default()
    });
    let payload = json!({"question": "clickstream bronze", "claude_endpoint": ENDPOINT});
    let result = run(&emu, &payload).assert_ok().clone();
    assert_eq!(
        result["pipeline_id"],
        pipelines_named(&emu, "slow_model")[0]["pipeline_id"]
    );
    assert_eq!(emu.chat_requests().len(), 1, "the model was asked once");
}

/// An explicit --http-timeout still caps every wait, the model call's included.
#[test]
fn an_explicit_http_timeout_caps_the_model_call_too() {
    let emu = emulator();
    emu.inject_fault(Fault {
        method: Some("POST".into()),
        path_prefix: format!("/serving-endpoints/{ENDPOINT}/invocations"),
        delay_ms: 5_000,
        times: 10,
        ..Default::default()
    });
    let mut cmd = agent_command(&emu);
    cmd.args(["--http-timeout", "1", "run"]).arg(b64(
        &json!({"question": "clickstream bronze", "claude_endpoint": ENDPOINT}),
    ));
    let out = finish(cmd);
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "timeout", "{}", out.json);
}

/// `--timeout` is the budget of the work; waiting for the update gets `wait_timeout_seconds`
/// on top, so a slow update does not end the call that waits for it.
#[test]
fn run_that_waits_gets_its_wait_on_top_of_the_timeout() {
    let emu = emulator();
    let mut payload = full_payload(&emu, "waits_long");
    payload["wait"] = json!(true);
    payload["wait_timeout_seconds"] = json!(60);
    emu.inject_fault(Fault {
        method: Some("GET".into()),
        path_prefix: "/api/2.0/pipelines/".into(),
        delay_ms: 4_000,
        times: 1,
        skip: 1,
        ..Default::default()
    });
    let mut cmd = agent_command(&emu);
    cmd.args(["--timeout", "3", "run"]).arg(b64(&payload));
    let result = finish(cmd).assert_ok().clone();
    assert_eq!(result["state"], "COMPLETED", "{result}");

    // Without "wait", the same --timeout ends the call.
    let emu = emulator();
    let payload = full_payload(&emu, "no_wait");
    emu.inject_fault(Fault {
        method: Some("GET".into()),
        path_prefix: "/api/2.0/pipelines".into(),
        delay_ms: 5_000,
        times: 1,
        ..Default::default()
    });
    let mut cmd = agent_command(&emu);
    cmd.args(["--timeout", "3", "run"]).arg(b64(&payload));
    let out = finish(cmd);
    assert_eq!(out.kind(), "timeout", "{}", out.json);
    let message = out.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("within 3s (--timeout)"), "{message}");
}
