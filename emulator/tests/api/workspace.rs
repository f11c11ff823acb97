//! Workspace files over HTTP: mkdirs, import rules, get-status and `/Workspace` aliasing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::{encode, start_default};

const IMPORT: &str = "/api/2.0/workspace/import";

fn import_body(path: &str, sql: &str, overwrite: bool) -> serde_json::Value {
    json!({"path": path, "format": "SOURCE", "language": "SQL", "content": STANDARD.encode(sql), "overwrite": overwrite})
}

#[tokio::test]
async fn mkdirs_import_and_status() {
    let (emulator, client) = start_default().await;
    let file = "/Workspace/Shared/sdp/transformations/bronze.sql";

    let reply = client
        .post(IMPORT, &import_body(file, "SELECT 1", false))
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "RESOURCE_DOES_NOT_EXIST")
    );

    let reply = client
        .post(
            "/api/2.0/workspace/mkdirs",
            &json!({"path": "/Workspace/Shared/sdp/transformations"}),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({}));
    // Again is fine.
    let reply = client
        .post(
            "/api/2.0/workspace/mkdirs",
            &json!({"path": "/Shared/sdp/transformations"}),
        )
        .await;
    assert_eq!(reply.status, 200);

    let reply = client
        .post(IMPORT, &import_body(file, "SELECT 1", false))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = client
        .post(IMPORT, &import_body(file, "SELECT 2", false))
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "RESOURCE_ALREADY_EXISTS")
    );
    let reply = client
        .post(IMPORT, &import_body(file, "SELECT 2", true))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(emulator.file(file).as_deref(), Some("SELECT 2"));
    // `/Workspace/X` and `/X` are the same object.
    assert_eq!(
        emulator
            .file("/Shared/sdp/transformations/bronze.sql")
            .as_deref(),
        Some("SELECT 2")
    );

    let status = client
        .get(&format!(
            "/api/2.0/workspace/get-status?path={}",
            encode(file)
        ))
        .await
        .json();
    assert_eq!(status["object_type"], "FILE");
    assert_eq!(status["path"], file);
    assert!(status["object_id"].as_i64().unwrap() > 0);
    let short = client
        .get("/api/2.0/workspace/get-status?path=/Shared/sdp/transformations/bronze.sql")
        .await
        .json();
    assert_eq!(short["object_id"], status["object_id"]);
    let dir = client
        .get("/api/2.0/workspace/get-status?path=/Workspace/Shared/sdp")
        .await
        .json();
    assert_eq!(dir["object_type"], "DIRECTORY");

    let missing = client
        .get("/api/2.0/workspace/get-status?path=/Shared/none")
        .await;
    assert_eq!(
        (missing.status, missing.error_code().as_str()),
        (404, "RESOURCE_DOES_NOT_EXIST")
    );

    // A file in the way of mkdirs.
    let reply = client
        .post(
            "/api/2.0/workspace/mkdirs",
            &json!({"path": format!("{file}/sub")}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "RESOURCE_ALREADY_EXISTS")
    );
}

#[tokio::test]
async fn import_validation() {
    let (emulator, client) = start_default().await;
    emulator.put_file("/Workspace/Shared/seed/a.sql", "SELECT 0");
    assert_eq!(
        emulator.file("/Shared/seed/a.sql").as_deref(),
        Some("SELECT 0")
    );

    let reply = client
        .post(IMPORT, &json!({"path": "/Shared/seed/b.sql", "format": "SOURCE", "language": "SQL", "content": "%%%not base64"}))
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "MALFORMED_REQUEST")
    );
    let reply = client
        .post(
            IMPORT,
            &json!({"path": "/Shared/seed/b.sql", "format": "SOURCE", "content": ""}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "INVALID_PARAMETER_VALUE")
    );
    let reply = client
        .post(IMPORT, &json!({"path": "/Shared/seed/b.sql", "format": "SOURCE", "language": "COBOL", "content": ""}))
        .await;
    assert_eq!(reply.error_code(), "INVALID_PARAMETER_VALUE");
    let reply = client
        .post(
            IMPORT,
            &json!({"path": "relative/b.sql", "format": "AUTO", "content": ""}),
        )
        .await;
    assert_eq!(reply.error_code(), "INVALID_PARAMETER_VALUE");
    let reply = client
        .post("/api/2.0/workspace/mkdirs", &json!({"path": "no/slash"}))
        .await;
    assert_eq!(reply.error_code(), "INVALID_PARAMETER_VALUE");

    // AUTO/RAW need no language and make plain files.
    let reply = client
        .post(IMPORT, &json!({"path": "/Shared/seed/c.py", "format": "AUTO", "content": STANDARD.encode("print(1)")}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let status = client
        .get("/api/2.0/workspace/get-status?path=/Shared/seed/c.py")
        .await
        .json();
    assert_eq!(status["object_type"], "FILE");
    // SOURCE without a code extension is a notebook.
    let reply = client
        .post(IMPORT, &json!({"path": "/Shared/seed/nb", "format": "SOURCE", "language": "PYTHON", "content": STANDARD.encode("print(1)")}))
        .await;
    assert_eq!(reply.status, 200);
    let status = client
        .get("/api/2.0/workspace/get-status?path=/Shared/seed/nb")
        .await
        .json();
    assert_eq!(status["object_type"], "NOTEBOOK");
    assert_eq!(status["language"], "PYTHON");
}

#[tokio::test]
async fn auto_imports_a_notebook_header_as_a_notebook_without_its_extension() {
    let (emulator, client) = start_default().await;
    let dir = "/Workspace/Shared/auto";
    client
        .post("/api/2.0/workspace/mkdirs", &json!({"path": dir}))
        .await;
    let auto = |path: &str, text: &str| json!({"path": path, "format": "AUTO", "content": STANDARD.encode(text), "overwrite": true});
    let notebook = format!("{dir}/nb.sql");
    let reply = client
        .post(
            IMPORT,
            &auto(&notebook, "-- Databricks notebook source\nSELECT 1"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        emulator.object_type(&notebook),
        None,
        "the extension is dropped"
    );
    let status = client
        .get(&format!(
            "/api/2.0/workspace/get-status?path={}",
            encode(&format!("{dir}/nb"))
        ))
        .await
        .json();
    assert_eq!(status["object_type"], "NOTEBOOK");
    assert_eq!(status["language"], "SQL");

    let file = format!("{dir}/plain.sql");
    client.post(IMPORT, &auto(&file, "SELECT 1")).await;
    assert_eq!(emulator.object_type(&file), Some("FILE"));
}
