//! `predict` through a deployed job: a payload `job_id` (or `SDP_AGENT_JOB_ID` / `--job-id`)
//! makes predict send `jobs/run-now` with the payload as the `payload` job parameter, and the
//! run the emulator starts carries the job's task with that parameter resolved.

mod common;

use common::servers;
use common::*;
use sdp_emulator::Emulator;
use serde_json::{Value, json};
use servers::Server;

/// Creates the job `sdp-agent deploy` would create, through the emulator's Jobs API.
fn create_job(emu: &Emulator) -> i64 {
    let settings = json!({
        "name": "sdp-agent",
        "tasks": [{
            "task_key": "sdp_agent_run",
            "spark_python_task": {
                "python_file": RUNNER,
                "parameters": ["{{job.parameters.payload}}", "--timeout", "{{job.parameters.timeout}}"],
                "source": "WORKSPACE",
            },
            "environment_key": "sdp_agent_env",
        }],
        "environments": [{"environment_key": "sdp_agent_env", "spec": {"environment_version": "3"}}],
        "parameters": [{"name": "payload", "default": ""}, {"name": "timeout", "default": "900"}],
        "max_concurrent_runs": 100,
    });
    let answer: Value = ureq::post(&format!("{}/api/2.2/jobs/create", emu.url()))
        .set("Authorization", &format!("Bearer {}", emu.token().unwrap()))
        .send_json(settings)
        .expect("jobs/create")
        .into_json()
        .unwrap();
    answer["job_id"].as_i64().expect("job_id")
}

/// A payload naming the job (so no runner or compute of its own).
fn job_payload(emu: &Emulator, name: &str, job_id: i64) -> Value {
    let mut payload = payload_without_cluster(emu, name);
    payload.as_object_mut().unwrap().remove("runner_path");
    payload["job_id"] = json!(job_id);
    payload
}

/// The run-now request predict sent.
fn sent_run_now(emu: &Emulator) -> sdp_emulator::RecordedRequest {
    emu.requests()
        .into_iter()
        .find(|r| r.path == "/api/2.2/jobs/run-now")
        .expect("run-now was sent")
}

fn only_run(emu: &Emulator) -> Value {
    let runs = emu.runs();
    assert_eq!(runs.len(), 1, "exactly one run expected: {runs:?}");
    runs[0].clone()
}

/// The base64 payload the run's launcher gets as argv[1].
fn argv1(run: &Value) -> Value {
    let param = &run["request"]["tasks"][0]["spark_python_task"]["parameters"][0];
    unb64(param.as_str().expect("a resolved parameter"))
}

#[test]
fn a_payload_job_id_starts_the_job_and_its_run_builds_the_pipeline() {
    let emu = emulator();
    let job_id = create_job(&emu);
    let payload = job_payload(&emu, "via_run_now", job_id);
    let result = predict(&emu, &payload).assert_ok().clone();

    let sent = sent_run_now(&emu);
    assert_eq!(sent.body["job_id"], job_id);
    let token = sent.body["idempotency_token"].as_str().unwrap();
    assert!(!token.is_empty() && token.len() <= 64);
    assert_eq!(
        unb64(sent.body["job_parameters"]["payload"].as_str().unwrap()),
        payload
    );
    assert!(calls(&emu, "/api/2.2/jobs/runs/submit").is_empty());

    let run = only_run(&emu);
    assert_eq!(result["run_id"], run["run_id"]);
    assert_eq!(argv1(&run), payload);
    // The run is what a cluster would run: the job side builds the pipeline from argv[1].
    let built = common::run(&emu, &argv1(&run)).assert_ok().clone();
    assert_eq!(pipelines_named(&emu, "via_run_now").len(), 1);
    assert!(built["pipeline_id"].is_string());
}

/// The job id of the environment or `--job-id` serves every call, and pins the job: a payload
/// naming another is refused (`pinned_job.rs` has the rule), the same one is fine.
#[test]
fn the_job_id_environment_variable_serves_every_call_and_pins_the_job() {
    let emu = emulator();
    let job_id = create_job(&emu);
    let other = create_job(&emu);
    let payload = json!({"question": "build it"});
    let mut cmd = agent_command(&emu);
    cmd.env("SDP_AGENT_JOB_ID", job_id.to_string())
        .arg("predict")
        .arg(payload.to_string());
    finish(cmd).assert_ok();
    let mut cmd = agent_command(&emu);
    cmd.args(["--job-id", &job_id.to_string(), "predict"])
        .arg(json!({"question": "q", "job_id": job_id}).to_string());
    finish(cmd).assert_ok();
    let mut cmd = agent_command(&emu);
    cmd.args(["--job-id", &job_id.to_string(), "predict"])
        .arg(json!({"question": "q", "job_id": other}).to_string());
    assert_eq!(finish(cmd).kind(), "policy_refused");
    let bodies: Vec<Value> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/jobs/run-now"))
        .map(|r| r.body["job_id"].clone())
        .collect();
    assert_eq!(bodies, [json!(job_id), json!(job_id)]);
}

