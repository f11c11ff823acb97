//! The Spark engine behind the emulator (needs `scripts/setup --spark`, which `scripts/setup
//! --test` runs): a syntax error, a wrong column and a missing table each come back as the
//! error event a workspace would write, the fixed pipeline validates, and a real update writes
//! tables with rows; the demo model's pipeline, flawed first, is repaired and runs.
//! Slow (each Spark start takes ~15-40 s; one update at a time on a machine, port 15002).
//!
//! Without the engine these tests skip with a message, unless `SDP_REQUIRE_SPARK` is set (as
//! `scripts/test`, hence CI, does): then a missing engine fails them.

use std::path::PathBuf;

use sdp_emulator::{Emulator, EmulatorConfig, Engine, SparkEngine};
use serde_json::{Value, json};

#[allow(dead_code)]
#[path = "api/client.rs"]
mod client;
#[path = "api/plans.rs"]
mod plans;
use client::Client;
use plans::{ask, create_from, write_sources};

fn venv() -> PathBuf {
    std::env::var_os("SDP_SPARK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-spark"))
}

/// An emulator running updates on Spark, its pipelines under a directory of this test's own;
/// None (the test skips) when the engine is not installed and not required.
async fn spark_emulator(test: &str, demo_flaw: bool) -> Option<(Emulator, PathBuf)> {
    let dir = std::env::temp_dir().join(format!(
        "sdp-emulator-spark-test-{}-{test}",
        std::process::id()
    ));
    let engine = match SparkEngine::new(&venv(), &dir) {
        Ok(engine) => engine,
        Err(e) if std::env::var_os("SDP_REQUIRE_SPARK").is_none() => {
            eprintln!("SKIPPED {test}: the Spark engine is not installed ({e:#})");
            return None;
        }
        Err(e) => panic!("SDP_REQUIRE_SPARK is set but the Spark engine is missing: {e:#}"),
    };
    let emulator = Emulator::start(EmulatorConfig {
        engine: Engine::Spark(engine),
        demo_flaw,
        ..Default::default()
    })
    .await
    .unwrap();
    Some((emulator, dir))
}

