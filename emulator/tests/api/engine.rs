//! Updates run the pipeline's code through the structural check: `validate_only` updates,
//! broken sources failing with Databricks-shaped ERROR events, the dataset graph as
//! `flow_definition` events.

use serde_json::{Value, json};

use crate::{Client, plans, start_default};

const ROOT: &str = "/Workspace/Shared/checked";

async fn pipeline(client: &Client, libraries: Value) -> String {
    let reply = client
        .post(
            "/api/2.0/pipelines",
            &json!({"name": "checked", "catalog": "main", "schema": "demo", "libraries": libraries}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["pipeline_id"].as_str().unwrap().to_string()
}

/// Starts an update and polls it to its final state; returns (update id, states seen).
async fn update(client: &Client, id: &str, body: Value) -> (String, Vec<String>) {
    let reply = client
        .post(&format!("/api/2.0/pipelines/{id}/updates"), &body)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let update = reply.json()["update_id"].as_str().unwrap().to_string();
    let mut seen = vec![];
    for _ in 0..20 {
        let got = client
            .get(&format!("/api/2.0/pipelines/{id}/updates/{update}"))
            .await
            .json();
        let state = got["update"]["state"].as_str().unwrap().to_string();
        let last = ["COMPLETED", "FAILED", "CANCELED"].contains(&state.as_str());
        seen.push(state);
        if last {
            break;
        }
    }
    (update, seen)
}

/// The newest error message among `events` (the FAILED headline carries none).
fn first_error(events: &[Value]) -> &str {
    events
        .iter()
        .find_map(|e| e["error"]["exceptions"][0]["message"].as_str())
        .expect("an event with error.exceptions")
}

#[tokio::test]
async fn a_validation_update_of_sound_code_completes_without_running() {
    let (emulator, client) = start_default().await;
    emulator.put_file(
        &format!("{ROOT}/bronze.sql"),
        "CREATE OR REFRESH MATERIALIZED VIEW bronze AS SELECT id FROM range(10);",
    );
    emulator.put_file(
        &format!("{ROOT}/silver.sql"),
        "CREATE OR REFRESH MATERIALIZED VIEW silver AS SELECT * FROM bronze WHERE id > 2;",
    );
    let id = pipeline(
        &client,
        json!([{"glob": {"include": format!("{ROOT}/**")}}]),
    )
    .await;
    let (update, seen) = update(&client, &id, json!({"validate_only": true})).await;
    assert_eq!(
        seen,
        [
            "CREATED",
            "WAITING_FOR_RESOURCES",
            "INITIALIZING",
            "SETTING_UP_TABLES",
            "COMPLETED"
        ],
        "a validation never reaches RUNNING"
    );
    let events = client.update_events(&id, &update).await;
    assert!(events.iter().all(|e| e["level"] != "ERROR"), "{events:?}");
    let graph: Vec<(String, Value)> = events
        .iter()
        .filter(|e| e["event_type"] == "flow_definition")
        .map(|e| {
            let d = &e["details"]["flow_definition"];
            (
                d["output_dataset"].as_str().unwrap().to_string(),
                d["input_datasets"].clone(),
            )
        })
        .collect();
    assert!(
        graph.contains(&("main.demo.bronze".into(), json!([]))),
        "{graph:?}"
    );
    assert!(
        graph.contains(&(
            "main.demo.silver".into(),
            json!([{"name": "main.demo.bronze"}])
        )),
        "{graph:?}"
    );
    assert_eq!(emulator.pipelines()[0]["updates"][0]["validate_only"], true);
}

#[tokio::test]
async fn broken_code_fails_the_update_with_error_events() {
    let (emulator, client) = start_default().await;
    let silver = format!("{ROOT}/silver.sql");
    emulator.put_file(
        &silver,
        "CREATE MATERIALIZED VIEW silver AS\nSELECT * FROM clicks_bronze;",
    );
    let id = pipeline(&client, json!([{"file": {"path": silver}}])).await;
    for body in [
        json!({"validate_only": true}),
        json!({"full_refresh": true}),
    ] {
        let (update, seen) = update(&client, &id, body.clone()).await;
        assert_eq!(seen.last().unwrap(), "FAILED", "{body}");
        let events = client.update_events(&id, &update).await;
        let errors: Vec<&Value> = events.iter().filter(|e| e["level"] == "ERROR").collect();
        // One for the flow, one for the update.
        assert_eq!(errors.len(), 2, "{errors:?}");
        let flow = errors
            .iter()
            .find(|e| e["event_type"] == "flow_progress")
            .unwrap();
        assert_eq!(flow["origin"]["dataset_name"], "main.demo.silver");
        let message = flow["error"]["exceptions"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("[TABLE_OR_VIEW_NOT_FOUND]") && message.contains("clicks_bronze"),
            "{message}"
        );
        // A workspace's event names the flow, never the file defining it.
        assert_eq!(
            flow["message"], "Failed to resolve flow: 'main.demo.silver'.",
            "{flow}"
        );
        assert!(!flow.to_string().contains(&silver), "{flow}");
        let last = errors
            .iter()
            .find(|e| e["event_type"] == "update_progress")
            .unwrap();
        assert_eq!(last["details"]["update_progress"]["state"], "FAILED");
        assert!(
            last.get("error").is_none(),
            "the headline only says it failed"
        );
    }

    // Fixed in the workspace, the next update passes: sources are read when an update starts.
    emulator.put_file(&silver, "CREATE MATERIALIZED VIEW silver AS SELECT 1 AS id");
    let (_, seen) = update(&client, &id, json!({"validate_only": true})).await;
    assert_eq!(seen.last().unwrap(), "COMPLETED");
}

#[tokio::test]
async fn syntax_errors_missing_files_and_bare_queries_are_reported() {
    let (emulator, client) = start_default().await;
    for (text, class) in [
        (
            "CREATE MATERIALIZED VIEW x AS\nSELEC id FROM range(3)",
            "PARSE_SYNTAX_ERROR",
        ),
        ("SELECT 1", "PIPELINE_SQL_GRAPH_ELEMENT_REGISTRATION_ERROR"),
        (
            "CREATE STREAMING TABLE s AS SELECT * FROM range(3)",
            "INVALID_FLOW_QUERY_TYPE.BATCH_RELATION_FOR_STREAMING_TABLE",
        ),
    ] {
        let path = format!("{ROOT}/x.sql");
        emulator.put_file(&path, text);
        let id = pipeline(&client, json!([{"file": {"path": path}}])).await;
        let (update, seen) = update(&client, &id, json!({"validate_only": true})).await;
        assert_eq!(seen.last().unwrap(), "FAILED", "{text}");
        let events = client.update_events(&id, &update).await;
        let message = first_error(&events);
        assert!(message.starts_with(&format!("[{class}]")), "{message}");
        let gone = client
            .raw("DELETE", &format!("/api/2.0/pipelines/{id}"), "")
            .await;
        assert_eq!(gone.status, 200);
    }
    let id = pipeline(
        &client,
        json!([{"file": {"path": format!("{ROOT}/none.sql")}}]),
    )
    .await;
    let (update, seen) = update(&client, &id, json!({"validate_only": true})).await;
    assert_eq!(seen.last().unwrap(), "FAILED");
    let events = client.update_events(&id, &update).await;
    let message = first_error(&events);
    assert!(
        message.contains("none.sql") && message.contains("does not exist"),
        "{message}"
    );
}

#[tokio::test]
async fn every_plan_of_the_demo_model_passes_the_check() {
    let (emulator, client) = start_default().await;
    for question in [
        "clickstream bronze, silver and gold",
        "IoT sensor readings",
        "orders into bronze",
        "server logs",
        "payments pipeline",
        "something else entirely",
    ] {
        let messages = json!([{"role": "user", "content": question}]);
        let (_, plan) = plans::ask(&client, &messages).await;
        let id = plans::create_from(&emulator, &client, &plan).await;
        let (update, seen) = update(&client, &id, json!({"validate_only": true})).await;
        let events = client.update_events(&id, &update).await;
        assert_eq!(seen.last().unwrap(), "COMPLETED", "{question}: {events:?}");
    }
}
