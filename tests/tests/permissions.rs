//! The emulator's Permissions API as databricks-sdk drives it (the real client, not our
//! requests): set, update and get on a folder, a job and a pipeline; and the workspace
//! refusing a write where the writing identity has no grant, as the workspace does.

mod common;

use common::callers::call;
use common::*;
use sdp_emulator::{Emulator, EmulatorConfig, WorkspaceUser};
use serde_json::{Value, json};

const OTHER: &str = "dapi-other-user";
const OTHER_NAME: &str = "other@example.com";

fn workspace() -> Emulator {
    emulator_with(EmulatorConfig {
        users: vec![(OTHER.into(), WorkspaceUser::new(OTHER_NAME))],
        ..Default::default()
    })
}

/// Runs databricks-sdk calls against the emulator as its admin; prints one JSON line.
const SCRIPT: &str = r#"
import json, sys
from databricks.sdk import WorkspaceClient
from databricks.sdk.service import iam, jobs, pipelines, workspace as ws
w = WorkspaceClient(host=sys.argv[1], token=sys.argv[2])
folder, job_id, pipeline_id, user = sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
w.workspace.mkdirs(folder)
folder_id = str(w.workspace.get_status(folder).object_id)
w.workspace.set_permissions("directories", folder_id, access_control_list=[
    ws.WorkspaceObjectAccessControlRequest(user_name=user, permission_level=ws.WorkspaceObjectPermissionLevel.CAN_READ)])
got = w.workspace.update_permissions("directories", folder_id, access_control_list=[
    ws.WorkspaceObjectAccessControlRequest(user_name=user, permission_level=ws.WorkspaceObjectPermissionLevel.CAN_MANAGE)])
w.jobs.update_permissions(job_id, access_control_list=[
    jobs.JobAccessControlRequest(user_name=user, permission_level=jobs.JobPermissionLevel.CAN_MANAGE_RUN)])
w.pipelines.set_permissions(pipeline_id, access_control_list=[
    pipelines.PipelineAccessControlRequest(user_name=user, permission_level=pipelines.PipelinePermissionLevel.CAN_VIEW),
    pipelines.PipelineAccessControlRequest(user_name=user, permission_level=pipelines.PipelinePermissionLevel.CAN_RUN)])
out = {
    "folder": got.as_dict(),
    "job": w.permissions.get("jobs", job_id).as_dict(),
    "pipeline": w.pipelines.get_permissions(pipeline_id).as_dict(),
}
print(json.dumps(out))
"#;

/// A job named `name` (one task), plus `extra` settings; its id.
fn create_job(emu: &Emulator, token: Option<&str>, name: &str, extra: Value) -> (u16, Value) {
    let mut settings = json!({"name": name, "tasks": [{
        "task_key": "t",
        "existing_cluster_id": "0123-abc",
        "spark_python_task": {"python_file": "/Workspace/Shared/x.py"},
    }]});
    settings
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let url = format!("{}/api/2.2/jobs/create", emu.url());
    let answer = call(
        "POST",
        &url,
        Some(token.unwrap_or(&emu.token().unwrap())),
        Some(&settings),
    );
    (answer.status, answer.json)
}

