//! `--serve model-serving` and `sdp-agent package-model`: deploy registers the pyfunc model in
//! Unity Catalog and creates (then updates) a serving endpoint whose environment names the
//! workspace, the job and secret references for the credentials; every body survives the
//! databricks-sdk dataclasses (MLflow's protos for its registry calls); and the model
//! directory, served by the real `mlflow models serve` (PyPI mlflow-skinny), answers
//! `/invocations` by running the binary, which starts the deployed job.

mod common;

use common::deploying;
use common::servers;
use common::*;
use deploying::*;
use sdp_emulator::Emulator;
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

const MODEL: &str = "main.tools.sdp_agent";
const SCOPE: &str = "sdp-agent";

fn emulator_with_secrets() -> Emulator {
    let emu = emulator();
    emu.put_secret(SCOPE, "client-id", "endpoint-service-principal");
    emu.put_secret(SCOPE, "client-secret", "endpoint-secret");
    emu
}

#[test]
fn deploy_registers_the_model_and_serves_it_from_one_endpoint() {
    let emu = emulator_with_secrets();
    let dist = dist();
    let first = deploy(&emu, &dist.0, &["--serve", "model-serving"])
        .assert_ok()
        .clone();
    let job_id = first["job_id"].as_i64().expect("job_id");
    assert_eq!(first["endpoint_name"], "sdp-agent");
    assert_eq!(first["model_name"], MODEL);
    assert_eq!(first["model_version"], "1");
    assert_eq!(
        first["endpoint_url"],
        format!("{}/serving-endpoints/sdp-agent/invocations", emu.url())
    );
    assert!(emu.apps().is_empty());

    // The version holds the model: MLmodel naming the loader, the loader, the binary as data.
    let models = emu.models();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0]["versions"][0]["status"], "READY");
    let file = |path: &str| emu.volume_file(&format!("/Models/main/tools/sdp_agent/1/{path}"));
    let mlmodel = String::from_utf8(file("MLmodel").expect("MLmodel")).unwrap();
    assert!(
        mlmodel.contains("\"loader_module\": \"sdp_agent_pyfunc\""),
        "{mlmodel}"
    );
    assert_eq!(
        file("code/sdp_agent_pyfunc.py").as_deref(),
        Some(include_bytes!("../../host/launcher/sdp_agent_pyfunc.py").as_slice())
    );
    assert_eq!(
        file("data/sdp-agent-x86_64").expect("the binary"),
        std::fs::read(release_binary(&dist)).unwrap()
    );
    // Its `source` is where that model can be read again (MLflow's client downloads from it):
    // the model directory beside the release binaries, not the release folder itself.
    let source = models[0]["versions"][0]["source"].as_str().unwrap();
    assert_eq!(source, format!("{VOLUME_PATH}/model"));
    assert_eq!(
        emu.volume_file(&format!("{source}/MLmodel")),
        file("MLmodel"),
        "the source holds the same MLmodel"
    );

    let endpoints = emu.serving_endpoints();
    assert_eq!(endpoints.len(), 1);
    let endpoint = &endpoints[0];
    assert_eq!(endpoint["state"]["config_update"], "NOT_UPDATING");
    let entity = &endpoint["config"]["served_entities"][0];
    assert_eq!(entity["entity_name"], MODEL);
    assert_eq!(entity["entity_version"], "1");
    assert_eq!(
        entity["environment_vars"],
        json!({
            "DATABRICKS_HOST": emu.url(),
            "DATABRICKS_CLIENT_ID": "{{secrets/sdp-agent/client-id}}",
            "DATABRICKS_CLIENT_SECRET": "{{secrets/sdp-agent/client-secret}}",
            "SDP_AGENT_JOB_ID": job_id.to_string(),
            "CLAUDE_ENDPOINT_NAME": "databricks-claude-sonnet-4-5",
            "SDP_AGENT_STAGING_DIR": format!("{}/staging", first["workspace_dir"].as_str().unwrap()),
            // serve's --policy in its environment form: predict refuses early what it forbids.
            "SDP_AGENT_POLICY": first["policy"].to_string(),
        })
    );

    // The version records its binaries: a rerun with the same ones serves it again, without
    // a new version (a ~50 MB upload) or a config update.
    let again = deploy(&emu, &dist.0, &["--serve", "model-serving"])
        .assert_ok()
        .clone();
    assert_eq!(again["model_version"], "1");
    let tags = &emu.models()[0]["versions"][0]["tags"];
    assert_eq!(
        tags,
        &json!([{"key": "sdp_agent_binaries",
                 "value": format!("sdp-agent-x86_64:{}", sha256(&release_binary(&dist)))}])
    );
    assert_eq!(emu.models()[0]["versions"].as_array().unwrap().len(), 1);
    assert_eq!(emu.serving_endpoints()[0]["config"]["config_version"], 1);

    // Other binaries: the same job, model and endpoint; a new version, served by the updated
    // config.
    let rebuilt = rebuilt_dist();
    let second = deploy(&emu, &rebuilt.0, &["--serve", "model-serving"])
        .assert_ok()
        .clone();
    assert_eq!(second["job_id"], job_id);
    assert_eq!(second["model_version"], "2");
    assert_eq!(emu.jobs().len(), 1);
    assert_eq!(emu.models().len(), 1);
    let endpoints = emu.serving_endpoints();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["id"], endpoint["id"]);
    assert_eq!(endpoints[0]["config"]["config_version"], 2);
    assert_eq!(
        endpoints[0]["config"]["served_entities"][0]["entity_version"],
        "2"
    );
    let calls: Vec<String> = writes(&emu)
        .iter()
        .map(|w| w["call"].as_str().unwrap().to_string())
        .collect();
    let count = |call: &str| calls.iter().filter(|c| *c == call).count();
    assert_eq!(count("POST /api/2.1/unity-catalog/models"), 1, "{calls:?}");
    assert_eq!(count("POST /api/2.0/serving-endpoints"), 1, "{calls:?}");
    assert_eq!(
        count("PUT /api/2.0/serving-endpoints/sdp-agent/config"),
        1,
        "{calls:?}"
    );
    assert_eq!(
        count("POST /api/2.0/mlflow/unity-catalog/model-versions/finalize"),
        2,
        "{calls:?}"
    );

    assert_sdk_accepts(&writes(&emu));
}

