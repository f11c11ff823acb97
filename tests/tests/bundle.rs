//! `sdp-agent deploy --bundle DIR`: the Databricks Asset Bundle it writes parses (PyYAML), is
//! valid against the Databricks CLI's bundle JSON schema with one key per resource (what
//! `databricks bundle validate` checks first), its resources survive the databricks-sdk
//! dataclasses and are what `deploy` sends for the same flags (once the bundle's references
//! are resolved), no request is made, and DIR is only ever a new folder or an earlier bundle
//! of ours.

mod common;

use common::deploying;
use common::*;
use deploying::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};

const JOB_REF: &str = "${resources.jobs.sdp_agent_job.id}";
/// What the app's volume resource names: the bundle's volume, by reference.
const VOLUME_REF: &str = "${resources.volumes.sdp_agent_volume.catalog_name}.${resources.volumes.sdp_agent_volume.schema_name}.${resources.volumes.sdp_agent_volume.name}";
/// The flags of the model-serving bundle and of the deploy it is compared with.
const SERVING: &[&str] = &[
    "--serve",
    "model-serving",
    "--existing-cluster-id",
    "0123-abc",
];

/// The folder deploy picks for the emulator's user: a bundle names it (its synced sources
/// are not interpolated), so deploy and bundle write the same.
const WORKSPACE_DIR: &str = "/Workspace/Users/sdp-agent@example.com/.sdp-agent/sdp-agent";

fn bundle(emu: &sdp_emulator::Emulator, dist: &Path, dir: &Path, extra: &[&str]) -> Outcome {
    let mut cmd = agent_command(emu);
    cmd.args(["deploy", "--volume", VOLUME, "--dist"])
        .arg(dist)
        .arg("--bundle")
        .arg(dir)
        .args(extra);
    if !extra.contains(&"--workspace-dir") {
        cmd.args(["--workspace-dir", WORKSPACE_DIR]);
    }
    finish(cmd)
}

/// databricks.yml as PyYAML reads it (another parser than the one that wrote it).
fn databricks_yml(dir: &Path) -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(dir.join("databricks.yml"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "databricks.yml does not parse");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `value` with the bundle's references replaced by what `deployed` (deploy's answer) used.
fn resolve(value: &Value, deployed: &Value, emu: &sdp_emulator::Emulator) -> Value {
    let launcher = deployed["launcher_path"].as_str().unwrap();
    let references = [
        (JOB_REF, deployed["job_id"].to_string()),
        ("${var.model_version}", "1".to_string()),
        ("${workspace.host}", emu.url()),
        (VOLUME_REF, VOLUME.to_string()),
        ("./sdp_agent_launcher.py", launcher.to_string()),
    ];
    let mut text = value.to_string();
    for (from, to) in references {
        text = text.replace(from, &to);
    }
    serde_json::from_str(&text).unwrap()
}

