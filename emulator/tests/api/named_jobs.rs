//! Named jobs over HTTP: create, get, list by exact name, reset, and run-now with job
//! parameters resolved into the run's task.

use std::sync::{Arc, Mutex};

use sdp_emulator::{EmulatorConfig, RunOutcome, SubmittedRun};
use serde_json::{Value, json};

use crate::{Client, encode, start, start_default};

fn settings(name: &str) -> Value {
    json!({
        "name": name,
        "tasks": [{
            "task_key": "run",
            "spark_python_task": {"python_file": "/Workspace/a.py", "parameters": ["{{job.parameters.payload}}", "{{job.id}}"]},
            "environment_key": "env",
        }],
        "environments": [{"environment_key": "env", "spec": {"environment_version": "3"}}],
        "parameters": [{"name": "payload", "default": "none"}],
        "max_concurrent_runs": 100,
        "tags": {"tool": "sdp-agent"},
    })
}

async fn create(client: &Client, body: &Value) -> i64 {
    let reply = client.post("/api/2.2/jobs/create", body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["job_id"].as_i64().expect("job_id")
}

#[tokio::test]
async fn create_get_list_and_reset_keep_the_id() {
    let (_emulator, client) = start_default().await;
    let id = create(&client, &settings("a")).await;
    create(&client, &settings("b")).await;

    let got = client
        .get(&format!("/api/2.2/jobs/get?job_id={id}"))
        .await
        .json();
    assert_eq!(got["job_id"], id);
    assert_eq!(got["settings"], settings("a"));

    let listed = client
        .get(&format!("/api/2.2/jobs/list?name={}", encode("a")))
        .await
        .json();
    let jobs = listed["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["job_id"], id);
    assert!(
        jobs[0]["settings"].get("tasks").is_none(),
        "tasks only with expand_tasks"
    );
    // Jobs compares names ignoring case (the docs: "case insensitive"), and omits the key
    // when nothing matches.
    let upper = client.get("/api/2.2/jobs/list?name=A").await.json();
    assert_eq!(upper["jobs"][0]["job_id"], id, "{upper}");
    let none = client.get("/api/2.2/jobs/list?name=zzz").await.json();
    assert!(none.get("jobs").is_none(), "no key when empty: {none}");

    let mut changed = settings("a");
    changed["max_concurrent_runs"] = json!(5);
    let reply = client
        .post(
            "/api/2.2/jobs/reset",
            &json!({"job_id": id, "new_settings": changed}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let got = client
        .get(&format!("/api/2.2/jobs/get?job_id={id}"))
        .await
        .json();
    assert_eq!(got["settings"]["max_concurrent_runs"], 5);
}

#[tokio::test]
async fn settings_are_validated_like_the_real_service() {
    let (emulator, client) = start_default().await;
    let mut unknown = settings("x");
    unknown["python_task"] = json!({});
    let mut bad_task = settings("x");
    bad_task["tasks"][0]["environment_key"] = json!("nope");
    let mut no_default = settings("x");
    no_default["parameters"] = json!([{"name": "payload"}]);
    let mut too_many = settings("x");
    too_many["max_concurrent_runs"] = json!(5000);
    for (body, field) in [
        (unknown, "python_task"),
        (bad_task, "environment_key"),
        (no_default, "parameters[0].default"),
        (too_many, "max_concurrent_runs"),
    ] {
        let reply = client.post("/api/2.2/jobs/create", &body).await;
        assert_eq!(reply.status, 400, "{field}: {}", reply.text);
        assert_eq!(reply.error_code(), "INVALID_PARAMETER_VALUE");
        assert!(
            reply.message().contains(field),
            "{field}: {}",
            reply.message()
        );
    }
    assert!(emulator.jobs().is_empty());
    let reply = client
        .post(
            "/api/2.2/jobs/reset",
            &json!({"job_id": 1, "new_settings": settings("x")}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.message().contains("does not exist"), "{}", reply.text);
}

#[tokio::test]
async fn run_now_resolves_job_parameters_and_runs_through_the_executor() {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen2 = seen.clone();
    let (emulator, client) = start(EmulatorConfig {
        run_executor: Some(Arc::new(move |run: SubmittedRun| {
            seen2.lock().unwrap().push(run.request.clone());
            Box::pin(async {
                RunOutcome {
                    success: true,
                    logs: "{}\n".into(),
                    error: None,
                }
            })
        })),
        ..Default::default()
    })
    .await;
    let id = create(&client, &settings("a")).await;
    let body = json!({"job_id": id, "job_parameters": {"payload": "cGF5bG9hZA=="}, "idempotency_token": "t1"});
    let reply = client.post("/api/2.2/jobs/run-now", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let run_id = reply.json()["run_id"].as_i64().unwrap();
    // The same token again: the same run, nothing new.
    let again = client.post("/api/2.2/jobs/run-now", &body).await.json();
    assert_eq!(again["run_id"], run_id);

    let run = client
        .get(&format!("/api/2.2/jobs/runs/get?run_id={run_id}"))
        .await
        .json();
    assert_eq!(run["job_id"], id);
    assert_eq!(run["run_type"], "JOB_RUN");
    let params = &run["tasks"][0]["spark_python_task"]["parameters"];
    assert_eq!(params, &json!(["cGF5bG9hZA==", id.to_string()]));
    assert_eq!(emulator.runs().len(), 1);
    for _ in 0..100 {
        if !seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let executed = seen.lock().unwrap().clone();
    assert_eq!(executed.len(), 1);
    assert_eq!(
        executed[0]["tasks"][0]["spark_python_task"]["parameters"][0],
        "cGF5bG9hZA=="
    );

    // Defaults apply when the call gives no value.
    let reply = client
        .post("/api/2.2/jobs/run-now", &json!({"job_id": id}))
        .await;
    let run_id = reply.json()["run_id"].as_i64().unwrap();
    let run = client
        .get(&format!("/api/2.2/jobs/runs/get?run_id={run_id}"))
        .await
        .json();
    assert_eq!(
        run["tasks"][0]["spark_python_task"]["parameters"][0],
        "none"
    );
}

#[tokio::test]
async fn run_now_refuses_unknown_jobs_and_parameters() {
    let (emulator, client) = start_default().await;
    let id = create(&client, &settings("a")).await;
    for (body, needle) in [
        (json!({"job_id": id + 1000}), "does not exist"),
        (
            json!({"job_id": id, "job_parameters": {"other": "x"}}),
            "other",
        ),
        (
            json!({"job_id": id, "job_parameters": {"payload": 1}}),
            "job_parameters.payload",
        ),
        (
            json!({"job_id": id, "python_params": ["x"]}),
            "python_params",
        ),
        (json!({"job_parameters": {}}), "job_id"),
    ] {
        let reply = client.post("/api/2.2/jobs/run-now", &body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        assert!(
            reply.message().contains(needle),
            "{needle}: {}",
            reply.message()
        );
    }
    assert!(emulator.runs().is_empty());
}
