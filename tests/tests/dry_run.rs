//! Plan mode: `sdp-agent --dry-run` and `"dry_run": true` send the reads and withhold every
//! write; the emulator sees no write and the answer lists what would have been sent.

mod common;

use common::*;
use sdp_emulator::{ChatReply, Emulator};
use serde_json::{Value, json};

const ENDPOINT: &str = "databricks-claude-sonnet-4-5";

/// Every request the emulator received that is not a read (GET, or asking a model).
fn writes(emu: &Emulator) -> Vec<String> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/invocations"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn dry(emu: &Emulator, command: &str, payload: &Value) -> Outcome {
    let mut cmd = agent_command(emu);
    cmd.arg("--dry-run").arg(command);
    if command == "run" {
        cmd.arg("--payload");
    }
    cmd.arg(payload.to_string());
    finish(cmd)
}

/// `(method, path)` of each planned call.
fn steps(result: &Value) -> Vec<(String, String)> {
    result["plan"]
        .as_array()
        .expect("a plan")
        .iter()
        .map(|c| {
            (
                c["method"].as_str().unwrap().to_string(),
                c["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn predict_plans_the_submit_and_submits_nothing() {
    let emu = emulator();
    let payload = full_payload(&emu, "planned");
    let result = dry(&emu, "predict", &payload).assert_ok().clone();
    assert_eq!(writes(&emu), Vec::<String>::new());
    assert!(emu.runs().is_empty());

    let plan = result["plan"].as_array().unwrap();
    assert_eq!(plan[0]["method"], "POST");
    assert_eq!(plan[0]["path"], "/api/2.2/jobs/runs/submit");
    let body = &plan[0]["body"];
    assert_eq!(
        body["tasks"][0]["existing_cluster_id"],
        "0101-123456-abcdef12"
    );
    let forwarded = unb64(
        body["tasks"][0]["spark_python_task"]["parameters"][0]
            .as_str()
            .unwrap(),
    );
    assert_eq!(forwarded["pipelineName"], "planned");
    // The run page lookup needs the run the submit would have made: planned, not sent.
    assert_eq!(
        steps(&result)[1],
        ("GET".into(), "/api/2.2/jobs/runs/get?run_id=-1".into())
    );
    assert_eq!(plan[1]["body"], Value::Null);
    assert_eq!(result["run_id"], -1);
    assert_eq!(result["run_url"], format!("{}/jobs/runs/-1", emu.url()));
}

#[test]
fn run_reads_the_workspace_and_plans_every_write_in_order() {
    let emu = emulator();
    let mut payload = full_payload(&emu, "planned_pipeline");
    let new_file = format!("{ROOT}/transformations/gold.sql");
    payload["workspace_file_paths"]
        .as_array_mut()
        .unwrap()
        .push(json!(new_file));
    payload["sources"] = json!({ new_file.clone(): "CREATE OR REFRESH MATERIALIZED VIEW gold AS SELECT count(*) AS n FROM silver" });
    payload["wait"] = json!(true);
    let result = dry(&emu, "run", &payload).assert_ok().clone();

    assert_eq!(writes(&emu), Vec::<String>::new());
    assert!(emu.pipelines().is_empty());
    assert_eq!(emu.file(&new_file), None);
    // The reads were sent: the lookup by name and the existence checks.
    assert_eq!(calls(&emu, "/api/2.0/pipelines").len(), 1);
    assert_eq!(calls(&emu, "/api/2.0/workspace/get-status").len(), 2);

    let dir = format!("{ROOT}/transformations");
    assert_eq!(
        steps(&result),
        vec![
            ("POST".into(), "/api/2.0/workspace/mkdirs".into()),
            ("POST".into(), "/api/2.0/workspace/import".into()),
            ("POST".into(), "/api/2.0/pipelines".into()),
            // Before starting an update the agent notes `latest_updates` (to adopt an update
            // whose start answer is lost): a read of a pipeline that does not exist yet.
            ("GET".into(), "/api/2.0/pipelines/<pipeline_id>".into()),
            // The written file is validated first, then the real update starts.
            (
                "POST".into(),
                "/api/2.0/pipelines/<pipeline_id>/updates".into()
            ),
            ("GET".into(), "/api/2.0/pipelines/<pipeline_id>".into()),
            (
                "POST".into(),
                "/api/2.0/pipelines/<pipeline_id>/updates".into()
            ),
        ]
    );
    let plan = result["plan"].as_array().unwrap();
    assert_eq!(plan[0]["body"], json!({"path": dir}));
    assert_eq!(plan[1]["body"]["path"], new_file);
    assert_eq!(plan[2]["body"]["name"], "planned_pipeline");
    assert_eq!(plan[2]["body"]["libraries"].as_array().unwrap().len(), 3);
    assert_eq!(plan[4]["body"], json!({"validate_only": true}));
    assert_eq!(plan[6]["body"], json!({"full_refresh": true}));
    assert_eq!(result["pipeline_id"], "<pipeline_id>");
    assert_eq!(result["update_id"], "<update_id>");
    assert!(
        result.get("state").is_none(),
        "a planned update is not waited for"
    );
    let message = result["message"].as_str().unwrap();
    assert!(message.starts_with("dry run, nothing written"), "{message}");
}

#[test]
fn an_existing_pipeline_is_read_and_its_edit_planned() {
    let emu = emulator();
    let payload = full_payload(&emu, "existing");
    let created = run(&emu, &payload).assert_ok().clone();
    let id = created["pipeline_id"].as_str().unwrap().to_string();
    let spec_before = emu.pipelines()[0]["spec"].clone();
    let writes_before = writes(&emu).len();

    let mut changed = payload.clone();
    changed["schema"] = json!("demo_v2");
    changed["full_refresh"] = json!(false);
    let result = dry(&emu, "run", &changed).assert_ok().clone();
    assert_eq!(writes(&emu).len(), writes_before, "{:?}", writes(&emu));
    let after = emu.pipelines();
    assert_eq!(after[0]["spec"], spec_before);
    assert_eq!(after[0]["updates"].as_array().unwrap().len(), 1);
    assert_eq!(
        steps(&result),
        vec![
            ("PUT".into(), format!("/api/2.0/pipelines/{id}")),
            ("POST".into(), format!("/api/2.0/pipelines/{id}/updates")),
        ]
    );
    let plan = result["plan"].as_array().unwrap();
    assert_eq!(plan[0]["body"]["schema"], "demo_v2");
    assert_eq!(plan[0]["body"]["pipeline_id"], id.as_str());
    assert_eq!(plan[1]["body"], json!({"full_refresh": false}));
    assert_eq!(result["pipeline_id"], id.as_str());
}

#[test]
fn the_payload_key_plans_too_and_the_model_is_still_asked() {
    let emu = emulator();
    let root = "/Workspace/Shared/from_model";
    let answer = json!({
        "pipelineName": "from_model", "catalog": "main", "schema": "clicks", "root_path": root,
        "workspace_file_paths": [format!("{root}/bronze.sql")],
        "sources": { format!("{root}/bronze.sql"): "CREATE OR REFRESH MATERIALIZED VIEW b AS SELECT 1" },
    });
    emu.script_chat(ENDPOINT, vec![ChatReply::Text(answer.to_string())]);
    let payload = json!({
        "question": "clickstream bronze", "claude_endpoint": ENDPOINT, "dry_run": true,
    });
    let result = run(&emu, &payload).assert_ok().clone();
    assert_eq!(emu.chat_requests().len(), 1, "the model is a read");
    assert_eq!(writes(&emu), Vec::<String>::new());
    assert!(emu.pipelines().is_empty());
    let paths: Vec<String> = steps(&result).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        paths,
        [
            "/api/2.0/workspace/mkdirs",
            "/api/2.0/workspace/import",
            "/api/2.0/pipelines",
            "/api/2.0/pipelines/<pipeline_id>",
            "/api/2.0/pipelines/<pipeline_id>/updates",
            "/api/2.0/pipelines/<pipeline_id>",
            "/api/2.0/pipelines/<pipeline_id>/updates"
        ]
    );
}

#[test]
fn a_bad_dry_run_value_is_a_field_error_and_dry_run_is_not_for_serve() {
    let emu = emulator();
    let mut payload = full_payload(&emu, "x");
    payload["dry_run"] = json!("yes");
    let out = predict(&emu, &payload);
    assert_eq!(out.kind(), "invalid_payload");
    assert_eq!(out.error_paths(), ["dry_run"]);
    assert!(emu.requests().is_empty());

    let mut cmd = agent_command(&emu);
    cmd.args(["--dry-run", "demo"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dry-run applies to predict and run"));
}
