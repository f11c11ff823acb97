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
mod job;
mod model_version;
mod ownership;
mod package;
mod rest;
mod serving;
mod sources;
mod wait;

pub use args::DeployArgs;
pub use package::PackageArgs;

use crate::auth::Authenticator;
use crate::client::HttpClient;
use crate::outcome::Failure;
use crate::workspace::Workspace;
use args::Serve;
use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use rest::{Rest, Retry};
use serde_json::{Map, Value, json};
use std::process::ExitCode;
use std::sync::Arc;
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
    let found = binaries::find(args.dist.as_deref())?;
    if let Some(runner) = args.serve.image_runner() {
        binaries::require_static(&found, runner)?;
    }
    let client = HttpClient::new().map_err(|e| Failure::Config(format!("HTTP client: {e:#}")))?;
    let auth = Arc::new(Authenticator::new(
        &workspace.credentials,
        &workspace.url,
        &client,
    ));
    let rest = Rest::new(&workspace.url, auth, args.dry_run)?;
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

    // 3. The launcher, in the workspace folder.
    let dir = match &args.workspace_dir {
        Some(dir) => args::check_workspace_dir(dir)?,
        None => {
            let me = rest.get("/api/2.0/preview/scim/v2/Me").await?;
            let user = me["userName"]
                .as_str()
                .filter(|u| !u.is_empty())
                .ok_or_else(|| {
                    Failure::Config(format!("SCIM Me answered without a userName: {me}"))
                })?;
            format!("/Workspace/Users/{user}/.sdp-agent/{}", args.name)
        }
    };
    let launcher_path = format!("{dir}/{}", sources::LAUNCHER_NAME);
    mkdirs(&rest, &dir).await?;
    import(&rest, &launcher_path, sources::LAUNCHER.as_bytes()).await?;
    let settings = sources::launcher_settings(&volume_path, &args.claude_endpoint);
    import(
        &rest,
        &format!("{dir}/{}", sources::SETTINGS_NAME),
        settings.as_bytes(),
    )
    .await?;

    // 4. The job.
    let settings = job::settings(&args.name, &launcher_path, &args.compute());
    let job_id = job::create_or_reset(&rest, &settings, existing.job_id).await?;
    // In a dry run of a first deploy the job id is not known yet.
    let job = job_id.map_or_else(|| "<job_id>".to_string(), |id| id.to_string());

    out.insert("job_id".into(), json!(job_id));
    out.insert("job_name".into(), json!(args.name));
    out.insert("volume_path".into(), json!(volume_path));
    out.insert("workspace_dir".into(), json!(dir));
    out.insert("launcher_path".into(), json!(launcher_path));
    out.insert("binaries".into(), Value::Array(uploaded));
    out.insert("claude_endpoint".into(), json!(args.claude_endpoint));

    // 5. The app.
    if args.serve == Serve::App {
        let app_dir = format!("{dir}/{}", sources::APP_DIR);
        mkdirs(&rest, &app_dir).await?;
        let yaml = sources::app_yaml(
            &volume_path,
            sources::JobId::Value(&job),
            &args.claude_endpoint,
            sources::APP_SERVE_ARGS,
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
    }

    // 6. The serving endpoint.
    if let Some(credentials) = credentials {
        let endpoint = serving::Endpoint {
            name: &args.name,
            model: args.model_name(),
            workspace_url: &workspace.url,
            job,
            claude_endpoint: &args.claude_endpoint,
            secret_scope: scope,
            credentials,
        };
        // The version is built from the binaries of this release folder.
        let files = package::files(&found)?;
        let wait = Duration::from_secs(args.wait_timeout);
        let found = existing.endpoint;
        out.extend(serving::deploy(&rest, endpoint, found, &volume_path, files, wait).await?);
    }
    if rest.dry_run() {
        out.insert("dry_run".into(), json!(true));
        out.insert("plan".into(), json!(rest.plan()));
    }
    Ok(Value::Object(out))
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
