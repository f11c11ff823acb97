//! Validate, then repair, then run: the sources a run writes are checked by a `validate_only`
//! update first; the model repairs its own files (at most 2 rounds), anything still invalid
//! fails the run before a real update starts. Progress goes to stderr, and the result names
//! the datasets and what feeds them.

mod common;

use common::*;
use sdp_emulator::ChatReply;
use serde_json::{Value, json};

const ENDPOINT: &str = "databricks-claude-sonnet-4-5";
const ROOT_DIR: &str = "/Workspace/Shared/clicks_checked";
const BRONZE: &str = "/Workspace/Shared/clicks_checked/bronze.sql";
const SILVER: &str = "/Workspace/Shared/clicks_checked/silver.sql";
const BRONZE_SQL: &str =
    "CREATE OR REFRESH MATERIALIZED VIEW clicks_bronze AS SELECT id AS click_id FROM range(100)";

/// Silver reading `source`: `clicks_bronze` is sound, anything else a missing table.
fn silver(source: &str) -> String {
    format!("CREATE OR REFRESH MATERIALIZED VIEW clicks_silver AS SELECT click_id FROM {source}")
}

/// The model's first answer, its silver reading `source`.
fn config(source: &str) -> String {
    json!({
        "pipelineName": "clicks_checked",
        "catalog": "main",
        "schema": "clickstream",
        "root_path": ROOT_DIR,
        "workspace_file_paths": [BRONZE, SILVER],
        "sources": {BRONZE: BRONZE_SQL, SILVER: silver(source)},
    })
    .to_string()
}

/// A repair answer: silver reading `source`.
fn repaired(source: &str) -> String {
    format!(
        "Fixed:\n```json\n{}\n```",
        json!({"sources": {SILVER: silver(source)}})
    )
}

fn ask(wait: bool) -> Value {
    json!({"question": "clickstream bronze and silver", "claude_endpoint": ENDPOINT, "wait": wait})
}

/// The pipeline's updates as the emulator recorded them: (validate_only, state).
fn updates(emu: &sdp_emulator::Emulator) -> Vec<(bool, String)> {
    let p = &pipelines_named(emu, "clicks_checked")[0];
    p["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["validate_only"].as_bool().unwrap(),
                u["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Imports of `path`, in order.
fn imports(emu: &sdp_emulator::Emulator, path: &str) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.path == "/api/2.0/workspace/import" && r.body["path"] == path)
        .count()
}

#[test]
fn a_broken_file_is_repaired_in_one_round_then_the_update_runs() {
    let emu = emulator();
    emu.script_chat(
        ENDPOINT,
        vec![
            ChatReply::Text(config("clicks_bronz")),
            ChatReply::Text(repaired("clicks_bronze")),
        ],
    );
    let out = run(&emu, &ask(true));
    let result = out.assert_ok();
    assert_eq!(result["state"], "COMPLETED", "{result}");
    let message = result["message"].as_str().unwrap();
    assert!(message.contains("after 1 repair round"), "{message}");

    // The second request continues the conversation with the error and the files.
    let chats = emu.chat_requests();
    assert_eq!(chats.len(), 2);
    let messages = chats[1]["messages"].as_array().unwrap();
    assert_eq!(messages[messages.len() - 2]["role"], "assistant");
    let request = messages.last().unwrap()["content"].as_str().unwrap();
    assert!(
        request.contains("[TABLE_OR_VIEW_NOT_FOUND]") && request.contains("clicks_bronz"),
        "{request}"
    );
    assert!(
        request.contains(SILVER) && request.contains("corrected"),
        "{request}"
    );

    // Silver was imported again, corrected; bronze once.
    assert_eq!(imports(&emu, SILVER), 2);
    assert_eq!(imports(&emu, BRONZE), 1);
    assert_eq!(emu.file(SILVER).unwrap(), silver("clicks_bronze"));
    assert_eq!(
        updates(&emu),
        vec![
            (true, "FAILED".into()),
            (true, "COMPLETED".into()),
            (false, "COMPLETED".into())
        ]
    );
    assert!(out.stderr.contains("repair round 1"), "{}", out.stderr);

    // The result names the datasets, each after what feeds it.
    let datasets = result["datasets"].as_array().expect("datasets");
    let names: Vec<&str> = datasets
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "main.clickstream.clicks_bronze",
            "main.clickstream.clicks_silver"
        ]
    );
    assert_eq!(
        datasets[1]["inputs"],
        json!(["main.clickstream.clicks_bronze"])
    );
}

