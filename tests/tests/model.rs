//! What the model is told and how its answers are handled: the workspace's default catalog, the
//! fixed values in a fenced block (the demo model reads them as a real one would), cut-off
//! answers, endpoints that refuse `temperature`, and the `root_path` default.

mod common;

use common::*;
use sdp_emulator::{ChatReply, EmulatorConfig};
use serde_json::{Value, json};

const ENDPOINT: &str = "databricks-claude-sonnet-4-5";
const ASSIGNMENT: &str = "/api/2.1/unity-catalog/current-metastore-assignment";

fn ask(question: &str) -> Value {
    json!({"question": question, "claude_endpoint": ENDPOINT})
}

/// Text of the first chat request's message with this role.
fn chat_message(emu: &sdp_emulator::Emulator, role: &str) -> String {
    let chats = emu.chat_requests();
    let messages = chats[0]["messages"].as_array().unwrap();
    let m = messages.iter().find(|m| m["role"] == role).unwrap();
    m["content"].as_str().unwrap().to_string()
}

/// The fenced JSON objects of a message, in order.
fn fenced(text: &str) -> Vec<Value> {
    text.split("```")
        .skip(1)
        .step_by(2)
        .filter_map(|b| serde_json::from_str(b.strip_prefix("json").unwrap_or(b).trim()).ok())
        .collect()
}

#[test]
fn without_a_catalog_the_workspace_default_is_used_not_main() {
    let emu = emulator_with(EmulatorConfig {
        default_catalog_name: Some("workspace".into()),
        ..Default::default()
    });
    run(&emu, &ask("synthetic clickstream, bronze and silver")).assert_ok();
    let p = &emu.pipelines()[0];
    assert_eq!(p["spec"]["catalog"], "workspace", "{}", p["spec"]);
    assert_eq!(calls(&emu, ASSIGNMENT).len(), 1);
    let blocks = fenced(&chat_message(&emu, "user"));
    assert_eq!(blocks[1], json!({"catalog": "workspace"}), "{blocks:?}");
}

#[test]
fn a_payload_catalog_needs_no_default_and_a_missing_metastore_is_no_failure() {
    let emu = emulator();
    let mut payload = ask("synthetic orders");
    payload["catalog"] = json!("dev");
    run(&emu, &payload).assert_ok();
    assert_eq!(emu.pipelines()[0]["spec"]["catalog"], "dev");
    assert!(calls(&emu, ASSIGNMENT).is_empty());

    let bare = emulator_with(EmulatorConfig {
        default_catalog_name: None,
        ..Default::default()
    });
    run(&bare, &ask("synthetic orders")).assert_ok();
    assert_eq!(calls(&bare, ASSIGNMENT).len(), 1);
    assert_eq!(
        fenced(&chat_message(&bare, "user")).len(),
        1,
        "no defaults block"
    );
}

#[test]
fn the_payload_fixes_the_paths_and_the_model_fills_the_rest() {
    let emu = emulator();
    let dir = "/Workspace/Users/dev@example.com/orders";
    let raw = format!("{dir}/ingest/raw_orders.sql");
    let clean = format!("{dir}/clean/orders_clean.sql");
    let mut payload = ask("Synthetic orders into bronze and silver");
    payload["workspace_file_paths"] = json!([raw, clean]);
    let result = run(&emu, &payload).assert_ok().clone();

    let p = &emu.pipelines()[0];
    assert_eq!(result["pipeline_id"], p["pipeline_id"]);
    assert_eq!(
        p["spec"]["libraries"],
        json!([{"file": {"path": raw}}, {"file": {"path": clean}}]),
        "exactly the payload's paths"
    );
    assert_eq!(p["spec"]["root_path"], dir, "their common folder");
    assert!(p["spec"]["name"].as_str().unwrap().contains("orders"));
    assert!(emu.file(&raw).unwrap().contains("FROM range("));
    assert!(emu.file(&clean).unwrap().contains("silver_orders"));

    // The model got the fixed values as the first fenced block and the SDP rules.
    let fixed = &fenced(&chat_message(&emu, "user"))[0];
    assert_eq!(fixed["workspace_file_paths"], json!([raw, clean]));
    assert_eq!(fixed["root_path"], dir);
    let system = chat_message(&emu, "system");
    for rule in [
        "STREAM(",
        "read_files",
        "LIVE.",
        "DBFS",
        "range()",
        "Unity Catalog",
        "from pyspark import pipelines as dp",
        "validate_only",
        "STREAMING TABLE",
        "MATERIALIZED VIEW",
    ] {
        assert!(system.contains(rule), "the prompt lacks {rule}");
    }
}

#[test]
fn root_path_defaults_to_the_folder_of_the_files() {
    let emu = emulator();
    let mut payload = full_payload(&emu, "no_root");
    payload.as_object_mut().unwrap().remove("root_path");
    // A seed payload with neither root_path nor question: predict takes it, run completes it.
    predict(&emu, &payload).assert_ok();
    run(&emu, &payload).assert_ok();
    let p = &pipelines_named(&emu, "no_root")[0];
    assert_eq!(p["spec"]["root_path"], format!("{ROOT}/transformations"));
    assert!(emu.chat_requests().is_empty(), "nothing to ask");
}

/// A valid model answer whose bronze source is `pad` characters longer than it needs to be.
fn long_answer(pad: usize) -> String {
    let root = "/Workspace/Shared/long";
    let bronze = format!("{root}/bronze.sql");
    json!({
        "pipelineName": "long_answer", "catalog": "main", "schema": "s", "root_path": root,
        "workspace_file_paths": [bronze],
        "sources": {bronze: format!("-- {}\nCREATE OR REFRESH MATERIALIZED VIEW b AS SELECT 1", "x".repeat(pad))},
    })
    .to_string()
}

#[test]
fn a_cut_off_answer_is_asked_for_again_with_a_larger_budget() {
    let emu = emulator();
    // ~12k tokens at the emulator's 4 characters a token: past 8192, within the retry's budget.
    let answer = long_answer(48_000);
    emu.script_chat(
        ENDPOINT,
        vec![ChatReply::Text(answer.clone()), ChatReply::Text(answer)],
    );
    run(&emu, &ask("anything")).assert_ok();
    let chats = emu.chat_requests();
    assert_eq!(chats.len(), 2, "asked again, no repair round");
    let first = chats[0]["max_tokens"].as_u64().unwrap();
    let second = chats[1]["max_tokens"].as_u64().unwrap();
    assert!(second > first && second >= 12_500, "{first} then {second}");
    assert_eq!(chats[1]["messages"], chats[0]["messages"]);
    let text = emu.file("/Workspace/Shared/long/bronze.sql").unwrap();
    assert!(text.ends_with("SELECT 1"), "the whole source was written");
}

#[test]
fn an_endpoint_that_refuses_temperature_is_asked_without_it() {
    let emu = emulator();
    emu.refuse_chat_parameter(ENDPOINT, "temperature");
    run(&emu, &ask("synthetic iot sensors")).assert_ok();
    let chats = emu.chat_requests();
    assert_eq!(chats.len(), 2, "{chats:?}");
    assert!(chats[0].get("temperature").is_some());
    assert!(chats[1].get("temperature").is_none());
    assert_eq!(emu.pipelines().len(), 1);
}
