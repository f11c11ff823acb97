//! `sdp-agent run` against the emulator: the update it starts, waited for or not, and a
//! failed one explained by its own errors.

mod common;

use common::*;
use serde_json::json;

#[test]
fn wait_mode_reports_the_final_state() {
    let emu = emulator();
    let mut payload = full_payload(&emu, "waited");
    payload["wait"] = json!(true);
    let result = run(&emu, &payload).assert_ok().clone();
    assert_eq!(result["state"], "COMPLETED");
    let polls = calls(&emu, "/api/2.0/pipelines/")
        .into_iter()
        .filter(|c| c.starts_with("GET") && c.contains("/updates/"))
        .count();
    assert!(polls >= 6, "polled through the states ({polls})");
}

#[test]
fn wait_mode_reports_a_failed_update_with_its_error() {
    let emu = emulator();
    emu.set_next_update_outcome("FAILED");
    let mut payload = full_payload(&emu, "failing");
    payload["wait"] = json!(true);
    let out = run(&emu, &payload);
    assert_eq!(out.json["state"], "FAILED", "{}", out.json);
    assert_eq!(out.code, 1, "a failed update fails the job");
    assert!(out.json["message"].as_str().unwrap().contains("FAILED"));
}

#[test]
fn an_update_already_running_is_reported_as_such() {
    let emu = emulator();
    let payload = full_payload(&emu, "busy");
    let first = run(&emu, &payload).assert_ok().clone();
    // Nobody polled the first update, so it is still active.
    let out = run(&emu, &payload);
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "update_active", "{}", out.json);
    assert_eq!(out.json["error"]["pipeline_id"], first["pipeline_id"]);
    assert_eq!(emu.pipelines()[0]["updates"].as_array().unwrap().len(), 1);
}

#[test]
fn a_failed_update_is_explained_by_its_own_errors() {
    let emu = emulator();
    let mut payload = full_payload(&emu, "explained");
    payload["wait"] = json!(true);
    emu.set_next_update_error("[UNRESOLVED_COLUMN] first cause");
    let first = run(&emu, &payload);
    assert_eq!(first.json["state"], "FAILED", "{}", first.json);
    let message = first.json["message"].as_str().unwrap();
    assert!(
        message.contains("update FAILED: [UNRESOLVED_COLUMN] first cause"),
        "{message}"
    );

    emu.set_next_update_error("[PARSE_SYNTAX_ERROR] second cause");
    let second = run(&emu, &payload);
    let message = second.json["message"].as_str().unwrap();
    assert!(message.contains("second cause"), "{message}");
    assert!(
        !message.contains("first cause"),
        "another update's error: {message}"
    );
    let queries: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/events") && !r.query.contains("page_token"))
        .map(|r| r.query)
        .collect();
    // ERROR events explain the failure; INFO ones only hold the dataset graph.
    let errors = queries.iter().filter(|q| q.contains("level%3D%27ERROR%27"));
    assert_eq!(errors.count(), 2, "{queries:?}");
    assert!(
        queries
            .iter()
            .all(|q| q.contains("level%3D%27ERROR%27") || q.contains("level%3D%27INFO%27")),
        "{queries:?}"
    );
}
