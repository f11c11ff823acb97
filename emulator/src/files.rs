//! The Files API: `PUT`/`GET`/`HEAD` `/api/2.0/fs/files/Volumes/<c>/<s>/<v>/<path>` with raw
//! bytes, kept in memory, and the same under `/Models/<c>/<s>/<m>/<version>/<path>` for a
//! model version being registered (see `models.rs`). Parent directories need not exist (as
//! on Databricks); the volume or model version must.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::body::Params;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedApp;

#[derive(Debug)]
struct File {
    bytes: Bytes,
    modified: std::time::SystemTime,
}

#[derive(Debug, Default)]
pub struct FilesState {
    /// By absolute path, `/Volumes/c/s/v/...` or `/Models/c/s/m/<version>/...` (catalog,
    /// schema, volume or model in lower case).
    files: BTreeMap<String, File>,
}

impl FilesState {
    /// The bytes of a file, by `/Volumes/...` path.
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        let path = normalize(path).ok()?.0;
        self.files.get(&path).map(|f| f.bytes.to_vec())
    }

    /// Every stored path with its size.
    pub fn list(&self) -> Vec<(String, usize)> {
        self.files
            .iter()
            .map(|(p, f)| (p.clone(), f.bytes.len()))
            .collect()
    }
}

/// What holds a file.
enum Owner {
    /// A volume, by full name.
    Volume(String),
    /// A model version: `[catalog, schema, model, version]`.
    ModelVersion([String; 4]),
}

/// `(absolute path, its owner)`; the route strips the leading `/`.
fn normalize(path: &str) -> ApiResult<(String, Owner)> {
    let path = path.trim_start_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    let bad = || {
        ApiError::invalid(format!(
            "Invalid path '/{path}': expected /Volumes/<catalog>/<schema>/<volume>/<file path> or /Models/<catalog>/<schema>/<model>/<version>/<file path>"
        ))
    };
    let clean = |names: &[&str], rest: &[&str]| {
        !rest.is_empty()
            && names.iter().all(|p| !p.is_empty())
            && rest
                .iter()
                .all(|p| !p.is_empty() && *p != "." && *p != "..")
    };
    let lower = |p: &str| p.to_ascii_lowercase();
    match parts.as_slice() {
        ["Volumes", c, s, v, rest @ ..] if clean(&[c, s, v], rest) => {
            let (c, s, v) = (lower(c), lower(s), lower(v));
            let file = format!("/Volumes/{c}/{s}/{v}/{}", rest.join("/"));
            Ok((file, Owner::Volume(format!("{c}.{s}.{v}"))))
        }
        ["Models", c, s, m, version, rest @ ..] if clean(&[c, s, m, version], rest) => {
            let (c, s, m) = (lower(c), lower(s), lower(m));
            let file = format!("/Models/{c}/{s}/{m}/{version}/{}", rest.join("/"));
            Ok((file, Owner::ModelVersion([c, s, m, version.to_string()])))
        }
        _ => Err(bad()),
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("The file being accessed is not found: {path}"),
    )
}

/// `PUT …/fs/files/{path}[?overwrite=true]` with the file's bytes as the body: 204.
pub async fn put(
    State(app): State<SharedApp>,
    Path(path): Path<String>,
    params: Params,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let (path, owner) = normalize(&path)?;
    let overwrite = match params.get("overwrite") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Invalid value for overwrite: '{other}' (true or false)"
            )));
        }
    };
    let mut state = app.lock();
    match owner {
        Owner::Volume(volume) if !state.volumes.exists(&volume) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("Volume '{volume}' does not exist."),
            ));
        }
        Owner::Volume(_) => {}
        Owner::ModelVersion(parts) => {
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            state.models.check_writable(&parts)?;
        }
    }
    if !overwrite && state.files.files.contains_key(&path) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
            format!("The file being created already exists: {path}"),
        ));
    }
    let file = File {
        bytes: body,
        modified: std::time::SystemTime::now(),
    };
    state.files.files.insert(path, file);
    Ok(StatusCode::NO_CONTENT)
}

fn metadata(file: &File) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.bytes.len()));
    if let Ok(modified) = HeaderValue::from_str(&httpdate::fmt_http_date(file.modified)) {
        headers.insert(header::LAST_MODIFIED, modified);
    }
    headers
}

/// `GET …/fs/files/{path}`: the bytes.
pub async fn get(State(app): State<SharedApp>, Path(path): Path<String>) -> ApiResult<Response> {
    let (path, _) = normalize(&path)?;
    let state = app.lock();
    let file = state
        .files
        .files
        .get(&path)
        .ok_or_else(|| not_found(&path))?;
    Ok((metadata(file), file.bytes.clone()).into_response())
}

/// `HEAD …/fs/files/{path}`: the metadata only (a 404 has no body either).
pub async fn head(State(app): State<SharedApp>, Path(path): Path<String>) -> Response {
    let Ok((path, _)) = normalize(&path) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let state = app.lock();
    match state.files.files.get(&path) {
        Some(file) => (StatusCode::OK, metadata(file)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
