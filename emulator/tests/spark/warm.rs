//! One warm server for every pipeline of an engine, each pipeline in its own namespace: two
//! emulators sharing the engine run pipelines of the same name, schema and tables without
//! seeing each other's rows, the server outlives every update and goes with the engine.

use std::time::{Duration, Instant};

use sdp_emulator::{DemoFlaw, Emulator, EmulatorConfig, Engine, SparkEngine};
use serde_json::json;

use crate::client::Client;
use crate::support::*;

const ROOT: &str = "/Workspace/Shared/warm";

fn rows(n: u32) -> String {
    format!("CREATE MATERIALIZED VIEW t AS SELECT id FROM range({n});")
}

async fn emulator_on(engine: &SparkEngine) -> Emulator {
    Emulator::start(EmulatorConfig {
        engine: Engine::Spark(engine.clone()),
        demo_flaw: DemoFlaw::None,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// A full refresh of the pipeline, its table's rows and how long the update took.
async fn refresh(emulator: &Emulator, id: &str) -> (u64, Duration) {
    let client = Client::new(emulator);
    let started = Instant::now();
    let (update, state) = run_update(&client, id, json!({"full_refresh": true})).await;
    let took = started.elapsed();
    assert_eq!(state, "COMPLETED", "{:?}", errors(&client, id, &update).await);
    let record = emulator
        .pipelines()
        .into_iter()
        .find(|p| p["pipeline_id"] == id)
        .unwrap();
    let update = record["updates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["update_id"] == update)
        .unwrap()
        .clone();
    (update["tables"]["t"].as_u64().unwrap(), took)
}

#[tokio::test]
async fn pipelines_share_one_warm_server_and_nothing_else() {
    let Some(dir) = spark_dir("warm") else {
        return;
    };
    let engine = SparkEngine::new(&venv(), &dir).unwrap();
    let (a, b) = (emulator_on(&engine).await, emulator_on(&engine).await);
    let mut ids = Vec::new();
    for (emulator, n) in [(&a, 3), (&b, 5)] {
        emulator.put_file(&format!("{ROOT}/t.sql"), &rows(n));
        let client = Client::new(emulator);
        ids.push(create_pipeline(&client, "warm", ROOT, "shared").await);
    }

    // Same pipeline name, schema and table in both: each sees its own rows.
    let (rows_a, cold) = refresh(&a, &ids[0]).await;
    let server = engine.server_address().await.expect("a running server");
    let (rows_b, first_b) = refresh(&b, &ids[1]).await;
    assert_eq!((rows_a, rows_b), (3, 5));
    a.put_file(&format!("{ROOT}/t.sql"), &rows(7));
    let (rows_a, warm_a) = refresh(&a, &ids[0]).await;
    let (rows_b, warm_b) = refresh(&b, &ids[1]).await;
    assert_eq!((rows_a, rows_b), (7, 5), "a's rewrite did not reach b's table");
    assert_eq!(
        engine.server_address().await.as_deref(),
        Some(server.as_str()),
        "every update ran on the one server"
    );
    // Printed, not asserted (a shared machine's timings are noise): the first update waits
    // for the server to start.
    eprintln!(
        "full refresh: first {:.1} s (server start), then {:.1} s, {:.1} s, {:.1} s",
        cold.as_secs_f64(),
        first_b.as_secs_f64(),
        warm_a.as_secs_f64(),
        warm_b.as_secs_f64()
    );

    // The server goes with the engine's last handle, and its files with it.
    drop((a, b));
    drop(engine);
    let port: u16 = server.rsplit(':').next().unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "the server outlived its engine");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert!(left.is_empty(), "the engine's directory is removed: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