/// The problems `databricks bundle validate` would find first in `doc` (databricks.yml): the
/// CLI's bundle JSON schema (vendored in tests/vendor/databricks-cli/) and its unique-key rule.
fn cli_problems(doc: &Value) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("python3")
        .arg(root.join("tests/common/bundle_schema.py"))
        .arg(root.join("vendor/databricks-cli/jsonschema.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || !out.stdout.is_empty(),
        "bundle_schema.py failed: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The body of the one write `call` that the emulator received.
fn sent(emu: &sdp_emulator::Emulator, call: &str) -> Value {
    let bodies: Vec<Value> = writes(emu)
        .into_iter()
        .filter(|w| w["call"] == call)
        .map(|w| w["body"].clone())
        .collect();
    assert_eq!(bodies.len(), 1, "{call}: {bodies:?}");
    bodies[0].clone()
}

#[test]
fn the_bundle_declares_what_deploy_sends_and_sends_nothing() {
    let emu = emulator_with_app_client();
    let dist = dist();
    let dir = TempDir::new("bundle");
    let out = bundle(&emu, &dist.0, &dir.0.join("b"), &[])
        .assert_ok()
        .clone();
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
    let root = dir.0.join("b");
    let doc = databricks_yml(&root);
    assert_eq!(doc["bundle"]["name"], "sdp-agent");
    let resources = &doc["resources"];
    let job = &resources["jobs"]["sdp_agent_job"];
    let app = &resources["apps"]["sdp_agent_app"];
    let volume = &resources["volumes"]["sdp_agent_volume"];
    assert_eq!(app["source_code_path"], "./app");
    assert_eq!(
        job["tasks"][0]["spark_python_task"]["python_file"],
        "./sdp_agent_launcher.py"
    );
    assert_eq!(app["resources"][0]["job"]["id"], JOB_REF);
    // The volume by reference: the bundle creates it before the app that reads it.
    assert_eq!(
        app["resources"][1]["uc_securable"]["securable_full_name"],
        VOLUME_REF
    );
    assert_eq!(doc["bundle"]["databricks_cli_version"], ">= 0.253.0");

    // The sources deploy imports, next to databricks.yml.
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    assert_eq!(
        read("sdp_agent_launcher.py"),
        include_str!("../../host/launcher/sdp_agent_launcher.py")
    );
    assert_eq!(
        read("app/sdp_agent_app.py"),
        include_str!("../../host/launcher/sdp_agent_app.py")
    );
    let settings: Value = serde_json::from_str(&read("sdp_agent_deploy.json")).unwrap();
    assert_eq!(settings["volume_path"], VOLUME_PATH);
    assert_eq!(settings["policy"], out["policy"]);
    assert_eq!(
        settings["policy"]["root"],
        format!("{WORKSPACE_DIR}/pipelines")
    );
    // The app learns the job id from its job resource, which Apps resolve.
    let yaml = read("app/app.yaml");
    let spec: Value = serde_json::from_str(&yaml[yaml.find('{').unwrap()..]).unwrap();
    assert!(
        spec["env"].as_array().unwrap().contains(
            &json!({"name": "SDP_AGENT_JOB_ID", "valueFrom": app["resources"][0]["name"]})
        ),
        "{spec}"
    );
    // The binaries go to the volume after the first bundle deploy, by databricks fs cp.
    let next = out["next"].as_array().unwrap();
    assert_eq!(next[0], json!(["databricks", "bundle", "deploy"]));
    let target = format!("dbfs:{VOLUME_PATH}/sdp-agent-x86_64");
    assert_eq!(next[1][5], target, "{next:?}");
    assert_eq!(
        next.last().unwrap(),
        &json!(["databricks", "bundle", "run", "sdp_agent_app"])
    );

    let mut app_body = app.clone();
    app_body.as_object_mut().unwrap().remove("source_code_path");
    assert_sdk_accepts(&[
        json!({"call": "POST /api/2.2/jobs/create", "body": job}),
        json!({"call": "POST /api/2.0/apps", "body": app_body}),
        json!({"call": "POST /api/2.1/unity-catalog/volumes", "body": volume}),
    ]);

    // One source of truth: deploy with the same flags sends these very bodies.
    let deployed = deploy(&emu, &dist.0, &[]).assert_ok().clone();
    assert_eq!(
        resolve(job, &deployed, &emu),
        sent(&emu, "POST /api/2.2/jobs/create")
    );
    assert_eq!(
        resolve(&app_body, &deployed, &emu),
        sent(&emu, "POST /api/2.0/apps")
    );
    assert_eq!(*volume, sent(&emu, "POST /api/2.1/unity-catalog/volumes"));
    // The same policy, beside the launcher.
    assert_eq!(deployed["policy"], out["policy"]);
    let imported = emu
        .file(&format!("{WORKSPACE_DIR}/sdp_agent_deploy.json"))
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&imported).unwrap()["policy"],
        out["policy"]
    );
}

