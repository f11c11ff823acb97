//! Whose pipeline: `run` edits only pipelines it created (tagged) or was told to adopt, never a
//! Hive metastore one, keeps an edit someone made meanwhile, does not full-refresh an existing
//! pipeline unless asked, and overwrites only source files it wrote itself.

mod common;

use common::*;
use sdp_emulator::{ChatReply, Fault};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const TAG: &str = "sdp_agent";
const ENDPOINT: &str = "databricks-claude-sonnet-4-5";

fn waited(mut payload: Value) -> Value {
    payload["wait"] = json!(true);
    payload
}

fn updates(emu: &sdp_emulator::Emulator, name: &str) -> Vec<Value> {
    pipelines_named(emu, name)[0]["updates"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn created_pipelines_are_tagged_and_reruns_do_not_full_refresh_unless_asked() {
    let emu = emulator();
    let payload = waited(full_payload(&emu, "tagged"));
    let first = run(&emu, &payload).assert_ok().clone();
    let p = &pipelines_named(&emu, "tagged")[0];
    assert!(p["spec"]["tags"][TAG].is_string(), "{}", p["spec"]);
    assert_eq!(updates(&emu, "tagged")[0]["full_refresh"], true, "new");

    let second = run(&emu, &payload).assert_ok().clone();
    assert_eq!(second["pipeline_id"], first["pipeline_id"]);
    assert_eq!(
        updates(&emu, "tagged")[1]["full_refresh"],
        false,
        "an existing pipeline's streaming tables are not cleared by default"
    );
    assert!(!second["message"].as_str().unwrap().contains("full refresh"));

    let mut asked = payload.clone();
    asked["full_refresh"] = json!(true);
    run(&emu, &asked).assert_ok();
    assert_eq!(
        updates(&emu, "tagged")[2]["full_refresh"],
        true,
        "payload wins"
    );
}

#[test]
fn a_pipeline_someone_else_made_is_refused_unless_adopted() {
    let emu = emulator();
    let payload = waited(full_payload(&emu, "theirs"));
    let id = emu.create_pipeline_as(
        json!({"name": "theirs", "catalog": "main", "schema": "prod", "root_path": ROOT}),
        "alice@example.com",
    );
    let out = run(&emu, &payload);
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "pipeline_refused", "{}", out.json);
    assert_eq!(out.json["error"]["pipeline_id"], id);
    assert_eq!(out.json["error"]["creator"], "alice@example.com");
    let message = out.json["error"]["message"].as_str().unwrap();
    for word in ["'theirs'", "alice@example.com", "adopt"] {
        assert!(message.contains(word), "{word} not in {message}");
    }
    let p = &pipelines_named(&emu, "theirs")[0];
    assert_eq!(p["spec"]["schema"], "prod", "not edited");
    assert!(
        p["updates"].as_array().unwrap().is_empty(),
        "nothing started"
    );
    assert!(calls(&emu, "/api/2.0/workspace/import").is_empty());
    assert!(
        !calls(&emu, "/api/2.0/pipelines")
            .iter()
            .any(|c| c.starts_with("PUT"))
    );

    let mut adopt = payload.clone();
    adopt["adopt"] = json!(true);
    let result = run(&emu, &adopt).assert_ok().clone();
    assert_eq!(result["pipeline_id"], id);
    assert!(result["message"].as_str().unwrap().contains("Adopted"));
    let p = &pipelines_named(&emu, "theirs")[0];
    assert_eq!(p["spec"]["schema"], "demo");
    assert!(
        p["spec"]["tags"][TAG].is_string(),
        "the agent's from now on"
    );
    assert_eq!(p["updates"][0]["full_refresh"], false);
    // Tagged now: the next run needs no `adopt`.
    run(&emu, &payload).assert_ok();
}

#[test]
fn a_hive_metastore_pipeline_is_refused_even_when_adopted() {
    let emu = emulator();
    let mut payload = full_payload(&emu, "legacy");
    payload["adopt"] = json!(true);
    let id = emu.create_pipeline(json!({
        "name": "legacy", "target": "old_db", "storage": "dbfs:/pipelines/legacy",
        "tags": {TAG: "managed"},
    }));
    let out = run(&emu, &payload);
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "pipeline_refused", "{}", out.json);
    assert_eq!(out.json["error"]["pipeline_id"], id);
    let message = out.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Hive metastore") && message.contains("'legacy'"),
        "{message}"
    );
    let spec = &pipelines_named(&emu, "legacy")[0]["spec"];
    assert!(spec.get("catalog").is_none(), "not edited: {spec}");
    assert_eq!(spec["target"], "old_db");
}

