//! Databricks Apps: get, create, update (PATCH), start, and SNAPSHOT deployments from a
//! workspace folder. Compute comes up (STARTING -> ACTIVE) on the first read after a create
//! or start; a deployment succeeds on its first read after creation. Nothing is executed:
//! tests run the app's start script themselves.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::ids::{now_ms, rfc3339};
use crate::state::{SharedApp, State as Workspace};
use crate::validate::{
    field, item_obj, known_keys, opt_array, opt_enum, opt_obj, opt_str, req_str,
};

/// The fields of `apps.App` a client may set (the rest are answered, not accepted).
const APP_KEYS: &[&str] = &[
    "name",
    "description",
    "resources",
    "budget_policy_id",
    "usage_policy_id",
    "user_api_scopes",
    "compute_size",
    "compute_min_instances",
    "compute_max_instances",
    "default_source_code_path",
    "git_repository",
    "telemetry_export_destinations",
    "space",
];

const RESOURCE_KINDS: &[&str] = &[
    "app",
    "experiment",
    "postgres",
    "job",
    "secret",
    "serving_endpoint",
    "sql_warehouse",
    "uc_securable",
    "database",
    "genie_space",
];

#[derive(Debug)]
struct AppRecord {
    app: Map<String, Value>,
    compute: &'static str,
    deployments: Vec<Map<String, Value>>,
}

impl AppRecord {
    fn json(&self) -> Value {
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
    apps: BTreeMap<String, AppRecord>,
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
}

fn no_such_app(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        format!("App with name {name} does not exist or is deleted."),
    )
}

/// App names: 2-30 lower-case letters, digits and hyphens (they become part of its URL).
fn check_name(name: &str) -> ApiResult<()> {
    let ok = (2..=30).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Invalid app name '{name}': use 2 to 30 lower-case letters, digits and hyphens"
        )))
    }
}

