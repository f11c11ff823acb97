//! The emulated SQL warehouse on the Spark engine: statements over the tables a pipeline
//! wrote, in the names the workspace uses, failures as the Statement Execution API reports
//! them, and a statement that outlives its wait.

use std::time::Duration;

use sdp_emulator::DemoFlaw;
use serde_json::{Value, json};

use crate::client::Client;
use crate::support::*;

const ROOT: &str = "/Workspace/Shared/statements";

async fn statement(client: &Client, body: Value) -> Value {
    let reply = client.post("/api/2.0/sql/statements", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

#[tokio::test]
async fn statements_read_the_tables_a_pipeline_wrote() {
    let Some((emulator, dir)) = spark_emulator("statements", DemoFlaw::None).await else {
        return;
    };
    let client = Client::new(&emulator);
    emulator.put_file(
        &format!("{ROOT}/t.sql"),
        "CREATE MATERIALIZED VIEW orders AS SELECT id, id % 7 AS k, \
         CASE WHEN id = 3 THEN NULL ELSE id END AS maybe FROM range(10);",
    );
    let id = create_pipeline(&client, "statements", ROOT, "shop").await;
    validate_then_run(&client, &id).await;
    let warehouse = client.get("/api/2.0/sql/warehouses").await.json()["warehouses"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let counted = statement(
        &client,
        json!({"warehouse_id": warehouse, "wait_timeout": "50s",
               "statement": "SELECT count(*) AS n, count(DISTINCT k) AS keys, count_if(maybe IS NULL) AS nulls \
                             FROM main.shop.orders WHERE id >= :low",
               "parameters": [{"name": "low", "value": "0", "type": "INT"}]}),
    )
    .await;
    assert_eq!(counted["status"]["state"], "SUCCEEDED", "{counted}");
    assert_eq!(counted["result"]["data_array"], json!([["10", "7", "1"]]));
    let columns = &counted["manifest"]["schema"]["columns"];
    assert_eq!(columns[0]["name"], "n");
    assert_eq!(columns[0]["type_name"], "LONG");

    // Unqualified names in the request's catalog and schema; a row limit.
    let limited = statement(
        &client,
        json!({"warehouse_id": warehouse, "catalog": "main", "schema": "shop",
               "statement": "SELECT id FROM orders ORDER BY id", "row_limit": 3}),
    )
    .await;
    assert_eq!(
        limited["result"]["data_array"],
        json!([["0"], ["1"], ["2"]])
    );
    assert_eq!(limited["manifest"]["truncated"], true);

    // Failures: a missing table (named as the caller named it) and an unknown schema.
    let missing = statement(
        &client,
        json!({"warehouse_id": warehouse, "statement": "SELECT * FROM main.shop.nope"}),
    )
    .await;
    assert_eq!(missing["status"]["state"], "FAILED");
    let message = missing["status"]["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("[TABLE_OR_VIEW_NOT_FOUND]") && message.contains("`shop`.`nope`"),
        "{message}"
    );
    assert!(
        !message.contains("__"),
        "no local database names: {message}"
    );
    let other = statement(
        &client,
        json!({"warehouse_id": warehouse, "statement": "SELECT * FROM main.elsewhere.t"}),
    )
    .await;
    assert!(
        other["status"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`main`.`elsewhere`")
    );

    // `0s`: the answer comes at once, the statement runs on and GET finds its result.
    let pending = statement(
        &client,
        json!({"warehouse_id": warehouse, "wait_timeout": "0s",
               "statement": "SELECT max(id) FROM main.shop.orders"}),
    )
    .await;
    assert_eq!(pending["status"]["state"], "RUNNING");
    let id = pending["statement_id"].as_str().unwrap();
    let mut done = Value::Null;
    for _ in 0..600 {
        done = client
            .get(&format!("/api/2.0/sql/statements/{id}"))
            .await
            .json();
        if done["status"]["state"] != "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(done["result"]["data_array"], json!([["9"]]), "{done}");
    std::fs::remove_dir_all(&dir).ok();
}