fn levels_of(acl: &Value, user: &str) -> Vec<(String, bool)> {
    acl["access_control_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["user_name"] == user)
        .flat_map(|e| e["all_permissions"].as_array().unwrap().clone())
        .map(|p| {
            (
                p["permission_level"].as_str().unwrap().to_string(),
                p["inherited"] == true,
            )
        })
        .collect()
}

#[test]
fn databricks_sdk_sets_updates_and_reads_permissions() {
    let emu = workspace();
    let (status, job) = create_job(&emu, None, "j", json!({}));
    assert_eq!(status, 200, "{job}");
    let job_id = job["job_id"].to_string();
    let pipeline_id = emu.create_pipeline(json!({"name": "p"}));
    let folder = "/Workspace/Shared/team/agent";
    let token = emu.token().unwrap();
    let out = sdk_python(
        SCRIPT,
        &[
            &emu.url(),
            &token,
            folder,
            &job_id,
            &pipeline_id,
            OTHER_NAME,
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();

    // PATCH replaced the user's CAN_READ; everyone manages /Shared (inherited).
    let folder_acl = &got["folder"];
    assert_eq!(folder_acl["object_type"], "directory");
    assert_eq!(
        levels_of(folder_acl, OTHER_NAME),
        [("CAN_MANAGE".to_string(), false)]
    );
    let shared = folder_acl["access_control_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["group_name"] == "users")
        .expect("users inherit /Shared's CAN_MANAGE")
        .clone();
    assert_eq!(shared["all_permissions"][0]["inherited"], true);

    assert_eq!(
        levels_of(&got["job"], OTHER_NAME),
        [("CAN_MANAGE_RUN".to_string(), false)]
    );
    let owner = levels_of(&got["job"], "sdp-agent@example.com");
    assert_eq!(
        owner,
        [("IS_OWNER".to_string(), false)],
        "the creator owns the job"
    );
    assert_eq!(
        levels_of(&got["pipeline"], OTHER_NAME),
        [
            ("CAN_VIEW".to_string(), false),
            ("CAN_RUN".to_string(), false)
        ]
    );
}

#[test]
fn a_write_without_a_grant_is_refused_and_a_grant_allows_it() {
    let emu = workspace();
    emu.put_file(
        "/Workspace/Users/sdp-agent@example.com/app/launcher.py",
        "print(1)",
    );
    let url = |p: &str| format!("{}{p}", emu.url());
    let import = |path: &str, overwrite: bool| {
        let body =
            json!({"path": path, "format": "AUTO", "content": "e30=", "overwrite": overwrite});
        call(
            "POST",
            &url("/api/2.0/workspace/import"),
            Some(OTHER),
            Some(&body),
        )
    };
    let launcher = "/Workspace/Users/sdp-agent@example.com/app/launcher.py";
    let new_file = "/Workspace/Users/sdp-agent@example.com/app/new.py";
    for (path, overwrite) in [(launcher, true), (new_file, false)] {
        let refused = import(path, overwrite);
        assert_eq!(refused.status, 403, "{path}: {}", refused.text);
        assert_eq!(refused.json["error_code"], "PERMISSION_DENIED");
        assert!(
            refused.json["message"]
                .as_str()
                .unwrap()
                .contains(OTHER_NAME),
            "{}",
            refused.text
        );
    }
    assert_eq!(emu.file(launcher).as_deref(), Some("print(1)"));
    assert_eq!(emu.object_type(new_file), None);
    let mkdirs = json!({"path": "/Workspace/Users/sdp-agent@example.com/app/sub"});
    assert_eq!(
        call(
            "POST",
            &url("/api/2.0/workspace/mkdirs"),
            Some(OTHER),
            Some(&mkdirs)
        )
        .status,
        403
    );
    // Their own home folder and /Shared are theirs to write.
    assert_eq!(import("/Workspace/Shared/x.py", false).status, 200);

    // CAN_EDIT on the folder lets them overwrite the file, not create one; CAN_MANAGE both.
    let (_, status) = http(
        &emu,
        "GET",
        "/api/2.0/workspace/get-status?path=/Users/sdp-agent@example.com/app",
        None,
    );
    let id = serde_json::from_str::<Value>(&status).unwrap()["object_id"].clone();
    let grant = |level: &str| {
        let body =
            json!({"access_control_list": [{"user_name": OTHER_NAME, "permission_level": level}]});
        let (code, text) = http(
            &emu,
            "PUT",
            &format!("/api/2.0/permissions/directories/{id}"),
            Some(&body),
        );
        assert_eq!(code, 200, "{text}");
    };
    grant("CAN_EDIT");
    assert_eq!(import(launcher, true).status, 200);
    assert_eq!(import(new_file, false).status, 403);
    grant("CAN_MANAGE");
    assert_eq!(import(new_file, false).status, 200);

    // Changing permissions needs CAN_MANAGE on the object: they now have it on the folder,
    // not on the workspace root.
    let body = json!({"access_control_list": [{"user_name": OTHER_NAME, "permission_level": "CAN_MANAGE"}]});
    let denied = call(
        "PATCH",
        &url("/api/2.0/permissions/directories/1"),
        Some(OTHER),
        Some(&body),
    );
    assert_eq!(denied.status, 403, "{}", denied.text);
}

#[test]
fn bad_permission_requests_name_the_problem() {
    let emu = workspace();
    let (_, job) = create_job(&emu, None, "j", json!({}));
    let job_id = job["job_id"].clone();
    let path = format!("/api/2.0/permissions/jobs/{job_id}");
    for (body, needle) in [
        (
            json!({"access_control_list": [{"user_name": OTHER_NAME, "permission_level": "CAN_READ"}]}),
            "CAN_READ",
        ),
        (
            json!({"access_control_list": [{"user_name": "nobody@example.com", "permission_level": "CAN_VIEW"}]}),
            "nobody@example.com",
        ),
        (
            json!({"access_control_list": [{"permission_level": "CAN_VIEW"}]}),
            "exactly one",
        ),
        (json!({"acl": []}), "acl"),
    ] {
        let (status, text) = http(&emu, "PATCH", &path, Some(&body));
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(needle), "{body}: {text}");
    }
    let (status, _) = http(&emu, "GET", "/api/2.0/permissions/jobs/42", None);
    assert_eq!(status, 404);
    let (status, _) = http(&emu, "GET", "/api/2.0/permissions/clusters/42", None);
    assert_eq!(status, 400);
}

#[test]
fn a_job_runs_as_its_run_as_and_only_an_admin_names_another() {
    let emu = workspace();
    let (status, job) = create_job(
        &emu,
        None,
        "j",
        json!({"run_as": {"user_name": OTHER_NAME}}),
    );
    assert_eq!(status, 200, "{job}");
    let job_id = job["job_id"].clone();
    let (_, got) = http(
        &emu,
        "GET",
        &format!("/api/2.2/jobs/get?job_id={job_id}"),
        None,
    );
    let got: Value = serde_json::from_str(&got).unwrap();
    assert_eq!(got["run_as_user_name"], OTHER_NAME);
    assert_eq!(got["creator_user_name"], "sdp-agent@example.com");
    assert!(got["settings"].get("run_as").is_none(), "write-only: {got}");

    // A non-admin cannot make a job run as someone else.
    let other = json!({"run_as": {"user_name": "sdp-agent@example.com"}});
    assert_eq!(create_job(&emu, Some(OTHER), "k", other).0, 403);
    let both = json!({"run_as": {"user_name": OTHER_NAME, "service_principal_name": "x"}});
    assert_eq!(create_job(&emu, Some(OTHER), "k", both).0, 400);
    let own = json!({"run_as": {"user_name": OTHER_NAME}});
    assert_eq!(create_job(&emu, Some(OTHER), "k", own).0, 200);
    // Resetting the admin's job needs CAN_MANAGE on it.
    let url = format!("{}/api/2.2/jobs/reset", emu.url());
    let (_, got) = http(
        &emu,
        "GET",
        &format!("/api/2.2/jobs/get?job_id={job_id}"),
        None,
    );
    let settings = serde_json::from_str::<Value>(&got).unwrap()["settings"].clone();
    let reset = json!({"job_id": job_id, "new_settings": settings});
    assert_eq!(call("POST", &url, Some(OTHER), Some(&reset)).status, 403);
}
