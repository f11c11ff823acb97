//! Data checks after a run (issue 19 item 7): after a waited update that completed, `run`
//! reports for each table its rows, the NULLs of each key column, its duplicate keys and its
//! expectations' records, as `checks` in its JSON and one progress line per table. NULL and
//! duplicate keys take one SQL statement per table on the payload's `warehouse_id`: the
//! emulator's log is the spy that shows exactly what was sent, and its faults answer the
//! statements as a warehouse would (no Spark needed). The emulator's own engines and warehouse:
//! `data_checks_local.rs`.

mod common;

use common::checks::{STATEMENTS, WAREHOUSE, payload, statements};
use common::deploying::assert_sdk_accepts;
use common::*;
use sdp_emulator::Fault;
use serde_json::{Value, json};

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
