//! The demo model's plans as the agent uses them: asked for over the model endpoint, their
//! sources written to the workspace, their pipeline created. Shared with `tests/spark.rs`.

use sdp_emulator::Emulator;
use serde_json::{Value, json};

use crate::Client;

/// Asks the emulator's model endpoint as the guest's `model_fill` would; returns the answer and
/// the plan fenced in it.
pub async fn ask(client: &Client, messages: &Value) -> (String, Value) {
    let reply = client
        .post(
            "/serving-endpoints/databricks-claude-sonnet-4-5/invocations",
            &json!({"messages": messages}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let answer = reply.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let block = answer.split_once("```json\n").unwrap().1;
    let plan = serde_json::from_str(block.split_once("\n```").unwrap().0).unwrap();
    (answer, plan)
}

/// Writes the plan's sources into the workspace.
pub fn write_sources(emulator: &Emulator, plan: &Value) {
    for (path, text) in plan["sources"].as_object().unwrap() {
        emulator.put_file(path, text.as_str().unwrap());
    }
}

/// Writes the plan's sources and creates its pipeline (as the agent does); returns its id.
pub async fn create_from(emulator: &Emulator, client: &Client, plan: &Value) -> String {
    write_sources(emulator, plan);
    let libraries: Vec<Value> = plan["workspace_file_paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"file": {"path": p}}))
        .collect();
    let created = client
        .post(
            "/api/2.0/pipelines",
            &json!({"name": plan["pipelineName"], "catalog": plan["catalog"],
                    "schema": plan["schema"], "libraries": libraries}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    created.json()["pipeline_id"].as_str().unwrap().to_string()
}
