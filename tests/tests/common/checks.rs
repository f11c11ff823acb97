//! The data checks' tests (`data_checks.rs`, `data_checks_local.rs`): a pipeline of two
//! tables, its payload, and the statements the agent sent.

use sdp_emulator::Emulator;
use serde_json::{Value, json};

use super::ROOT;

pub const STATEMENTS: &str = "/api/2.0/sql/statements";
pub const WAREHOUSE: &str = "abc123def4567890";

/// Two tables: a keyed one with a DROP ROW expectation on its key, and one without keys.
pub const ORDERS: &str = "CREATE OR REFRESH MATERIALIZED VIEW orders_bronze (
  CONSTRAINT valid_id EXPECT (order_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT has_customer EXPECT (customer_id IS NOT NULL),
  CONSTRAINT pk PRIMARY KEY (order_id)
) AS SELECT 1 AS order_id, 7 AS customer_id;

CREATE OR REFRESH MATERIALIZED VIEW orders_silver AS SELECT * FROM orders_bronze;
";

pub fn payload(name: &str) -> Value {
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

/// The bodies of the statements sent to the SQL Statement Execution API.
pub fn statements(emu: &Emulator) -> Vec<Value> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == STATEMENTS)
        .map(|r| r.body)
        .collect()
}
