//! What every Spark test needs: an emulator on the engine, pipelines, updates, their errors.

use std::path::PathBuf;

use sdp_emulator::{DemoFlaw, Emulator, EmulatorConfig, Engine, SparkEngine};
use serde_json::{Value, json};

use crate::client::Client;

pub fn venv() -> PathBuf {
    std::env::var_os("SDP_SPARK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-spark"))
}

/// An emulator running updates on Spark, its pipelines under a directory of this test's own;
/// None (the test skips) when the engine is not installed and not required.
pub async fn spark_emulator(test: &str, demo_flaw: DemoFlaw) -> Option<(Emulator, PathBuf)> {
    spark_emulator_with(test, demo_flaw, None).await
}

/// Like `spark_emulator`, with a `--data` directory.
pub async fn spark_emulator_with(
    test: &str,
    demo_flaw: DemoFlaw,
    data: Option<PathBuf>,
) -> Option<(Emulator, PathBuf)> {
    let dir = spark_dir(test)?;
    let engine = SparkEngine::new(&venv(), &dir).unwrap();
    let emulator = Emulator::start(EmulatorConfig {
        engine: Engine::Spark(engine),
        demo_flaw,
        data,
        ..Default::default()
    })
    .await
    .unwrap();
    Some((emulator, dir))
}

/// A directory of this test's own for the engine's files; None (the test skips) when the
/// engine is not installed and not required.
pub fn spark_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "sdp-emulator-spark-test-{}-{test}",
        std::process::id()
    ));
    if let Err(e) = SparkEngine::new(&venv(), &dir) {
        if std::env::var_os("SDP_REQUIRE_SPARK").is_none() {
            eprintln!("SKIPPED {test}: the Spark engine is not installed ({e:#})");
            return None;
        }
        panic!("SDP_REQUIRE_SPARK is set but the Spark engine is missing: {e:#}");
    }
    Some(dir)
}

/// Creates the pipeline `name` over every file under `root`, in `catalog.schema`.
pub async fn create_pipeline(client: &Client, name: &str, root: &str, schema: &str) -> String {
    let created = client
        .post(
            "/api/2.0/pipelines",
            &json!({"name": name, "catalog": "main", "schema": schema,
                    "libraries": [{"glob": {"include": format!("{root}/**")}}]}),
        )
        .await
        .json();
    created["pipeline_id"].as_str().unwrap().to_string()
}

/// Starts an update and polls it (gently: Spark is slow) to its final state.
pub async fn run_update(client: &Client, id: &str, body: Value) -> (String, String) {
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
pub async fn validate_then_run(client: &Client, id: &str) -> String {
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
pub async fn failed_validation(client: &Client, id: &str) -> Vec<String> {
    let (update, state) = run_update(client, id, json!({"validate_only": true})).await;
    assert_eq!(state, "FAILED");
    errors(client, id, &update).await
}

/// The row counts the emulator recorded for `update`'s tables.
pub fn tables_of(emulator: &Emulator, update: &str) -> Value {
    update_record(emulator, update)["tables"].clone()
}

/// What the emulator recorded of `update` (of its first pipeline): tables, shapes, state.
pub fn update_record(emulator: &Emulator, update: &str) -> Value {
    let pipelines = emulator.pipelines();
    let updates = pipelines[0]["updates"].as_array().unwrap();
    let record = updates.iter().find(|u| u["update_id"] == update).unwrap();
    record.clone()
}

/// The exception messages of the update's ERROR events.
pub async fn errors(client: &Client, id: &str, update: &str) -> Vec<String> {
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
