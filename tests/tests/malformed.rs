//! Every malformed payload is refused before anything is sent, with an error naming the field.

mod common;

use common::*;
use serde_json::{Value, json};

/// A valid predict payload to break one way at a time.
fn base() -> Value {
    json!({
        "question": "bronze/silver clickstream",
        "runner_path": RUNNER,
        "claude_endpoint": "databricks-claude-sonnet-4-5",
        "existing_cluster_id": "0101-123456-abcdef12",
    })
}

fn with(key: &str, value: Value) -> Value {
    let mut p = base();
    p[key] = value;
    p
}

fn without(key: &str) -> Value {
    let mut p = base();
    p.as_object_mut().unwrap().remove(key);
    p
}

fn cluster(spec: Value) -> Value {
    let mut p = without("existing_cluster_id");
    p["new_cluster"] = spec;
    p
}

/// (payload text, the field path the error must name)
fn cases() -> Vec<(String, &'static str)> {
    let v = |p: Value| p.to_string();
    vec![
        ("not json".into(), "$"),
        ("[1, 2]".into(), "$"),
        ("\"text\"".into(), "$"),
        ("null".into(), "$"),
        (v(without("runner_path")), "runner_path"),
        (v(with("runner_path", json!(42))), "runner_path"),
        (v(with("runner_path", json!(""))), "runner_path"),
        (
            v(with("runner_path", json!("relative/launcher.py"))),
            "runner_path",
        ),
        (
            v(with("runner_path", json!("/Workspace/launcher.sh"))),
            "runner_path",
        ),
        (v(with("question", json!(["a"]))), "question"),
        (v(without("question")), "question"),
        (
            v(with("claude_endpoint", json!("bad endpoint!"))),
            "claude_endpoint",
        ),
        // The seed's example name is a model id, not a serving endpoint name.
        (
            v(with(
                "claude_endpoint",
                json!("anthropic/claude-3-5-sonnet"),
            )),
            "claude_endpoint",
        ),
        // The config is incomplete and no endpoint is known (none in the host either).
        (v(without("claude_endpoint")), "claude_endpoint"),
        (
            v(with("workspace_file_paths", json!(["/Workspace/p/a.txt"]))),
            "workspace_file_paths[0]",
        ),
        (
            v({
                let mut p = with("workspace_file_paths", json!(["/Workspace/p/a.sql"]));
                p["sources"] = json!({"/Workspace/p/b.sql": "SELECT 1"});
                p
            }),
            "sources./Workspace/p/b.sql",
        ),
        (
            v(with("sources", json!({"/Workspace/p/b.sql": "SELECT 1"}))),
            "sources./Workspace/p/b.sql",
        ),
        (
            v(cluster(json!({"policy_id": 42}))),
            "new_cluster.policy_id",
        ),
        (
            v(with("existing_cluster_id", json!(123))),
            "existing_cluster_id",
        ),
        (
            v(with(
                "new_cluster",
                json!({"spark_version": "15.4.x", "node_type_id": "i3", "num_workers": 1}),
            )),
            "new_cluster",
        ),
        (v(cluster(json!("big"))), "new_cluster"),
        (
            v(cluster(
                json!({"node_type_id": "i3.xlarge", "num_workers": 1}),
            )),
            "new_cluster.spark_version",
        ),
        (
            v(cluster(
                json!({"spark_version": "15.4.x", "num_workers": 1}),
            )),
            "new_cluster.node_type_id",
        ),
        (
            v(cluster(
                json!({"spark_version": "15.4.x", "node_type_id": "i3"}),
            )),
            "new_cluster.num_workers",
        ),
        (
            v(cluster(
                json!({"spark_version": "15.4.x", "node_type_id": "i3", "num_workers": -1}),
            )),
            "new_cluster.num_workers",
        ),
        (
            v(cluster(
                json!({"spark_version": "15.4.x", "node_type_id": "i3", "autoscale": {"min_workers": 4, "max_workers": 2}}),
            )),
            "new_cluster.autoscale",
        ),
        (
            v(with("task_overrides", json!("notebook"))),
            "task_overrides",
        ),
        (v(with("catalog", json!("main-prod"))), "catalog"),
        (v(with("schema", json!("1st"))), "schema"),
        (v(with("schema", json!(null))), "schema"),
        (v(with("pipelineName", json!(""))), "pipelineName"),
        (
            v(with("pipelineName", json!("x".repeat(101)))),
            "pipelineName",
        ),
        (
            v({
                let mut p = with("pipelineName", json!("a"));
                p["pipeline_name"] = json!("b");
                p
            }),
            "pipeline_name",
        ),
        (
            v(with("root_path", json!("Workspace/relative"))),
            "root_path",
        ),
        (
            v(with("root_path", json!("/Workspace/../etc"))),
            "root_path",
        ),
        (
            v(with("workspace_file_paths", json!([]))),
            "workspace_file_paths",
        ),
        (
            v(with("workspace_file_paths", json!("/Workspace/a.sql"))),
            "workspace_file_paths",
        ),
        (
            v(with(
                "workspace_file_paths",
                json!(["/Workspace/a.sql", "b.sql"]),
            )),
            "workspace_file_paths[1]",
        ),
        (
            v(with(
                "workspace_file_paths",
                json!(["/Workspace/a.sql", "/Workspace/a.sql"]),
            )),
            "workspace_file_paths[1]",
        ),
        (v(with("full_refresh", json!("yes"))), "full_refresh"),
        (v(with("wait", json!(1))), "wait"),
        (
            v(with("wait_timeout_seconds", json!(0))),
            "wait_timeout_seconds",
        ),
        (v(with("timeout_seconds", json!(-5))), "timeout_seconds"),
        (
            v(with("idempotency_token", json!("t".repeat(65)))),
            "idempotency_token",
        ),
        (v(with("run_name", json!({}))), "run_name"),
        (v(with("environments", json!({"key": "v"}))), "environments"),
        (v(with("sources", json!(["x"]))), "sources"),
        (
            v(with("sources", json!({"relative.sql": "SELECT 1"}))),
            "sources.relative.sql",
        ),
        (v(with("pipelinename", json!("x"))), "pipelinename"),
        (
            v(with("python_task", json!({"python_file": "/a.py"}))),
            "python_task",
        ),
    ]
}