#[test]
fn a_model_serving_bundle_declares_the_endpoint_deploy_creates() {
    let emu = emulator();
    emu.put_secret("sdp-agent", "client-id", "endpoint-service-principal");
    emu.put_secret("sdp-agent", "client-secret", "endpoint-secret");
    let dist = dist();
    let dir = TempDir::new("bundle-serving");
    let out = bundle(&emu, &dist.0, &dir.0, SERVING).assert_ok().clone();
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
    let doc = databricks_yml(&dir.0);
    let resources = &doc["resources"];
    assert!(resources.get("apps").is_none(), "{resources}");
    let endpoint = &resources["model_serving_endpoints"]["sdp_agent_endpoint"];
    let entity = &endpoint["config"]["served_entities"][0];
    assert_eq!(entity["entity_version"], "${var.model_version}");
    assert!(doc["variables"]["model_version"]["description"].is_string());
    assert_eq!(
        entity["environment_vars"]["DATABRICKS_HOST"],
        "${workspace.host}"
    );
    assert_eq!(entity["environment_vars"]["SDP_AGENT_JOB_ID"], JOB_REF);
    // The version is registered before the first bundle deploy names it.
    let next: Vec<String> = out["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step[1].as_str().unwrap().to_string())
        .collect();
    assert_eq!(next[..3], ["package-model", "-c", "bundle"], "{next:?}");
    let job = &resources["jobs"]["sdp_agent_job"];
    assert_sdk_accepts(&[
        json!({"call": "POST /api/2.0/serving-endpoints", "body": endpoint}),
        json!({"call": "POST /api/2.2/jobs/create", "body": job}),
    ]);

    let deployed = deploy(&emu, &dist.0, SERVING).assert_ok().clone();
    assert_eq!(
        resolve(endpoint, &deployed, &emu),
        sent(&emu, "POST /api/2.0/serving-endpoints")
    );
    assert_eq!(
        resolve(job, &deployed, &emu),
        sent(&emu, "POST /api/2.2/jobs/create")
    );
}

#[test]
fn a_bundle_is_rewritten_in_place_and_a_foreign_folder_refused() {
    let emu = emulator();
    let dist = dist();
    let dir = TempDir::new("bundle-rewrite");
    bundle(&emu, &dist.0, &dir.0, &[]).assert_ok();
    assert!(dir.0.join("app/app.yaml").is_file());
    // Again, without the app: the same folder, the app's files gone.
    let out = bundle(&emu, &dist.0, &dir.0, &["--serve", "none"])
        .assert_ok()
        .clone();
    assert!(!dir.0.join("app").exists(), "{out}");
    assert!(databricks_yml(&dir.0)["resources"].get("apps").is_none());

    let foreign = TempDir::new("bundle-foreign");
    std::fs::write(foreign.0.join("databricks.yml"), "bundle: {name: theirs}\n").unwrap();
    let out = bundle(&emu, &dist.0, &foreign.0, &[]);
    assert_eq!(out.kind(), "invalid_payload", "{}", out.json);
    assert_eq!(out.error_paths(), ["--bundle"]);
    assert_eq!(
        std::fs::read_to_string(foreign.0.join("databricks.yml")).unwrap(),
        "bundle: {name: theirs}\n"
    );

    let out = bundle(&emu, &dist.0, &dir.0, &["--name", "Not_An_App"]);
    assert_eq!(out.error_paths(), ["--name"]);
    // The synced sources name the deployment's folder: a bundle cannot leave it to the CLI.
    let mut cmd = agent_command(&emu);
    cmd.args(["deploy", "--volume", VOLUME, "--dist"])
        .arg(&dist.0)
        .arg("--bundle")
        .arg(&dir.0);
    assert_eq!(finish(cmd).error_paths(), ["--workspace-dir"]);
    let out = bundle(&emu, &dist.0, &dir.0, &["--workspace-dir", "relative/dir"]);
    assert_eq!(out.error_paths(), ["--workspace-dir"]);
    let mut cmd = agent_command(&emu);
    cmd.args(["deploy", "--volume", VOLUME, "--dry-run", "--bundle"])
        .arg(&dir.0)
        .stdin(Stdio::null());
    assert_eq!(cmd.output().unwrap().status.code(), Some(2));
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}

/// What `databricks bundle validate` checks before anything else: the configuration against
/// the CLI's published bundle schema, and no key shared by two resources (each type's key
/// used to be `sdp_agent`, which every bundle command refused).
#[test]
fn every_bundle_is_valid_for_the_databricks_cli() {
    let emu = emulator();
    let dist = dist();
    for serve in ["app", "model-serving", "none"] {
        let dir = TempDir::new(&format!("bundle-schema-{serve}"));
        bundle(&emu, &dist.0, &dir.0, &["--serve", serve]).assert_ok();
        let doc = databricks_yml(&dir.0);
        assert_eq!(cli_problems(&doc), "", "--serve {serve}: {doc:#}");
    }
    // The check itself sees both kinds of problem.
    let dir = TempDir::new("bundle-schema-bad");
    bundle(&emu, &dist.0, &dir.0, &[]).assert_ok();
    let mut doc = databricks_yml(&dir.0);
    let job = doc["resources"]["jobs"]["sdp_agent_job"].take();
    doc["resources"]["jobs"] = json!({"sdp_agent_app": job});
    doc["resources"]["volumes"]["sdp_agent_volume"]["volume_type"] = json!("SHARED");
    let problems = cli_problems(&doc);
    assert!(
        problems.contains("same key: sdp_agent_app")
            && problems.contains("resources/volumes/sdp_agent_volume/volume_type"),
        "{problems}"
    );
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}
