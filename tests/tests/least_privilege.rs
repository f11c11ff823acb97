//! What a deployment lets each identity do (issue 17): the job's `run_as` set by
//! `--run-as` and kept by a redeploy without it; the grants deploy makes, read back through
//! the Permissions API and Unity Catalog; the staging folder the serving identity may create
//! files in (and nowhere else, which the emulator enforces as the workspace does); the
//! model-serving grant. Every body deploy sends survives the databricks-sdk dataclasses.

mod common;

use common::answer::Answer;
use common::callers::call;
use common::deploying::*;
use common::*;
use sdp_emulator::{Emulator, EmulatorConfig, WorkspaceUser};
use serde_json::{Value, json};

/// The service principal runs act as, and the endpoint's: each with a token of its own.
const RUN_SP: &str = "7c1f6a52-run-identity";
const RUN_TOKEN: &str = "dapi-run-identity";
const SERVE_SP: &str = "0b2e9d11-endpoint-identity";
const SERVE_TOKEN: &str = "dapi-endpoint-identity";
const SCOPE: &str = "sdp-agent";

fn workspace() -> Emulator {
    let emu = emulator_with(EmulatorConfig {
        users: vec![
            (RUN_TOKEN.into(), WorkspaceUser::new(RUN_SP)),
            (SERVE_TOKEN.into(), WorkspaceUser::new(SERVE_SP)),
        ],
        ..Default::default()
    });
    emu.put_secret(SCOPE, "client-id", SERVE_SP);
    emu.put_secret(SCOPE, "client-secret", "endpoint-secret");
    emu
}

/// `method path` on the emulator as the identity of `token`.
fn as_identity(
    emu: &Emulator,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    call(method, &format!("{}{path}", emu.url()), Some(token), body)
}

/// Imports a small file at `path` as the identity of `token`.
fn import_as(emu: &Emulator, token: &str, path: &str, overwrite: bool) -> Answer {
    let body = json!({"path": path, "format": "AUTO", "content": "e30=", "overwrite": overwrite});
    as_identity(emu, token, "POST", "/api/2.0/workspace/import", Some(&body))
}

/// The levels `principal` holds on a workspace folder (Permissions API, as the deployer).
fn folder_levels(emu: &Emulator, path: &str, principal: &str) -> Vec<String> {
    let (status, text) = http(
        emu,
        "GET",
        &format!("/api/2.0/workspace/get-status?path={path}"),
        None,
    );
    assert_eq!(status, 200, "{path}: {text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["object_id"].clone();
    levels(
        emu,
        &format!("/api/2.0/permissions/directories/{id}"),
        principal,
    )
}

#[test]
fn a_redeploy_without_run_as_keeps_the_identity_set_earlier() {
    let emu = workspace();
    let dist = dist();
    let first = deploy(&emu, &dist.0, &["--serve", "none", "--run-as", RUN_SP]);
    let first = first.assert_ok().clone();
    assert_eq!(first["run_as"], RUN_SP);
    let second = deploy(&emu, &dist.0, &["--serve", "none"]);
    assert!(!second.stderr.contains("warning"), "{}", second.stderr);
    let second = second.assert_ok().clone();
    assert_eq!(second["run_as"], RUN_SP, "{second}");
    assert_eq!(second["job_id"], first["job_id"]);
    // The reset carried it, and the workspace still runs the job as the service principal.
    let reset = writes(&emu)
        .into_iter()
        .find(|w| w["call"] == "POST /api/2.2/jobs/reset")
        .expect("the redeploy reset the job");
    assert_eq!(
        reset["body"]["new_settings"]["run_as"],
        json!({"service_principal_name": RUN_SP})
    );
    let (_, job) = http(
        &emu,
        "GET",
        &format!("/api/2.2/jobs/get?job_id={}", first["job_id"]),
        None,
    );
    let job: Value = serde_json::from_str(&job).unwrap();
    assert_eq!(job["run_as_user_name"], RUN_SP, "{job}");
    assert_sdk_accepts(&writes(&emu));
}

#[test]
fn without_run_as_the_job_runs_as_the_deployer_and_deploy_says_so() {
    let emu = workspace();
    let dist = dist();
    let out = deploy(&emu, &dist.0, &["--serve", "none"]);
    assert!(
        out.stderr
            .contains("warning: the job runs as you (sdp-agent@example.com)"),
        "{}",
        out.stderr
    );
    let out = out.assert_ok();
    assert_eq!(out["run_as"], "sdp-agent@example.com");
    assert_eq!(
        out["grants"],
        json!([]),
        "the deployer owns everything already"
    );
    let created = writes(&emu)
        .into_iter()
        .find(|w| w["call"] == "POST /api/2.2/jobs/create")
        .unwrap();
    assert!(created["body"].get("run_as").is_none(), "{created}");
}

#[test]
fn the_run_identity_reads_the_deployment_and_manages_only_its_root() {
    let emu = workspace();
    let dist = dist();
    let out = deploy(&emu, &dist.0, &["--serve", "none", "--run-as", RUN_SP])
        .assert_ok()
        .clone();
    let dir = out["workspace_dir"].as_str().unwrap().to_string();
    let root = out["policy"]["root"].as_str().unwrap().to_string();
    assert_eq!(root, format!("{dir}/pipelines"));

    // Read back through the Permissions API and Unity Catalog.
    assert_eq!(folder_levels(&emu, &dir, RUN_SP), ["CAN_READ"]);
    assert!(folder_levels(&emu, &root, RUN_SP).contains(&"CAN_MANAGE".to_string()));
    let (_, volume) = http(
        &emu,
        "GET",
        &format!("/api/2.1/unity-catalog/permissions/volume/{VOLUME}"),
        None,
    );
    let volume: Value = serde_json::from_str(&volume).unwrap();
    assert_eq!(
        volume["privilege_assignments"],
        json!([{"principal": RUN_SP, "privileges": ["READ_VOLUME"]}])
    );

    // What the grants allow, as the workspace enforces it: pipelines under the root...
    let under_root = format!("{root}/orders/orders.sql");
    assert_eq!(
        as_identity(
            &emu,
            RUN_TOKEN,
            "POST",
            "/api/2.0/workspace/mkdirs",
            Some(&json!({"path": format!("{root}/orders")}))
        )
        .status,
        200
    );
    assert_eq!(import_as(&emu, RUN_TOKEN, &under_root, false).status, 200);
    // ...but never the launcher or the policy beside it.
    let launcher = out["launcher_path"].as_str().unwrap();
    let refused = import_as(&emu, RUN_TOKEN, launcher, true);
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.json["error_code"], "PERMISSION_DENIED");
    assert_eq!(
        emu.file(launcher).as_deref(),
        Some(include_str!("../../host/launcher/sdp_agent_launcher.py"))
    );
    let beside = format!("{dir}/sdp_agent_deploy2.json");
    assert_eq!(import_as(&emu, RUN_TOKEN, &beside, false).status, 403);
    assert_eq!(emu.object_type(&beside), None);

    let grants = out["grants"].as_array().unwrap();
    assert!(
        grants.contains(&json!({"on": dir, "to": RUN_SP, "permission": "CAN_READ"})),
        "{grants:?}"
    );
    assert_sdk_accepts(&writes(&emu));
}

