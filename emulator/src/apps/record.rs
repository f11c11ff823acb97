//! What the emulator keeps of an app: the app as created or updated, its compute state and
//! its deployments, and how GET answers them.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};

#[derive(Debug)]
pub(super) struct AppRecord {
    pub(super) app: Map<String, Value>,
    pub(super) compute: &'static str,
    pub(super) deployments: Vec<Map<String, Value>>,
    /// Reads of an in-progress deployment still answered IN_PROGRESS (a test's hold).
    pub(super) held_reads: u32,
}

impl AppRecord {
    /// The deployment in progress, if any.
    pub(super) fn pending(&self) -> Option<&Map<String, Value>> {
        self.deployments
            .iter()
            .find(|d| d["status"]["state"] == "IN_PROGRESS")
    }

    pub(super) fn json(&self) -> Value {
        let mut out = self.app.clone();
        out.insert(
            "compute_status".into(),
            json!({"state": self.compute, "message": compute_message(self.compute)}),
        );
        let running = self
            .deployments
            .iter()
            .rev()
            .find(|d| d["status"]["state"] == "SUCCEEDED");
        let app_state = match (self.compute, running) {
            ("ACTIVE", Some(_)) => "RUNNING",
            _ => "UNAVAILABLE",
        };
        out.insert(
            "app_status".into(),
            json!({"state": app_state, "message": ""}),
        );
        if let Some(d) = running {
            out.insert("active_deployment".into(), Value::Object(d.clone()));
        }
        if let Some(d) = self.pending() {
            out.insert("pending_deployment".into(), Value::Object(d.clone()));
        }
        Value::Object(out)
    }
}

fn compute_message(state: &str) -> &'static str {
    match state {
        "ACTIVE" => "App compute is running.",
        "STARTING" => "App compute is starting.",
        _ => "App compute is stopped.",
    }
}

#[derive(Debug, Default)]
pub struct AppsState {
    pub(super) apps: BTreeMap<String, AppRecord>,
}

impl AppsState {
    /// Every app as GET answers it, with `deployments` (every deployment, oldest first).
    pub fn all(&self) -> Vec<Value> {
        self.apps
            .values()
            .map(|r| {
                let mut app = r.json();
                app["deployments"] = r.deployments.iter().cloned().map(Value::Object).collect();
                app
            })
            .collect()
    }

    /// Holds the app's deployment in progress for `reads` more reads (false: none is).
    pub fn hold_deployment(&mut self, name: &str, reads: u32) -> bool {
        match self.apps.get_mut(name) {
            Some(r) if r.pending().is_some() => {
                r.held_reads = reads;
                true
            }
            _ => false,
        }
    }

    /// The application ids of every app's service principal.
    pub fn service_principals(&self) -> impl Iterator<Item = &str> {
        self.apps
            .values()
            .filter_map(|r| r.app.get("service_principal_client_id")?.as_str())
    }

    /// The app named `name`, or the API's answer that there is none.
    pub(super) fn get_mut(&mut self, name: &str) -> ApiResult<&mut AppRecord> {
        self.apps.get_mut(name).ok_or_else(|| no_such_app(name))
    }
}

fn no_such_app(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        format!("App with name {name} does not exist or is deleted."),
    )
}
