//! `sdp-agent deploy` against the emulator: what it creates, that a second deploy keeps every
//! identity, that its bodies survive the databricks-sdk dataclasses, `--dry-run`, and that bad
//! flags are named before anything is sent. That the deployed pieces work: `deploy_runs.rs`.

mod common;

use common::deploying;
use common::*;
use deploying::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;

#[test]
fn deploy_creates_the_volume_binaries_launcher_job_and_app_once() {
    let emu = emulator_with_app_client();
    let dist = dist();
    let first = deploy(&emu, &dist.0, &[]).assert_ok().clone();

    let job_id = first["job_id"].as_i64().expect("job_id");
    assert_eq!(first["volume_path"], VOLUME_PATH);
    let binaries = first["binaries"].as_array().unwrap();
    assert_eq!(binaries.len(), 1, "{first}");
    assert_eq!(binaries[0]["arch"], "x86_64");
    let uploaded = format!("{VOLUME_PATH}/sdp-agent-x86_64");
    assert_eq!(binaries[0]["path"], uploaded);
    assert_eq!(binaries[0]["sha256"], sha256(&release_binary(&dist)));
    let bytes = emu
        .volume_file(&uploaded)
        .expect("the binary is in the volume");
    assert_eq!(bytes, std::fs::read(release_binary(&dist)).unwrap());
    assert_eq!(emu.volumes().len(), 1);
    assert_eq!(emu.volumes()[0]["volume_type"], "MANAGED");

    let launcher = first["launcher_path"].as_str().unwrap();
    assert!(
        launcher.starts_with("/Workspace/Users/")
            && launcher.ends_with("/.sdp-agent/sdp-agent/sdp_agent_launcher.py"),
        "{launcher}"
    );
    let source = include_str!("../../host/launcher/sdp_agent_launcher.py");
    assert_eq!(emu.file(launcher).as_deref(), Some(source));

    let jobs = emu.jobs();
    assert_eq!(jobs.len(), 1);
    let settings = &jobs[0]["settings"];
    assert_eq!(settings["name"], "sdp-agent");
    assert_eq!(settings["max_concurrent_runs"], 100);
    assert_eq!(
        settings["parameters"],
        json!([{"name": "payload", "default": ""}, {"name": "timeout", "default": "900"},
               {"name": "caller", "default": ""}])
    );
    let task = &settings["tasks"][0];
    assert_eq!(task["spark_python_task"]["python_file"], launcher);
    assert_eq!(
        task["spark_python_task"]["parameters"],
        json!([
            "{{job.parameters.payload}}",
            "--timeout",
            "{{job.parameters.timeout}}",
            "--caller",
            "{{job.parameters.caller}}"
        ])
    );
    assert!(
        task["environment_key"].is_string(),
        "serverless by default: {task}"
    );

    let apps = emu.apps();
    assert_eq!(apps.len(), 1);
    let app = &apps[0];
    assert_eq!(first["app_url"], app["url"]);
    let resources = app["resources"].as_array().unwrap();
    assert!(
        resources
            .iter()
            .any(|r| r["job"] == json!({"id": job_id.to_string(), "permission": "CAN_MANAGE_RUN"})),
        "{resources:?}"
    );
    assert!(
        resources
            .iter()
            .any(|r| r["uc_securable"]["permission"] == "READ_VOLUME"),
        "{resources:?}"
    );
    // Nothing on the model: predict never queries it (the job's runs do, as the job's run
    // identity), and granting CAN_QUERY needs CAN_MANAGE on the endpoint.
    assert!(
        resources
            .iter()
            .all(|r| r.get("serving_endpoint").is_none()),
        "{resources:?}"
    );
    assert_eq!(app["deployments"][0]["status"]["state"], "SUCCEEDED");
    assert_eq!(
        app["deployments"][0]["source_code_path"],
        first["app_source_path"]
    );

    // Again: the same job, app and volume; the settings replaced, nothing duplicated.
    let second = deploy(&emu, &dist.0, &[]).assert_ok().clone();
    assert_eq!(second["job_id"], job_id);
    assert_eq!(second["app_url"], first["app_url"]);
    assert_eq!(emu.jobs().len(), 1);
    assert_eq!(emu.volumes().len(), 1);
    let apps = emu.apps();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["deployments"].as_array().unwrap().len(), 2);
    assert_eq!(
        apps[0]["service_principal_client_id"],
        app["service_principal_client_id"]
    );
    let calls: Vec<String> = writes(&emu)
        .iter()
        .map(|w| w["call"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        calls.iter().filter(|c| c.ends_with("/jobs/create")).count(),
        1,
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| c.ends_with("/jobs/reset")).count(),
        1,
        "{calls:?}"
    );
    assert!(
        calls.contains(&"PATCH /api/2.0/apps/sdp-agent".to_string()),
        "{calls:?}"
    );

    assert_sdk_accepts(&writes(&emu));
}

#[test]
fn dry_run_sends_only_reads_and_lists_the_writes_in_order() {
    let emu = emulator_with_app_client();
    let dist = dist();
    let out = deploy(&emu, &dist.0, &["--dry-run"]).assert_ok().clone();
    let sent: Vec<String> = emu
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        sent.iter().all(|c| c.starts_with("GET ")),
        "only reads: {sent:?}"
    );
    assert!(emu.jobs().is_empty() && emu.apps().is_empty() && emu.volumes().is_empty());
    assert_eq!(out["dry_run"], true);
    assert_eq!(out["job_id"], Value::Null);
    let plan: Vec<String> = out["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            format!(
                "{} {}",
                w["method"].as_str().unwrap(),
                w["path"].as_str().unwrap().split('?').next().unwrap()
            )
        })
        .collect();
    let uploaded = format!("PUT /api/2.0/fs/files{VOLUME_PATH}/sdp-agent-x86_64");
    let expected = [
        "POST /api/2.1/unity-catalog/volumes",
        uploaded.as_str(),
        "POST /api/2.0/workspace/mkdirs",
        "POST /api/2.0/workspace/import",
        "POST /api/2.0/workspace/import",
        // The policy root and the staging folder.
        "POST /api/2.0/workspace/mkdirs",
        "POST /api/2.0/workspace/mkdirs",
        "POST /api/2.2/jobs/create",
        "POST /api/2.0/workspace/mkdirs",
        "POST /api/2.0/workspace/import",
        "POST /api/2.0/workspace/import",
        "POST /api/2.0/apps",
        "POST /api/2.0/apps/sdp-agent/deployments",
    ];
    assert_eq!(plan, expected);
    assert_eq!(
        out["plan"][1]["body"]["sha256"],
        sha256(&release_binary(&dist))
    );
}

#[test]
fn bad_flags_are_named_before_anything_is_sent() {
    let emu = emulator();
    let dist = dist();
    let out = deploy(&emu, &dist.0, &["--name", "Not_An_App"]);
    assert_eq!(out.kind(), "invalid_payload", "{}", out.json);
    assert_eq!(out.error_paths(), ["--name"]);
    let out = deploy(&emu, Path::new("/nonexistent/dist"), &[]);
    assert_eq!(out.kind(), "config", "{}", out.json);
    assert!(emu.requests().is_empty());
    let mut cmd = agent_command(&emu);
    cmd.args(["deploy", "--volume", "main.tools"])
        .stdin(Stdio::null());
    assert_eq!(cmd.output().unwrap().status.code(), Some(2));
}
