//! `sdp-agent run` against the emulator: the pipeline found by its exact name (on any page,
//! however LIKE escapes) or made, and a later run editing it without losing other settings.

mod common;

use common::*;
use sdp_emulator::EmulatorConfig;
use serde_json::json;

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
