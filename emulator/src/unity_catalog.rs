//! Unity Catalog: the workspace's metastore assignment, whose `default_catalog_name` is the
//! catalog to use when nobody named one (many workspaces have no `main`).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::state::SharedApp;

/// Ids of the one emulated metastore and workspace.
const METASTORE_ID: &str = "19a85dee-54bc-43a2-87ab-023d0ec16013";
const WORKSPACE_ID: i64 = 1_234_567_890_123_456;

/// `GET /api/2.1/unity-catalog/current-metastore-assignment`.
pub async fn current_metastore_assignment(State(app): State<SharedApp>) -> ApiResult<Json<Value>> {
    match &app.config.default_catalog_name {
        Some(catalog) => Ok(Json(json!({
            "metastore_id": METASTORE_ID,
            "workspace_id": WORKSPACE_ID,
            "default_catalog_name": catalog,
        }))),
        None => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "METASTORE_DOES_NOT_EXIST",
            "No metastore assigned for the current workspace.",
        )),
    }
}
