//! Unity Catalog grants on volumes: `GET/PATCH /api/2.1/unity-catalog/permissions/volume/{full_name}`
//! (databricks-sdk `GrantsAPI`): PATCH `{"changes": [{"principal", "add", "remove"}]}` answers,
//! like GET, `{"privilege_assignments": [{"principal", "privileges"}]}`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::fields::{item_obj, known_keys, opt_array, req_str};
use crate::state::SharedApp;

/// The privileges a volume takes.
const VOLUME_PRIVILEGES: &[&str] = &[
    "ALL_PRIVILEGES",
    "APPLY_TAG",
    "MANAGE",
    "READ_VOLUME",
    "WRITE_VOLUME",
];

/// Privileges by volume full name, then principal.
#[derive(Debug, Default)]
pub struct UcGrants {
    volumes: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl UcGrants {
    fn answer(&self, full_name: &str) -> Value {
        let list: Vec<Value> = self
            .volumes
            .get(full_name)
            .into_iter()
            .flatten()
            .filter(|(_, privileges)| !privileges.is_empty())
            .map(
                |(principal, privileges)| json!({"principal": principal, "privileges": privileges}),
            )
            .collect();
        json!({"privilege_assignments": list})
    }
}

fn securable(kind: &str, full_name: &str, app: &SharedApp) -> ApiResult<()> {
    if kind != "volume" {
        return Err(ApiError::invalid(format!(
            "securable type '{kind}': the emulator keeps grants on volumes only"
        )));
    }
    if !app.lock().volumes.exists(full_name) {
        return Err(ApiError::not_found(format!(
            "Volume '{full_name}' does not exist."
        )));
    }
    Ok(())
}

/// `GET /api/2.1/unity-catalog/permissions/{securable_type}/{full_name}`.
pub async fn get(
    State(app): State<SharedApp>,
    Path((kind, full_name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    securable(&kind, &full_name, &app)?;
    Ok(Json(app.lock().uc_grants.answer(&full_name)))
}

/// `PATCH /api/2.1/unity-catalog/permissions/{securable_type}/{full_name}`.
pub async fn update(
    State(app): State<SharedApp>,
    Path((kind, full_name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    securable(&kind, &full_name, &app)?;
    known_keys(&body, &["changes", "omit_permissions_in_response"], "")?;
    let mut changes = Vec::new();
    for (i, change) in opt_array(&body, "changes", "")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ctx = format!("changes[{i}]");
        let change = item_obj(change, &ctx)?;
        known_keys(change, &["principal", "add", "remove"], &ctx)?;
        let principal = req_str(change, "principal", &ctx)?.to_string();
        let add = privileges(change, "add", &ctx)?;
        let remove = privileges(change, "remove", &ctx)?;
        changes.push((principal, add, remove));
    }
    let mut state = app.lock();
    let grants = state
        .uc_grants
        .volumes
        .entry(full_name.clone())
        .or_default();
    for (principal, add, remove) in changes {
        let held = grants.entry(principal).or_default();
        held.retain(|p| !remove.contains(p));
        for p in add {
            if !held.contains(&p) {
                held.push(p);
            }
        }
    }
    Ok(Json(state.uc_grants.answer(&full_name)))
}

fn privileges(change: &Map<String, Value>, key: &str, ctx: &str) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for (i, p) in opt_array(change, key, ctx)?
        .into_iter()
        .flatten()
        .enumerate()
    {
        match p.as_str() {
            Some(p) if VOLUME_PRIVILEGES.contains(&p) => out.push(p.to_string()),
            _ => {
                return Err(ApiError::invalid(format!(
                    "{ctx}.{key}[{i}]: {p} is not a privilege of a volume ({})",
                    VOLUME_PRIVILEGES.join(", ")
                )));
            }
        }
    }
    Ok(out)
}
