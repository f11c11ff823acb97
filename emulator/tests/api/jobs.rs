//! Jobs one-time runs over HTTP: validation, idempotency, run state and output.

use std::sync::Arc;
use std::time::Duration;

use sdp_emulator::{EmulatorConfig, RunOutcome, SubmittedRun};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::{Client, start, start_default};

const SUBMIT: &str = "/api/2.2/jobs/runs/submit";

fn python_run(token: Option<&str>) -> Value {
    let mut body = json!({
        "run_name": "sdp-agent",
        "tasks": [{
            "task_key": "sdp_agent",
            "spark_python_task": {"python_file": "/Workspace/Shared/runner.py", "parameters": ["--payload", "{}"]},
            "environment_key": "default"
        }],
        "environments": [{"environment_key": "default", "spec": {"environment_version": "2", "dependencies": ["databricks-sdk"]}}]
    });
    if let Some(token) = token {
        body["idempotency_token"] = json!(token);
    }
    body
}

async fn get_run(client: &Client, run_id: i64) -> Value {
    let reply = client
        .get(&format!("/api/2.2/jobs/runs/get?run_id={run_id}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

#[tokio::test]
async fn submit_validates_strictly() {
    let (emulator, client) = start_default().await;
    let cases = [
        (
            json!({"tasks": [{"task_key": "t", "python_task": {"python_file": "/a.py"}, "existing_cluster_id": "c"}]}),
            "python_task",
        ),
        (json!({"run_name": "x"}), "tasks"),
        (
            json!({"tasks": [{"task_key": "t", "spark_python_task": {"python_file": "/a.py"}}]}),
            "compute",
        ),
        (
            json!({"tasks": [{"task_key": "t", "spark_python_task": {"python_file": "/a.py"}, "environment_key": "nope"}]}),
            "environment_key",
        ),
        (
            json!({"tasks": [{"task_key": "t", "spark_python_task": {"python_file": "/a.py"}, "existing_cluster_id": "c"}], "job_clusters": []}),
            "job_clusters",
        ),
    ];
    for (body, field) in cases {
        let reply = client.post(SUBMIT, &body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.error_code(), "INVALID_PARAMETER_VALUE");
        assert!(
            reply.message().contains(field),
            "{field}: {}",
            reply.message()
        );
    }
    assert!(emulator.runs().is_empty());
}

#[tokio::test]
async fn idempotency_token_returns_the_same_run() {
    let (emulator, client) = start_default().await;
    let first = client.post(SUBMIT, &python_run(Some("tok-1"))).await.json();
    let again = client.post(SUBMIT, &python_run(Some("tok-1"))).await.json();
    let other = client.post(SUBMIT, &python_run(Some("tok-2"))).await.json();
    let untokened = client.post(SUBMIT, &python_run(None)).await.json();
    assert_eq!(first["run_id"], again["run_id"]);
    assert_ne!(first["run_id"], other["run_id"]);
    assert!(first["run_id"].as_i64().unwrap() > 1_000_000_000);
    assert!(other["run_id"].as_i64() > first["run_id"].as_i64());
    assert!(untokened["run_id"].as_i64() > other["run_id"].as_i64());
    assert_eq!(emulator.runs().len(), 3);
}

#[tokio::test]
async fn runs_get_shape_without_executor() {
    let (emulator, client) = start_default().await;
    // 2.1 still answers the same API.
    let reply = client
        .post("/api/2.1/jobs/runs/submit", &python_run(None))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let run_id = reply.json()["run_id"].as_i64().unwrap();
    let run = get_run(&client, run_id).await;
    assert_eq!(run["run_id"], run_id);
    assert_eq!(run["run_name"], "sdp-agent");
    assert_eq!(run["state"]["life_cycle_state"], "TERMINATED");
    assert_eq!(run["state"]["result_state"], "SUCCESS");
    assert_eq!(run["status"]["state"], "TERMINATED");
    let job_id = run["job_id"].as_i64().unwrap();
    assert_eq!(
        run["run_page_url"],
        format!("{}/?o=1234567890#job/{job_id}/run/{run_id}", emulator.url())
    );
    let task = &run["tasks"][0];
    assert_eq!(task["task_key"], "sdp_agent");
    let task_run_id = task["run_id"].as_i64().unwrap();
    assert_ne!(task_run_id, run_id);
    assert_eq!(
        task["spark_python_task"]["python_file"],
        "/Workspace/Shared/runner.py"
    );

    let output = client
        .get(&format!(
            "/api/2.2/jobs/runs/get-output?run_id={task_run_id}"
        ))
        .await
        .json();
    assert_eq!(output["logs"], "");
    assert_eq!(output["logs_truncated"], false);
    assert_eq!(output["metadata"]["run_id"], task_run_id);
    // A single-task run's output can also be read through the run id.
    let by_run = client
        .get(&format!("/api/2.1/jobs/runs/get-output?run_id={run_id}"))
        .await;
    assert_eq!(by_run.status, 200);
}

#[tokio::test]
async fn runs_get_errors() {
    let (_emulator, client) = start_default().await;
    let reply = client.get("/api/2.2/jobs/runs/get?run_id=42").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "RESOURCE_DOES_NOT_EXIST")
    );
    let reply = client.get("/api/2.2/jobs/runs/get").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "INVALID_PARAMETER_VALUE")
    );
    let reply = client.get("/api/2.2/jobs/runs/get?run_id=abc").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "INVALID_PARAMETER_VALUE")
    );
    let reply = client.get("/api/2.2/jobs/runs/get-output?run_id=42").await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn omit_run_page_url() {
    let (_emulator, client) = start(EmulatorConfig {
        omit_run_page_url: true,
        ..Default::default()
    })
    .await;
    let run_id = client.post(SUBMIT, &python_run(None)).await.json()["run_id"]
        .as_i64()
        .unwrap();
    let run = get_run(&client, run_id).await;
    assert!(run.get("run_page_url").is_none());
    assert!(run["tasks"][0].get("run_page_url").is_none());
}