#[test]
fn every_malformed_payload_is_refused_naming_the_field() {
    let cases = cases();
    assert!(cases.len() >= 30);
    let emu = emulator();
    let mut failures = Vec::new();
    for (payload, field) in &cases {
        let mut cmd = agent_command(&emu);
        cmd.arg("predict").arg(payload);
        let out = finish(cmd);
        let paths = out.error_paths();
        let message = out.json["error"]["message"].as_str().unwrap_or("");
        if out.code != 1
            || out.kind() != "invalid_payload"
            || !paths.iter().any(|p| p == field)
            || !message.contains(field)
        {
            failures.push(format!(
                "{payload}\n  expected field {field}, got exit {} {}",
                out.code, out.json
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(emu.runs().is_empty(), "nothing was submitted");
    assert!(emu.requests().is_empty(), "nothing was sent at all");
}

#[test]
fn all_problems_are_reported_at_once() {
    let emu = emulator();
    let payload = json!({"runner_path": 1, "catalog": "a-b", "wait": "no", "bogus": true});
    let out = predict(&emu, &payload);
    assert_eq!(out.code, 1);
    let paths = out.error_paths();
    for field in ["runner_path", "catalog", "wait", "bogus", "question"] {
        assert!(
            paths.iter().any(|p| p == field),
            "{field} missing from {paths:?}"
        );
    }
}

#[test]
fn run_rejects_bad_base64_naming_the_argument() {
    let emu = emulator();
    let mut cmd = agent_command(&emu);
    cmd.arg("run").arg("***not base64***");
    let out = finish(cmd);
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "invalid_payload");
    assert_eq!(out.error_paths(), vec!["argv[1]"]);
}

#[test]
fn usage_errors_exit_2() {
    let out = std::process::Command::new(agent_bin())
        .arg("no-such-command")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
