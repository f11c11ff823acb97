//! Callers do not choose the code that runs: when `serve` checks callers or listens off
//! loopback, payload fields that pick code, libraries or what runs at cluster start are refused
//! (403 `policy_refused`, naming the field) with nothing sent upstream, unless the operator says
//! `--allow-caller-code`; the runner is the operator's (`--runner-path`).

mod common;

use common::answer::Answer;
use common::callers::{ALICE, call, workspace};
use common::servers::{self, Server};
use common::*;
use sdp_emulator::Emulator;
use serde_json::{Value, json};

fn invoke(server: &Server, payload: &Value) -> Answer {
    let url = format!("{}/invocations", server.url);
    call("POST", &url, Some(ALICE), Some(payload))
}

/// The full payload with no runner and no compute of its own.
fn plain(emu: &Emulator, name: &str) -> Value {
    let mut payload = payload_without_cluster(emu, name);
    payload.as_object_mut().unwrap().remove("runner_path");
    payload
}

fn with(mut payload: Value, key: &str, value: Value) -> Value {
    payload[key] = value;
    payload
}

#[test]
fn checked_callers_cannot_choose_code_and_nothing_is_sent() {
    let emu = workspace();
    let launcher = "/Workspace/Shared/operators/sdp_agent_launcher.py";
    let server = Server::sdp_agent(&emu, &["--callers", "workspace", "--runner-path", launcher]);
    let cluster = json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge",
                         "num_workers": 1});
    let cases = [
        (
            "runner_path",
            with(plain(&emu, "c"), "runner_path", json!(RUNNER)),
        ),
        (
            "task_overrides",
            with(
                plain(&emu, "c"),
                "task_overrides",
                json!({"spark_python_task": {"python_file": "/evil.py"}}),
            ),
        ),
        (
            "new_cluster.init_scripts",
            with(plain(&emu, "c"), "new_cluster", {
                let mut c = cluster.clone();
                c["init_scripts"] = json!([{"workspace": {"destination": "/evil.sh"}}]);
                c
            }),
        ),
        (
            "new_cluster.spark_env_vars",
            with(plain(&emu, "c"), "new_cluster", {
                let mut c = cluster.clone();
                c["spark_env_vars"] = json!({"PYTHONSTARTUP": "/evil.py"});
                c
            }),
        ),
        (
            "environments[0].spec.dependencies",
            with(
                plain(&emu, "c"),
                "environments",
                json!([{"environment_key": "e",
                "spec": {"environment_version": "3", "dependencies": ["evil==6.6.6"]}}]),
            ),
        ),
    ];
    for (field, payload) in &cases {
        let answer = invoke(&server, payload);
        answer.assert_error(403, "PERMISSION_DENIED");
        assert_eq!(
            answer.json["error"]["kind"], "policy_refused",
            "{}",
            answer.text
        );
        assert_eq!(answer.json["error"]["field"], *field, "{}", answer.text);
        assert!(
            answer.text.contains("--allow-caller-code"),
            "{}",
            answer.text
        );
    }
    assert_eq!(
        workspace_writes(&emu),
        Vec::<String>::new(),
        "nothing sent upstream"
    );
    assert!(emu.runs().is_empty());

    // Without those fields the run is the operator's launcher, on the caller's compute size.
    invoke(&server, &with(plain(&emu, "ok"), "new_cluster", cluster)).assert_ok();
    let runs = emu.runs();
    assert_eq!(runs.len(), 1);
    let task = &runs[0]["request"]["tasks"][0];
    assert_eq!(task["spark_python_task"]["python_file"], launcher, "{task}");
}

#[test]
fn the_operator_may_allow_caller_code() {
    let emu = workspace();
    let server = Server::sdp_agent(&emu, &["--callers", "workspace", "--allow-caller-code"]);
    let payload = with(
        plain(&emu, "own"),
        "task_overrides",
        json!({"spark_python_task": {"python_file": "/Workspace/Shared/mine.py"},
               "existing_cluster_id": "0101-123456-abcdef12"}),
    );
    invoke(&server, &payload).assert_ok();
    invoke(&server, &full_payload(&emu, "runner")).assert_ok();
    assert_eq!(emu.runs().len(), 2);
}

/// On loopback without caller checks the operator is the caller: their payloads pick code.
#[test]
fn loopback_without_caller_checks_keeps_the_payloads_runner() {
    let emu = emulator();
    let server = Server::sdp_agent(&emu, &[]);
    let url = format!("{}/invocations", server.url);
    let mine = "/Workspace/Users/dev@example.com/my_launcher.py";
    let payload = with(full_payload(&emu, "local"), "runner_path", json!(mine));
    call("POST", &url, None, Some(&payload)).assert_ok();
    let run = &emu.runs()[0];
    assert_eq!(
        run["request"]["tasks"][0]["spark_python_task"]["python_file"],
        mine
    );
}

#[test]
fn serving_off_loopback_without_a_pinned_job_warns_at_start() {
    let emu = workspace();
    let mut cmd = agent_command(&emu);
    cmd.env("RUST_LOG", "info")
        .args(["serve", "--listen", "0.0.0.0:0", "--callers", "workspace"]);
    let server = Server::start(
        servers::Host::SdpAgent,
        cmd,
        "sdp-agent serve: listening on ",
    );
    let log = server.log();
    let warning = log
        .lines()
        .find(|l| l.contains("without a pinned job"))
        .unwrap_or_else(|| panic!("no warning in\n{log}"));
    assert!(warning.contains("--job-id"), "{warning}");
    server.terminate();
}
