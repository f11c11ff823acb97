//! Databricks Apps: get, create, update (PATCH), start, and SNAPSHOT deployments from a
//! workspace folder. Compute comes up (STARTING -> ACTIVE) on the first read after a create
//! or start; a deployment succeeds on its first read after creation (or after as many more as
//! a test holds it for). While one is in progress the app shows it as `pending_deployment` and
//! refuses another. Nothing is executed: tests run the app's start script themselves.

mod record;
mod validate;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::fields::{known_keys, opt_enum, opt_str, req_str};
use crate::ids::{now_ms, rfc3339};
use crate::state::SharedApp;
use record::AppRecord;
pub use record::AppsState;
use validate::{check_name, validate_app};

/// `GET /api/2.0/apps/{name}`.
pub async fn get(State(app): State<SharedApp>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let mut state = app.lock();
    let record = state.apps.get_mut(&name)?;
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
    Ok(Json(insert(state, body, crate::USER_NAME)))
}

/// Adds the app `body` describes as `creator` made it (create's, or a test's seed); answers
/// it as GET would.
pub(crate) fn insert(
    state: &mut crate::state::State,
    body: serde_json::Map<String, Value>,
    creator: &str,
) -> Value {
    let name = body["name"].as_str().unwrap_or_default().to_string();
    let now = rfc3339(now_ms());
    let sp_client_id = state.ids.uuid();
    let mut record = body;
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
    record.insert("creator".into(), json!(creator));
    record.insert("updater".into(), json!(creator));
    let record = AppRecord {
        app: record,
        compute: "STARTING",
        deployments: Vec::new(),
        held_reads: 0,
    };
    let answer = record.json();
    state.apps.apps.insert(name, record);
    answer
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
    let record = state.apps.get_mut(&name)?;
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
    let record = state.apps.get_mut(&name)?;
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
    let record = state.apps.get_mut(&name)?;
    if record.compute != "ACTIVE" {
        return Err(ApiError::invalid(format!(
            "Cannot deploy app {name}: its compute is {} (start it and wait until it is ACTIVE)",
            record.compute
        )));
    }
    if let Some(pending) = record.pending() {
        return Err(ApiError::conflict(format!(
            "Cannot deploy app {name}: deployment {} is in progress; wait until it completes",
            pending["deployment_id"].as_str().unwrap_or_default()
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
    let record = state.apps.get_mut(&name)?;
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
    if deployment["status"]["state"] == "IN_PROGRESS" && record.held_reads > 0 {
        record.held_reads -= 1;
    } else if deployment["status"]["state"] == "IN_PROGRESS" {
        deployment.insert(
            "status".into(),
            json!({"state": "SUCCEEDED", "message": "App started successfully."}),
        );
    }
    Ok(Json(Value::Object(answer)))
}
