//! Whose job, app and endpoint `deploy` updates: only those it made (their `sdp-agent` mark),
//! or what `--adopt` hands it. A job, app or serving endpoint of that name made by someone
//! else is refused before anything is written, naming it and its creator; Jobs' names are
//! compared as Jobs compares them (ignoring case), across every page of `jobs/list`.

mod common;

use common::deploying;
use common::*;
use deploying::*;
use sdp_emulator::Emulator;
use serde_json::{Value, json};

const OTHER: &str = "someone-else@example.com";

fn message(out: &Outcome) -> String {
    out.json["error"]["fields"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The refusal names the field to change, the resource and who made it; nothing was written.
fn assert_refused(out: &Outcome, emu: &Emulator, what: &str) {
    assert_eq!(out.kind(), "invalid_payload", "{}", out.json);
    assert_eq!(out.error_paths(), ["--name"]);
    let text = message(out);
    assert!(
        text.contains(what) && text.contains(OTHER) && text.contains("--adopt"),
        "{text}"
    );
    assert!(writes(emu).is_empty(), "nothing written: {:?}", writes(emu));
    assert!(
        emu.requests().iter().all(|r| r.method == "GET"),
        "only reads"
    );
}

fn their_job(name: &str) -> Value {
    json!({"name": name, "description": "their nightly job", "tasks": [], "tags": {"team": "data"}})
}

#[test]
fn a_job_of_that_name_made_by_someone_else_is_refused_unless_adopted() {
    let emu = emulator();
    let dist = dist();
    // Jobs compares names ignoring case: "SDP-Agent" is the job `--name sdp-agent` finds.
    let theirs = emu.create_job_as(their_job("SDP-Agent"), OTHER);
    let out = deploy(&emu, &dist.0, &["--serve", "none"]);
    assert_refused(&out, &emu, &format!("(id {theirs})"));
    assert_eq!(emu.jobs().len(), 1);
    assert!(emu.volume_files().is_empty());

    let adopted = deploy(&emu, &dist.0, &["--serve", "none", "--adopt"])
        .assert_ok()
        .clone();
    assert_eq!(adopted["job_id"], theirs);
    let jobs = emu.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0]["settings"]["tags"]["sdp-agent"],
        env!("CARGO_PKG_VERSION")
    );
    // Ours now: the next deploy needs no --adopt.
    let again = deploy(&emu, &dist.0, &["--serve", "none"])
        .assert_ok()
        .clone();
    assert_eq!(again["job_id"], theirs);
    assert_sdk_accepts(&writes(&emu));
}

#[test]
fn every_page_of_jobs_with_that_name_is_counted() {
    let emu = emulator();
    let dist = dist();
    // More than a page (jobs/list answers at most 100), in any case.
    for i in 0..101 {
        let name = if i % 2 == 0 { "sdp-agent" } else { "SDP-AGENT" };
        emu.create_job_as(their_job(name), OTHER);
    }
    let out = deploy(&emu, &dist.0, &["--serve", "none"]);
    assert_eq!(out.kind(), "config", "{}", out.json);
    let text = out.json["error"]["message"].as_str().unwrap_or_default();
    assert!(text.contains("101 jobs are named"), "{text}");
    let pages = emu
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/jobs/list"))
        .count();
    assert_eq!(pages, 2, "both pages read");
    assert!(writes(&emu).is_empty());
}

#[test]
fn an_app_of_that_name_made_by_someone_else_is_refused_unless_adopted() {
    let emu = emulator_with_app_client();
    let dist = dist();
    emu.create_app_as(
        json!({"name": "sdp-agent", "description": "their dashboard"}),
        OTHER,
    );
    let out = deploy(&emu, &dist.0, &[]);
    assert_refused(&out, &emu, "app \"sdp-agent\"");
    assert!(emu.jobs().is_empty());
    assert_eq!(emu.apps()[0]["description"], "their dashboard");

    deploy(&emu, &dist.0, &["--adopt"]).assert_ok();
    let apps = emu.apps();
    assert_eq!(apps.len(), 1);
    let description = apps[0]["description"].as_str().unwrap();
    assert!(
        description.contains("Managed by `sdp-agent deploy`."),
        "{description}"
    );
    deploy(&emu, &dist.0, &[]).assert_ok();
    assert_sdk_accepts(&writes(&emu));
}

#[test]
fn a_serving_endpoint_of_that_name_made_by_someone_else_is_refused_unless_adopted() {
    let emu = emulator();
    emu.put_secret("sdp-agent", "client-id", "endpoint-service-principal");
    emu.put_secret("sdp-agent", "client-secret", "endpoint-secret");
    emu.create_serving_endpoint_as(
        json!({"name": "sdp-agent", "tags": [{"key": "team", "value": "ml"}],
               "config": {"served_entities": [{"name": "their-model", "entity_name": "main.ml.theirs",
                                               "entity_version": "7", "workload_size": "Small"}]}}),
        OTHER,
    );
    let dist = dist();
    let out = deploy(&emu, &dist.0, &["--serve", "model-serving"]);
    assert_refused(&out, &emu, "serving endpoint \"sdp-agent\"");
    assert!(emu.models().is_empty());

    let adopted = deploy(&emu, &dist.0, &["--serve", "model-serving", "--adopt"])
        .assert_ok()
        .clone();
    let endpoint = &emu.serving_endpoints()[0];
    assert_eq!(
        endpoint["config"]["served_entities"][0]["entity_version"],
        adopted["model_version"]
    );
    let tags = endpoint["tags"].as_array().unwrap();
    assert!(
        tags.contains(&json!({"key": "team", "value": "ml"}))
            && tags.iter().any(|t| t["key"] == "sdp-agent"),
        "{tags:?}"
    );
    deploy(&emu, &dist.0, &["--serve", "model-serving"]).assert_ok();
    assert_sdk_accepts(&writes(&emu));
}
