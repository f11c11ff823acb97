//! `sdp-agent run` against the emulator: the config, from the payload and from the model.
//! The pipeline found or made is in `run_pipeline.rs`, its updates in `run_updates.rs`.

mod common;

use common::*;
use sdp_emulator::ChatReply;
use serde_json::{Value, json};

const ENDPOINT: &str = "databricks-claude-sonnet-4-5";

/// A payload that leaves the config to the model.
fn question_payload() -> Value {
    json!({
        "question": "Generate synthetic clickstream data and build a bronze/silver SDP pipeline",
        "claude_endpoint": ENDPOINT,
        "catalog": "payload_catalog",
    })
}

/// What a model would answer: config plus the source text of each file.
fn model_config(name: &str) -> Value {
    let root = format!("/Workspace/Shared/{name}");
    let bronze = format!("{root}/bronze.sql");
    let silver = format!("{root}/silver.sql");
    json!({
        "pipelineName": name,
        "catalog": "main",
        "schema": "clickstream",
        "root_path": root,
        "workspace_file_paths": [bronze, silver],
        "sources": {
            bronze: "CREATE OR REFRESH MATERIALIZED VIEW bronze AS SELECT id FROM range(100)",
            silver: "CREATE OR REFRESH MATERIALIZED VIEW silver AS SELECT * FROM bronze",
        }
    })
}

#[test]
fn config_from_the_payload_creates_a_serverless_pipeline() {
    let emu = emulator();
    let payload = full_payload(&emu, "sdp_clickstream_demo");
    let result = run(&emu, &payload).assert_ok().clone();
    let pipelines = pipelines_named(&emu, "sdp_clickstream_demo");
    assert_eq!(pipelines.len(), 1);
    let p = &pipelines[0];
    let id = p["pipeline_id"].as_str().unwrap();
    assert_eq!(result["pipeline_id"], id);
    assert_eq!(
        result["service_url"],
        format!("{}/pipelines/{id}", emu.url())
    );
    assert_eq!(result["update_id"], p["updates"][0]["update_id"]);
    assert!(result["message"].as_str().unwrap().contains("Created"));
    assert!(result.get("state").is_none(), "no state unless waited");
    let spec = &p["spec"];
    assert_eq!(spec["catalog"], "main");
    assert_eq!(spec["schema"], "demo");
    assert_eq!(spec["root_path"], ROOT);
    assert_eq!(spec["serverless"], true);
    assert_eq!(spec["continuous"], false);
    assert_eq!(
        spec["libraries"],
        json!([{"file": {"path": format!("{ROOT}/transformations/bronze.sql")}},
               {"file": {"path": format!("{ROOT}/transformations/silver.sql")}}])
    );
    assert_eq!(p["updates"][0]["full_refresh"], true);
    assert!(emu.chat_requests().is_empty(), "nothing to ask the model");
}

