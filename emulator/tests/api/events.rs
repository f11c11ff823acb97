//! The pipeline event log as the real API serves it: the documented filters, order, page
//! size and page tokens; and the optimistic concurrency of edits, the LIKE escape modes.

use sdp_emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::{Client, encode, start, start_default};

async fn create(client: &Client, name: &str) -> String {
    let body = json!({"name": name, "catalog": "main", "schema": "s"});
    let reply = client.post("/api/2.0/pipelines", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["pipeline_id"].as_str().unwrap().to_string()
}

/// Starts an update and polls it to its end.
async fn finish_update(client: &Client, id: &str) -> String {
    let reply = client
        .post(&format!("/api/2.0/pipelines/{id}/updates"), &json!({}))
        .await;
    let update = reply.json()["update_id"].as_str().unwrap().to_string();
    for _ in 0..10 {
        client
            .get(&format!("/api/2.0/pipelines/{id}/updates/{update}"))
            .await;
    }
    update
}

fn events(reply: &Value) -> Vec<Value> {
    reply["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn filters_order_and_pages() {
    let (emulator, client) = start_default().await;
    let id = create(&client, "p").await;
    // Code the update's check accepts: one dataset, so one flow_definition event.
    let source = "/Workspace/Shared/p/numbers.sql";
    emulator.put_file(
        source,
        "CREATE MATERIALIZED VIEW numbers AS SELECT id FROM range(3)",
    );
    let spec = json!({"name": "p", "catalog": "main", "schema": "s",
        "libraries": [{"file": {"path": source}}]});
    let edit = client.put(&format!("/api/2.0/pipelines/{id}"), &spec).await;
    assert_eq!(edit.status, 200, "{}", edit.text);
    let ok = finish_update(&client, &id).await;
    emulator.set_next_update_error("[X] why it failed");
    let failed = finish_update(&client, &id).await;
    let base = format!("/api/2.0/pipelines/{id}/events");

    let all = events(&client.get(&base).await.json());
    assert_eq!(
        all.len(),
        16,
        "7 states and a flow_definition of the first, 8 events of the failed one"
    );
    assert_eq!(all[0]["origin"]["update_id"], failed, "newest first");

    let filter = encode("level='ERROR'");
    let errors = events(&client.get(&format!("{base}?filter={filter}")).await.json());
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().all(|e| e["origin"]["update_id"] == failed));
    assert_eq!(
        errors[1]["error"]["exceptions"][0]["message"],
        "[X] why it failed"
    );

    let filter = encode("level in ('INFO', 'WARN') AND id='nope'");
    assert!(events(&client.get(&format!("{base}?filter={filter}")).await.json()).is_empty());

    let asc = events(
        &client
            .get(&format!("{base}?order_by={}", encode("timestamp asc")))
            .await
            .json(),
    );
    assert_eq!(asc[0]["origin"]["update_id"], ok, "oldest first");

    // Pages: the token carries the query; only max_results may go with it.
    let filter = encode("level='INFO'");
    let page1 = client
        .get(&format!("{base}?filter={filter}&max_results=4"))
        .await
        .json();
    assert_eq!(events(&page1).len(), 4);
    let token = encode(page1["next_page_token"].as_str().unwrap());
    let mut seen = events(&page1).len();
    let mut next = Some(token);
    while let Some(token) = next {
        let page = client
            .get(&format!("{base}?page_token={token}&max_results=4"))
            .await
            .json();
        assert!(events(&page).iter().all(|e| e["level"] == "INFO"));
        seen += events(&page).len();
        next = page["next_page_token"].as_str().map(encode);
    }
    assert_eq!(seen, 14);

    for bad in [
        format!("filter={}", encode("origin.update_id='x'")),
        "max_results=1001".to_string(),
        "order_by=level".to_string(),
        format!("page_token=x&filter={filter}"),
    ] {
        let reply = client.get(&format!("{base}?{bad}")).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
    }
}

#[tokio::test]
async fn an_edit_from_a_stale_read_is_refused() {
    let (_emulator, client) = start_default().await;
    let id = create(&client, "p").await;
    let path = format!("/api/2.0/pipelines/{id}");
    let read = client.get(&path).await.json();
    let stale = read["last_modified"].as_i64().unwrap();
    let mut body = read["spec"].clone();
    body["expected_last_modified"] = json!(stale);
    assert_eq!(client.put(&path, &body).await.status, 200);
    let after = client.get(&path).await.json()["last_modified"]
        .as_i64()
        .unwrap();
    assert!(after > stale, "every edit moves last_modified");
    let reply = client.put(&path, &body).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (409, "RESOURCE_CONFLICT")
    );
    body["expected_last_modified"] = json!(after);
    assert_eq!(client.put(&path, &body).await.status, 200);
}

#[tokio::test]
async fn backslash_in_like_escapes_or_not() {
    for escapes in [true, false] {
        let (_emulator, client) = start(EmulatorConfig {
            like_backslash_escapes: escapes,
            ..Default::default()
        })
        .await;
        create(&client, "sdp_demo").await;
        create(&client, r"sdp\Xdemo").await;
        let filter = encode(r"name LIKE 'sdp\_demo'");
        let page = client
            .get(&format!("/api/2.0/pipelines?filter={filter}"))
            .await
            .json();
        let names: Vec<&str> = page["statuses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        let expected: &[&str] = if escapes {
            &["sdp_demo"]
        } else {
            &[r"sdp\Xdemo"]
        };
        assert_eq!(names, expected, "escapes: {escapes}");
    }
}
