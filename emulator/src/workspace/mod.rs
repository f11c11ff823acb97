//! Workspace files: mkdirs, import (base64 content), get-status. `/Workspace/X` and `/X` name
//! the same object, as in a real workspace.

mod import;
mod tree;

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::body::{JsonBody, Params};
use crate::error::{ApiError, ApiResult};
use crate::fields::req_str;
use crate::identity::Caller;
use crate::permissions::{self, ObjectType};
use crate::state::SharedApp;
pub use import::import;
pub use tree::WorkspaceState;
pub(crate) use tree::parent;
use tree::{Kind, canonical};

const FORMATS: &[&str] = &[
    "SOURCE",
    "AUTO",
    "RAW",
    "JUPYTER",
    "DBC",
    "HTML",
    "R_MARKDOWN",
];

/// An import or export `format` the API knows.
fn check_format(format: &str) -> ApiResult<()> {
    if !FORMATS.contains(&format) {
        return Err(ApiError::invalid(format!(
            "Invalid value '{format}' for field 'format': expected one of {}",
            FORMATS.join(", ")
        )));
    }
    Ok(())
}

/// The `path` query parameter of get-status and export.
fn path_param(params: &Params) -> ApiResult<&str> {
    params
        .get("path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid("Missing required field: path"))
}

/// `POST /api/2.0/workspace/mkdirs {path}`.
pub async fn mkdirs(
    State(app): State<SharedApp>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let path = canonical(req_str(&body, "path", "")?)?;
    let mut state = app.lock();
    let state = &mut *state;
    if state.workspace.object_at(&path).is_none() {
        permissions::check_create(state, &caller, &path)?;
    }
    // "Users automatically have the Can Manage permission for folders they create."
    for id in state.workspace.ensure_dirs(&mut state.ids, &path)? {
        state
            .permissions
            .set_owner(ObjectType::Directories, &id.to_string(), &caller.name);
    }
    Ok(Json(json!({})))
}

/// `GET /api/2.0/workspace/get-status?path=`.
pub async fn get_status(State(app): State<SharedApp>, params: Params) -> ApiResult<Json<Value>> {
    let given = path_param(&params)?;
    let state = app.lock();
    let obj = state.workspace.lookup(given)?;
    let mut out = json!({
        "object_type": obj.kind.name(),
        "path": if given.len() > 1 { given.trim_end_matches('/') } else { given },
        "object_id": obj.object_id,
    });
    if let Some(language) = &obj.language {
        out["language"] = json!(language);
    }
    if obj.kind == Kind::File {
        out["size"] = json!(obj.content.len());
    }
    Ok(Json(out))
}

/// `GET /api/2.0/workspace/export?path=&format=` for a FILE or NOTEBOOK: `{content: base64,
/// file_type}`. Folders (exported as archives by the real service) are not emulated.
pub async fn export(State(app): State<SharedApp>, params: Params) -> ApiResult<Json<Value>> {
    let given = path_param(&params)?;
    check_format(params.get("format").unwrap_or("SOURCE"))?;
    let path = canonical(given)?;
    let state = app.lock();
    let obj = state.workspace.lookup(given)?;
    if obj.kind == Kind::Directory {
        return Err(ApiError::invalid(format!(
            "Path ({given}) is a directory: the emulator exports files and notebooks only"
        )));
    }
    let file_type = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    Ok(Json(json!({
        "content": STANDARD.encode(&obj.content),
        "file_type": file_type,
    })))
}