/// Each resource names exactly one thing it grants; jobs and volumes must exist.
fn validate_resources(body: &Map<String, Value>, state: &Workspace) -> ApiResult<()> {
    let mut names = Vec::new();
    for (i, resource) in opt_array(body, "resources", "")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ctx = format!("resources[{i}]");
        let r = item_obj(resource, &ctx)?;
        let mut known = vec!["name", "description"];
        known.extend_from_slice(RESOURCE_KINDS);
        known_keys(r, &known, &ctx)?;
        let name = req_str(r, "name", &ctx)?;
        if names.contains(&name) {
            return Err(ApiError::invalid(format!(
                "{ctx}.name '{name}' is not unique"
            )));
        }
        names.push(name);
        opt_str(r, "description", &ctx)?;
        let kinds: Vec<&str> = RESOURCE_KINDS
            .iter()
            .copied()
            .filter(|k| r.contains_key(*k))
            .collect();
        let [kind] = kinds.as_slice() else {
            return Err(ApiError::invalid(format!(
                "{ctx} must set exactly one of {}",
                RESOURCE_KINDS.join(", ")
            )));
        };
        let spec_ctx = field(&ctx, kind);
        let spec = opt_obj(r, kind, &ctx)?
            .ok_or_else(|| ApiError::invalid(format!("{spec_ctx} must be an object")))?;
        match *kind {
            "job" => {
                known_keys(spec, &["id", "permission"], &spec_ctx)?;
                let id = req_str(spec, "id", &spec_ctx)?;
                req_str(spec, "permission", &spec_ctx)?;
                opt_enum(
                    spec,
                    "permission",
                    &spec_ctx,
                    &["CAN_MANAGE", "CAN_MANAGE_RUN", "CAN_VIEW", "IS_OWNER"],
                )?;
                let exists = id
                    .parse::<i64>()
                    .is_ok_and(|id| state.named_jobs.contains(id));
                if !exists {
                    return Err(ApiError::invalid(format!(
                        "{spec_ctx}.id: job {id} does not exist"
                    )));
                }
            }
            "uc_securable" => {
                known_keys(
                    spec,
                    &["securable_full_name", "securable_type", "permission"],
                    &spec_ctx,
                )?;
                let full_name = req_str(spec, "securable_full_name", &spec_ctx)?;
                req_str(spec, "securable_type", &spec_ctx)?;
                opt_enum(spec, "securable_type", &spec_ctx, &["VOLUME"])?;
                req_str(spec, "permission", &spec_ctx)?;
                opt_enum(
                    spec,
                    "permission",
                    &spec_ctx,
                    &["READ_VOLUME", "WRITE_VOLUME"],
                )?;
                if !state.volumes.exists(full_name) {
                    return Err(ApiError::invalid(format!(
                        "{spec_ctx}.securable_full_name: volume {full_name} does not exist"
                    )));
                }
            }
            "serving_endpoint" => {
                known_keys(spec, &["name", "permission"], &spec_ctx)?;
                req_str(spec, "name", &spec_ctx)?;
                req_str(spec, "permission", &spec_ctx)?;
                opt_enum(
                    spec,
                    "permission",
                    &spec_ctx,
                    &["CAN_MANAGE", "CAN_QUERY", "CAN_VIEW"],
                )?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn validate_app(body: &Map<String, Value>, state: &Workspace) -> ApiResult<()> {
    known_keys(body, APP_KEYS, "")?;
    opt_str(body, "description", "")?;
    opt_enum(body, "compute_size", "", &["MEDIUM", "LARGE"])?;
    validate_resources(body, state)
}

/// `GET /api/2.0/apps/{name}`.
pub async fn get(State(app): State<SharedApp>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let mut state = app.lock();
    let record = state
        .apps
        .apps
        .get_mut(&name)
        .ok_or_else(|| no_such_app(&name))?;
    let answer = record.json();
    // The next read sees the compute up.
    if record.compute == "STARTING" {
        record.compute = "ACTIVE";
    }
    Ok(Json(answer))
}

/// `POST /api/2.0/apps` (body: App).
pub async fn create(
    State(app): State<SharedApp>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let name = req_str(&body, "name", "")?.to_string();
    check_name(&name)?;
    let mut state = app.lock();
    let state = &mut *state;
    validate_app(&body, state)?;
    if state.apps.apps.contains_key(&name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "RESOURCE_ALREADY_EXISTS",
            format!("An app with name {name} already exists."),
        ));
    }
    let now = rfc3339(now_ms());
    let sp_client_id = state.ids.uuid();
    let mut record = body.clone();
    record.insert("id".into(), json!(state.ids.uuid()));
    record.insert(
        "url".into(),
        json!(format!("https://{name}-1234567890.aws.databricksapps.com")),
    );
    record.insert("service_principal_client_id".into(), json!(sp_client_id));
    record.insert("service_principal_id".into(), json!(state.ids.object_id()));
    record.insert(
        "service_principal_name".into(),
        json!(format!("app-{name}")),
    );
    record.insert("create_time".into(), json!(now));
    record.insert("update_time".into(), json!(now));
    record.insert("creator".into(), json!(crate::USER_NAME));
    record.insert("updater".into(), json!(crate::USER_NAME));
    let record = AppRecord {
        app: record,
        compute: "STARTING",
        deployments: Vec::new(),
    };
    let answer = record.json();
    state.apps.apps.insert(name, record);
    Ok(Json(answer))
}

/// `PATCH /api/2.0/apps/{name}` (body: App): replaces what the body sets.
pub async fn update(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    if let Some(given) = opt_str(&body, "name", "")?
        && given != name
    {
        return Err(ApiError::invalid(format!(
            "name '{given}' does not match the app in the path ({name}); apps cannot be renamed"
        )));
    }
    let mut state = app.lock();
    let state = &mut *state;
    validate_app(&body, state)?;
    let record = state
        .apps
        .apps
        .get_mut(&name)
        .ok_or_else(|| no_such_app(&name))?;
    for (k, v) in body {
        record.app.insert(k, v);
    }
    record
        .app
        .insert("update_time".into(), json!(rfc3339(now_ms())));
    Ok(Json(record.json()))
}

/// `POST /api/2.0/apps/{name}/start`.
pub async fn start(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut state = app.lock();
    let record = state
        .apps
        .apps
        .get_mut(&name)
        .ok_or_else(|| no_such_app(&name))?;
    if record.compute == "STOPPED" {
        record.compute = "STARTING";
    }
    Ok(Json(record.json()))
}

/// `POST /api/2.0/apps/{name}/deployments` (body: AppDeployment).
pub async fn deploy(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    known_keys(
        &body,
        &[
            "source_code_path",
            "mode",
            "deployment_id",
            "git_source",
            "command",
            "env_vars",
        ],
        "",
    )?;
    let path = req_str(&body, "source_code_path", "")?.to_string();
    opt_enum(&body, "mode", "", &["SNAPSHOT", "AUTO_SYNC"])?;
    let mode = opt_str(&body, "mode", "")?
        .unwrap_or("SNAPSHOT")
        .to_string();
    let mut state = app.lock();
    let state = &mut *state;
    if !state.workspace.is_directory(&path) {
        return Err(ApiError::invalid(format!(
            "source_code_path {path} is not a workspace directory"
        )));
    }
    let deployment_id = state.ids.uuid().replace('-', "");
    let record = state
        .apps
        .apps
        .get_mut(&name)
        .ok_or_else(|| no_such_app(&name))?;
    if record.compute != "ACTIVE" {
        return Err(ApiError::invalid(format!(
            "Cannot deploy app {name}: its compute is {} (start it and wait until it is ACTIVE)",
            record.compute
        )));
    }
    let now = rfc3339(now_ms());
    let deployment = json!({
        "deployment_id": deployment_id,
        "source_code_path": path,
        "mode": mode,
        "status": {"state": "IN_PROGRESS", "message": "App deployment is in progress."},
        "create_time": now,
        "update_time": now,
        "creator": crate::USER_NAME,
    });
    let Value::Object(deployment) = deployment else {
        unreachable!("a JSON object literal")
    };
    record.deployments.push(deployment.clone());
    Ok(Json(Value::Object(deployment)))
}

/// `GET /api/2.0/apps/{name}/deployments/{id}`: IN_PROGRESS, then SUCCEEDED.
pub async fn get_deployment(
    State(app): State<SharedApp>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let mut state = app.lock();
    let record = state
        .apps
        .apps
        .get_mut(&name)
        .ok_or_else(|| no_such_app(&name))?;
    let deployment = record
        .deployments
        .iter_mut()
        .find(|d| d["deployment_id"] == id.as_str())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "RESOURCE_DOES_NOT_EXIST",
                format!("Deployment {id} of app {name} does not exist."),
            )
        })?;
    let answer = deployment.clone();
    if deployment["status"]["state"] == "IN_PROGRESS" {
        deployment.insert(
            "status".into(),
            json!({"state": "SUCCEEDED", "message": "App started successfully."}),
        );
    }
    Ok(Json(Value::Object(answer)))
}
