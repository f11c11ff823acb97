//! `sdp-agent predict` against the emulator: compute variants, overrides, retries, links.

mod common;

use common::*;
use sdp_emulator::{EmulatorConfig, Fault};
use serde_json::{Value, json};

fn only_run(emu: &sdp_emulator::Emulator) -> Value {
    let runs = emu.runs();
    assert_eq!(runs.len(), 1, "exactly one run expected: {runs:?}");
    runs[0].clone()
}

#[test]
fn existing_cluster_submits_the_launcher_with_the_payload() {
    let emu = emulator();
    let payload = full_payload(&emu, "sdp_clickstream_demo");
    let out = predict(&emu, &payload);
    let result = out.assert_ok();
    let run = only_run(&emu);
    assert_eq!(result["run_id"], run["run_id"]);
    let url = result["run_url"].as_str().unwrap();
    assert!(url.starts_with(&emu.url()), "{url}");
    assert!(
        url.contains(&format!("/run/{}", run["run_id"])),
        "run_url must be the workspace's run_page_url: {url}"
    );
    let task = &run["request"]["tasks"][0];
    assert_eq!(task["existing_cluster_id"], "0101-123456-abcdef12");
    assert_eq!(task["spark_python_task"]["python_file"], RUNNER);
    let params = task["spark_python_task"]["parameters"].as_array().unwrap();
    assert_eq!(params.len(), 1);
    assert_eq!(unb64(params[0].as_str().unwrap()), payload);
    assert!(task.get("python_task").is_none());
    assert!(task.get("new_cluster").is_none());
    let token = run["request"]["idempotency_token"].as_str().unwrap();
    assert!(!token.is_empty() && token.len() <= 64);
}

#[test]
fn new_cluster_spec_is_forwarded() {
    let emu = emulator();
    let mut payload = payload_without_cluster(&emu, "p");
    let cluster = json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge",
        "num_workers": 1, "spark_conf": {"spark.speculation": "true"}});
    payload["new_cluster"] = cluster.clone();
    predict(&emu, &payload).assert_ok();
    let task = &only_run(&emu)["request"]["tasks"][0];
    assert_eq!(task["new_cluster"], cluster);
    assert!(task.get("existing_cluster_id").is_none());
}

#[test]
fn no_cluster_means_a_serverless_environment() {
    let emu = emulator();
    let payload = payload_without_cluster(&emu, "p");
    predict(&emu, &payload).assert_ok();
    let request = only_run(&emu)["request"].clone();
    let task = &request["tasks"][0];
    let key = task["environment_key"].as_str().expect("environment_key");
    let envs = request["environments"].as_array().expect("environments");
    assert_eq!(envs.len(), 1);
    assert_eq!(envs[0]["environment_key"], key);
    assert!(envs[0]["spec"]["environment_version"].is_string());
    assert!(task.get("new_cluster").is_none() && task.get("existing_cluster_id").is_none());
}

/// A cluster policy may supply what the spec leaves out, and a single-node cluster has no
/// workers: predict leaves those to Jobs (the emulator, like Jobs, accepts them).
#[test]
fn a_policy_or_a_single_node_cluster_is_forwarded() {
    for cluster in [
        json!({"policy_id": "D0C0FFEE", "apply_policy_default_values": true}),
        json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "is_single_node": true}),
    ] {
        let emu = emulator();
        let mut payload = payload_without_cluster(&emu, "p");
        payload["new_cluster"] = cluster.clone();
        predict(&emu, &payload).assert_ok();
        assert_eq!(
            only_run(&emu)["request"]["tasks"][0]["new_cluster"],
            cluster
        );
    }
}

/// A payload that needs the model names no endpoint: the host's CLAUDE_ENDPOINT_NAME is
/// written into the payload the job gets (the job's environment does not have it).
#[test]
fn the_hosts_endpoint_is_written_into_the_payload() {
    let emu = emulator();
    let payload = json!({
        "question": "bronze/silver clickstream",
        "runner_path": RUNNER,
        "existing_cluster_id": "0101-123456-abcdef12",
    });
    let mut cmd = agent_command(&emu);
    cmd.env("CLAUDE_ENDPOINT_NAME", "databricks-claude-sonnet-4-5")
        .arg("predict")
        .arg(payload.to_string());
    finish(cmd).assert_ok();
    let task = &only_run(&emu)["request"]["tasks"][0];
    let sent = unb64(task["spark_python_task"]["parameters"][0].as_str().unwrap());
    let mut expected = payload.clone();
    expected["claude_endpoint"] = json!("databricks-claude-sonnet-4-5");
    assert_eq!(sent, expected);

    // A host endpoint that is not an endpoint name is refused, naming the field.
    let mut cmd = agent_command(&emu);
    cmd.env("CLAUDE_ENDPOINT_NAME", "anthropic/claude-3-5-sonnet")
        .arg("predict")
        .arg(payload.to_string());
    let out = finish(cmd);
    assert_eq!(out.kind(), "invalid_payload", "{}", out.json);
    assert_eq!(out.error_paths(), vec!["claude_endpoint"]);
    assert_eq!(emu.runs().len(), 1, "nothing more was submitted");
}

