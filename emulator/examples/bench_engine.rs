//! Benchmark (not a test; `scripts/bench-engine` runs it): the demo pipeline's updates on the
//! local Spark engine, cold and warm. One engine, one emulator, the demo model's bronze/silver
//! pipeline; prints
//! - cold: the first validation, counted from the emulator's start (the server boots then),
//!   and the first full refresh (the server's first real run: its JIT is still cold);
//! - warm: the median of `BENCH_RUNS` (default 5) validations and of as many full refreshes.
//!
//! Times are the emulator's own (an update's creation to its final state), not the polling's.
//! Needs `scripts/setup --spark` (SDP_SPARK_VENV, default `.venv-spark`).

#[allow(dead_code)]
#[path = "../tests/api/client.rs"]
mod client;
#[allow(dead_code)]
#[path = "../tests/api/plans.rs"]
mod plans;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use client::Client;
use sdp_emulator::{Emulator, EmulatorConfig, Engine, SparkEngine};
use serde_json::{Value, json};

const QUESTION: &str = "Build a bronze/silver SDP pipeline over synthetic clickstream data";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let venv = std::env::var_os("SDP_SPARK_VENV")
        .map_or_else(|| PathBuf::from(".venv-spark"), PathBuf::from);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let dir = std::env::temp_dir().join(format!("sdp-bench-engine-{}", std::process::id()));
    let engine = SparkEngine::new(&venv, &dir)?;
    let started = Instant::now();
    let emulator = Emulator::start(EmulatorConfig {
        engine: Engine::Spark(engine.clone()),
        ..Default::default()
    })
    .await?;
    let client = Client::new(&emulator);
    let question = json!({"role": "user", "content": QUESTION});
    let (_, plan) = plans::ask(&client, &json!([question])).await;
    let id = plans::create_from(&emulator, &client, &plan).await;

    let cold_validation = update(&emulator, &client, &id, json!({"validate_only": true})).await?;
    let since_start = started.elapsed();
    let cold_refresh = update(&emulator, &client, &id, json!({"full_refresh": true})).await?;
    let mut validations = Vec::new();
    let mut refreshes = Vec::new();
    for _ in 0..runs {
        validations.push(update(&emulator, &client, &id, json!({"validate_only": true})).await?);
        refreshes.push(update(&emulator, &client, &id, json!({"full_refresh": true})).await?);
    }
    println!(
        "local Spark engine ({} cores), demo pipeline ({})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        plan["workspace_file_paths"].as_array().map_or(0, Vec::len),
    );
    println!(
        "cold  validation    {:5.1} s  ({:.1} s from the emulator's start, the server's boot included)",
        secs(cold_validation),
        secs(since_start)
    );
    println!(
        "cold  full refresh  {:5.1} s  (the server's first run)",
        secs(cold_refresh)
    );
    println!(
        "warm  validation    {:5.1} s  median of {runs} ({})",
        secs(median(&mut validations)),
        list(&validations)
    );
    println!(
        "warm  full refresh  {:5.1} s  median of {runs} ({})",
        secs(median(&mut refreshes)),
        list(&refreshes)
    );
    drop(emulator);
    drop(engine);
    Ok(())
}

/// Runs one update to its end; how long it took by the emulator's clock.
async fn update(
    emulator: &Emulator,
    client: &Client,
    id: &str,
    body: Value,
) -> anyhow::Result<Duration> {
    let started = client
        .post(&format!("/api/2.0/pipelines/{id}/updates"), &body)
        .await
        .json();
    let update = started["update_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    loop {
        // The emulator moves an update on when it is polled, as a client would.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = client
            .get(&format!("/api/2.0/pipelines/{id}/updates/{update}"))
            .await
            .json();
        let state = got["update"]["state"].as_str().unwrap_or_default();
        if state == "COMPLETED" {
            let record = emulator
                .pipelines()
                .into_iter()
                .find(|p| p["pipeline_id"] == id)
                .and_then(|p| {
                    p["updates"]
                        .as_array()?
                        .iter()
                        .find(|u| u["update_id"] == update)
                        .cloned()
                })
                .unwrap_or_default();
            let took = record["end_time"].as_i64().unwrap_or(0)
                - record["creation_time"].as_i64().unwrap_or(0);
            return Ok(Duration::from_millis(took.max(0) as u64));
        }
        anyhow::ensure!(
            !["FAILED", "CANCELED"].contains(&state),
            "update {update} ended {state}: {body}"
        );
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn list(times: &[Duration]) -> String {
    times
        .iter()
        .map(|t| format!("{:.1}", secs(*t)))
        .collect::<Vec<_>>()
        .join(", ")
}
