//! `sdp-agent deploy`: from release binaries to a job (and an app) in a workspace, in one
//! idempotent command. In order: the volume (created when missing), the binaries uploaded to
//! it (Files API), the launcher imported into a workspace folder, the job created or reset by
//! name, and with `--serve app` a Databricks App serving the scoring protocol, or with
//! `--serve model-serving` a Model Serving endpoint hosting the agent as an MLflow pyfunc
//! model (`package.rs`, also `sdp-agent package-model`). Prints one JSON line; `--dry-run`
//! sends only reads and lists the writes instead; `--bundle DIR` writes the same resources as
//! a Databricks Asset Bundle (`bundle.rs`) and sends nothing.

mod app;
mod args;
mod binaries;
mod bundle;
mod elf;
mod grants;
mod job;
mod model_version;
mod ownership;
mod package;
mod policy;
pub(crate) mod rest;
mod run_as;
mod serving;
mod sources;
mod wait;

pub use args::DeployArgs;
pub use package::PackageArgs;

use crate::outcome::Failure;
use crate::workspace::Workspace;
use args::Serve;
use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use rest::{Rest, Retry};
use serde_json::{Map, Value, json};
use std::process::ExitCode;
use std::time::Duration;

/// `sdp-agent [--profile P] deploy ...`: the profile is the one global flag deploy reads.
pub async fn run(profile: Option<&str>, args: &DeployArgs) -> ExitCode {
    match &args.bundle {
        Some(dir) => print(bundle::write(args, dir)),
        None => print(deploy(profile, args).await),
    }
}

/// `sdp-agent package-model DIR`.
pub fn package_model(args: &PackageArgs) -> ExitCode {
    print(package::run(args))
}

