//! Data checks on the emulator's own engines (issue 19 item 7): on the local Spark engine the
//! update's `flow_progress` events give rows and expectations, and the emulator's own SQL
//! warehouse runs the statements over the tables the update wrote (skipped without Spark
//! unless SDP_REQUIRE_SPARK); on the structural engine that warehouse says it holds no data.
//! The agent's side against a warehouse answering by faults: `data_checks.rs`.

mod common;

use common::checks::{payload, statements};
use common::*;
use sdp_emulator::{Emulator, EmulatorConfig, Engine, SparkEngine};
use serde_json::{Value, json};
use std::path::PathBuf;

/// An emulator whose updates run on the local Spark engine; None (the test skips) when it is
/// not installed, unless `SDP_REQUIRE_SPARK` is set.
fn spark_emulator(test: &str, data: Option<PathBuf>) -> Option<(Emulator, PathBuf)> {
    let venv = std::env::var_os("SDP_SPARK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-spark"));
    let dir = std::env::temp_dir().join(format!("sdp-checks-{test}-{}", std::process::id()));
    match SparkEngine::new(&venv, &dir) {
        Ok(engine) => Some((
            emulator_with(EmulatorConfig {
                engine: Engine::Spark(engine),
                data,
                ..Default::default()
            }),
            dir,
        )),
        Err(e) if std::env::var_os("SDP_REQUIRE_SPARK").is_none() => {
            eprintln!("SKIPPED {test}: the Spark engine is not installed ({e:#})");
            None
        }
        Err(e) => panic!("SDP_REQUIRE_SPARK is set but the Spark engine is missing: {e:#}"),
    }
}

/// Five orders, one without an id and one without a customer; silver drops the first.
const SPARK_ORDERS: &str = "CREATE OR REFRESH MATERIALIZED VIEW orders_bronze AS
SELECT * FROM VALUES (1, 10), (2, 20), (CAST(NULL AS INT), 30), (3, CAST(NULL AS INT)), (3, 40)
  AS t(order_id, customer_id);

CREATE OR REFRESH MATERIALIZED VIEW orders_silver (
  CONSTRAINT valid_id EXPECT (order_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT has_customer EXPECT (customer_id IS NOT NULL)
) AS SELECT * FROM orders_bronze;
";

#[test]
fn on_spark_the_update_events_count_rows_and_expectations() {
    let Some((emu, dir)) = spark_emulator("events", None) else {
        return;
    };
    let mut payload = payload("on_spark");
    let file = format!("{ROOT}/transformations/orders.sql");
    payload["sources"] = json!({file: SPARK_ORDERS});
    payload.as_object_mut().unwrap().remove("warehouse_id");
    let out = run(&emu, &payload);
    std::fs::remove_dir_all(&dir).ok();
    let result = out.assert_ok();
    assert_eq!(result["state"], "COMPLETED", "{}", out.stderr);
    assert!(statements(&emu).is_empty());
    assert_eq!(
        result["checks"],
        json!({
            "main.demo.orders_bronze": {"rows": 5},
            "main.demo.orders_silver": {"rows": 4, "expectations": {
                "valid_id": {"passed": 4, "failed": 1, "dropped": 1},
                "has_customer": {"passed": 4, "failed": 1, "dropped": 0},
            }},
        }),
        "{}",
        out.stderr
    );
}

/// The SQL warehouse of a workspace: the first `GET /api/2.0/sql/warehouses` lists.
fn first_warehouse(emu: &Emulator) -> String {
    let listed: Value = common::answer::http_agent()
        .get(&format!("{}/api/2.0/sql/warehouses", emu.url()))
        .set(
            "Authorization",
            &format!("Bearer {}", emu.token().unwrap_or_default()),
        )
        .call()
        .expect("the emulator lists its SQL warehouses")
        .into_json()
        .unwrap();
    listed["warehouses"][0]["id"]
        .as_str()
        .expect("a warehouse id")
        .to_string()
}

/// The evaluation's customer change feed (eval/data), applied by key: one row per customer.
const SPARK_CDC: &str = "CREATE OR REFRESH STREAMING TABLE customer_changes AS
SELECT * FROM STREAM read_files('/Volumes/main/raw/customer_changes/', format => 'json');
CREATE OR REFRESH STREAMING TABLE customers_current;
CREATE FLOW customers_current_cdc AS AUTO CDC INTO customers_current
FROM STREAM(customer_changes) KEYS (customer_id)
APPLY AS DELETE WHEN operation = 'DELETE' SEQUENCE BY change_seq
COLUMNS * EXCEPT (operation) STORED AS SCD TYPE 1;
";

#[test]
fn on_spark_the_warehouse_counts_null_and_duplicate_keys() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../eval/data");
    let Some((emu, dir)) = spark_emulator("warehouse", Some(data)) else {
        return;
    };
    let warehouse = first_warehouse(&emu);
    let mut payload = payload("on_spark_sql");
    let file = format!("{ROOT}/transformations/orders.sql");
    payload["sources"] = json!({file: format!("{SPARK_ORDERS}\n{SPARK_CDC}")});
    payload["warehouse_id"] = json!(warehouse);
    let out = run(&emu, &payload);
    std::fs::remove_dir_all(&dir).ok();
    let result = out.assert_ok();
    assert_eq!(result["state"], "COMPLETED", "{}", out.stderr);
    let tables = result["datasets"].as_array().unwrap().len();
    assert_eq!(statements(&emu).len(), tables, "one statement per table");
    let checks = &result["checks"];
    let context = format!("{checks:#}\n{}", out.stderr);
    assert_eq!(
        checks["main.demo.orders_bronze"],
        json!({"rows": 5, "null_keys": {}}),
        "{context}"
    );
    // The row without an id was dropped, the one without a customer kept (a warning).
    let silver = &checks["main.demo.orders_silver"];
    assert_eq!(silver["rows"], 4, "{context}");
    assert_eq!(
        silver["null_keys"],
        json!({"order_id": 0, "customer_id": 1}),
        "{context}"
    );
    assert!(silver.get("duplicate_keys").is_none(), "no key: {context}");
    // AUTO CDC keeps one row per key.
    let customers = &checks["main.demo.customers_current"];
    assert_eq!(customers["duplicate_keys"], 0, "{context}");
    assert_eq!(
        customers["null_keys"],
        json!({"customer_id": 0}),
        "{context}"
    );
    assert!(customers["rows"].as_u64().unwrap_or(0) > 0, "{context}");
    assert!(
        !result["message"].as_str().unwrap().contains("checks of"),
        "every statement answered: {context}"
    );
}

