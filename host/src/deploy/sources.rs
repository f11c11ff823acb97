//! The files `deploy` imports into the workspace folder: the job's launcher with the settings
//! it reads next to itself, and the app's sources (`app/app.yaml`, its start script).

use crate::env::{CLAUDE_ENDPOINT_ENV, JOB_ID_ENV, POLICY_ENV, STAGING_DIR_ENV};
use serde_json::{Value, json};

/// The job's entry point (`host/launcher/sdp_agent_launcher.py`).
pub const LAUNCHER: &str = include_str!("../../launcher/sdp_agent_launcher.py");
pub const LAUNCHER_NAME: &str = "sdp_agent_launcher.py";
/// Read by the launcher from its own folder: where the binaries are, which model to ask.
pub const SETTINGS_NAME: &str = "sdp_agent_deploy.json";
/// The app's start script (`host/launcher/sdp_agent_app.py`).
pub const APP_SCRIPT: &str = include_str!("../../launcher/sdp_agent_app.py");
pub const APP_SCRIPT_NAME: &str = "sdp_agent_app.py";
pub const APP_DIR: &str = "app";
/// Under the deployment's folder: where large payloads are staged for the job's runs.
pub const STAGING_DIR: &str = "staging";

/// `serve`'s arguments in the App: inside an App the proxy names the caller
/// (X-Forwarded-Email) and serve admits only them.
pub fn app_serve_args() -> Vec<String> {
    vec!["--callers".into(), "app".into()]
}

/// `sdp_agent_deploy.json`: where the binaries are, which model to ask, and the policy the
/// launcher hands to `run`.
pub fn launcher_settings(volume_path: &str, claude_endpoint: &str, policy: &Value) -> String {
    let settings = json!({
        "volume_path": volume_path,
        "claude_endpoint": claude_endpoint,
        "version": env!("CARGO_PKG_VERSION"),
        "policy": policy,
    });
    format!("{settings:#}\n")
}

/// Where the app learns its job id: the id itself, or (in a bundle, where the id is known
/// only once the job exists) the app resource that grants the job, which Apps resolve to it.
pub enum JobId<'a> {
    Value(&'a str),
    FromResource(&'a str),
}

/// `app.yaml`, written as JSON (a YAML 1.2 document) so no YAML is written by hand. The
/// start script gets `serve_args` as its arguments and passes them on to `sdp-agent serve`.
pub fn app_yaml(
    volume_path: &str,
    job: JobId,
    claude_endpoint: &str,
    serve_args: &[String],
    staging_dir: &str,
    policy: &Value,
) -> String {
    let mut command: Vec<Value> = vec!["python".into(), APP_SCRIPT_NAME.into()];
    command.extend(serve_args.iter().map(|a| Value::from(a.as_str())));
    let job = match job {
        JobId::Value(id) => json!({"name": JOB_ID_ENV, "value": id}),
        JobId::FromResource(name) => json!({"name": JOB_ID_ENV, "valueFrom": name}),
    };
    let yaml = json!({
        "command": command,
        "env": [
            {"name": "SDP_AGENT_VOLUME_PATH", "value": volume_path},
            job,
            {"name": CLAUDE_ENDPOINT_ENV, "value": claude_endpoint},
            {"name": STAGING_DIR_ENV, "value": staging_dir},
            // `serve --policy` (its env form): predict refuses early what the policy forbids.
            {"name": POLICY_ENV, "value": policy.to_string()},
        ],
    });
    format!("# Written by `sdp-agent deploy`; redeploy rather than edit.\n{yaml:#}\n")
}
