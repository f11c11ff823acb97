//! Models in Unity Catalog: registered models through the public UC API
//! (`/api/2.1/unity-catalog/models`), and model versions the way the MLflow client makes them
//! (`/api/2.0/mlflow/unity-catalog/model-versions/create`, the files written with the Files API
//! under `/Models/<catalog>/<schema>/<model>/<version>/`, then `.../finalize`). A version's
//! files can be written only while it is PENDING_REGISTRATION; finalizing makes it READY.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::body::{JsonBody, Params};
use crate::error::{ApiError, ApiResult};
use crate::fields::{known_keys, opt_array, opt_str, req_str};
use crate::ids::now_ms;
use crate::state::SharedApp;
use crate::volumes::NewSecurable;

/// The parameters of `catalog.RegisteredModelsAPI.create` a client may send.
const CREATE_MODEL_KEYS: &[&str] = &["catalog_name", "schema_name", "name", "comment"];
/// The fields of MLflow's `CreateModelVersionRequest` (databricks_uc_registry_messages.proto).
const CREATE_VERSION_KEYS: &[&str] = &[
    "name",
    "source",
    "run_id",
    "description",
    "run_tracking_server_id",
    "feature_deps",
    "tags",
    "model_version_dependencies",
    "model_id",
];

#[derive(Debug)]
struct Model {
    info: Map<String, Value>,
    /// By version number (1, 2, ...): the MLflow `ModelVersion` message.
    versions: BTreeMap<u64, Map<String, Value>>,
    /// The last number given: a deleted version's number is never given again.
    last_version: u64,
}

#[derive(Debug, Default)]
pub struct ModelsState {
    /// By full name, lower case.
    models: BTreeMap<String, Model>,
}

impl ModelsState {
    /// Every registered model's info, with `versions` (each an MLflow ModelVersion).
    pub fn all(&self) -> Vec<Value> {
        self.models
            .values()
            .map(|m| {
                let mut info = m.info.clone();
                info.insert(
                    "versions".into(),
                    m.versions.values().cloned().map(Value::Object).collect(),
                );
                Value::Object(info)
            })
            .collect()
    }

    /// The status of a version (`READY`, `PENDING_REGISTRATION`), if it exists.
    pub fn version_status(&self, full_name: &str, version: &str) -> Option<String> {
        let model = self.models.get(&full_name.to_ascii_lowercase())?;
        let version = model.versions.get(&version.parse().ok()?)?;
        version["status"].as_str().map(str::to_string)
    }

    /// Whether a file may be written at `/Models/c/s/m/<version>/...`: the version exists and
    /// is still being registered. The error says why not.
    pub fn check_writable(&self, parts: &[&str]) -> ApiResult<()> {
        let [c, s, m, version, ..] = parts else {
            return Err(ApiError::invalid(
                "expected /Models/<catalog>/<schema>/<model>/<version>/<file path>",
            ));
        };
        let full_name = format!("{c}.{s}.{m}");
        match self.version_status(&full_name, version).as_deref() {
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("Model version {full_name}/{version} does not exist."),
            )),
            Some("PENDING_REGISTRATION") => Ok(()),
            Some(status) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                format!(
                    "Model version {full_name}/{version} is {status}: its files can no longer be written"
                ),
            )),
        }
    }
}

fn no_model(full_name: &str) -> ApiError {
    ApiError::not_found(format!("Routine or Model '{full_name}' does not exist."))
}

/// `GET /api/2.1/unity-catalog/models/{full_name}`: RegisteredModelInfo.
pub async fn get(
    State(app): State<SharedApp>,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = app.lock();
    let model = state
        .models
        .models
        .get(&full_name.to_ascii_lowercase())
        .ok_or_else(|| no_model(&full_name))?;
    Ok(Json(Value::Object(model.info.clone())))
}

/// `POST /api/2.1/unity-catalog/models`.
pub async fn create(
    State(app): State<SharedApp>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    known_keys(&body, CREATE_MODEL_KEYS, "")?;
    let securable = NewSecurable::read(&body)?;
    let comment = opt_str(&body, "comment", "")?;
    let full_name = securable.full_name.clone();
    let mut state = app.lock();
    let state = &mut *state;
    if state.models.models.contains_key(&full_name) {
        return Err(ApiError::already_exists(format!(
            "Routine or Model '{full_name}' already exists."
        )));
    }
    let mut info = securable.info(comment);
    let storage = format!("s3://emulator-metastore/models/{}", state.ids.uuid());
    info.insert("storage_location".into(), json!(storage));
    let model = Model {
        info: info.clone(),
        versions: BTreeMap::new(),
        last_version: 0,
    };
    state.models.models.insert(full_name, model);
    Ok(Json(Value::Object(info)))
}