#[test]
fn without_credentials_in_the_secret_scope_nothing_is_made() {
    let emu = emulator();
    let dist = dist();
    let out = deploy(&emu, &dist.0, &["--serve", "model-serving"]);
    assert_eq!(out.kind(), "invalid_payload", "{}", out.json);
    assert_eq!(out.error_paths(), ["--secret-scope"]);
    emu.put_secret("other", "token", "dapi-other");
    let out = deploy(
        &emu,
        &dist.0,
        &[
            "--serve",
            "model-serving",
            "--secret-scope",
            "other",
            "--dry-run",
        ],
    );
    let plan = out.assert_ok()["plan"].clone();
    assert!(
        emu.requests().iter().all(|r| r.method == "GET"),
        "only reads: {:?}",
        calls(&emu, "/")
    );
    assert!(emu.jobs().is_empty() && emu.models().is_empty() && emu.serving_endpoints().is_empty());
    let last = &plan.as_array().unwrap().last().unwrap();
    assert_eq!(last["path"], "/api/2.0/serving-endpoints");
    assert_eq!(
        last["body"]["config"]["served_entities"][0]["environment_vars"]["DATABRICKS_TOKEN"],
        "{{secrets/other/token}}"
    );
    let out = deploy(
        &emu,
        &dist.0,
        &["--serve", "model-serving", "--name", "a b"],
    );
    assert_eq!(out.error_paths(), ["--name"]);
}

/// Kills a process group on drop: `mlflow models serve` runs uvicorn as a child of its own.
struct ProcessGroup(u32);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        servers::kill_group(self.0);
    }
}

