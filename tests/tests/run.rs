//! `sdp-agent run` against the emulator: config from the payload and from the model, the
//! pipeline found or made, updates started and waited for.

mod common;

use common::*;
use sdp_emulator::{ChatReply, EmulatorConfig};
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

#[test]
fn a_second_run_edits_the_same_pipeline_and_keeps_other_settings() {
    let emu = emulator();
    let payload = full_payload(&emu, "sdp_clickstream_demo");
    let first = run(&emu, &payload).assert_ok().clone();
    let id = first["pipeline_id"].as_str().unwrap().to_string();
    // Someone tunes the pipeline in the UI between runs.
    let mut spec = pipelines_named(&emu, "sdp_clickstream_demo")[0]["spec"].clone();
    spec["configuration"] = json!({"source.rows": "1000"});
    spec["development"] = json!(true);
    // The UI keeps the agent's tag beside the team's own.
    spec["tags"]["team"] = json!("growth");
    spec["notifications"] =
        json!([{"email_recipients": ["ops@example.com"], "alerts": ["on-update-failure"]}]);
    let client_put = put_spec(&emu, &id, &spec);
    assert!(client_put, "seeding the tuned spec");
    emu.put_file(
        &format!("{ROOT}/transformations/gold.sql"),
        "CREATE OR REFRESH MATERIALIZED VIEW gold AS SELECT count(*) AS n FROM silver",
    );

    let mut second_payload = payload.clone();
    second_payload["schema"] = json!("demo_v2");
    second_payload["workspace_file_paths"]
        .as_array_mut()
        .unwrap()
        .push(json!(format!("{ROOT}/transformations/gold.sql")));
    second_payload["full_refresh"] = json!(false);
    // The first update must be over before a second can start.
    wait_idle(&emu, &id);
    let second = run(&emu, &second_payload).assert_ok().clone();
    assert_eq!(second["pipeline_id"], id);
    assert_eq!(emu.pipelines().len(), 1);
    let p = &pipelines_named(&emu, "sdp_clickstream_demo")[0];
    let spec = &p["spec"];
    assert_eq!(spec["schema"], "demo_v2");
    assert_eq!(spec["libraries"].as_array().unwrap().len(), 3);
    assert_eq!(spec["configuration"], json!({"source.rows": "1000"}));
    assert_eq!(spec["development"], true);
    assert_eq!(spec["tags"]["team"], "growth");
    assert!(spec["tags"]["sdp_agent"].is_string(), "still the agent's");
    assert_eq!(spec["serverless"], true);
    assert!(spec["notifications"].is_array());
    assert_eq!(p["updates"].as_array().unwrap().len(), 2);
    assert_eq!(p["updates"][1]["full_refresh"], false);
    assert!(second["message"].as_str().unwrap().contains("schema"));
}

#[test]
fn names_with_quotes_and_wildcards_match_exactly() {
    let emu = emulator();
    // Decoys a naive LIKE (unescaped `_` and `%`) would match first.
    emu.create_pipeline(json!({"name": "it's 50xx done", "catalog": "main", "schema": "d"}));
    emu.create_pipeline(json!({"name": "it's 50% done", "catalog": "main", "schema": "old"}));
    let name = "it's 50%_done";
    emu.create_pipeline(json!({"name": "it's 50%xdone", "catalog": "main", "schema": "d"}));
    let payload = full_payload(&emu, name);
    let first = run(&emu, &payload).assert_ok().clone();
    assert_eq!(
        pipelines_named(&emu, name).len(),
        1,
        "created, not confused with a decoy"
    );
    for decoy in ["it's 50xx done", "it's 50% done", "it's 50%xdone"] {
        let d = &pipelines_named(&emu, decoy)[0];
        assert_ne!(d["pipeline_id"], first["pipeline_id"]);
        assert_ne!(d["spec"]["schema"], "demo", "{decoy} was edited");
    }
    wait_idle(&emu, first["pipeline_id"].as_str().unwrap());
    let second = run(&emu, &payload).assert_ok().clone();
    assert_eq!(second["pipeline_id"], first["pipeline_id"]);
    let filters: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/api/2.0/pipelines")
        .map(|r| r.query)
        .collect();
    assert!(!filters.is_empty());
}

#[test]
fn the_pipeline_is_found_on_a_later_page() {
    let emu = emulator_with(EmulatorConfig {
        list_page_size: 1,
        like_case_insensitive: true,
        ..Default::default()
    });
    // Names a case-insensitive LIKE also matches, listed before the real one.
    emu.create_pipeline(json!({"name": "Paged_Pipeline", "catalog": "main", "schema": "a"}));
    emu.create_pipeline(json!({"name": "PAGED_PIPELINE", "catalog": "main", "schema": "b"}));
    let id = emu.create_pipeline(
        json!({"name": "paged_pipeline", "catalog": "main", "schema": "c",
        "configuration": {"keep": "me"}, "tags": {"sdp_agent": "managed"}}),
    );
    let payload = full_payload(&emu, "paged_pipeline");
    let result = run(&emu, &payload).assert_ok().clone();
    assert_eq!(result["pipeline_id"], id);
    assert_eq!(emu.pipelines().len(), 3, "nothing created");
    let p = &pipelines_named(&emu, "paged_pipeline")[0];
    assert_eq!(p["spec"]["configuration"], json!({"keep": "me"}));
    let lists = calls(&emu, "/api/2.0/pipelines")
        .into_iter()
        .filter(|c| c == "GET /api/2.0/pipelines")
        .count();
    assert!(lists >= 3, "followed next_page_token ({lists} pages)");
}

