//! The files `deploy` imports into the workspace folder: the job's launcher with the settings
//! it reads next to itself, and the app's sources (`app/app.yaml`, its start script).

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

/// `sdp_agent_deploy.json`.
pub fn launcher_settings(volume_path: &str, claude_endpoint: &str) -> String {
    let settings = json!({
        "volume_path": volume_path,
        "claude_endpoint": claude_endpoint,
        "version": env!("CARGO_PKG_VERSION"),
    });
    format!("{settings:#}\n")
}

/// `app.yaml`, written as JSON (a YAML 1.2 document) so no YAML is written by hand. The
/// start script gets `serve_args` as its arguments and passes them on to `sdp-agent serve`.
pub fn app_yaml(
    volume_path: &str,
    job_id: Option<i64>,
    claude_endpoint: &str,
    serve_args: &[&str],
) -> String {
    let mut command: Vec<Value> = vec!["python".into(), APP_SCRIPT_NAME.into()];
    command.extend(serve_args.iter().map(|a| Value::from(*a)));
    let job = job_id.map_or_else(|| "<job_id>".to_string(), |id| id.to_string());
    let yaml = json!({
        "command": command,
        "env": [
            {"name": "SDP_AGENT_VOLUME_PATH", "value": volume_path},
            {"name": "SDP_AGENT_JOB_ID", "value": job},
            {"name": "CLAUDE_ENDPOINT_NAME", "value": claude_endpoint},
        ],
    });
    format!("# Written by `sdp-agent deploy`; redeploy rather than edit.\n{yaml:#}\n")
}
