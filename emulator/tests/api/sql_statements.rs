//! Databricks SQL on the structural engine: the one warehouse, the statement API's checks,
//! and statements that fail saying the engine holds no data.

use sdp_emulator::EmulatorConfig;
use serde_json::json;

use crate::start;

#[tokio::test]
async fn the_warehouse_and_its_statements_without_data() {
    let (_emulator, client) = start(EmulatorConfig::default()).await;
    let listed = client.get("/api/2.0/sql/warehouses").await.json();
    let warehouse = listed["warehouses"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(listed["warehouses"][0]["state"], "RUNNING");
    let got = client
        .get(&format!("/api/2.0/sql/warehouses/{warehouse}"))
        .await;
    assert_eq!(got.status, 200);
    let missing = client.get("/api/2.0/sql/warehouses/0123456789abcdef").await;
    assert_eq!(missing.status, 404);

    let statement = |body: serde_json::Value| {
        let client = &client;
        async move { client.post("/api/2.0/sql/statements", &body).await }
    };
    let failed = statement(json!({"warehouse_id": warehouse, "statement": "SELECT 1"})).await;
    assert_eq!(failed.status, 200, "{}", failed.text);
    let body = failed.json();
    assert_eq!(body["status"]["state"], "FAILED");
    assert!(
        body["status"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--engine spark"),
        "{body}"
    );
    let id = body["statement_id"].as_str().unwrap();
    let again = client
        .get(&format!("/api/2.0/sql/statements/{id}"))
        .await
        .json();
    assert_eq!(again["status"]["state"], "FAILED");

    for (body, status, said) in [
        (
            json!({"warehouse_id": "0123456789abcdef", "statement": "SELECT 1"}),
            404,
            "0123456789abcdef",
        ),
        (
            json!({"warehouse_id": warehouse, "statement": "SELECT 1", "wait_timeout": "51s"}),
            400,
            "wait_timeout",
        ),
        (json!({"warehouse_id": warehouse}), 400, "statement"),
        (
            json!({"warehouse_id": warehouse, "statement": "SELECT 1", "disposition": "EXTERNAL_LINKS"}),
            400,
            "EXTERNAL_LINKS",
        ),
    ] {
        let reply = statement(body).await;
        assert_eq!(reply.status, status, "{}", reply.text);
        assert!(reply.message().contains(said), "{}", reply.text);
    }
    let unknown = client.get("/api/2.0/sql/statements/nope").await;
    assert_eq!(unknown.status, 404);
}
