//! Every run says who asked: run-now carries the admitted caller as the job parameter `caller`
//! (a payload cannot set it), and `run --caller` writes it into the pipeline's tags and its
//! output.

mod common;

use common::callers::{ALICE, call, workspace};
use common::deploying::{assert_sdk_accepts, levels, writes};
use common::jobs::{deployed_job, job_parameter, run_now_bodies};
use common::servers::Server;
use common::*;
use serde_json::json;

#[test]
fn run_now_carries_the_admitted_caller_and_a_payload_cannot_set_it() {
    let emu = workspace();
    let job = deployed_job(&emu);
    let server = Server::sdp_agent(
        &emu,
        &["--callers", "workspace", "--job-id", &job.to_string()],
    );
    let url = format!("{}/invocations", server.url);

    let forged = json!({"question": "q", "caller": "mallory@example.com"});
    call("POST", &url, Some(ALICE), Some(&forged)).assert_error(400, "INVALID_PARAMETER_VALUE");
    assert!(run_now_bodies(&emu).is_empty());

    call("POST", &url, Some(ALICE), Some(&json!({"question": "q"}))).assert_ok();
    let bodies = run_now_bodies(&emu);
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["job_parameters"]["caller"], "alice@example.com");
    let run = &emu.runs()[0];
    assert_eq!(
        job_parameter(run, "caller").as_deref(),
        Some("alice@example.com")
    );
}

#[test]
fn without_a_known_caller_run_now_leaves_the_parameter_to_its_default() {
    let emu = emulator();
    let job = deployed_job(&emu);
    let server = Server::sdp_agent(&emu, &["--job-id", &job.to_string()]);
    let url = format!("{}/invocations", server.url);
    call("POST", &url, None, Some(&json!({"question": "q"}))).assert_ok();
    assert!(
        run_now_bodies(&emu)[0]["job_parameters"]
            .get("caller")
            .is_none()
    );
    assert_eq!(job_parameter(&emu.runs()[0], "caller").as_deref(), Some(""));
}

fn run_as(emu: &sdp_emulator::Emulator, caller: &str, payload: &serde_json::Value) -> Outcome {
    let mut cmd = agent_command(emu);
    cmd.args(["run", "--caller", caller]).arg(b64(payload));
    finish(cmd)
}

#[test]
fn run_writes_the_caller_into_the_pipelines_tags_and_its_output() {
    let emu = emulator();
    let payload = full_payload(&emu, "traced");
    let out = run_as(&emu, "alice@example.com", &payload);
    assert_eq!(out.assert_ok()["caller"], "alice@example.com");
    let tags = &pipelines_named(&emu, "traced")[0]["spec"]["tags"];
    assert_eq!(tags["sdp_agent_caller"], "alice@example.com", "{tags}");
    assert_eq!(tags["sdp_agent"], "managed", "{tags}");

    // The next caller's run names them instead; an unknown caller (the job's empty default)
    // leaves no name of someone who did not ask.
    let id = pipelines_named(&emu, "traced")[0]["pipeline_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_idle(&emu, &id);
    run_as(&emu, "bob@example.com", &payload).assert_ok();
    let tags = &pipelines_named(&emu, "traced")[0]["spec"]["tags"];
    assert_eq!(tags["sdp_agent_caller"], "bob@example.com", "{tags}");
    wait_idle(&emu, &id);
    let out = run_as(&emu, "", &payload);
    assert!(out.assert_ok().get("caller").is_none(), "{}", out.json);
    let tags = &pipelines_named(&emu, "traced")[0]["spec"]["tags"];
    assert!(tags.get("sdp_agent_caller").is_none(), "{tags}");

    let mut cmd = agent_command(&emu);
    cmd.args(["run", "--caller", "alice smith"])
        .arg(b64(&payload));
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a name with a space is a usage error"
    );
}

/// The levels `principal` holds on pipeline `id`, sorted.
fn pipeline_levels(emu: &sdp_emulator::Emulator, id: &str, principal: &str) -> Vec<String> {
    let mut levels = levels(
        emu,
        &format!("/api/2.0/permissions/pipelines/{id}"),
        principal,
    );
    levels.sort();
    levels
}

#[test]
fn the_caller_may_view_and_run_their_pipeline_but_not_manage_it() {
    const APP_SP: &str = "6a1b2c3d-app";
    let emu = emulator_with(sdp_emulator::EmulatorConfig {
        users: vec![
            (
                "dapi-alice".into(),
                sdp_emulator::WorkspaceUser::new("alice@example.com"),
            ),
            ("dapi-app".into(), sdp_emulator::WorkspaceUser::new(APP_SP)),
        ],
        ..Default::default()
    });
    let payload = full_payload(&emu, "theirs");
    run_as(&emu, "alice@example.com", &payload).assert_ok();
    let id = pipelines_named(&emu, "theirs")[0]["pipeline_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(pipeline_levels(&emu, &id, "alice@example.com"), ["CAN_RUN"]);
    // A service principal caller is named by its application id.
    wait_idle(&emu, &id);
    run_as(&emu, APP_SP, &payload).assert_ok();
    assert_eq!(pipeline_levels(&emu, &id, APP_SP), ["CAN_RUN"]);
    assert!(
        pipeline_levels(&emu, &id, "alice@example.com")
            .iter()
            .all(|l| l != "CAN_MANAGE")
    );
    // A caller the workspace does not know: the pipeline is still built and updated, and the
    // output says the grant was refused.
    wait_idle(&emu, &id);
    let out = run_as(&emu, "mallory@example.com", &payload);
    let message = out.assert_ok()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("mallory@example.com was not granted"),
        "{message}"
    );
    // Without a caller nobody is granted anything.
    let before = calls(&emu, "/api/2.0/permissions/").len();
    let other = full_payload(&emu, "nobodys");
    run_as(&emu, "", &other).assert_ok();
    assert_eq!(calls(&emu, "/api/2.0/permissions/").len(), before);
    // Every permissions body the runs sent survives the databricks-sdk dataclasses.
    let grants: Vec<serde_json::Value> = writes(&emu)
        .into_iter()
        .filter(|w| {
            w["call"]
                .as_str()
                .unwrap()
                .contains("/permissions/pipelines/")
        })
        .collect();
    assert_eq!(grants.len(), 3, "{grants:?}");
    assert_sdk_accepts(&grants);
}
