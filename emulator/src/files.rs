//! The Files API: `PUT`/`GET`/`HEAD` `/api/2.0/fs/files/Volumes/<c>/<s>/<v>/<path>` with raw
//! bytes, kept in memory, and the same under `/Models/<c>/<s>/<m>/<version>/<path>` for a
//! model version being registered (see `models.rs`). Parent directories need not exist (as
//! on Databricks); the volume or model version must. A volume mounted from `--data` keeps its
//! files on disk, in its directory (its storage location).

use std::collections::BTreeMap;
use std::path::PathBuf;

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
    /// Volumes whose files live in a local directory, by full name.
    mounts: BTreeMap<String, PathBuf>,
}

impl FilesState {
    /// The bytes of a file, by `/Volumes/...` path.
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        let (path, owner) = normalize(path).ok()?;
        match self.on_disk(&path, &owner) {
            Some(local) => std::fs::read(local).ok(),
            None => self.files.get(&path).map(|f| f.bytes.to_vec()),
        }
    }

    /// Removes every file under `folder` (`/Models/c/s/m/<version>/`, a deleted version's).
    pub fn remove_under(&mut self, folder: &str) {
        let folder = folder.to_lowercase();
        self.files
            .retain(|path, _| !path.to_lowercase().starts_with(&folder));
    }

    /// Every stored path with its size (files of mounted volumes not included).
    pub fn list(&self) -> Vec<(String, usize)> {
        self.files
            .iter()
            .map(|(p, f)| (p.clone(), f.bytes.len()))
            .collect()
    }

    /// Keeps the files of volume `full_name` in `dir`.
    pub fn mount(&mut self, full_name: &str, dir: PathBuf) {
        self.mounts.insert(full_name.to_ascii_lowercase(), dir);
    }

    /// The directory a mounted volume's files are in.
    pub fn mount_of(&self, full_name: &str) -> Option<&PathBuf> {
        self.mounts.get(full_name)
    }

    /// The files kept in memory for volume `full_name`: (path inside the volume, bytes).
    pub fn volume_contents(&self, full_name: &str) -> Vec<(String, Vec<u8>)> {
        let prefix = format!("/Volumes/{}/", full_name.replace('.', "/"));
        self.files
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, f)| (p[prefix.len()..].to_string(), f.bytes.to_vec()))
            .collect()
    }

    /// Where a normalised path is on disk, when its volume is mounted.
    fn on_disk(&self, path: &str, owner: &Owner) -> Option<PathBuf> {
        let Owner::Volume(volume) = owner else {
            return None;
        };
        let dir = self.mounts.get(volume)?;
        // `/Volumes/c/s/v/rest`: segments 0 to 4 are "", Volumes, c, s, v.
        let rest: Vec<&str> = path.split('/').skip(5).collect();
        Some(rest.iter().fold(dir.clone(), |p, part| p.join(part)))
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
    match &owner {
        Owner::Volume(volume) if !state.volumes.exists(volume) => {
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
    if let Some(local) = state.files.on_disk(&path, &owner) {
        return write_local(&local, &path, overwrite, &body);
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

/// A file of a mounted volume, written where the volume keeps it.
fn write_local(
    local: &std::path::Path,
    path: &str,
    overwrite: bool,
    body: &[u8],
) -> ApiResult<StatusCode> {
    if !overwrite && local.exists() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
            format!("The file being created already exists: {path}"),
        ));
    }
    let written = local
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(local, body));
    written.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            format!("Writing {path} to the volume's storage failed: {e}"),
        )
    })?;
    Ok(StatusCode::NO_CONTENT)
}

fn metadata(len: usize, modified: std::time::SystemTime) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(modified) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
        headers.insert(header::LAST_MODIFIED, modified);
    }
    headers
}

/// A file's bytes and modification time, from memory or a mounted volume's directory.
fn read(files: &FilesState, path: &str, owner: &Owner) -> Option<(Bytes, std::time::SystemTime)> {
    match files.on_disk(path, owner) {
        Some(local) => {
            let modified = std::fs::metadata(&local).and_then(|m| m.modified()).ok()?;
            let bytes = std::fs::read(&local).ok()?;
            Some((Bytes::from(bytes), modified))
        }
        None => files.files.get(path).map(|f| (f.bytes.clone(), f.modified)),
    }
}

/// `GET …/fs/files/{path}`: the bytes.
pub async fn get(State(app): State<SharedApp>, Path(path): Path<String>) -> ApiResult<Response> {
    let (path, owner) = normalize(&path)?;
    let state = app.lock();
    let (bytes, modified) = read(&state.files, &path, &owner).ok_or_else(|| not_found(&path))?;
    Ok((metadata(bytes.len(), modified), bytes).into_response())
}

/// `HEAD …/fs/files/{path}`: the metadata only (a 404 has no body either).
pub async fn head(State(app): State<SharedApp>, Path(path): Path<String>) -> Response {
    let Ok((path, owner)) = normalize(&path) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let state = app.lock();
    match read(&state.files, &path, &owner) {
        Some((bytes, modified)) => {
            (StatusCode::OK, metadata(bytes.len(), modified)).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
