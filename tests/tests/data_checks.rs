//! Data checks after a run (issue 19 item 7): after a waited update that completed, `run`
//! reports for each table its rows, the NULLs of each key column, its duplicate keys and its
//! expectations' records, as `checks` in its JSON and one progress line per table. NULL and
//! duplicate keys take one SQL statement per table on the payload's `warehouse_id`: the
//! emulator's log is the spy that shows exactly what was sent; its faults answer the statements
//! as a warehouse would (no Spark needed), and on the local Spark engine its own warehouse runs
//! them over the tables the update wrote (skipped without Spark unless SDP_REQUIRE_SPARK).

mod common;

use common::deploying::assert_sdk_accepts;
use common::*;
use sdp_emulator::{Emulator, EmulatorConfig, Engine, Fault, SparkEngine};
use serde_json::{Value, json};
use std::path::PathBuf;

const STATEMENTS: &str = "/api/2.0/sql/statements";
const WAREHOUSE: &str = "abc123def4567890";

/// Two tables: a keyed one with a DROP ROW expectation on its key, and one without keys.
const ORDERS: &str = "CREATE OR REFRESH MATERIALIZED VIEW orders_bronze (
  CONSTRAINT valid_id EXPECT (order_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT has_customer EXPECT (customer_id IS NOT NULL),
  CONSTRAINT pk PRIMARY KEY (order_id)
) AS SELECT 1 AS order_id, 7 AS customer_id;

CREATE OR REFRESH MATERIALIZED VIEW orders_silver AS SELECT * FROM orders_bronze;
";

fn payload(name: &str) -> Value {
    let file = format!("{ROOT}/transformations/orders.sql");
    json!({
        "catalog": "main",
        "schema": "demo",
        "pipelineName": name,
        "root_path": ROOT,
        "workspace_file_paths": [file],
        "sources": {file: ORDERS},
        "wait": true,
        "validate": false,
        "warehouse_id": WAREHOUSE,
    })
}

/// A warehouse's answer to one statement (the shape of databricks-sdk's StatementResponse).
fn answer(columns: &[&str], row: &[Option<&str>]) -> Fault {
    let columns: Vec<Value> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"name": c, "type_name": "LONG", "position": i}))
        .collect();
    let body = json!({
        "statement_id": format!("01ef-{}", columns.len()),
        "status": {"state": "SUCCEEDED"},
        "manifest": {"format": "JSON_ARRAY", "schema": {"column_count": columns.len(), "columns": columns},
                     "total_row_count": 1, "truncated": false},
        "result": {"chunk_index": 0, "row_offset": 0, "row_count": 1, "data_array": [row]},
    });
    Fault {
        method: Some("POST".into()),
        path_prefix: STATEMENTS.into(),
        status: 200,
        raw_body: Some(body.to_string()),
        ..Default::default()
    }
}

fn statements(emu: &Emulator) -> Vec<Value> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == STATEMENTS)
        .map(|r| r.body)
        .collect()
}