#[test]
fn the_endpoint_stages_under_the_deployment_and_may_start_the_job() {
    let emu = workspace();
    let dist = dist();
    let out = deploy(
        &emu,
        &dist.0,
        &["--serve", "model-serving", "--serving-principal", SERVE_SP],
    )
    .assert_ok()
    .clone();
    let dir = out["workspace_dir"].as_str().unwrap().to_string();
    let staging = format!("{dir}/staging");
    assert_eq!(out["staging_dir"], staging);
    assert!(out.get("missing_grants").is_none(), "{out}");

    // The model-serving grant, read back.
    let job = out["job_id"].as_i64().unwrap();
    assert_eq!(
        levels(&emu, &format!("/api/2.0/permissions/jobs/{job}"), SERVE_SP),
        ["CAN_MANAGE_RUN"]
    );
    // Read on the deployment's folder, inherited; creating files in the staging folder.
    assert_eq!(
        folder_levels(&emu, &staging, SERVE_SP),
        ["CAN_READ", "CAN_MANAGE"]
    );
    // The endpoint is told where to stage.
    let entity = &emu.serving_endpoints()[0]["config"]["served_entities"][0];
    assert_eq!(entity["environment_vars"]["SDP_AGENT_STAGING_DIR"], staging);

    // The serving identity creates staged payloads there, and nowhere else in the deployment.
    let staged = format!("{staging}/payload-t1.json");
    assert_eq!(import_as(&emu, SERVE_TOKEN, &staged, false).status, 200);
    let elsewhere = format!("{dir}/payload-t1.json");
    let refused = import_as(&emu, SERVE_TOKEN, &elsewhere, false);
    assert_eq!(
        (refused.status, refused.json["error_code"].as_str()),
        (403, Some("PERMISSION_DENIED"))
    );
    assert_eq!(emu.object_type(&elsewhere), None);
    assert_sdk_accepts(&writes(&emu));
}

#[test]
fn without_the_serving_principal_deploy_names_the_missing_grant() {
    let emu = workspace();
    let dist = dist();
    let out = deploy(&emu, &dist.0, &["--serve", "model-serving"])
        .assert_ok()
        .clone();
    let missing = out["missing_grants"].to_string();
    assert!(
        missing.contains("CAN_MANAGE_RUN") && missing.contains("--serving-principal"),
        "{out}"
    );
    let job = out["job_id"].as_i64().unwrap();
    assert!(levels(&emu, &format!("/api/2.0/permissions/jobs/{job}"), SERVE_SP).is_empty());
}

#[test]
fn a_token_in_the_scope_gets_a_warning() {
    let emu = emulator();
    emu.put_secret(SCOPE, "token", "dapi-someones-token");
    let dist = dist();
    let out = deploy(&emu, &dist.0, &["--serve", "model-serving"]);
    assert!(out.stderr.contains("holds a `token`"), "{}", out.stderr);
    out.assert_ok();
}

#[test]
fn bad_identity_and_policy_flags_are_refused_before_any_request() {
    let emu = workspace();
    let dist = dist();
    for (flags, field) in [
        (&["--serve", "none", "--run-as", "a b"][..], "--run-as"),
        (
            &["--serve", "app", "--serving-principal", SERVE_SP][..],
            "--serving-principal",
        ),
        (
            &["--serve", "none", "--allow-schema", "sales"][..],
            "--allow-schema",
        ),
        (&["--serve", "none", "--root", "pipelines"][..], "--root"),
    ] {
        let out = deploy(&emu, &dist.0, flags);
        assert_eq!(out.error_paths(), [field], "{flags:?}: {}", out.json);
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}