#[tokio::test]
async fn executor_drives_the_run_lifecycle() {
    let gate = Arc::new(Notify::new());
    let seen = Arc::new(std::sync::Mutex::new(Vec::<SubmittedRun>::new()));
    let (gate2, seen2) = (gate.clone(), seen.clone());
    let config = EmulatorConfig {
        run_executor: Some(Arc::new(move |run: SubmittedRun| {
            let (gate, seen) = (gate2.clone(), seen2.clone());
            Box::pin(async move {
                seen.lock().unwrap().push(run.clone());
                gate.notified().await;
                let ok = run.request["run_name"] != "fail";
                RunOutcome {
                    success: ok,
                    logs: format!("{{\"run\": {}}}\n", run.run_id),
                    error: (!ok).then(|| "Exception: boom".to_string()),
                }
            })
        })),
        ..Default::default()
    };
    let (emulator, client) = start(config).await;
    let run_id = client.post(SUBMIT, &python_run(None)).await.json()["run_id"]
        .as_i64()
        .unwrap();
    // The executor has started (RUNNING) and is waiting on the gate.
    wait_for(&client, run_id, "RUNNING").await;
    assert_eq!(seen.lock().unwrap()[0].run_id, run_id);
    assert_eq!(seen.lock().unwrap()[0].request, python_run(None));
    let task_run_id = get_run(&client, run_id).await["tasks"][0]["run_id"]
        .as_i64()
        .unwrap();
    let pending_output = client
        .get(&format!(
            "/api/2.2/jobs/runs/get-output?run_id={task_run_id}"
        ))
        .await
        .json();
    assert!(pending_output.get("logs").is_none());

    gate.notify_one();
    let run = wait_for(&client, run_id, "TERMINATED").await;
    assert_eq!(run["state"]["result_state"], "SUCCESS");
    let output = client
        .get(&format!(
            "/api/2.2/jobs/runs/get-output?run_id={task_run_id}"
        ))
        .await
        .json();
    assert_eq!(output["logs"], format!("{{\"run\": {run_id}}}\n"));
    assert_eq!(
        emulator.run_logs(run_id),
        Some(format!("{{\"run\": {run_id}}}\n"))
    );
    assert_eq!(emulator.runs()[0]["state"]["result_state"], "SUCCESS");

    // A failing run ends FAILED with its error.
    let mut failing = python_run(None);
    failing["run_name"] = json!("fail");
    let failed_id = client.post(SUBMIT, &failing).await.json()["run_id"]
        .as_i64()
        .unwrap();
    wait_for(&client, failed_id, "RUNNING").await;
    gate.notify_one();
    let run = wait_for(&client, failed_id, "TERMINATED").await;
    assert_eq!(run["state"]["result_state"], "FAILED");
    let output = client
        .get(&format!("/api/2.2/jobs/runs/get-output?run_id={failed_id}"))
        .await
        .json();
    assert_eq!(output["error"], "Exception: boom");
}

async fn wait_for(client: &Client, run_id: i64, life_cycle: &str) -> Value {
    for _ in 0..200 {
        let run = get_run(client, run_id).await;
        if run["state"]["life_cycle_state"] == life_cycle {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("run {run_id} never reached {life_cycle}");
}

#[tokio::test]
async fn multi_task_output_needs_a_task_run_id() {
    let (_emulator, client) = start_default().await;
    let task = |key: &str| json!({"task_key": key, "notebook_task": {"notebook_path": "/n"}, "existing_cluster_id": "c"});
    let body = json!({"tasks": [task("a"), task("b")]});
    let run_id = client.post(SUBMIT, &body).await.json()["run_id"]
        .as_i64()
        .unwrap();
    let reply = client
        .get(&format!("/api/2.2/jobs/runs/get-output?run_id={run_id}"))
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.message().contains("multiple tasks"));
}
