//! Unity Catalog volumes: get by full name, create (MANAGED or EXTERNAL). Any catalog and
//! schema is taken to exist: the emulator has no catalog service of its own.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::ids::now_ms;
use crate::state::SharedApp;
use crate::validate::{known_keys, opt_enum, opt_str, req_str};

/// The fields of `catalog.CreateVolumeRequestContent`.
const CREATE_KEYS: &[&str] = &[
    "catalog_name",
    "schema_name",
    "name",
    "volume_type",
    "comment",
    "storage_location",
];

const METASTORE_ID: &str = "11111111-2222-4333-8444-555555555555";

#[derive(Debug, Default)]
pub struct VolumesState {
    /// VolumeInfo by full name (`catalog.schema.volume`, lower case as UC stores names).
    volumes: BTreeMap<String, Value>,
}

impl VolumesState {
    /// Whether `catalog.schema.volume` exists (names are case-insensitive).
    pub fn exists(&self, full_name: &str) -> bool {
        self.volumes.contains_key(&full_name.to_ascii_lowercase())
    }

    /// Every volume's VolumeInfo, by full name.
    pub fn all(&self) -> Vec<Value> {
        self.volumes.values().cloned().collect()
    }
}

fn not_found(full_name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        format!("Volume '{full_name}' does not exist."),
    )
}

/// `GET /api/2.1/unity-catalog/volumes/{full_name}`.
pub async fn get(
    State(app): State<SharedApp>,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = app.lock();
    state
        .volumes
        .volumes
        .get(&full_name.to_ascii_lowercase())
        .cloned()
        .map(Json)
        .ok_or_else(|| not_found(&full_name))
}

/// UC identifiers: letters, digits and underscores here (the emulator keeps to names that need
/// no quoting anywhere).
fn check_identifier(body: &Map<String, Value>, key: &str) -> ApiResult<String> {
    let name = req_str(body, key, "")?;
    if name.len() > 255
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ApiError::invalid(format!(
            "Invalid value for field '{key}': '{name}' is not a valid name"
        )));
    }
    Ok(name.to_ascii_lowercase())
}

/// The `catalog_name`, `schema_name` and `name` of a securable being created, each checked.
pub(crate) fn three_level_name(body: &Map<String, Value>) -> ApiResult<[String; 3]> {
    Ok([
        check_identifier(body, "catalog_name")?,
        check_identifier(body, "schema_name")?,
        check_identifier(body, "name")?,
    ])
}

/// `POST /api/2.1/unity-catalog/volumes`.
pub async fn create(
    State(app): State<SharedApp>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    known_keys(&body, CREATE_KEYS, "")?;
    let [catalog, schema, name] = three_level_name(&body)?;
    req_str(&body, "volume_type", "")?;
    opt_enum(&body, "volume_type", "", &["MANAGED", "EXTERNAL"])?;
    let external = body.get("volume_type").and_then(Value::as_str) == Some("EXTERNAL");
    let location = opt_str(&body, "storage_location", "")?;
    match (external, location) {
        (true, None) => {
            return Err(ApiError::invalid(
                "Missing required field: storage_location (an EXTERNAL volume needs one)",
            ));
        }
        (false, Some(_)) => {
            return Err(ApiError::invalid(
                "storage_location must not be set for a MANAGED volume",
            ));
        }
        _ => {}
    }
    let comment = opt_str(&body, "comment", "")?;
    let full_name = format!("{catalog}.{schema}.{name}");
    let mut state = app.lock();
    let state = &mut *state;
    if state.volumes.volumes.contains_key(&full_name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "RESOURCE_ALREADY_EXISTS",
            format!("Volume '{full_name}' already exists."),
        ));
    }
    let now = now_ms();
    let volume_id = state.ids.uuid();
    let storage = location.map_or_else(
        || format!("s3://emulator-metastore/{METASTORE_ID}/volumes/{volume_id}"),
        str::to_string,
    );
    let mut info = json!({
        "catalog_name": catalog,
        "schema_name": schema,
        "name": name,
        "full_name": full_name,
        "volume_type": if external { "EXTERNAL" } else { "MANAGED" },
        "storage_location": storage,
        "volume_id": volume_id,
        "metastore_id": METASTORE_ID,
        "owner": crate::USER_NAME,
        "created_at": now,
        "created_by": crate::USER_NAME,
        "updated_at": now,
        "updated_by": crate::USER_NAME,
    });
    if let Some(c) = comment {
        info["comment"] = c.into();
    }
    state.volumes.volumes.insert(full_name, info.clone());
    Ok(Json(info))
}