#[test]
fn an_edit_made_meanwhile_is_kept_not_overwritten() {
    let emu = emulator();
    let payload = waited(full_payload(&emu, "contested"));
    let id = run(&emu, &payload).assert_ok()["pipeline_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/2.0/pipelines/{id}");
    // The agent's edit is held up; meanwhile someone else edits the pipeline.
    emu.inject_fault(Fault {
        method: Some("PUT".into()),
        path_prefix: path.clone(),
        delay_ms: 1500,
        times: 1,
        ..Default::default()
    });
    let mut second = payload.clone();
    second["schema"] = json!("demo_v2");
    let puts = |emu: &sdp_emulator::Emulator| {
        emu.requests()
            .into_iter()
            .filter(|r| r.method == "PUT" && r.path == path)
            .collect::<Vec<_>>()
    };
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(20);
            while puts(&emu).is_empty() {
                assert!(Instant::now() < deadline, "the agent never sent its edit");
                std::thread::sleep(Duration::from_millis(20));
            }
            let (_, body) = http(&emu, "GET", &path, None);
            let mut spec: Value = serde_json::from_str::<Value>(&body).unwrap()["spec"].clone();
            spec["configuration"] = json!({"owner": "set meanwhile"});
            assert!(put_spec(&emu, &id, &spec));
        });
        run(&emu, &second)
    });
    result.assert_ok();
    let spec = &pipelines_named(&emu, "contested")[0]["spec"];
    assert_eq!(spec["schema"], "demo_v2", "the agent's edit landed");
    assert_eq!(
        spec["configuration"],
        json!({"owner": "set meanwhile"}),
        "the other edit was kept"
    );
    let agent_puts: Vec<_> = puts(&emu)
        .into_iter()
        .filter(|r| r.body.get("expected_last_modified").is_some())
        .collect();
    assert_eq!(agent_puts.len(), 2, "stale edit refused, then redone");
    assert_ne!(
        agent_puts[0].body["expected_last_modified"],
        agent_puts[1].body["expected_last_modified"]
    );
}

/// A model answer for pipeline `owned_files`: two files in its folder plus `extra` paths.
fn owned_config(version: &str, extra: &[&str]) -> Value {
    let root = "/Workspace/Shared/owned_files";
    let mut paths = vec![format!("{root}/bronze.sql"), format!("{root}/silver.sql")];
    paths.extend(extra.iter().map(|p| p.to_string()));
    let sources: serde_json::Map<String, Value> = paths
        .iter()
        .map(|p| {
            // One dataset per file, named after it: a pipeline defines each dataset once.
            let stem = p.rsplit('/').next().unwrap().trim_end_matches(".sql");
            let text =
                format!("CREATE OR REFRESH MATERIALIZED VIEW {stem} AS SELECT '{version}' AS v");
            (p.clone(), json!(text))
        })
        .collect();
    json!({"pipelineName": "owned_files", "catalog": "main", "schema": "s", "root_path": root,
           "workspace_file_paths": paths, "sources": sources})
}

#[test]
fn the_model_overwrites_only_files_the_agent_wrote_and_says_what_it_kept() {
    let emu = emulator();
    let theirs = "/Workspace/Shared/other/shared_gold.sql";
    emu.put_file(
        theirs,
        "CREATE OR REFRESH MATERIALIZED VIEW gold AS SELECT 'theirs' AS v",
    );
    let payload =
        json!({"question": "bronze and silver", "claude_endpoint": ENDPOINT, "wait": true});
    emu.script_chat(
        ENDPOINT,
        vec![ChatReply::Text(owned_config("v1", &[]).to_string())],
    );
    run(&emu, &payload).assert_ok();
    let bronze = "/Workspace/Shared/owned_files/bronze.sql";
    assert!(emu.file(bronze).unwrap().contains("'v1'"));

    emu.script_chat(
        ENDPOINT,
        vec![ChatReply::Text(owned_config("v2", &[theirs]).to_string())],
    );
    let result = run(&emu, &payload).assert_ok().clone();
    assert!(
        emu.file(bronze).unwrap().contains("'v2'"),
        "the agent's own file is rewritten"
    );
    assert_eq!(
        emu.file(theirs).unwrap(),
        "CREATE OR REFRESH MATERIALIZED VIEW gold AS SELECT 'theirs' AS v",
        "someone else's kept"
    );
    let message = result["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("kept existing {theirs}")),
        "{message}"
    );
}
