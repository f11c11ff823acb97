//! `deploy --bundle DIR`: what `deploy` would create, written as a Databricks Asset Bundle
//! instead of sent, for teams that deploy with `databricks bundle deploy`. No request is made.
//!
//! Each resource is built by the function that builds `deploy`'s request body (the volume's
//! create body, `job::settings`, `app::body`, the serving endpoint's create body); only what
//! a bundle names differently changes: the launcher is a bundle file (`./sdp_agent_launcher.py`),
//! the job id `${resources.jobs.sdp_agent_job.id}`, the app's volume the volume resource's
//! names (so the bundle creates the volume before the app), the workspace `${workspace.host}`,
//! the model version `${var.model_version}`. Each resource has a key of its own: the CLI
//! refuses a key shared across resource types (`validate.UniqueResourceKeys`).
//!
//! What a bundle cannot carry is the release binaries: it syncs files into the workspace file
//! system (10 MB per file), and uploads artifacts to a volume only when that volume exists
//! before the deploy (and only libraries). So the bundle declares the volume and the printed
//! `next` steps upload the binaries into it with `databricks fs cp` after the first deploy.

use super::args::{self, DeployArgs, Serve};
use super::serving::{CLIENT_ID_KEY, CLIENT_SECRET_KEY};
use super::{app, binaries, job, serving, sources};
use crate::outcome::Failure;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Lists what an earlier `--bundle` wrote, so a rewrite may replace it (and only it).
const MARKER: &str = ".sdp-agent-bundle.json";
/// The resources' keys in databricks.yml (`bundle run sdp_agent_app` starts the app).
const VOLUME_KEY: &str = "sdp_agent_volume";
const JOB_KEY: &str = "sdp_agent_job";
const APP_KEY: &str = "sdp_agent_app";
const ENDPOINT_KEY: &str = "sdp_agent_endpoint";
/// The oldest Databricks CLI whose bundles know every field written here: app resources of
/// type `uc_securable` came with v0.253.0 (its bundle schema is the first to have them).
const CLI_VERSION: &str = ">= 0.253.0";
/// Where the model-serving steps write the pyfunc model: inside DIR, never synced.
const MODEL_DIR: &str = "sdp-agent-model";

