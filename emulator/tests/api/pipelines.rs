//! Pipelines over HTTP: create/edit validation, name clashes, LIKE listing and paging,
//! update progression, 409 and the event log.

use sdp_emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::{Client, encode, start, start_default};

fn settings(name: &str) -> Value {
    json!({
        "name": name,
        "catalog": "main",
        "schema": "demo",
        "serverless": true,
        "development": true,
        "libraries": [{"file": {"path": "/Workspace/Shared/p/bronze.sql"}}],
        "root_path": "/Workspace/Shared/p"
    })
}

async fn create(client: &Client, name: &str) -> String {
    let reply = client.post("/api/2.0/pipelines", &settings(name)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["pipeline_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn create_get_and_edit_replaces_the_spec() {
    let (emulator, client) = start_default().await;
    let reply = client
        .post("/api/2.0/pipelines", &settings("sdp_demo"))
        .await
        .json();
    let id = reply["pipeline_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36);
    assert_eq!(reply["effective_settings"]["id"], id);
    assert_eq!(reply["effective_settings"]["catalog"], "main");

    let got = client.get(&format!("/api/2.0/pipelines/{id}")).await.json();
    assert_eq!(got["pipeline_id"], id);
    assert_eq!(got["name"], "sdp_demo");
    assert_eq!(got["state"], "IDLE");
    assert_eq!(got["spec"]["schema"], "demo");
    assert_eq!(got["spec"]["id"], id);
    assert!(got["creator_user_name"].is_string());

    // PUT replaces everything: leaving out catalog/schema resets them.
    let edit = json!({"pipeline_id": id, "id": id, "name": "sdp_demo", "target": "legacy"});
    let reply = client.put(&format!("/api/2.0/pipelines/{id}"), &edit).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json(), json!({}));
    let spec = &client.get(&format!("/api/2.0/pipelines/{id}")).await.json()["spec"];
    assert_eq!(spec["target"], "legacy");
    assert!(spec.get("catalog").is_none());
    assert!(spec.get("pipeline_id").is_none());
    assert_eq!(emulator.pipelines()[0]["spec"]["target"], "legacy");

    let reply = client
        .put(
            &format!("/api/2.0/pipelines/{id}"),
            &json!({"pipeline_id": "other", "name": "x"}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "INVALID_PARAMETER_VALUE")
    );
    let reply = client
        .get("/api/2.0/pipelines/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "RESOURCE_DOES_NOT_EXIST")
    );
    let reply = client
        .put("/api/2.0/pipelines/nope", &json!({"name": "x"}))
        .await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn create_validation_and_name_clashes() {
    let (emulator, client) = start_default().await;
    let bad = [
        json!({"catalog": "main"}),
        json!({"name": "p", "schema": "a", "target": "b"}),
        json!({"name": "p", "libraries": [{"file": {"path": "/a"}, "glob": {"include": "/b/**"}}]}),
        json!({"name": "p", "mystery": true}),
    ];
    for body in bad {
        let reply = client.post("/api/2.0/pipelines", &body).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "INVALID_PARAMETER_VALUE"),
            "{body}"
        );
    }
    let first = create(&client, "taken").await;
    let reply = client.post("/api/2.0/pipelines", &settings("taken")).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "RESOURCE_ALREADY_EXISTS")
    );
    let mut dup = settings("taken");
    dup["allow_duplicate_names"] = json!(true);
    assert_eq!(client.post("/api/2.0/pipelines", &dup).await.status, 200);

    // Renaming onto another pipeline's name clashes; keeping one's own name does not.
    let second = create(&client, "second").await;
    let mut rename = settings("taken");
    rename["pipeline_id"] = json!(second);
    let reply = client
        .put(&format!("/api/2.0/pipelines/{second}"), &rename)
        .await;
    assert_eq!(reply.error_code(), "RESOURCE_ALREADY_EXISTS");
    let reply = client
        .put(&format!("/api/2.0/pipelines/{second}"), &settings("second"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // `first` shares its name with the allowed duplicate, so even keeping it clashes.
    let reply = client
        .put(&format!("/api/2.0/pipelines/{first}"), &settings("taken"))
        .await;
    assert_eq!(reply.error_code(), "RESOURCE_ALREADY_EXISTS");

    // dry_run validates without creating.
    let before = emulator.pipelines().len();
    let mut dry = settings("dry");
    dry["dry_run"] = json!(true);
    let reply = client.post("/api/2.0/pipelines", &dry).await;
    assert_eq!(reply.status, 200);
    assert!(reply.json()["effective_settings"].is_object());
    assert_eq!(emulator.pipelines().len(), before);
}

#[tokio::test]
async fn list_filters_with_like_and_pages() {
    let (emulator, client) = start(EmulatorConfig {
        list_page_size: 2,
        ..Default::default()
    })
    .await;
    // An empty workspace answers `{}` (no statuses key).
    assert_eq!(client.get("/api/2.0/pipelines").await.json(), json!({}));
    for name in ["sdp_demo", "sdpXdemo", "sdp_demo_2", "other", "it's"] {
        create(&client, name).await;
    }
    emulator.create_pipeline(json!({"name": "sdp_seeded"}));

    let names = |v: &Value| -> Vec<String> {
        v["statuses"]
            .as_array()
            .map(|s| {
                s.iter()
                    .map(|p| p["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    // `_` is a wildcard, so `sdp_demo` also matches `sdpXdemo`; pages are capped at 2.
    let filter = encode("name LIKE 'sdp_demo%'");
    let page1 = client
        .get(&format!(
            "/api/2.0/pipelines?filter={filter}&max_results=100"
        ))
        .await
        .json();
    assert_eq!(names(&page1), ["sdp_demo", "sdpXdemo"]);
    assert_eq!(page1["statuses"][0]["state"], "IDLE");
    let token = page1["next_page_token"].as_str().unwrap();
    let page2 = client
        .get(&format!(
            "/api/2.0/pipelines?filter={filter}&page_token={}",
            encode(token)
        ))
        .await
        .json();
    assert_eq!(names(&page2), ["sdp_demo_2"]);
    assert!(page2.get("next_page_token").is_none());

    let escaped = encode(r"name LIKE 'sdp\_demo'");
    let exact = client
        .get(&format!("/api/2.0/pipelines?filter={escaped}"))
        .await
        .json();
    assert_eq!(names(&exact), ["sdp_demo"]);
    let quoted = encode("name LIKE 'it''s'");
    let quote = client
        .get(&format!("/api/2.0/pipelines?filter={quoted}"))
        .await
        .json();
    assert_eq!(names(&quote), ["it's"]);
    let one = client.get("/api/2.0/pipelines?max_results=1").await.json();
    assert_eq!(names(&one), ["sdp_demo"]);
    let none = encode("name LIKE 'zzz%'");
    assert_eq!(
        client
            .get(&format!("/api/2.0/pipelines?filter={none}"))
            .await
            .json(),
        json!({})
    );

    for bad in [
        format!("filter={}", encode("name = 'x'")),
        "page_token=garbage".to_string(),
        "max_results=0".to_string(),
    ] {
        let reply = client.get(&format!("/api/2.0/pipelines?{bad}")).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "INVALID_PARAMETER_VALUE"),
            "{bad}"
        );
    }
}

async fn update_state(client: &Client, id: &str, update: &str) -> String {
    let reply = client
        .get(&format!("/api/2.0/pipelines/{id}/updates/{update}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let json = reply.json();
    assert_eq!(json["update"]["update_id"], update);
    json["update"]["state"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn updates_progress_one_state_per_poll_and_conflict_while_active() {
    let (emulator, client) = start_default().await;
    emulator.put_file(
        "/Workspace/Shared/p/bronze.sql",
        "CREATE MATERIALIZED VIEW bronze AS SELECT id FROM range(10)",
    );
    let id = create(&client, "p").await;
    let start = client
        .post(
            &format!("/api/2.0/pipelines/{id}/updates"),
            &json!({"full_refresh": true, "cause": "API_CALL"}),
        )
        .await;
    assert_eq!(start.status, 200, "{}", start.text);
    let update = start.json()["update_id"].as_str().unwrap().to_string();

    let again = client
        .post(&format!("/api/2.0/pipelines/{id}/updates"), &json!({}))
        .await;
    assert_eq!(
        (again.status, again.error_code().as_str()),
        (409, "RESOURCE_CONFLICT")
    );
    let pipeline = client.get(&format!("/api/2.0/pipelines/{id}")).await.json();
    assert_eq!(pipeline["state"], "RUNNING");
    assert_eq!(pipeline["latest_updates"][0]["update_id"], update);

    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(update_state(&client, &id, &update).await);
    }
    assert_eq!(
        seen,
        [
            "CREATED",
            "WAITING_FOR_RESOURCES",
            "INITIALIZING",
            "SETTING_UP_TABLES",
            "RUNNING",
            "COMPLETED",
            "COMPLETED"
        ]
    );
    let recorded = &emulator.pipelines()[0]["updates"][0];
    assert_eq!(recorded["full_refresh"], true);
    assert_eq!(recorded["state"], "COMPLETED");
    // Once final, a new update may start.
    let next = client
        .post(&format!("/api/2.0/pipelines/{id}/updates"), &json!({}))
        .await;
    assert_eq!(next.status, 200);

    let reply = client
        .post(
            &format!("/api/2.0/pipelines/{id}/updates"),
            &json!({"full_refresh": true, "bogus": 1}),
        )
        .await;
    assert_eq!(reply.error_code(), "INVALID_PARAMETER_VALUE");
    let reply = client
        .post("/api/2.0/pipelines/missing/updates", &json!({}))
        .await;
    assert_eq!(reply.status, 404);
    let reply = client
        .get(&format!("/api/2.0/pipelines/{id}/updates/missing"))
        .await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn polls_per_state_and_failed_outcome_with_events() {
    let (emulator, client) = start(EmulatorConfig {
        update_polls_per_state: 2,
        ..Default::default()
    })
    .await;
    emulator.put_file(
        "/Workspace/Shared/p/bronze.sql",
        "CREATE MATERIALIZED VIEW bronze AS SELECT id FROM range(10)",
    );
    let id = create(&client, "p").await;
    emulator.set_next_update_outcome("FAILED");
    let update = client
        .post(
            &format!("/api/2.0/pipelines/{id}/updates"),
            &json!({"validate_only": false}),
        )
        .await
        .json()["update_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(update_state(&client, &id, &update).await, "QUEUED");
    assert_eq!(update_state(&client, &id, &update).await, "CREATED");
    let mut last = String::new();
    for _ in 0..10 {
        last = update_state(&client, &id, &update).await;
    }
    assert_eq!(last, "FAILED");

    let events = client
        .get(&format!("/api/2.0/pipelines/{id}/events"))
        .await
        .json();
    let events = events["events"].as_array().unwrap();
    // Newest first: one event per state, QUEUED through FAILED, and before the FAILED
    // headline the flow's ERROR event that carries the reason.
    assert_eq!(events.len(), 8);
    assert_eq!(events[0]["level"], "ERROR");
    assert_eq!(events[0]["details"]["update_progress"]["state"], "FAILED");
    assert_eq!(events[1]["level"], "ERROR");
    assert_eq!(events[1]["event_type"], "flow_progress");
    assert!(events[1]["error"]["exceptions"][0]["message"].is_string());
    assert_eq!(events[7]["details"]["update_progress"]["state"], "QUEUED");
    assert_eq!(events[7]["origin"]["update_id"], update);

    // The outcome applies to one update only.
    let next = client
        .post(&format!("/api/2.0/pipelines/{id}/updates"), &json!({}))
        .await
        .json()["update_id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..12 {
        last = update_state(&client, &id, &next).await;
    }
    assert_eq!(last, "COMPLETED");
}

#[tokio::test]
async fn stop_cancels_the_active_update() {
    let (_emulator, client) = start_default().await;
    let id = create(&client, "p").await;
    let update = client
        .post(&format!("/api/2.0/pipelines/{id}/updates"), &json!({}))
        .await
        .json()["update_id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = client
        .post(&format!("/api/2.0/pipelines/{id}/stop"), &json!({}))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(update_state(&client, &id, &update).await, "CANCELED");
}