/// The one JSON line of a deploy command: the result, or the failure (exit 1).
fn print(outcome: Result<Value, Failure>) -> ExitCode {
    match outcome {
        Ok(result) => {
            println!("{result}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            println!("{}", failure.to_json());
            ExitCode::FAILURE
        }
    }
}

async fn deploy(profile: Option<&str>, args: &DeployArgs) -> Result<Value, Failure> {
    // Every local check before the first request.
    let workspace = Workspace::from_env(profile).map_err(Failure::Config)?;
    args::check_name(&args.name, args.serve)?;
    args.check_access()?;
    let found = binaries::find(args.dist.as_deref())?;
    if let Some(runner) = args.serve.image_runner() {
        binaries::require_static(&found, runner)?;
    }
    let rest = Rest::for_workspace(&workspace, args.dry_run)?;
    let mut out = Map::new();
    // The endpoint's credentials must be there before anything is made for it.
    let scope = args.secret_scope();
    let credentials = match args.serve {
        Serve::ModelServing => Some(serving::credential_vars(&rest, scope).await?),
        _ => None,
    };

    // 0. What exists of that name, and whether it is ours to update: before any write.
    let existing = ownership::survey(&rest, args).await?;

    // 1. The volume.
    let volume = &args.volume;
    let volume_api = format!("/api/2.1/unity-catalog/volumes/{}", volume.full_name());
    if rest.get_optional(&volume_api).await?.is_none() {
        rest.write(
            Method::POST,
            "/api/2.1/unity-catalog/volumes",
            &volume.create_body(),
            Retry::Never,
        )
        .await?;
    }

    // 2. The binaries, under a folder per version so a deploy never changes what a running
    // older version downloads.
    let volume_path = args.release_path();
    let mut uploaded = Vec::new();
    for binary in &found {
        let bytes = binary.read()?;
        let (target, entry) = binary.listing(&volume_path, &bytes);
        uploaded.push(entry);
        let path = rest::files_api_path(&target);
        rest.upload(&format!("{path}?overwrite=true"), Bytes::from(bytes))
            .await?;
    }

    // 3. The launcher and the policy, in the workspace folder; the root runs write under and
    // the staging folder beside them.
    let me = whoami(&rest).await?;
    let dir = match &args.workspace_dir {
        Some(dir) => args::check_workspace_dir(dir)?,
        None => format!("/Workspace/Users/{me}/.sdp-agent/{}", args.name),
    };
    let root = args.policy.root(&dir)?;
    let staging = format!("{dir}/{}", sources::STAGING_DIR);
    let policy = args
        .policy
        .document(&volume.catalog, &root, &args.claude_endpoint);
    let launcher_path = format!("{dir}/{}", sources::LAUNCHER_NAME);
    mkdirs(&rest, &dir).await?;
    import(&rest, &launcher_path, sources::LAUNCHER.as_bytes()).await?;
    let settings = sources::launcher_settings(&volume_path, &args.claude_endpoint, &policy);
    import(
        &rest,
        &format!("{dir}/{}", sources::SETTINGS_NAME),
        settings.as_bytes(),
    )
    .await?;
    mkdirs(&rest, &root).await?;
    mkdirs(&rest, &staging).await?;

    // 4. The job, and whom it runs as.
    let run_as = run_as::decide(&rest, existing.job_id, args.run_as.as_deref(), &me).await?;
    let mut settings = job::settings(&args.name, &launcher_path, &args.compute());
    if let Some(setting) = &run_as.setting {
        settings["run_as"] = setting.clone();
    }
    let job_id = job::create_or_reset(&rest, &settings, existing.job_id).await?;
    // In a dry run of a first deploy the job id is not known yet.
    let job = job_id.map_or_else(|| "<job_id>".to_string(), |id| id.to_string());
    let folders = grants::Folders {
        dir: &dir,
        root: &root,
        staging: &staging,
    };
    let mut granted = grants::Grants::new(&rest);
    if run_as.is_deployer() {
        eprintln!("{}", run_as::warning(&me));
    } else {
        grants::for_run_identity(&mut granted, &folders, &volume.full_name(), &run_as.name).await?;
    }

    out.insert("job_id".into(), json!(job_id));
    out.insert("job_name".into(), json!(args.name));
    out.insert("volume_path".into(), json!(volume_path));
    out.insert("workspace_dir".into(), json!(dir));
    out.insert("launcher_path".into(), json!(launcher_path));
    out.insert("binaries".into(), Value::Array(uploaded));
    out.insert("claude_endpoint".into(), json!(args.claude_endpoint));
    out.insert("policy".into(), policy.clone());
    out.insert("run_as".into(), json!(run_as.name));
    out.insert("staging_dir".into(), json!(staging));

    // 5. The app.
    if args.serve == Serve::App {
        let app_dir = format!("{dir}/{}", sources::APP_DIR);
        mkdirs(&rest, &app_dir).await?;
        let yaml = sources::app_yaml(
            &volume_path,
            sources::JobId::Value(&job),
            &args.claude_endpoint,
            &sources::app_serve_args(),
            &staging,
            &policy,
        );
        import(&rest, &format!("{app_dir}/app.yaml"), yaml.as_bytes()).await?;
        import(
            &rest,
            &format!("{app_dir}/{}", sources::APP_SCRIPT_NAME),
            sources::APP_SCRIPT.as_bytes(),
        )
        .await?;
        let body = app::body(&args.name, &job, &volume.full_name());
        let limit = Duration::from_secs(args.wait_timeout);
        let deployed = app::deploy(&rest, &body, existing.app, &app_dir, limit).await?;
        out.insert("app_name".into(), json!(args.name));
        out.insert("app_url".into(), json!(deployed.url));
        out.insert("app_source_path".into(), json!(app_dir));
        out.insert("deployment_id".into(), json!(deployed.deployment_id));
        if let Some(sp) = &deployed.service_principal {
            grants::for_serving_identity(&mut granted, &folders, sp, None).await?;
        }
    }

    // 6. The serving endpoint.
    if let Some(credentials) = credentials {
        if credentials.contains_key(crate::env::TOKEN_ENV) {
            eprintln!(
                "sdp-agent deploy: warning: the secret scope {scope} holds a `token`: the endpoint \
                 acts with all of that token's owner's rights; prefer a service principal's \
                 `client-id` and `client-secret`"
            );
        }
        match &args.serving_principal {
            Some(sp) => {
                grants::for_serving_identity(&mut granted, &folders, sp, Some(job.as_str())).await?
            }
            None => {
                out.insert(
                    "missing_grants".into(),
                    json!([format!(
                        "CAN_MANAGE_RUN on job {job} for the endpoint's service principal (the \
                         scope's client-id), and CAN_MANAGE on {staging}: deploy with \
                         --serving-principal <application id>, or grant them yourself"
                    )]),
                );
            }
        }
        let endpoint = serving::Endpoint {
            name: &args.name,
            model: args.model_name(),
            workspace_url: &workspace.url,
            job,
            claude_endpoint: &args.claude_endpoint,
            secret_scope: scope,
            credentials,
            staging_dir: &staging,
            policy: &policy,
        };
        // The version is built from the binaries of this release folder.
        let files = package::files(&found)?;
        let wait = Duration::from_secs(args.wait_timeout);
        let found = existing.endpoint;
        out.extend(serving::deploy(&rest, endpoint, found, &volume_path, files, wait).await?);
    }
    out.insert("grants".into(), Value::Array(granted.made()));
    if rest.dry_run() {
        out.insert("dry_run".into(), json!(true));
        out.insert("plan".into(), json!(rest.plan()));
    }
    Ok(Value::Object(out))
}

/// The deployer's user name (SCIM `Me`).
async fn whoami(rest: &Rest) -> Result<String, Failure> {
    let me = rest.get("/api/2.0/preview/scim/v2/Me").await?;
    me["userName"]
        .as_str()
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Failure::Config(format!("SCIM Me answered without a userName: {me}")))
}

async fn mkdirs(rest: &Rest, path: &str) -> Result<(), Failure> {
    rest.write(
        Method::POST,
        "/api/2.0/workspace/mkdirs",
        &json!({"path": path}),
        Retry::Safe,
    )
    .await
    .map(drop)
}

/// Imports a file (AUTO: a source without a notebook header stays a plain file), replacing it.
async fn import(rest: &Rest, path: &str, content: &[u8]) -> Result<(), Failure> {
    let body = json!({
        "path": path,
        "format": "AUTO",
        "content": base64::engine::general_purpose::STANDARD.encode(content),
        "overwrite": true,
    });
    rest.write(
        Method::POST,
        "/api/2.0/workspace/import",
        &body,
        Retry::Safe,
    )
    .await
    .map(drop)
}