#[test]
fn still_broken_after_two_rounds_fails_with_the_errors_and_starts_no_update() {
    let emu = emulator();
    emu.script_chat(
        ENDPOINT,
        vec![
            ChatReply::Text(config("clicks_bronz")),
            ChatReply::Text(repaired("clicks_brnze")),
            ChatReply::Text(repaired("bronze_clicks")),
        ],
    );
    let out = run(&emu, &ask(true));
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "validation_failed", "{}", out.json);
    let error = &out.json["error"];
    let p = &pipelines_named(&emu, "clicks_checked")[0];
    assert_eq!(error["pipeline_id"], p["pipeline_id"]);
    assert_eq!(error["repair_rounds"], 2);
    let errors = error["errors"].as_array().unwrap();
    assert!(!errors.is_empty());
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("bronze_clicks"),
        "the last validation's errors: {errors:?}"
    );
    // No event names a file (a workspace's do not): the error's dataset, clicks_silver, is
    // defined by the silver file, the model's latest.
    assert_eq!(errors[0]["file"], SILVER, "{errors:?}");
    assert_eq!(errors[0]["dataset"], "main.clickstream.clicks_silver");
    assert_eq!(emu.chat_requests().len(), 3);
    assert_eq!(updates(&emu), vec![(true, "FAILED".into()); 3]);
    assert_eq!(imports(&emu, SILVER), 3);
}

#[test]
fn invalid_sources_from_the_payload_are_not_repaired() {
    let emu = emulator();
    let payload = json!({
        "pipelineName": "clicks_checked", "catalog": "main", "schema": "clickstream",
        "root_path": ROOT_DIR, "workspace_file_paths": [BRONZE, SILVER],
        "sources": {BRONZE: BRONZE_SQL, SILVER: silver("clicks_bronz")},
    });
    let out = run(&emu, &payload);
    assert_eq!(out.kind(), "validation_failed", "{}", out.json);
    assert_eq!(out.json["error"]["repair_rounds"], 0);
    // The payload's own files explain its errors too.
    assert_eq!(
        out.json["error"]["errors"][0]["file"], SILVER,
        "{}",
        out.json
    );
    assert!(emu.chat_requests().is_empty());
    assert_eq!(updates(&emu), vec![(true, "FAILED".into())]);
}

#[test]
fn validate_false_starts_the_update_at_once() {
    let emu = emulator();
    emu.script_chat(ENDPOINT, vec![ChatReply::Text(config("clicks_bronze"))]);
    let mut payload = ask(false);
    payload["validate"] = json!(false);
    run(&emu, &payload).assert_ok();
    let updates = updates(&emu);
    assert_eq!(updates.len(), 1);
    assert!(!updates[0].0, "no validate_only update");
}

#[test]
fn progress_lines_on_stderr_read_as_a_timeline() {
    let emu = emulator();
    emu.script_chat(ENDPOINT, vec![ChatReply::Text(config("clicks_bronze"))]);
    let out = run(&emu, &ask(true));
    out.assert_ok();
    // `sdp-agent: [   0.3s] validation update <id>: RUNNING`
    let lines: Vec<(f64, &str)> = out
        .stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("sdp-agent: [")?;
            let (secs, what) = rest.split_once("s] ")?;
            Some((secs.trim().parse().ok()?, what))
        })
        .collect();
    let states = |what: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|(_, l)| l.starts_with(what))
            .map(|(_, l)| l.rsplit(": ").next().unwrap().to_string())
            .collect()
    };
    // Each state it was seen in, once, as it walks to COMPLETED.
    for what in ["validation update ", "update "] {
        let seen = states(what);
        assert!(
            seen.len() >= 5 && seen.windows(2).all(|w| w[0] != w[1]),
            "{what}: {seen:?}\n{}",
            out.stderr
        );
        assert!(seen.iter().any(|s| s == "WAITING_FOR_RESOURCES"));
        assert_eq!(seen.last().unwrap(), "COMPLETED");
    }
    assert!(
        lines.windows(2).all(|w| w[0].0 <= w[1].0),
        "elapsed times never go back: {}",
        out.stderr
    );
}

#[test]
fn a_running_update_during_validation_is_update_active() {
    let emu = emulator();
    let answer = ChatReply::Text(config("clicks_bronze"));
    emu.script_chat(ENDPOINT, vec![answer.clone(), answer]);
    // Not waited for: its update is still running when the second run validates.
    run(&emu, &ask(false)).assert_ok();
    let out = run(&emu, &ask(false));
    assert_eq!(out.kind(), "update_active", "{}", out.json);
    assert_eq!(
        updates(&emu).len(),
        2,
        "validation, then the first run's update"
    );
}

#[test]
fn a_dry_run_plans_the_validation_before_the_update() {
    let emu = emulator();
    emu.script_chat(ENDPOINT, vec![ChatReply::Text(config("clicks_bronze"))]);
    let mut payload = ask(true);
    payload["dry_run"] = json!(true);
    let result = run(&emu, &payload).assert_ok().clone();
    let starts: Vec<&Value> = result["plan"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["path"] == "/api/2.0/pipelines/<pipeline_id>/updates")
        .map(|c| &c["body"])
        .collect();
    assert_eq!(
        starts,
        [
            &json!({"validate_only": true}),
            &json!({"full_refresh": true})
        ]
    );
    assert!(emu.pipelines().is_empty());
}