/// Writes the bundle; answers what it wrote and the steps that remain.
pub fn write(args: &DeployArgs, dir: &Path) -> Result<Value, Failure> {
    args::check_name(&args.name, args.serve)?;
    args.check_access()?;
    if args.workspace_dir.is_none() {
        // The sources are synced as they are: a `${...}` in them would stay unresolved.
        return Err(Failure::invalid_field(
            "--workspace-dir",
            "a bundle needs the deployment's folder spelled out: the policy and the app's \
             settings name it, and `databricks bundle deploy` does not resolve references in \
             synced files",
        ));
    }
    let root = match &args.workspace_dir {
        Some(d) => args::check_workspace_dir(d)?,
        None => format!(
            "/Workspace/Users/${{workspace.current_user.userName}}/.sdp-agent/{}/${{bundle.target}}",
            args.name
        ),
    };
    let found = binaries::find(args.dist.as_deref())?;
    if let Some(runner) = args.serve.image_runner() {
        binaries::require_static(&found, runner)?;
    }
    let policy_root = args.policy.root(&root)?;
    let policy = args
        .policy
        .document(&args.volume.catalog, &policy_root, &args.claude_endpoint);
    let files = files(args, &root, &policy)?;
    let previous = previous_files(dir)?;

    let fail = |what: &Path, e: std::io::Error| {
        Failure::Config(format!("{}: cannot write: {e}", what.display()))
    };
    for old in &previous {
        let path = dir.join(old);
        if path.is_file() {
            std::fs::remove_file(&path).map_err(|e| fail(&path, e))?;
        }
    }
    // An app folder left empty by a rewrite without the app.
    let _ = std::fs::remove_dir(dir.join(sources::APP_DIR));
    let mut written: Vec<String> = Vec::new();
    for (name, content) in &files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
        }
        std::fs::write(&path, content).map_err(|e| fail(&path, e))?;
        written.push(name.clone());
    }
    let marker = json!({"written_by": format!("sdp-agent {}", env!("CARGO_PKG_VERSION")),
                        "files": written});
    let path = dir.join(MARKER);
    std::fs::write(&path, format!("{marker:#}\n")).map_err(|e| fail(&path, e))?;

    let volume_path = args.release_path();
    let mut uploads = Vec::new();
    let mut listed = Vec::new();
    for binary in &found {
        // Absolute: the printed steps run in DIR.
        let binary = binaries::Binary {
            path: std::path::absolute(&binary.path).unwrap_or_else(|_| binary.path.clone()),
            ..binary.clone()
        };
        let bytes = binary.read()?;
        let (target, entry) = binary.listing(&volume_path, &bytes);
        listed.push(entry);
        uploads.push(json!([
            "databricks",
            "fs",
            "cp",
            "--overwrite",
            binary.path.display().to_string(),
            format!("dbfs:{target}")
        ]));
    }
    let mut next = Vec::new();
    match args.serve {
        Serve::ModelServing => {
            next.extend(model_steps(args, &found));
            next.push(json!([
                "databricks",
                "bundle",
                "deploy",
                "--var",
                "model_version=<version>"
            ]));
        }
        _ => next.push(json!(["databricks", "bundle", "deploy"])),
    }
    next.extend(uploads);
    if args.serve == Serve::App {
        next.push(json!(["databricks", "bundle", "run", APP_KEY]));
    }
    Ok(json!({
        "bundle_dir": dir.display().to_string(),
        "files": written,
        "job_name": args.name,
        "volume_path": volume_path,
        "binaries": listed,
        "claude_endpoint": args.claude_endpoint,
        "policy": policy,
        "run_as": args.run_as,
        "next": next,
    }))
}