/// The folder of the `python3` the tests use, whose venv (or prefix) has mlflow's CLI and
/// uvicorn, which `mlflow models serve` starts by name.
fn python_bin_dir() -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, sys; print(os.path.dirname(sys.executable))",
        ])
        .output()
        .expect("python3 runs");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn the_packaged_model_served_by_mlflow_starts_the_deployed_job() {
    let emu = emulator();
    let dist = dist();
    let deployed = deploy(&emu, &dist.0, &["--serve", "none"])
        .assert_ok()
        .clone();
    let job_id = deployed["job_id"].as_i64().unwrap();

    let model = TempDir::new("model");
    let dir = model.0.join("sdp-agent-model");
    let mut cmd = agent_command(&emu);
    cmd.args(["package-model", "--dist"]).arg(&dist.0).arg(&dir);
    let packaged = finish(cmd).assert_ok().clone();
    assert_eq!(packaged["binaries"], json!(["x86_64"]));
    assert!(dir.join("MLmodel").is_file() && dir.join("data/sdp-agent-x86_64").is_file());
    // A second package into the same folder is refused rather than mixed.
    let mut cmd = agent_command(&emu);
    cmd.args(["package-model", "--dist"]).arg(&dist.0).arg(&dir);
    assert_eq!(finish(cmd).kind(), "config");

    let port = free_port();
    let bin_dir = python_bin_dir();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "mlflow", "models", "serve", "--env-manager", "local"])
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-m"])
        .arg(&dir)
        .env("PATH", format!("{bin_dir}:/usr/bin:/bin"))
        .env("DATABRICKS_HOST", emu.url())
        .env("DATABRICKS_TOKEN", emu.token().unwrap())
        .env("SDP_AGENT_JOB_ID", job_id.to_string())
        // The model copies its binary into a temp folder: ours, removed with the test.
        .env("TMPDIR", &model.0)
        .env(
            "MLFLOW_TRACKING_URI",
            format!("file://{}", model.0.join("mlruns").display()),
        )
        .env_remove("DATABRICKS_CONFIG_PROFILE")
        .env_remove("DATABRICKS_CLIENT_ID")
        .env_remove("DATABRICKS_CLIENT_SECRET")
        .env_remove("CLAUDE_ENDPOINT_NAME")
        .process_group(0);
    let server = servers::Server::start(servers::Host::Mlflow, cmd, "Uvicorn running on ");
    let _group = ProcessGroup(server.pid());
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while ureq::get(&format!("{base}/ping")).call().is_err() {
        assert!(Instant::now() < deadline, "/ping: {}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }

    let mut payload = payload_without_cluster(&emu, "served_by_mlflow");
    payload.as_object_mut().unwrap().remove("runner_path");
    let answer: Value = ureq::post(&format!("{base}/invocations"))
        .send_json(json!({"dataframe_records": [payload.clone()]}))
        .unwrap_or_else(|e| panic!("/invocations: {e}\n{}", server.log()))
        .into_json()
        .unwrap();
    let runs = emu.runs();
    assert_eq!(runs.len(), 1, "{answer}");
    assert_eq!(
        answer["predictions"][0]["run_id"], runs[0]["run_id"],
        "{answer}"
    );
    let run_now: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/jobs/run-now"))
        .collect();
    assert_eq!(run_now.len(), 1);
    assert_eq!(run_now[0].body["job_id"], job_id);
    // The job got the payload as sent, list and all (no DataFrame artefacts).
    let sent = unb64(
        run_now[0].body["job_parameters"]["payload"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        sent["workspace_file_paths"],
        payload["workspace_file_paths"]
    );
    assert_eq!(sent["pipelineName"], "served_by_mlflow");

    // Two records, the second invalid: a 400 naming the field, and nothing started.
    let mut bad = payload.clone();
    bad["runner_path"] = json!("/Workspace/x.py");
    let refused = ureq::post(&format!("{base}/invocations"))
        .send_json(json!({"dataframe_records": [payload, bad]}));
    match refused {
        Err(ureq::Error::Status(400, response)) => {
            let body = response.into_string().unwrap();
            assert!(body.contains("runner_path"), "{body}");
        }
        other => panic!("expected a 400: {other:?}\n{}", server.log()),
    }
    assert_eq!(emu.runs().len(), 1, "nothing more was started");
}
