//! Rerunning `deploy` after a timeout or a failure: a serving endpoint's config update still in
//! progress is waited for (Model Serving refuses a second one), an app deployment still in
//! progress is waited for rather than raced, and a model version whose registration failed is
//! deleted, never left PENDING_REGISTRATION. (A rerun with the same binaries reusing the served
//! version: `model_serving.rs`.)

mod common;

use common::deploying;
use common::*;
use deploying::*;
use sdp_emulator::{Emulator, Fault};
use serde_json::{Value, json};

fn emulator_with_secrets() -> Emulator {
    let emu = emulator();
    emu.put_secret("sdp-agent", "client-id", "endpoint-service-principal");
    emu.put_secret("sdp-agent", "client-secret", "endpoint-secret");
    emu
}

/// A write to the emulator as another client would send it (a deploy cut off earlier).
fn send(emu: &Emulator, method: &str, path: &str, body: Value) -> Value {
    ureq::request(method, &format!("{}{path}", emu.url()))
        .set("Authorization", &format!("Bearer {}", emu.token().unwrap()))
        .send_json(body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
        .into_json()
        .unwrap()
}

#[test]
fn a_config_update_in_progress_is_waited_for_before_the_next() {
    let emu = emulator_with_secrets();
    let dist = dist();
    deploy(&emu, &dist.0, &["--serve", "model-serving"]).assert_ok();
    // An update someone started (an earlier deploy that timed out), slow to finish.
    let endpoint = emu.serving_endpoints()[0].clone();
    let config = &endpoint["config"]["served_entities"][0];
    let mut entity = config.clone();
    for key in ["creator", "creation_timestamp", "state"] {
        entity.as_object_mut().unwrap().remove(key);
    }
    send(
        &emu,
        "PUT",
        "/api/2.0/serving-endpoints/sdp-agent/config",
        json!({"served_entities": [entity]}),
    );
    assert!(emu.hold_serving_update("sdp-agent", 3));

    let rebuilt = rebuilt_dist();
    let out = deploy(&emu, &rebuilt.0, &["--serve", "model-serving"])
        .assert_ok()
        .clone();
    assert_eq!(out["model_version"], "2");
    let endpoint = &emu.serving_endpoints()[0];
    assert_eq!(endpoint["state"]["config_update"], "NOT_UPDATING");
    assert_eq!(endpoint["config"]["config_version"], 3);
    assert_eq!(
        endpoint["config"]["served_entities"][0]["entity_version"],
        "2"
    );
    // The PUT came only after the endpoint said NOT_UPDATING: none was refused.
    let refused: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/config") && r.status == 409)
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn an_app_deployment_in_progress_is_waited_for_not_raced() {
    let emu = emulator_with_app_client();
    let dist = dist();
    let first = deploy(&emu, &dist.0, &[]).assert_ok().clone();
    let source = first["app_source_path"].as_str().unwrap();
    // A deployment still in progress (an earlier deploy cut off while waiting).
    let pending = send(
        &emu,
        "POST",
        "/api/2.0/apps/sdp-agent/deployments",
        json!({"source_code_path": source, "mode": "SNAPSHOT"}),
    );
    assert!(emu.hold_app_deployment("sdp-agent", 3));

    let again = deploy(&emu, &dist.0, &[]).assert_ok().clone();
    assert_ne!(again["deployment_id"], pending["deployment_id"]);
    let deployments = emu.apps()[0]["deployments"].as_array().unwrap().clone();
    assert_eq!(deployments.len(), 3, "{deployments:?}");
    assert!(
        deployments
            .iter()
            .all(|d| d["status"]["state"] == "SUCCEEDED"),
        "{deployments:?}"
    );
    let refused: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/deployments") && r.status == 409)
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn a_failed_registration_is_deleted_not_left_pending() {
    let emu = emulator_with_secrets();
    let dist = dist();
    // The model's files cannot be written (the upload fails, not retried: a 500).
    emu.inject_fault(Fault {
        method: Some("PUT".into()),
        path_prefix: "/api/2.0/fs/files/Models/".into(),
        status: 500,
        error_code: "INTERNAL_ERROR".into(),
        message: "storage unavailable".into(),
        ..Default::default()
    });
    let out = deploy(&emu, &dist.0, &["--serve", "model-serving"]);
    assert_eq!(out.kind(), "upstream", "{}", out.json);
    let models = emu.models();
    assert_eq!(models.len(), 1);
    assert_eq!(
        models[0]["versions"],
        json!([]),
        "no version left PENDING_REGISTRATION"
    );
    assert!(emu.serving_endpoints().is_empty());
    assert!(
        emu.volume_files()
            .iter()
            .all(|(path, _)| !path.starts_with("/Models/")),
        "{:?}",
        emu.volume_files()
    );

    // The next deploy registers a new version (numbers are never reused) and serves it.
    let out = deploy(&emu, &dist.0, &["--serve", "model-serving"])
        .assert_ok()
        .clone();
    assert_eq!(out["model_version"], "2");
    assert_eq!(emu.models()[0]["versions"][0]["status"], "READY");
    assert_sdk_accepts(&writes(&emu));
}