/// The files of the bundle, by path relative to DIR.
fn files(args: &DeployArgs, root: &str, policy: &Value) -> Result<Vec<(String, String)>, Failure> {
    let volume_path = args.release_path();
    let staging = format!("{root}/{}", sources::STAGING_DIR);
    let launcher = format!("./{}", sources::LAUNCHER_NAME);
    let job_id = format!("${{resources.jobs.{JOB_KEY}.id}}");
    let mut resources = Map::new();
    resources.insert(
        "volumes".into(),
        json!({VOLUME_KEY: args.volume.create_body()}),
    );
    let mut job = job::settings(&args.name, &launcher, &args.compute());
    if let Some(name) = &args.run_as {
        job["run_as"] = super::run_as::principal(name);
    }
    if let Some(sp) = &args.serving_principal {
        let mut grant = super::run_as::principal(sp);
        grant["level"] = json!("CAN_MANAGE_RUN");
        job["permissions"] = json!([grant]);
    }
    resources.insert("jobs".into(), json!({JOB_KEY: job}));
    let mut files = vec![
        (
            sources::LAUNCHER_NAME.to_string(),
            sources::LAUNCHER.to_string(),
        ),
        (
            sources::SETTINGS_NAME.to_string(),
            sources::launcher_settings(&volume_path, &args.claude_endpoint, policy),
        ),
    ];
    let mut doc = json!({
        "bundle": {"name": args.name, "databricks_cli_version": CLI_VERSION},
        "workspace": {"root_path": root},
        // The marker, and the model directory the model-serving steps write, stay local.
        "sync": {"exclude": [MARKER, format!("{MODEL_DIR}/**")]},
        "targets": {"default": {"default": true}},
    });
    match args.serve {
        Serve::App => {
            // The volume's names from its resource: the app depends on it, so it comes second.
            let volume = ["catalog_name", "schema_name", "name"]
                .map(|field| format!("${{resources.volumes.{VOLUME_KEY}.{field}}}"))
                .join(".");
            let mut app = app::body(&args.name, &job_id, &volume);
            app["source_code_path"] = format!("./{}", sources::APP_DIR).into();
            resources.insert("apps".into(), json!({APP_KEY: app}));
            let yaml = sources::app_yaml(
                &volume_path,
                sources::JobId::FromResource(app::JOB_RESOURCE),
                &args.claude_endpoint,
                &sources::app_serve_args(),
                &staging,
                policy,
            );
            files.push((format!("{}/app.yaml", sources::APP_DIR), yaml));
            files.push((
                format!("{}/{}", sources::APP_DIR, sources::APP_SCRIPT_NAME),
                sources::APP_SCRIPT.to_string(),
            ));
        }
        Serve::ModelServing => {
            // Without the workspace, the scope's keys are not known: a service principal's.
            let scope = args.secret_scope();
            let endpoint = serving::Endpoint {
                name: &args.name,
                model: args.model_name(),
                workspace_url: "${workspace.host}",
                job: job_id,
                claude_endpoint: &args.claude_endpoint,
                secret_scope: scope,
                credentials: serving::credential_refs(scope, &[CLIENT_ID_KEY, CLIENT_SECRET_KEY])?,
                staging_dir: &staging,
                policy,
            };
            let body = endpoint.create_body(endpoint.entity("${var.model_version}"));
            resources.insert(
                "model_serving_endpoints".into(),
                json!({ENDPOINT_KEY: body}),
            );
            doc["variables"] = json!({"model_version": {
                "description": format!("the version of {} to serve: register one first (see the README, \"As a bundle\")",
                                       endpoint.model.full_name()),
            }});
        }
        Serve::None => {}
    }
    doc["resources"] = Value::Object(resources);
    let yaml = serde_norway::to_string(&doc)
        .map_err(|e| Failure::Config(format!("databricks.yml: {e}")))?;
    files.push((
        "databricks.yml".to_string(),
        format!("# Written by `sdp-agent deploy --bundle`; rewrite it with that command rather than edit.\n{yaml}"),
    ));
    Ok(files)
}

/// The model-serving steps before the first deploy: the pyfunc model, registered as a version.
fn model_steps(args: &DeployArgs, found: &[binaries::Binary]) -> Vec<Value> {
    let mut package = vec![json!("sdp-agent"), json!("package-model"), json!(MODEL_DIR)];
    if let Some(dist) = found.first().and_then(|b| b.path.parent()) {
        let dist = std::path::absolute(dist).unwrap_or_else(|_| dist.to_path_buf());
        package.extend([json!("--dist"), json!(dist.display().to_string())]);
    }
    let register = format!(
        "import mlflow, os; mlflow.set_registry_uri('databricks-uc'); \
         print(mlflow.register_model('file://' + os.path.abspath('{MODEL_DIR}'), '{}').version)",
        args.model_name().full_name()
    );
    vec![Value::Array(package), json!(["python3", "-c", register])]
}

/// What an earlier bundle of ours wrote into DIR (nothing when DIR is new or empty); a
/// non-empty DIR that is not one is refused.
fn previous_files(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let refuse = |why: String| Failure::invalid_field("--bundle", why);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| refuse(format!("{}: not a readable directory: {e}", dir.display())))?;
    if entries.next().is_none() {
        return Ok(Vec::new());
    }
    let marker = std::fs::read_to_string(dir.join(MARKER)).map_err(|_| {
        refuse(format!(
            "{} is not empty and not a bundle written by `sdp-agent deploy --bundle` (no {MARKER}): choose a new or empty directory",
            dir.display()
        ))
    })?;
    let listed: Value = serde_json::from_str(&marker)
        .map_err(|e| refuse(format!("{}: unreadable: {e}", dir.join(MARKER).display())))?;
    // Only plain relative names, so a rewrite can never remove anything outside DIR.
    Ok(listed["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(PathBuf::from)
        .filter(|p| {
            p.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        })
        .collect())
}