#[test]
fn task_overrides_are_forwarded_as_is() {
    let emu = emulator();
    let overrides = json!({
        "task_key": "custom",
        "notebook_task": {"notebook_path": "/Workspace/Shared/run_agent", "base_parameters": {"x": "1"}},
        "existing_cluster_id": "0202-000000-zzzz",
        "max_retries": 1
    });
    let payload =
        json!({"question": "build it", "task_overrides": overrides, "run_name": "custom run"});
    predict(&emu, &payload).assert_ok();
    let request = only_run(&emu)["request"].clone();
    assert_eq!(request["tasks"][0], overrides);
    assert_eq!(request["run_name"], "custom run");
}

#[test]
fn a_lost_answer_is_retried_with_the_same_token_and_makes_one_run() {
    let emu = emulator();
    // The first submit is processed but answered 503 (the answer is lost); the second one
    // is refused outright; the third succeeds.
    emu.inject_fault(Fault {
        method: Some("POST".into()),
        path_prefix: "/api/2.2/jobs/runs/submit".into(),
        status: 503,
        error_code: "TEMPORARILY_UNAVAILABLE".into(),
        message: "try later".into(),
        times: 1,
        after_handling: true,
        ..Default::default()
    });
    emu.inject_fault(Fault {
        method: Some("POST".into()),
        path_prefix: "/api/2.2/jobs/runs/submit".into(),
        status: 503,
        error_code: "TEMPORARILY_UNAVAILABLE".into(),
        message: "still busy".into(),
        retry_after_secs: Some(1),
        times: 1,
        ..Default::default()
    });
    let payload = full_payload(&emu, "p");
    let result = predict(&emu, &payload).assert_ok().clone();
    let run = only_run(&emu);
    assert_eq!(result["run_id"], run["run_id"]);
    let submits: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/runs/submit"))
        .collect();
    assert_eq!(submits.len(), 3, "two failures then success");
    let tokens: Vec<_> = submits
        .iter()
        .map(|r| r.body["idempotency_token"].clone())
        .collect();
    assert!(tokens.iter().all(|t| t == &tokens[0]), "{tokens:?}");
}

#[test]
fn the_payload_token_is_used_and_a_repeat_returns_the_same_run() {
    let emu = emulator();
    let mut payload = full_payload(&emu, "p");
    payload["idempotency_token"] = json!("order-42");
    let first = predict(&emu, &payload).assert_ok().clone();
    let second = predict(&emu, &payload).assert_ok().clone();
    assert_eq!(first["run_id"], second["run_id"]);
    assert_eq!(only_run(&emu)["request"]["idempotency_token"], "order-42");
}

#[test]
fn a_run_without_run_page_url_falls_back_to_the_jobs_link() {
    let emu = emulator_with(EmulatorConfig {
        omit_run_page_url: true,
        ..Default::default()
    });
    let payload = full_payload(&emu, "p");
    let result = predict(&emu, &payload).assert_ok().clone();
    assert_eq!(
        result["run_url"],
        format!("{}/jobs/runs/{}", emu.url(), result["run_id"])
    );
}

#[test]
fn a_client_error_is_not_retried_and_is_reported_with_its_code() {
    let emu = emulator();
    emu.inject_fault(Fault {
        path_prefix: "/api/2.2/jobs/runs/submit".into(),
        status: 403,
        error_code: "PERMISSION_DENIED".into(),
        message: "no jobs for you".into(),
        times: 5,
        ..Default::default()
    });
    let out = predict(&emu, &full_payload(&emu, "p"));
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "upstream");
    assert_eq!(out.json["error"]["status"], 403);
    assert_eq!(out.json["error"]["error_code"], "PERMISSION_DENIED");
    assert_eq!(calls(&emu, "/api/2.2/jobs/runs/submit").len(), 1);
    assert!(emu.runs().is_empty());
}

#[test]
fn payload_from_stdin_and_file() {
    let emu = emulator();
    let payload = full_payload(&emu, "p");
    let file = std::env::temp_dir().join(format!("sdp-agent-payload-{}.json", std::process::id()));
    std::fs::write(&file, payload.to_string()).unwrap();
    let mut cmd = agent_command(&emu);
    cmd.arg("predict").arg(format!("@{}", file.display()));
    finish(cmd).assert_ok();

    let mut cmd = agent_command(&emu);
    cmd.arg("predict")
        .stdin(std::fs::File::open(&file).unwrap());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(file).ok();
    assert_eq!(emu.runs().len(), 2);
}