#[test]
fn one_statement_per_table_counts_null_and_duplicate_keys() {
    let emu = emulator();
    // In `datasets` order: the keyed table, then the one it feeds.
    emu.inject_fault(answer(
        &["row_count", "duplicate_keys", "null_0", "null_1"],
        &[Some("5"), Some("1"), Some("0"), Some("2")],
    ));
    emu.inject_fault(answer(&["row_count"], &[Some("4")]));
    let out = run(&emu, &payload("checked"));
    let result = out.assert_ok();
    assert_eq!(result["state"], "COMPLETED");

    let sent = statements(&emu);
    assert_eq!(sent.len(), 2, "one statement per table: {sent:#?}");
    for body in &sent {
        assert_eq!(body["warehouse_id"], WAREHOUSE);
        assert_eq!(
            (&body["wait_timeout"], &body["on_wait_timeout"]),
            (&json!("30s"), &json!("CANCEL"))
        );
        assert_eq!(
            (&body["format"], &body["disposition"]),
            (&json!("JSON_ARRAY"), &json!("INLINE"))
        );
    }
    let text = |i: usize| sent[i]["statement"].as_str().unwrap().to_string();
    assert!(
        text(0).ends_with("FROM `main`.`demo`.`orders_bronze` GROUP BY `order_id`) AS g"),
        "{}",
        text(0)
    );
    assert!(text(0).contains("`customer_id` IS NULL"), "{}", text(0));
    assert_eq!(
        text(1),
        "SELECT COUNT(*) AS row_count FROM `main`.`demo`.`orders_silver`"
    );
    let calls: Vec<Value> = sent
        .iter()
        .map(|b| json!({"call": format!("POST {STATEMENTS}"), "body": b}))
        .collect();
    assert_sdk_accepts(&calls);

    // The structural engine writes no rows, so no flow_progress counted them: the warehouse did.
    assert_eq!(
        result["checks"],
        json!({
            "main.demo.orders_bronze": {"rows": 5, "duplicate_keys": 1,
                                        "null_keys": {"order_id": 0, "customer_id": 2}},
            "main.demo.orders_silver": {"rows": 4, "null_keys": {}},
        }),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "checks main.demo.orders_bronze: 5 rows; 1 duplicate keys; NULL keys: customer_id 2, order_id 0"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("checks main.demo.orders_silver: 4 rows"),
        "{}",
        out.stderr
    );
}

#[test]
fn what_the_warehouse_cannot_count_is_a_note_and_the_run_succeeds() {
    let emu = emulator();
    emu.inject_fault(Fault {
        raw_body: Some(
            json!({"statement_id": "01ef-f", "status": {"state": "FAILED", "error": {
                "error_code": "BAD_REQUEST", "message": "[TABLE_OR_VIEW_NOT_FOUND] orders_bronze"}}})
            .to_string(),
        ),
        ..answer(&[], &[])
    });
    emu.inject_fault(Fault {
        status: 403,
        error_code: "PERMISSION_DENIED".into(),
        message: "no CAN_USE on the warehouse".into(),
        ..answer(&[], &[])
    });
    let out = run(&emu, &payload("uncounted"));
    let result = out.assert_ok();
    assert_eq!(statements(&emu).len(), 2);
    assert_eq!(
        result["checks"],
        json!({"main.demo.orders_bronze": {}, "main.demo.orders_silver": {}})
    );
    let message = result["message"].as_str().unwrap();
    assert!(
        message.contains(
            "checks of main.demo.orders_bronze: statement 01ef-f ended FAILED: BAD_REQUEST: \
             [TABLE_OR_VIEW_NOT_FOUND] orders_bronze"
        ),
        "{message}"
    );
    assert!(
        message.contains(&format!("SQL warehouse {WAREHOUSE} could not be asked")),
        "{message}"
    );
}

#[test]
fn without_a_warehouse_nothing_is_sent_and_a_wrong_one_is_refused_first() {
    // No warehouse: the events alone (the structural engine counts no rows).
    let emu = emulator();
    let mut no_warehouse = payload("events_only");
    no_warehouse.as_object_mut().unwrap().remove("warehouse_id");
    let result = run(&emu, &no_warehouse).assert_ok().clone();
    assert!(statements(&emu).is_empty());
    assert_eq!(
        result["checks"],
        json!({"main.demo.orders_bronze": {}, "main.demo.orders_silver": {}})
    );

    // A warehouse id is checked with the payload, and held to the deployment's list.
    let emu = emulator();
    let mut no_wait = payload("no_wait");
    no_wait["wait"] = json!(false);
    let out = run(&emu, &no_wait);
    assert_eq!(out.kind(), "invalid_payload", "{}", out.json);
    assert_eq!(out.error_paths(), ["warehouse_id"]);
    let mut cmd = agent_command(&emu);
    cmd.args(["run", "--policy", r#"{"warehouses": ["0123456789abcdef"]}"#])
        .arg(b64(&payload("elsewhere")));
    let out = finish(cmd);
    assert_eq!(out.kind(), "policy_refused", "{}", out.json);
    assert_eq!(out.json["error"]["field"], "warehouse_id");
    assert!(
        emu.requests().is_empty(),
        "nothing is sent: {:?}",
        emu.requests()
    );
}

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