/// Starts an update and polls it (gently: Spark is slow) to its final state.
async fn run_update(client: &Client, id: &str, body: Value) -> (String, String) {
    let started = client
        .post(&format!("/api/2.0/pipelines/{id}/updates"), &body)
        .await
        .json();
    let update = started["update_id"].as_str().unwrap().to_string();
    // Generous: Spark waits for the machine-wide lock, and a loaded machine starts it slowly.
    for _ in 0..1200 {
        let got = client
            .get(&format!("/api/2.0/pipelines/{id}/updates/{update}"))
            .await
            .json();
        let state = got["update"]["state"].as_str().unwrap().to_string();
        if ["COMPLETED", "FAILED", "CANCELED"].contains(&state.as_str()) {
            return (update, state);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("update {update} did not finish in 10 minutes");
}

/// A validation update that must pass, then a full refresh that must complete; returns the
/// run's update id.
async fn validate_then_run(client: &Client, id: &str) -> String {
    let (update, state) = run_update(client, id, json!({"validate_only": true})).await;
    assert_eq!(
        state,
        "COMPLETED",
        "{:?}",
        errors(client, id, &update).await
    );
    let (update, state) = run_update(client, id, json!({"full_refresh": true})).await;
    assert_eq!(
        state,
        "COMPLETED",
        "{:?}",
        errors(client, id, &update).await
    );
    update
}

/// A validation update that must fail; returns its error messages.
async fn failed_validation(client: &Client, id: &str) -> Vec<String> {
    let (update, state) = run_update(client, id, json!({"validate_only": true})).await;
    assert_eq!(state, "FAILED");
    errors(client, id, &update).await
}

/// The row counts the emulator recorded for `update`'s tables.
fn tables_of(emulator: &Emulator, update: &str) -> Value {
    let pipelines = emulator.pipelines();
    let updates = pipelines[0]["updates"].as_array().unwrap();
    let record = updates.iter().find(|u| u["update_id"] == update).unwrap();
    record["tables"].clone()
}

/// The exception messages of the update's ERROR events.
async fn errors(client: &Client, id: &str, update: &str) -> Vec<String> {
    client
        .update_events(id, update)
        .await
        .iter()
        .filter(|e| e["level"] == "ERROR" && e["event_type"] != "update_progress")
        .map(|e| {
            e["error"]["exceptions"][0]["message"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn spark_reports_each_mistake_like_a_workspace_then_runs_the_fixed_pipeline() {
    let Some((emulator, dir)) = spark_emulator("mistakes", false).await else {
        return;
    };
    let client = Client::new(&emulator);
    let root = "/Workspace/Shared/spark_test";
    let bronze = format!("{root}/bronze.sql");
    let silver = format!("{root}/silver.sql");
    emulator.put_file(
        &bronze,
        "CREATE OR REFRESH MATERIALIZED VIEW clicks_bronze AS\n\
         SELECT id AS event_id, element_at(array('view', 'click'), CAST(id % 2 AS INT) + 1) AS action\n\
         FROM range(0, 1000);",
    );
    emulator.put_file(
        &silver,
        "CREATE MATERIALIZED VIEW clicks_silver AS\nSELEC * FROM clicks_bronze;",
    );
    let created = client
        .post(
            "/api/2.0/pipelines",
            &json!({"name": "spark_test", "catalog": "main", "schema": "clicks",
                    "libraries": [{"glob": {"include": format!("{root}/**")}}]}),
        )
        .await
        .json();
    let id = created["pipeline_id"].as_str().unwrap().to_string();

    // 1. A syntax error.
    let found = failed_validation(&client, &id).await;
    assert!(
        found.len() == 1
            && found[0].starts_with("[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'"),
        "{found:?}"
    );

    // 2. A wrong column and a missing table, both reported.
    emulator.put_file(
        &silver,
        "CREATE MATERIALIZED VIEW clicks_silver AS\nSELECT event_id, acton FROM clicks_bronze;\n\
         CREATE MATERIALIZED VIEW clicks_gold AS SELECT count(*) AS n FROM clicks_silvr;",
    );
    let found = failed_validation(&client, &id).await;
    assert!(
        found
            .iter()
            .any(|m| m.starts_with("[UNRESOLVED_COLUMN.WITH_SUGGESTION]") && m.contains("acton")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|m| m.starts_with("[TABLE_OR_VIEW_NOT_FOUND]") && m.contains("clicks_silvr")),
        "{found:?}"
    );

    // 3. Fixed (with Databricks expectations, mapped): it validates, then a real update writes.
    emulator.put_file(
        &silver,
        "CREATE OR REFRESH MATERIALIZED VIEW clicks_silver (\n  \
         CONSTRAINT is_click EXPECT (action = 'click') ON VIOLATION DROP ROW\n)\n\
         AS SELECT event_id, action FROM clicks_bronze;",
    );
    let update = validate_then_run(&client, &id).await;
    assert_eq!(
        tables_of(&emulator, &update),
        json!({"clicks_bronze": 1000, "clicks_silver": 500})
    );
    let events = emulator.pipeline_events(&id);
    let rows: Vec<(&str, &Value)> = events
        .iter()
        .filter(|e| e["origin"]["update_id"] == update && e["event_type"] == "flow_progress")
        .map(|e| {
            (
                e["origin"]["dataset_name"].as_str().unwrap(),
                &e["details"]["flow_progress"]["metrics"]["num_output_rows"],
            )
        })
        .collect();
    assert!(
        rows.contains(&("main.clicks.clicks_silver", &json!(500))),
        "{rows:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_demo_pipeline_flawed_then_repaired_runs_and_its_tables_have_rows() {
    let Some((emulator, dir)) = spark_emulator("demo", true).await else {
        return;
    };
    let client = Client::new(&emulator);
    let question = json!({"role": "user",
        "content": "Build a bronze/silver SDP pipeline over synthetic clickstream data"});
    let (first, plan) = ask(&client, &json!([question])).await;
    let id = create_from(&emulator, &client, &plan).await;

    // The flawed first plan: Spark reports the table it reads under a wrong name.
    let found = failed_validation(&client, &id).await;
    assert!(
        found
            .iter()
            .any(|m| m.starts_with("[TABLE_OR_VIEW_NOT_FOUND]") && m.contains("clickstream_bronze")),
        "{found:?}"
    );

    // A repair request (the conversation so far, then the errors) gets the corrected files.
    let repair = json!([question, {"role": "assistant", "content": first},
        {"role": "user", "content": format!("Validation failed:\n{}\nReturn the corrected files.", found.join("\n"))}]);
    let (_, fixed) = ask(&client, &repair).await;
    assert_eq!(fixed["workspace_file_paths"], plan["workspace_file_paths"]);
    write_sources(&emulator, &fixed);
    let update = validate_then_run(&client, &id).await;
    let tables = tables_of(&emulator, &update);
    assert_eq!(tables["bronze_clickstream"], 10000, "{tables:?}");
    let silver = tables["silver_clickstream"].as_u64().unwrap();
    assert!(silver > 0 && silver <= 10000, "{tables:?}");
    std::fs::remove_dir_all(&dir).ok();
}
