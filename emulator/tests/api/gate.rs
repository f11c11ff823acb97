//! What every request goes through: auth, faults, routing errors, malformed bodies, recording.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use sdp_emulator::{Emulator, EmulatorConfig, Fault};
use serde_json::json;

use crate::{start, start_default};

#[tokio::test]
async fn auth_is_required_on_every_route() {
    let (emulator, client) = start_default().await;
    let anonymous = crate::Client::new(&emulator).with_token(None);
    for path in [
        "/api/2.0/pipelines",
        "/api/2.2/jobs/runs/get?run_id=1",
        "/nope",
    ] {
        let reply = anonymous.get(path).await;
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(reply.error_code(), "UNAUTHENTICATED");
    }
    let wrong = crate::Client::new(&emulator).with_token(Some("dapi-wrong"));
    assert_eq!(wrong.get("/api/2.0/pipelines").await.status, 401);
    assert_eq!(client.get("/api/2.0/pipelines").await.status, 200);

    let (_open, open_client) = start(EmulatorConfig {
        token: None,
        ..Default::default()
    })
    .await;
    let reply = open_client.with_token(None).get("/api/2.0/pipelines").await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn unknown_routes_and_methods_and_bad_json() {
    let (_emulator, client) = start_default().await;
    let reply = client.get("/api/2.0/clusters/list").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "ENDPOINT_NOT_FOUND")
    );
    let reply = client.raw("DELETE", "/api/2.2/jobs/runs/submit", "").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "ENDPOINT_NOT_FOUND")
    );
    let reply = client.raw("POST", "/api/2.0/pipelines", "{not json").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "MALFORMED_REQUEST")
    );
    let reply = client.raw("POST", "/api/2.0/workspace/mkdirs", "[1]").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "MALFORMED_REQUEST")
    );
}

#[tokio::test]
async fn requests_are_recorded_with_their_status() {
    let (emulator, client) = start_default().await;
    client
        .post("/api/2.0/workspace/mkdirs", &json!({"path": "/Shared/x"}))
        .await;
    client.raw("POST", "/api/2.0/pipelines", "garbage").await;
    client.get("/api/2.0/pipelines?max_results=5").await;
    let recorded = emulator.requests();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, "/api/2.0/workspace/mkdirs");
    assert_eq!(recorded[0].body, json!({"path": "/Shared/x"}));
    assert_eq!(recorded[0].status, 200);
    assert_eq!(
        recorded[0].authorization.as_deref(),
        Some("Bearer dapi-emulator-token")
    );
    assert_eq!(
        recorded[0].user_agent.as_deref(),
        Some("emulator-tests/0.1 os/linux")
    );
    assert!(recorded[1].body.is_null());
    assert_eq!(recorded[1].status, 400);
    assert_eq!(recorded[2].query, "max_results=5");
    assert!(recorded[2].body.is_null());
}

#[tokio::test]
async fn faults_fire_before_auth_and_get_used_up() {
    let (emulator, client) = start_default().await;
    emulator.inject_fault(Fault {
        method: Some("GET".into()),
        path_prefix: "/api/2.0/pipelines".into(),
        status: 429,
        error_code: "REQUEST_LIMIT_EXCEEDED".into(),
        message: "slow down".into(),
        retry_after_secs: Some(2),
        times: 2,
        ..Default::default()
    });
    let anonymous = crate::Client::new(&emulator).with_token(None);
    let reply = anonymous.get("/api/2.0/pipelines").await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.error_code(), "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(reply.message(), "slow down");
    assert_eq!(reply.headers["retry-after"], "2");
    // A POST to the same prefix does not match a GET fault.
    let reply = client.post("/api/2.0/pipelines", &json!({})).await;
    assert_eq!(reply.status, 400);
    assert_eq!(client.get("/api/2.0/pipelines").await.status, 429);
    assert_eq!(client.get("/api/2.0/pipelines").await.status, 200);
    let statuses: Vec<u16> = emulator.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 400, 429, 200]);
}

#[tokio::test]
async fn garbage_bodies_and_delays() {
    let (emulator, client) = start_default().await;
    emulator.inject_fault(Fault {
        path_prefix: "/api/2.0/workspace".into(),
        status: 502,
        raw_body: Some("<html>Bad Gateway</html>".into()),
        ..Default::default()
    });
    let reply = client.get("/api/2.0/workspace/get-status?path=/").await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.text, "<html>Bad Gateway</html>");

    emulator.inject_fault(Fault {
        path_prefix: "/api/2.0/workspace".into(),
        status: 0,
        delay_ms: 300,
        ..Default::default()
    });
    let started = Instant::now();
    let reply = client.get("/api/2.0/workspace/get-status?path=/").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["object_type"], "DIRECTORY");
}

#[tokio::test]
async fn a_lost_answer_still_changes_state() {
    let (emulator, client) = start_default().await;
    emulator.inject_fault(Fault {
        method: Some("POST".into()),
        path_prefix: "/api/2.0/workspace/mkdirs".into(),
        status: 503,
        error_code: "TEMPORARILY_UNAVAILABLE".into(),
        message: "lost".into(),
        after_handling: true,
        times: 1,
        ..Default::default()
    });
    let reply = client
        .post(
            "/api/2.0/workspace/mkdirs",
            &json!({"path": "/Shared/made"}),
        )
        .await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.error_code(), "TEMPORARILY_UNAVAILABLE");
    let status = client
        .get("/api/2.0/workspace/get-status?path=/Shared/made")
        .await;
    assert_eq!(status.json()["object_type"], "DIRECTORY");
}

/// `spawn` serves from its own thread, so plain synchronous code can use it.
#[test]
fn spawn_serves_sync_callers_and_stops_on_drop() {
    let emulator = Emulator::spawn(EmulatorConfig::default()).unwrap();
    let url = emulator.url();
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with('/'));
    let addr = url.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET /api/2.0/pipelines HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer dapi-emulator-token\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("{}"), "{answer}");
    assert_eq!(emulator.requests().len(), 1);
    drop(emulator);
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

/// Host tests may call `spawn` from inside their own runtime.
#[tokio::test]
async fn spawn_works_from_inside_a_runtime() {
    let emulator = Emulator::spawn(EmulatorConfig::default()).unwrap();
    let client = crate::Client::new(&emulator);
    assert_eq!(client.get("/api/2.0/pipelines").await.status, 200);
    drop(emulator);
}

/// Hosts keep the handle in shared state and move it across tasks.
#[test]
fn the_handle_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Emulator>();
}