/// `POST /api/2.0/mlflow/unity-catalog/model-versions/create`: a PENDING_REGISTRATION version
/// whose files the client writes next.
pub async fn create_version(
    State(app): State<SharedApp>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    known_keys(&body, CREATE_VERSION_KEYS, "")?;
    let name = req_str(&body, "name", "")?.to_ascii_lowercase();
    let source = req_str(&body, "source", "")?;
    let description = opt_str(&body, "description", "")?;
    for (i, tag) in opt_array(&body, "tags", "")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ctx = format!("tags[{i}]");
        let tag = crate::fields::item_obj(tag, &ctx)?;
        known_keys(tag, &["key", "value"], &ctx)?;
        req_str(tag, "key", &ctx)?;
        opt_str(tag, "value", &ctx)?;
    }
    let mut state = app.lock();
    let model = state
        .models
        .models
        .get_mut(&name)
        .ok_or_else(|| no_model(&name))?;
    model.last_version += 1;
    let number = model.last_version;
    let now = now_ms();
    let location = format!(
        "{}/versions/{number}",
        model.info["storage_location"].as_str().unwrap_or_default()
    );
    let mut version = json!({
        "name": name,
        "version": number.to_string(),
        "creation_timestamp": now,
        "last_updated_timestamp": now,
        "user_id": crate::USER_NAME,
        "source": source,
        "status": "PENDING_REGISTRATION",
        "storage_location": location,
    });
    if let Some(d) = description {
        version["description"] = d.into();
    }
    if let Some(tags) = body.get("tags") {
        version["tags"] = tags.clone();
    }
    let Value::Object(version) = version else {
        unreachable!("a JSON object literal")
    };
    model.versions.insert(number, version.clone());
    Ok(Json(json!({"model_version": version})))
}

/// The version named by `name` and `version` in a body or query.
fn version_mut<'a>(
    state: &'a mut ModelsState,
    name: &str,
    version: &str,
) -> ApiResult<&'a mut Map<String, Value>> {
    let model = state
        .models
        .get_mut(&name.to_ascii_lowercase())
        .ok_or_else(|| no_model(name))?;
    version
        .parse::<u64>()
        .ok()
        .and_then(|n| model.versions.get_mut(&n))
        .ok_or_else(|| {
            ApiError::not_found(format!("Model version {name}/{version} does not exist."))
        })
}

/// `POST /api/2.0/mlflow/unity-catalog/model-versions/finalize`: READY.
pub async fn finalize_version(
    State(app): State<SharedApp>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    known_keys(&body, &["name", "version"], "")?;
    let name = req_str(&body, "name", "")?;
    let number = req_str(&body, "version", "")?;
    let mut state = app.lock();
    let version = version_mut(&mut state.models, name, number)?;
    if version["status"] != "PENDING_REGISTRATION" {
        return Err(ApiError::invalid(format!(
            "Model version {name}/{number} is {}, not PENDING_REGISTRATION",
            version["status"]
        )));
    }
    version.insert("status".into(), json!("READY"));
    version.insert("last_updated_timestamp".into(), json!(now_ms()));
    Ok(Json(json!({"model_version": version.clone()})))
}

/// `GET /api/2.0/mlflow/unity-catalog/model-versions/get?name=&version=`.
pub async fn get_version(State(app): State<SharedApp>, params: Params) -> ApiResult<Json<Value>> {
    let name = params
        .get("name")
        .ok_or_else(|| ApiError::invalid("Missing required field: name"))?;
    let number = params
        .get("version")
        .ok_or_else(|| ApiError::invalid("Missing required field: version"))?;
    let mut state = app.lock();
    let version = version_mut(&mut state.models, name, number)?;
    Ok(Json(json!({"model_version": version.clone()})))
}

/// `DELETE /api/2.1/unity-catalog/models/{full_name}/versions/{version}` (public UC API), with
/// the version's files.
pub async fn delete_version(
    State(app): State<SharedApp>,
    Path((full_name, number)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let mut state = app.lock();
    let state = &mut *state;
    let model = state
        .models
        .models
        .get_mut(&full_name.to_ascii_lowercase())
        .ok_or_else(|| no_model(&full_name))?;
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| model.versions.remove(&n))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Model version {full_name}/{number} does not exist."
            ))
        })?;
    let folder = format!("/Models/{}/{number}/", full_name.replace('.', "/"));
    state.files.remove_under(&folder);
    Ok(Json(json!({})))
}