#[test]
fn one_time_run_keys_with_a_job_id_are_named_and_nothing_is_sent() {
    let emu = emulator();
    let payload = json!({"question": "q", "job_id": 5, "runner_path": RUNNER,
                         "existing_cluster_id": "0101-1", "timeout_seconds": 60});
    let out = predict(&emu, &payload);
    assert_eq!(out.kind(), "invalid_payload", "{}", out.json);
    assert_eq!(
        out.error_paths(),
        ["runner_path", "existing_cluster_id", "timeout_seconds"]
    );
    assert!(calls(&emu, "/api/").is_empty());

    let mut cmd = agent_command(&emu);
    cmd.env("SDP_AGENT_JOB_ID", "not-a-number")
        .arg("predict")
        .arg("{}");
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad SDP_AGENT_JOB_ID is a usage error"
    );
}

#[test]
fn an_unknown_job_is_an_upstream_error() {
    let emu = emulator();
    let out = predict(&emu, &json!({"question": "q", "job_id": 12345}));
    assert_eq!(out.kind(), "upstream", "{}", out.json);
    assert_eq!(out.json["error"]["status"], 400);
    assert!(emu.runs().is_empty());
}

#[test]
fn serve_with_a_job_id_starts_the_job_for_each_record() {
    let emu = emulator();
    let job_id = create_job(&emu);
    let mut cmd = agent_command(&emu);
    cmd.env("SDP_AGENT_JOB_ID", job_id.to_string())
        .env("RUST_LOG", "info")
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let server = Server::start(
        servers::Host::SdpAgent,
        cmd,
        "sdp-agent serve: listening on ",
    );
    let body = json!({"dataframe_records": [{"question": "one"}, {"question": "two"}]});
    let answer: Value = ureq::post(&format!("{}/invocations", server.url))
        .send_json(body)
        .expect("invocations")
        .into_json()
        .unwrap();
    let predictions = answer["predictions"].as_array().expect("predictions");
    assert_eq!(predictions.len(), 2, "{answer}");
    let runs = emu.runs();
    assert_eq!(runs.len(), 2);
    let questions: Vec<Value> = runs.iter().map(|r| argv1(r)["question"].clone()).collect();
    assert_eq!(questions, [json!("one"), json!("two")]);
}

/// The resolved task parameters of the one run.
fn task_parameters(run: &Value) -> Vec<String> {
    run["request"]["tasks"][0]["spark_python_task"]["parameters"]
        .as_array()
        .expect("resolved parameters")
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

/// A payload too large for a job parameter goes through a workspace file, as with runs/submit:
/// the job gets `@path` (and, when the run waits, the deadline as the `timeout` parameter),
/// and the run reads the file back. Sent inline, the emulator refuses it as Jobs does.
#[test]
fn a_large_payload_is_staged_for_run_now() {
    let emu = emulator();
    let job_id = create_job(&emu);
    let mut payload = job_payload(&emu, "staged_run_now", job_id);
    payload["wait"] = json!(true);
    payload["wait_timeout_seconds"] = json!(600);
    let path = payload["workspace_file_paths"][0]
        .as_str()
        .unwrap()
        .to_string();
    let padding = format!("-- {}\n", "padding ".repeat(1_500));
    payload["sources"][&path] = json!(format!(
        "{padding}CREATE OR REFRESH MATERIALIZED VIEW staged AS SELECT id FROM range(3)"
    ));
    assert!(b64(&payload).len() > 10_000, "the payload must not fit");

    let result = predict(&emu, &payload).assert_ok().clone();
    let sent = sent_run_now(&emu);
    let reference = sent.body["job_parameters"]["payload"].as_str().unwrap();
    assert!(
        reference.starts_with("@/Workspace/") && reference.contains("/.sdp-agent/payload-"),
        "{reference}"
    );
    assert_eq!(sent.body["job_parameters"]["timeout"], "1500");

    let run = only_run(&emu);
    assert_eq!(result["run_id"], run["run_id"]);
    let params = task_parameters(&run);
    assert_eq!(params, [reference, "--timeout", "1500"]);
    let staged: Value =
        serde_json::from_str(&emu.file(&reference[1..]).expect("the staged file")).unwrap();
    assert_eq!(staged, payload);

    // Inline, the same payload is more than a task's parameters carry.
    let inline = ureq::post(&format!("{}/api/2.2/jobs/run-now", emu.url()))
        .set("Authorization", &format!("Bearer {}", emu.token().unwrap()))
        .send_json(json!({"job_id": job_id, "job_parameters": {"payload": b64(&payload)}}));
    let Err(ureq::Error::Status(400, answer)) = inline else {
        panic!("an oversized job parameter must be refused: {inline:?}");
    };
    let answer: Value = answer.into_json().unwrap();
    assert!(
        answer["message"].as_str().unwrap().contains("10000 bytes"),
        "{answer}"
    );
}

/// Without a staged payload the job's `timeout` parameter keeps its default: the host's own.
#[test]
fn an_inline_payload_leaves_the_timeout_at_its_default() {
    let emu = emulator();
    let job_id = create_job(&emu);
    let mut payload = job_payload(&emu, "inline_run_now", job_id);
    payload["wait"] = json!(true);
    predict(&emu, &payload).assert_ok();
    let sent = sent_run_now(&emu);
    assert!(sent.body["job_parameters"].get("timeout").is_none());
    let params = task_parameters(&only_run(&emu));
    assert_eq!(params[1..], ["--timeout", "900"]);
}
