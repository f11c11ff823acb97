//! The pieces `sdp-agent deploy` leaves behind, run as the workspace would run them: predict
//! through the deployed job, the job's launcher running the uploaded binary, and the app's
//! start script serving `/api/ping` and `/api/invocations`.

mod common;

use common::deploying;
use common::servers;
use common::*;
use deploying::*;
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

/// Deploys (no app), predicts through the job, and runs the job's launcher the way a cluster
/// would: from the workspace folder, taking the binary for this CPU from the volume.
#[test]
fn predict_via_the_deployed_job_and_its_launcher_builds_the_pipeline() {
    let emu = emulator();
    let dist = dist();
    let deployed = deploy(&emu, &dist.0, &["--serve", "none"])
        .assert_ok()
        .clone();
    assert!(emu.apps().is_empty());
    let job_id = deployed["job_id"].as_i64().unwrap();

    // Within deploy's default policy: the volume's catalog, under its root, the model's SQL.
    let payload = payload_within_policy(&deployed, "deployed_pipeline");
    let mut cmd = agent_command(&emu);
    cmd.args(["--job-id", &job_id.to_string(), "predict"])
        .arg(payload.to_string());
    let predicted = finish(cmd).assert_ok().clone();
    let runs = emu.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(predicted["run_id"], runs[0]["run_id"]);
    let task = &runs[0]["request"]["tasks"][0];
    let argv1 = task["spark_python_task"]["parameters"][0].as_str().unwrap();

    // The cluster's view: the workspace folder with the launcher and its settings, and the
    // volume mounted under /Volumes (here: a local copy of what deploy uploaded).
    let cluster = TempDir::new("cluster");
    let launcher = cluster_view(&emu, &deployed, &cluster.0);

    let launch = |argv1: &str| launch_on_cluster(&emu, &launcher, argv1);
    let out = launch(argv1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "launcher: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(result["pipeline_id"].is_string(), "{result}");
    assert_eq!(pipelines_named(&emu, "deployed_pipeline").len(), 1);

    // The launcher hands the deployment's policy to `run`: a payload outside it (another
    // root, the caller's own sources) is refused on the cluster with nothing written.
    let mut outside = payload_without_cluster(&emu, "outside_policy");
    outside.as_object_mut().unwrap().remove("runner_path");
    let writes_before = workspace_writes(&emu).len();
    let out = launch(&b64(&outside));
    assert_eq!(out.status.code(), Some(1));
    let refused: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(refused["error"]["kind"], "policy_refused", "{refused}");
    assert!(pipelines_named(&emu, "outside_policy").is_empty());
    assert_eq!(workspace_writes(&emu).len(), writes_before);
}

/// The app as Databricks would start it: app.yaml's command and env, plus the injected host,
/// service principal credentials and port.
#[test]
fn the_app_start_script_fetches_the_binary_and_serves_the_api_routes() {
    let emu = emulator_with_app_client();
    let dist = dist();
    let deployed = deploy(&emu, &dist.0, &[]).assert_ok().clone();
    let app_dir = deployed["app_source_path"].as_str().unwrap();
    let yaml = emu.file(&format!("{app_dir}/app.yaml")).unwrap();
    // app.yaml is written as JSON after one comment line: YAML 1.2 reads it as is.
    let json_start = yaml.find('{').unwrap();
    let spec: Value = serde_json::from_str(&yaml[json_start..]).unwrap();
    let command: Vec<String> = spec["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(command[..2], ["python", "sdp_agent_app.py"]);

    let app = TempDir::new("app");
    std::fs::write(
        app.0.join("sdp_agent_app.py"),
        emu.file(&format!("{app_dir}/sdp_agent_app.py")).unwrap(),
    )
    .unwrap();
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.args(&command[1..])
        .current_dir(&app.0)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("DATABRICKS_HOST", emu.url())
        .env("DATABRICKS_CLIENT_ID", APP_CLIENT.0)
        .env("DATABRICKS_CLIENT_SECRET", APP_CLIENT.1)
        .env("DATABRICKS_APP_PORT", port.to_string())
        // The script fetches the binary into a temp folder: ours, removed with the test.
        .env("TMPDIR", &app.0)
        .env("RUST_LOG", "info");
    for var in spec["env"].as_array().unwrap() {
        cmd.env(
            var["name"].as_str().unwrap(),
            var["value"].as_str().unwrap(),
        );
    }
    let server = servers::Server::start(
        servers::Host::SdpAgent,
        cmd,
        "sdp-agent serve: listening on ",
    );
    let base = format!("http://127.0.0.1:{port}");
    assert!(server.url.ends_with(&format!(":{port}")), "{}", server.url);

    let deadline = Instant::now() + Duration::from_secs(30);
    let ping = loop {
        match ureq::get(&format!("{base}/api/ping"))
            .set("X-Forwarded-Email", "sdp-agent@example.com")
            .call()
        {
            Ok(r) => break r,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for the app: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("/api/ping: {e}\n{}", server.log()),
        }
    };
    assert_eq!(ping.status(), 200);
    assert_eq!(command[2..], ["--callers", "app"]);
    // What the Apps proxy adds for a signed-in caller.
    let answer: Value = ureq::post(&format!("{base}/api/invocations"))
        .set("X-Forwarded-Email", "sdp-agent@example.com")
        .send_json(json!({"dataframe_records": [{"question": "clickstream bronze and silver"}]}))
        .unwrap_or_else(|e| panic!("/api/invocations: {e}\n{}", server.log()))
        .into_json()
        .unwrap();
    assert!(answer["predictions"][0]["run_id"].is_i64(), "{answer}");
    let run_now: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/jobs/run-now"))
        .collect();
    assert_eq!(run_now.len(), 1);
    assert_eq!(run_now[0].body["job_id"], deployed["job_id"]);
    // The app serves under the deployment's policy (SDP_AGENT_POLICY in app.yaml): a
    // catalog it does not allow is refused before anything is started.
    let refused = ureq::post(&format!("{base}/api/invocations"))
        .set("X-Forwarded-Email", "sdp-agent@example.com")
        .send_json(json!({"dataframe_records": [{"question": "q", "catalog": "finance"}]}));
    match refused {
        Err(ureq::Error::Status(403, r)) => {
            let body: Value = r.into_json().unwrap();
            assert!(body.to_string().contains("catalog"), "{body}");
        }
        other => panic!("expected 403, got {other:?}\n{}", server.log()),
    }
    assert_eq!(
        emu.requests()
            .iter()
            .filter(|r| r.path.ends_with("/jobs/run-now"))
            .count(),
        1
    );
    // The app authenticated as its service principal (an OAuth token), not with the PAT.
    assert_ne!(
        run_now[0].authorization.as_deref(),
        Some(format!("Bearer {}", emu.token().unwrap()).as_str())
    );
    let download = emu
        .requests()
        .into_iter()
        .find(|r| r.method == "GET" && r.path.starts_with("/api/2.0/fs/files/"))
        .expect("the app downloaded its binary");
    assert_eq!(
        download.path,
        format!("/api/2.0/fs/files{VOLUME_PATH}/sdp-agent-x86_64")
    );
}