#[test]
fn missing_config_comes_from_the_model_as_a_string() {
    let emu = emulator();
    let answer = format!(
        "Here is the configuration you asked for:\n```json\n{}\n```\nEnjoy!",
        serde_json::to_string_pretty(&model_config("clicks_from_model")).unwrap()
    );
    emu.script_chat(ENDPOINT, vec![ChatReply::Text(answer)]);
    let result = run(&emu, &question_payload()).assert_ok().clone();
    let p = &pipelines_named(&emu, "clicks_from_model")[0];
    assert_eq!(result["pipeline_id"], p["pipeline_id"]);
    assert_eq!(
        p["spec"]["catalog"], "payload_catalog",
        "payload values win"
    );
    assert_eq!(p["spec"]["schema"], "clickstream");
    let bronze = emu.file("/Workspace/Shared/clicks_from_model/bronze.sql");
    assert!(
        bronze.unwrap().contains("range(100)"),
        "model's source written"
    );

    let chats = emu.chat_requests();
    assert_eq!(chats.len(), 1);
    let messages = chats[0]["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    assert!(messages[0]["content"].as_str().unwrap().contains("JSON"));
    let user = messages.last().unwrap()["content"].as_str().unwrap();
    assert!(user.contains("synthetic clickstream") && user.contains("payload_catalog"));
}

#[test]
fn missing_config_comes_from_the_model_as_blocks() {
    let emu = emulator();
    emu.script_chat(
        ENDPOINT,
        vec![ChatReply::Blocks {
            reasoning: "The user wants clickstream; I'll pick names. {\"not\": \"this\"}".into(),
            text: model_config("clicks_blocks").to_string(),
        }],
    );
    run(&emu, &question_payload()).assert_ok();
    assert_eq!(pipelines_named(&emu, "clicks_blocks").len(), 1);
}

#[test]
fn an_invalid_answer_gets_one_repair_round() {
    let emu = emulator();
    let mut bad = model_config("clicks_repaired");
    bad["schema"] = json!("click-stream");
    bad["workspace_file_paths"] = json!(["relative/bronze.sql"]);
    emu.script_chat(
        ENDPOINT,
        vec![
            ChatReply::Text(bad.to_string()),
            ChatReply::Text(model_config("clicks_repaired").to_string()),
        ],
    );
    let payload = json!({"question": "clickstream bronze/silver", "claude_endpoint": ENDPOINT});
    run(&emu, &payload).assert_ok();
    let chats = emu.chat_requests();
    assert_eq!(chats.len(), 2);
    let repair = chats[1]["messages"].as_array().unwrap();
    let last = repair.last().unwrap()["content"].as_str().unwrap();
    assert!(
        last.contains("schema") && last.contains("workspace_file_paths"),
        "{last}"
    );
    assert_eq!(repair[repair.len() - 2]["role"], "assistant");
    assert_eq!(
        pipelines_named(&emu, "clicks_repaired")[0]["spec"]["schema"],
        "clickstream"
    );
}

#[test]
fn a_hopeless_model_fails_cleanly_and_creates_nothing() {
    let emu = emulator();
    emu.script_chat(
        ENDPOINT,
        vec![
            ChatReply::Text("I cannot help with that.".into()),
            ChatReply::Text("```json\n{\"pipelineName\": \"\", \"catalog\": 7}\n```".into()),
        ],
    );
    let out = run(&emu, &question_payload());
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "llm_unusable", "{}", out.json);
    assert!(emu.pipelines().is_empty());
    assert!(calls(&emu, "/api/2.0/workspace/import").is_empty());
    assert_eq!(emu.chat_requests().len(), 2);
}

#[test]
fn without_question_or_endpoint_every_missing_key_is_listed() {
    let emu = emulator();
    let out = run(&emu, &json!({"question": "build it", "catalog": "main"}));
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "missing_config");
    let missing: Vec<_> = out.json["error"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for key in [
        "pipelineName",
        "schema",
        "root_path",
        "workspace_file_paths",
        "claude_endpoint",
    ] {
        assert!(missing.iter().any(|m| m == key), "{key} not in {missing:?}");
    }
    assert!(!missing.iter().any(|m| m == "catalog"));
}

#[test]
fn the_endpoint_can_come_from_the_environment() {
    let emu = emulator();
    emu.script_chat(
        "env-endpoint",
        vec![ChatReply::Text(model_config("from_env").to_string())],
    );
    let mut payload = question_payload();
    payload.as_object_mut().unwrap().remove("claude_endpoint");
    let mut cmd = agent_command(&emu);
    cmd.env("CLAUDE_ENDPOINT_NAME", "env-endpoint")
        .arg("run")
        .arg(b64(&payload));
    finish(cmd).assert_ok();
    assert_eq!(pipelines_named(&emu, "from_env").len(), 1);
}

#[test]
fn a_missing_source_file_fails_before_anything_is_created() {
    let emu = emulator();
    let mut payload = full_payload(&emu, "p");
    payload["workspace_file_paths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/Workspace/Shared/nowhere/gold.sql"));
    let out = run(&emu, &payload);
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "invalid_payload");
    assert_eq!(out.error_paths(), vec!["workspace_file_paths[2]"]);
    assert!(emu.pipelines().is_empty());
}
