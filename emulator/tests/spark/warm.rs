//! One warm server for every pipeline of an engine, each pipeline in its own namespace: two
//! emulators sharing the engine run pipelines of the same name, schema and tables without
//! seeing each other's rows, the server outlives every update and goes with the engine.

use std::time::{Duration, Instant};

use sdp_emulator::{DemoFlaw, Emulator, EmulatorConfig, Engine, SparkEngine};
use serde_json::{Value, json};

use crate::client::Client;
use crate::support::*;

const ROOT: &str = "/Workspace/Shared/warm";

/// `t` with `n` rows, and `u` reading it.
fn rows(n: u32) -> String {
    format!(
        "CREATE MATERIALIZED VIEW t AS SELECT id FROM range({n});\n\
         CREATE MATERIALIZED VIEW u AS SELECT * FROM t;"
    )
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

/// An update of the pipeline, the rows of the tables it wrote and how long it took.
async fn refresh(emulator: &Emulator, id: &str, body: Value) -> (Value, Duration) {
    let client = Client::new(emulator);
    let started = Instant::now();
    let (update, state) = run_update(&client, id, body).await;
    let took = started.elapsed();
    assert_eq!(
        state,
        "COMPLETED",
        "{:?}",
        errors(&client, id, &update).await
    );
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
    (update["tables"].clone(), took)
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

    // Emulators number their pipelines alike: the same id, name, schema and tables in both.
    assert_eq!(ids[0], ids[1]);
    let full = || json!({"full_refresh": true});
    let (tables_a, cold) = refresh(&a, &ids[0], full()).await;
    let server = engine.server_address().await.expect("a running server");
    let (tables_b, first_b) = refresh(&b, &ids[1], full()).await;
    assert_eq!((&tables_a["u"], &tables_b["u"]), (&json!(3), &json!(5)));
    // Only `u` refreshed in a: it reads a's `t` (3 rows), not b's (5), written last.
    let (tables_a, warm_a) = refresh(&a, &ids[0], json!({"refresh_selection": ["u"]})).await;
    assert_eq!(tables_a["u"], 3, "a read b's table: {tables_a}");
    let (tables_b, warm_b) = refresh(&b, &ids[1], json!({"refresh_selection": ["u"]})).await;
    assert_eq!(tables_b["u"], 5, "b read a's table: {tables_b}");
    assert_eq!(
        engine.server_address().await.as_deref(),
        Some(server.as_str()),
        "every update ran on the one server"
    );
    // Printed, not asserted (a shared machine's timings are noise): the first update waits
    // for the server to start.
    eprintln!(
        "updates: first {:.1} s (server start), then {:.1} s, {:.1} s, {:.1} s",
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
    assert!(
        left.is_empty(),
        "the engine's directory is removed: {left:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