#[test]
fn on_the_structural_engine_the_emulators_warehouse_says_it_holds_no_data() {
    let emu = emulator();
    let mut payload = payload("structural");
    payload["warehouse_id"] = json!(first_warehouse(&emu));
    let out = run(&emu, &payload);
    let result = out.assert_ok();
    assert_eq!(statements(&emu).len(), 2, "one statement per table");
    assert_eq!(
        result["checks"],
        json!({"main.demo.orders_bronze": {}, "main.demo.orders_silver": {}})
    );
    let message = result["message"].as_str().unwrap();
    for table in ["orders_bronze", "orders_silver"] {
        let note = format!("checks of main.demo.{table}: statement ");
        assert!(message.contains(&note), "{message}");
    }
    assert!(message.contains("no data"), "{message}");
}

/// The orders of `SPARK_ORDERS` in Python: expectations by decorator, one of them in a dict.
const PYTHON_ORDERS: &str = r#"from pyspark import pipelines as dp

RULES = {"has_customer": "customer_id IS NOT NULL"}


@dp.materialized_view(name="orders_py", comment="orders, the ones without an id dropped")
@dp.expect_or_drop("valid_id", "order_id IS NOT NULL")
@dp.expect_all(RULES)
def orders():
    rows = [(1, 10), (2, 20), (None, 30), (3, None), (3, 40)]
    return spark.createDataFrame(rows, "order_id INT, customer_id INT")
"#;

/// The key columns a Python pipeline's decorators name are counted like SQL's.
#[test]
fn on_spark_a_python_pipelines_keys_are_counted_too() {
    let Some((emu, dir)) = spark_emulator("python", None) else {
        return;
    };
    let file = format!("{ROOT}/transformations/orders.py");
    let mut payload = payload("on_spark_python");
    payload["workspace_file_paths"] = json!([file]);
    payload["sources"] = json!({file: PYTHON_ORDERS});
    payload["warehouse_id"] = json!(first_warehouse(&emu));
    let out = run(&emu, &payload);
    std::fs::remove_dir_all(&dir).ok();
    let result = out.assert_ok();
    let context = format!("{:#}\n{}", result["checks"], out.stderr);
    assert_eq!(result["state"], "COMPLETED", "{context}");
    assert_eq!(statements(&emu).len(), 1, "{context}");
    assert_eq!(
        result["checks"]["main.demo.orders_py"],
        json!({"rows": 4, "null_keys": {"order_id": 0, "customer_id": 1}, "expectations": {
            "valid_id": {"passed": 4, "failed": 1, "dropped": 1},
            "has_customer": {"passed": 4, "failed": 1, "dropped": 0},
        }}),
        "{context}"
    );
}
