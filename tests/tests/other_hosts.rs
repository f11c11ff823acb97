//! The same component, unmodified, under the stock wasmtime CLI; and the Python launcher a
//! Databricks job runs.

mod common;

use common::*;
use serde_json::json;
use std::process::Command;

#[test]
fn stock_wasmtime_run_invokes_predict() {
    let emu = emulator();
    let payload = full_payload(&emu, "from_wasmtime_cli");
    // WAVE string literal: escape backslashes and quotes.
    let text = payload
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let out = Command::new(wasmtime())
        .arg("run")
        .arg("-Shttp")
        .args(["--env", &format!("DATABRICKS_HOST={}", emu.url())])
        .args([
            "--env",
            &format!("DATABRICKS_TOKEN={}", emu.token().unwrap()),
        ])
        .args(["--invoke", &format!("predict(\"{text}\")")])
        .arg(component())
        .output()
        .expect("wasmtime runs");
    let stdout = stdout_of_success(&out);
    let runs = emu.runs();
    assert_eq!(runs.len(), 1);
    assert!(stdout.starts_with("ok("), "{stdout}");
    assert!(stdout.contains(&runs[0]["run_id"].to_string()), "{stdout}");
    // The component set the token itself here, since this host adds none.
    assert_eq!(
        submit_authorization(&emu),
        Some(format!("Bearer {}", emu.token().unwrap()))
    );
}

#[test]
fn the_python_launcher_runs_the_agent_and_passes_its_output_and_status() {
    let emu = emulator();
    let payload = full_payload(&emu, "launched");
    let out = launcher_command(&emu, [b64(&payload)])
        .output()
        .expect("python3 runs");
    let stdout = stdout_of_success(&out);
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        result["pipeline_id"],
        pipelines_named(&emu, "launched")[0]["pipeline_id"]
    );

    let bad = launcher_command(&emu, [b64(&json!({"catalog": "a-b"}))])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(err["error"]["kind"], "invalid_payload");
}

#[test]
fn the_launcher_explains_a_missing_binary() {
    let out = Command::new("python3")
        .arg(launcher())
        .arg(b64(&json!({})))
        .env("SDP_AGENT_BIN", "/nonexistent/sdp-agent")
        .env("DATABRICKS_HOST", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sdp-agent"));
}

#[test]
fn the_demo_builds_a_pipeline_offline() {
    let out = Command::new(agent_bin())
        .arg("demo")
        .env_remove("DATABRICKS_HOST")
        .env_remove("DATABRICKS_TOKEN")
        .output()
        .expect("demo runs");
    let stdout = stdout_of_success(&out);
    let last = stdout.lines().last().unwrap();
    let result: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(result["state"], "COMPLETED", "{stdout}");
    assert!(
        result["service_url"]
            .as_str()
            .unwrap()
            .contains("/pipelines/")
    );
    assert!(stdout.contains("clickstream"), "{stdout}");
}