#[test]
fn wait_mode_reports_the_final_state() {
    let emu = emulator();
    let mut payload = full_payload(&emu, "waited");
    payload["wait"] = json!(true);
    let result = run(&emu, &payload).assert_ok().clone();
    assert_eq!(result["state"], "COMPLETED");
    let polls = calls(&emu, "/api/2.0/pipelines/")
        .into_iter()
        .filter(|c| c.starts_with("GET") && c.contains("/updates/"))
        .count();
    assert!(polls >= 6, "polled through the states ({polls})");
}

#[test]
fn wait_mode_reports_a_failed_update_with_its_error() {
    let emu = emulator();
    emu.set_next_update_outcome("FAILED");
    let mut payload = full_payload(&emu, "failing");
    payload["wait"] = json!(true);
    let out = run(&emu, &payload);
    assert_eq!(out.json["state"], "FAILED", "{}", out.json);
    assert_eq!(out.code, 1, "a failed update fails the job");
    assert!(out.json["message"].as_str().unwrap().contains("FAILED"));
}

#[test]
fn an_update_already_running_is_reported_as_such() {
    let emu = emulator();
    let payload = full_payload(&emu, "busy");
    let first = run(&emu, &payload).assert_ok().clone();
    // Nobody polled the first update, so it is still active.
    let out = run(&emu, &payload);
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "update_active", "{}", out.json);
    assert_eq!(out.json["error"]["pipeline_id"], first["pipeline_id"]);
    assert_eq!(emu.pipelines()[0]["updates"].as_array().unwrap().len(), 1);
}

#[test]
fn the_pipeline_is_found_whether_or_not_backslash_escapes_in_like() {
    for escapes in [true, false] {
        let emu = emulator_with(EmulatorConfig {
            like_backslash_escapes: escapes,
            ..Default::default()
        });
        let name = r"sdp_clicks\raw";
        // Matches the wildcard pattern, is not the pipeline.
        let decoy = emu.create_pipeline(json!({"name": r"sdpXclicks\raw", "schema": "d"}));
        let mut payload = full_payload(&emu, name);
        payload["wait"] = json!(true);
        let first = run(&emu, &payload).assert_ok().clone();
        let second = run(&emu, &payload).assert_ok().clone();
        assert_eq!(
            second["pipeline_id"], first["pipeline_id"],
            "found again (backslash escapes: {escapes})"
        );
        assert_eq!(pipelines_named(&emu, name).len(), 1);
        assert_ne!(first["pipeline_id"], decoy);
        assert_eq!(
            pipelines_named(&emu, r"sdpXclicks\raw")[0]["spec"]["schema"],
            "d"
        );
    }
}

#[test]
fn a_notebook_is_a_notebook_library_and_written_sources_stay_files() {
    let emu = emulator();
    let dir = "/Workspace/Users/dev@example.com/nb";
    let notebook = format!("{dir}/bronze.sql");
    emu.put_notebook(
        &notebook,
        "SQL",
        "-- Databricks notebook source\nCREATE OR REFRESH MATERIALIZED VIEW bronze AS SELECT 1 AS id",
    );
    let silver = format!("{dir}/silver.sql");
    let payload = json!({
        "catalog": "main", "schema": "demo", "pipelineName": "with_notebook", "root_path": dir,
        "workspace_file_paths": [notebook, silver],
        "sources": {silver.clone(): "-- Databricks notebook source\nCREATE OR REFRESH MATERIALIZED VIEW silver AS SELECT * FROM bronze"},
    });
    run(&emu, &payload).assert_ok();
    let spec = &pipelines_named(&emu, "with_notebook")[0]["spec"];
    assert_eq!(
        spec["libraries"],
        json!([{"notebook": {"path": notebook}}, {"file": {"path": silver}}])
    );
    assert_eq!(
        emu.object_type(&silver),
        Some("FILE"),
        "still a file at that path"
    );
    assert_eq!(
        emu.object_type(&format!("{dir}/silver")),
        None,
        "no notebook beside it"
    );
    let text = emu.file(&silver).unwrap();
    assert!(text.starts_with("CREATE OR REFRESH"), "{text}");
}

#[test]
fn a_failed_update_is_explained_by_its_own_errors() {
    let emu = emulator();
    let mut payload = full_payload(&emu, "explained");
    payload["wait"] = json!(true);
    emu.set_next_update_error("[UNRESOLVED_COLUMN] first cause");
    let first = run(&emu, &payload);
    assert_eq!(first.json["state"], "FAILED", "{}", first.json);
    let message = first.json["message"].as_str().unwrap();
    assert!(
        message.contains("update FAILED: [UNRESOLVED_COLUMN] first cause"),
        "{message}"
    );

    emu.set_next_update_error("[PARSE_SYNTAX_ERROR] second cause");
    let second = run(&emu, &payload);
    let message = second.json["message"].as_str().unwrap();
    assert!(message.contains("second cause"), "{message}");
    assert!(
        !message.contains("first cause"),
        "another update's error: {message}"
    );
    let queries: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/events") && !r.query.contains("page_token"))
        .map(|r| r.query)
        .collect();
    // ERROR events explain the failure; INFO ones only hold the dataset graph.
    let errors = queries.iter().filter(|q| q.contains("level%3D%27ERROR%27"));
    assert_eq!(errors.count(), 2, "{queries:?}");
    assert!(
        queries
            .iter()
            .all(|q| q.contains("level%3D%27ERROR%27") || q.contains("level%3D%27INFO%27")),
        "{queries:?}"
    );
}
