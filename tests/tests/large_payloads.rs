//! Payloads too large for a job parameter: predict stages them in a workspace file and the
//! task gets `@<path>`, which `run` (and the launcher) accept.

mod common;

use common::*;
use serde_json::{Value, json};

/// A payload whose `sources` make its base64 far larger than a task parameter may be.
fn large_payload(emu: &sdp_emulator::Emulator) -> Value {
    let mut payload = full_payload(emu, "large_sources");
    let bronze = format!("{ROOT}/transformations/bronze.sql");
    let comment = format!("-- {}\n", "padding ".repeat(1_500));
    payload["sources"] = json!({
        bronze: format!("{comment}CREATE OR REFRESH MATERIALIZED VIEW bronze AS SELECT 1 AS id"),
    });
    payload
}

fn parameters(emu: &sdp_emulator::Emulator) -> Vec<String> {
    let runs = emu.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0]["request"]["tasks"][0]["spark_python_task"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_large_payload_is_staged_and_run_reads_it_back() {
    let emu = emulator();
    let payload = large_payload(&emu);
    assert!(
        b64(&payload).len() > 10_000,
        "the test payload must not fit"
    );
    predict(&emu, &payload).assert_ok();
    let params = parameters(&emu);
    assert_eq!(params.len(), 1, "{params:?}");
    let path = params[0].strip_prefix('@').expect("a staged payload path");
    assert!(
        path.starts_with(&format!("{ROOT}/.sdp-agent/payload-")) && path.ends_with(".json"),
        "{path}"
    );
    let staged: Value = serde_json::from_str(&emu.file(path).expect("the staged file")).unwrap();
    assert_eq!(staged, payload);

    // The job's side: `run @<path>` reads the file through the workspace API.
    let mut cmd = agent_command(&emu);
    cmd.arg("run").arg("--").arg(&params[0]);
    let result = finish(cmd).assert_ok().clone();
    assert_eq!(
        result["pipeline_id"],
        pipelines_named(&emu, "large_sources")[0]["pipeline_id"]
    );
    let bronze = format!("{ROOT}/transformations/bronze.sql");
    assert!(emu.file(&bronze).unwrap().contains("padding padding"));
}

#[test]
fn a_small_payload_stays_inline() {
    let emu = emulator();
    let payload = full_payload(&emu, "small");
    predict(&emu, &payload).assert_ok();
    let params = parameters(&emu);
    assert_eq!(params.len(), 1);
    assert_eq!(unb64(&params[0]), payload);
}

/// A staged payload that waits: the host cannot read it to extend run's deadline, so the
/// launcher is handed the deadline as an option.
#[test]
fn a_staged_payload_that_waits_carries_its_deadline() {
    let emu = emulator();
    let mut payload = large_payload(&emu);
    payload["wait"] = json!(true);
    payload["wait_timeout_seconds"] = json!(1200);
    predict(&emu, &payload).assert_ok();
    let params = parameters(&emu);
    assert!(params[0].starts_with('@'), "{params:?}");
    assert_eq!(params[1..], ["--timeout", "2100"]);
}

#[test]
fn a_large_payload_without_a_folder_is_refused_before_anything_is_sent() {
    let emu = emulator();
    let payload = json!({
        "question": "q".repeat(9_000),
        "claude_endpoint": "databricks-claude-sonnet-4-5",
        "runner_path": RUNNER,
        "existing_cluster_id": "0101-123456-abcdef12",
    });
    let out = predict(&emu, &payload);
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "invalid_payload", "{}", out.json);
    assert_eq!(out.error_paths(), vec!["root_path"]);
    assert!(emu.runs().is_empty());
}

/// The launcher passes a staged path on as it is.
#[test]
fn the_launcher_runs_a_staged_payload() {
    let emu = emulator();
    let payload = large_payload(&emu);
    predict(&emu, &payload).assert_ok();
    let params = parameters(&emu);
    let out = launcher_command(&emu, params)
        .env_remove("DATABRICKS_RUNTIME_VERSION")
        .output()
        .expect("python3 runs");
    stdout_of_success(&out);
    assert_eq!(pipelines_named(&emu, "large_sources").len(), 1);
}

/// A deployment names its staging folder (`--staging-dir`, `SDP_AGENT_STAGING_DIR`): large
/// payloads go there, never under the payload's `root_path`; without one, an admitted
/// caller's large payload is refused (a caller must not pick where the deployment writes).
#[test]
fn a_callers_large_payload_goes_to_the_staging_folder_or_is_refused() {
    use common::callers::{ALICE, call, workspace};
    use common::servers::Server;
    let emu = workspace();
    let job = common::jobs::deployed_job(&emu);
    let mut payload = large_payload(&emu);
    for key in ["runner_path", "existing_cluster_id"] {
        payload.as_object_mut().unwrap().remove(key);
    }

    let server = Server::sdp_agent(
        &emu,
        &["--callers", "workspace", "--job-id", &job.to_string()],
    );
    let url = format!("{}/invocations", server.url);
    let before = workspace_writes(&emu);
    let refused = call("POST", &url, Some(ALICE), Some(&payload));
    refused.assert_error(400, "INVALID_PARAMETER_VALUE");
    assert!(refused.text.contains("staging folder"), "{}", refused.text);
    assert_eq!(workspace_writes(&emu), before, "nothing written or started");
    assert!(emu.runs().is_empty());
    drop(server);

    let staging = "/Workspace/Users/dev@example.com/.sdp-agent/sdp-agent/staging";
    let server = Server::sdp_agent(
        &emu,
        &[
            "--callers",
            "workspace",
            "--job-id",
            &job.to_string(),
            "--staging-dir",
            staging,
        ],
    );
    let url = format!("{}/invocations", server.url);
    call("POST", &url, Some(ALICE), Some(&payload)).assert_ok();
    let runs = emu.runs();
    assert_eq!(runs.len(), 1);
    let reference = common::jobs::job_parameter(&runs[0], "payload").unwrap();
    let path = reference.strip_prefix('@').expect("a staged payload");
    assert!(
        path.starts_with(&format!("{staging}/payload-")) && path.ends_with(".json"),
        "{path}"
    );
    let staged: Value = serde_json::from_str(&emu.file(path).unwrap()).unwrap();
    assert_eq!(staged, payload);
    assert_eq!(
        emu.object_type(&format!("{ROOT}/.sdp-agent")),
        None,
        "nothing staged under the caller's root_path"
    );
}
