//! Unity Catalog volumes: get by full name, create (MANAGED or EXTERNAL). Any catalog and
//! schema is taken to exist: the emulator has no catalog service of its own.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::fields::{known_keys, opt_enum, opt_str, req_str};
use crate::ids::now_ms;
use crate::state::SharedApp;

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

    /// Every volume's full name (`catalog.schema.volume`).
    pub fn names(&self) -> Vec<String> {
        self.volumes.keys().cloned().collect()
    }

    /// An EXTERNAL volume whose storage is a local directory (`--data`).
    pub fn add_external(&mut self, names: &[String; 3], dir: &std::path::Path, volume_id: &str) {
        let securable = NewSecurable {
            names: names.clone(),
            full_name: names.join("."),
        };
        let mut info = securable.info(None);
        info.insert("volume_type".into(), json!("EXTERNAL"));
        info.insert(
            "storage_location".into(),
            json!(format!("file://{}", dir.display())),
        );
        info.insert("volume_id".into(), json!(volume_id));
        info.insert("metastore_id".into(), json!(METASTORE_ID));
        self.volumes
            .insert(securable.full_name, Value::Object(info));
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

/// A securable being created (a volume, a registered model): its names, each checked.
pub(crate) struct NewSecurable {
    names: [String; 3],
    /// `catalog.schema.name`.
    pub full_name: String,
}

impl NewSecurable {
    /// Reads `catalog_name`, `schema_name` and `name`.
    pub(crate) fn read(body: &Map<String, Value>) -> ApiResult<Self> {
        let names = [
            check_identifier(body, "catalog_name")?,
            check_identifier(body, "schema_name")?,
            check_identifier(body, "name")?,
        ];
        let full_name = names.join(".");
        Ok(Self { names, full_name })
    }

    /// What every securable answers about itself: its names, owner and times, and `comment`
    /// when one was given.
    pub(crate) fn info(&self, comment: Option<&str>) -> Map<String, Value> {
        let [catalog, schema, name] = &self.names;
        let now = now_ms();
        let mut info = Map::new();
        for (key, value) in [
            ("catalog_name", json!(catalog)),
            ("schema_name", json!(schema)),
            ("name", json!(name)),
            ("full_name", json!(self.full_name)),
            ("owner", json!(crate::USER_NAME)),
            ("created_at", json!(now)),
            ("created_by", json!(crate::USER_NAME)),
            ("updated_at", json!(now)),
            ("updated_by", json!(crate::USER_NAME)),
        ] {
            info.insert(key.into(), value);
        }
        if let Some(c) = comment {
            info.insert("comment".into(), c.into());
        }
        info
    }
}

/// `POST /api/2.1/unity-catalog/volumes`.
pub async fn create(
    State(app): State<SharedApp>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    known_keys(&body, CREATE_KEYS, "")?;
    let securable = NewSecurable::read(&body)?;
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
    let full_name = securable.full_name.clone();
    let mut state = app.lock();
    let state = &mut *state;
    if state.volumes.volumes.contains_key(&full_name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "RESOURCE_ALREADY_EXISTS",
            format!("Volume '{full_name}' already exists."),
        ));
    }
    let volume_id = state.ids.uuid();
    let storage = location.map_or_else(
        || format!("s3://emulator-metastore/{METASTORE_ID}/volumes/{volume_id}"),
        str::to_string,
    );
    let mut info = securable.info(comment);
    info.insert(
        "volume_type".into(),
        json!(if external { "EXTERNAL" } else { "MANAGED" }),
    );
    info.insert("storage_location".into(), json!(storage));
    info.insert("volume_id".into(), json!(volume_id));
    info.insert("metastore_id".into(), json!(METASTORE_ID));
    let info = Value::Object(info);
    state.volumes.volumes.insert(full_name, info.clone());
    Ok(Json(info))
}
