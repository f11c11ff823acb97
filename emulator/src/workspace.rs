//! Workspace files: mkdirs, import (base64 content), get-status. `/Workspace/X` and `/X` name
//! the same object, as in a real workspace.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::body::{JsonBody, Params};
use crate::error::{ApiError, ApiResult};
use crate::ids::Ids;
use crate::state::SharedApp;
use crate::validate::{opt_bool, opt_str, req_str};

const FORMATS: &[&str] = &[
    "SOURCE",
    "AUTO",
    "RAW",
    "JUPYTER",
    "DBC",
    "HTML",
    "R_MARKDOWN",
];
const LANGUAGES: &[&str] = &["SQL", "PYTHON", "SCALA", "R"];
/// Source files with these extensions are stored as plain workspace FILEs.
const FILE_EXTENSIONS: &[&str] = &[".sql", ".py", ".scala", ".r"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Directory,
    File,
    Notebook,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Directory => "DIRECTORY",
            Kind::File => "FILE",
            Kind::Notebook => "NOTEBOOK",
        }
    }
}

#[derive(Debug)]
struct Object {
    kind: Kind,
    language: Option<String>,
    content: Vec<u8>,
    object_id: i64,
}

/// Objects by canonical path (without the `/Workspace` prefix).
#[derive(Debug)]
pub struct WorkspaceState {
    objects: BTreeMap<String, Object>,
}

impl Default for WorkspaceState {
    /// The top-level folders every workspace has.
    fn default() -> Self {
        let objects = ["/", "/Users", "/Shared", "/Repos"]
            .into_iter()
            .zip(1..)
            .map(|(path, object_id)| {
                let dir = Object {
                    kind: Kind::Directory,
                    language: None,
                    content: Vec::new(),
                    object_id,
                };
                (path.to_string(), dir)
            })
            .collect();
        Self { objects }
    }
}

/// Canonical form of an absolute path: no `/Workspace` prefix, no trailing slash.
fn canonical(path: &str) -> ApiResult<String> {
    if !path.starts_with('/') {
        return Err(ApiError::invalid(format!(
            "Path ({path}) doesn't start with '/'"
        )));
    }
    let rest = match path.strip_prefix("/Workspace") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    };
    let trimmed = rest.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    })
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

impl WorkspaceState {
    /// Creates `path` and its missing parents as directories (mkdirs semantics).
    fn ensure_dirs(&mut self, ids: &mut Ids, path: &str) -> ApiResult<()> {
        let mut prefix = String::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            prefix.push('/');
            prefix.push_str(segment);
            match self.objects.get(&prefix) {
                Some(obj) if obj.kind != Kind::Directory => {
                    return Err(ApiError::already_exists(format!(
                        "Path ({prefix}) already exists and is not a directory."
                    )));
                }
                Some(_) => {}
                None => {
                    let dir = Object {
                        kind: Kind::Directory,
                        language: None,
                        content: Vec::new(),
                        object_id: ids.object_id(),
                    };
                    self.objects.insert(prefix.clone(), dir);
                }
            }
        }
        Ok(())
    }

    /// Seeds a FILE, creating its parents (test setup, so a clash is simply overwritten).
    pub fn put_file(&mut self, ids: &mut Ids, path: &str, content: &str) {
        self.seed(ids, path, Kind::File, None, content);
    }

    /// Seeds a NOTEBOOK of `language` (SQL, PYTHON, ...) exactly at `path`.
    pub fn put_notebook(&mut self, ids: &mut Ids, path: &str, language: &str, content: &str) {
        self.seed(ids, path, Kind::Notebook, Some(language), content);
    }

    fn seed(
        &mut self,
        ids: &mut Ids,
        path: &str,
        kind: Kind,
        language: Option<&str>,
        content: &str,
    ) {
        let path = canonical(path).unwrap_or_else(|_| format!("/{path}"));
        if self.ensure_dirs(ids, parent(&path)).is_err() {
            tracing::warn!(%path, "seeding: a parent of the path is a file");
            return;
        }
        let object = Object {
            kind,
            language: language.map(str::to_string),
            content: content.as_bytes().to_vec(),
            object_id: ids.object_id(),
        };
        self.objects.insert(path, object);
    }

    /// `FILE`, `NOTEBOOK` or `DIRECTORY` at `path`, if anything is there.
    pub fn object_type(&self, path: &str) -> Option<&'static str> {
        let obj = self.objects.get(&canonical(path).ok()?)?;
        Some(obj.kind.name())
    }

    /// Whether `path` is an existing directory.
    pub fn is_directory(&self, path: &str) -> bool {
        canonical(path)
            .ok()
            .and_then(|p| self.objects.get(&p))
            .is_some_and(|o| o.kind == Kind::Directory)
    }

    /// Decoded content of a FILE or NOTEBOOK.
    pub fn file(&self, path: &str) -> Option<String> {
        let obj = self.objects.get(&canonical(path).ok()?)?;
        (obj.kind != Kind::Directory).then(|| String::from_utf8_lossy(&obj.content).into_owned())
    }

    /// Every FILE and NOTEBOOK as `(/Workspace path, notebook language, decoded content)`, by
    /// path: what a pipeline's glob libraries are matched against.
    pub fn sources(&self) -> Vec<(String, Option<String>, String)> {
        self.objects
            .iter()
            .filter(|(_, obj)| obj.kind != Kind::Directory)
            .map(|(path, obj)| {
                let language = (obj.kind == Kind::Notebook)
                    .then(|| obj.language.clone())
                    .flatten();
                let text = String::from_utf8_lossy(&obj.content).into_owned();
                (format!("/Workspace{path}"), language, text)
            })
            .collect()
    }
}

/// `POST /api/2.0/workspace/mkdirs {path}`.
pub async fn mkdirs(
    State(app): State<SharedApp>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let path = canonical(req_str(&body, "path", "")?)?;
    let mut state = app.lock();
    let state = &mut *state;
    state.workspace.ensure_dirs(&mut state.ids, &path)?;
    Ok(Json(json!({})))
}

/// The notebook header AUTO recognises, and the notebook language it means.
const NOTEBOOK_HEADERS: &[(&[u8], &str)] = &[
    (b"# Databricks notebook source", "PYTHON"),
    (b"-- Databricks notebook source", "SQL"),
    (b"// Databricks notebook source", "SCALA"),
];

/// What an import creates: plain files for AUTO/RAW and for source files with a code
/// extension; notebooks otherwise (or when AUTO sees a notebook header).
fn imported_kind(format: &str, path: &str, content: &[u8]) -> Kind {
    let lower = path.to_ascii_lowercase();
    match format {
        "AUTO" if notebook_header(content).is_some() => Kind::Notebook,
        "AUTO" | "RAW" => Kind::File,
        "SOURCE" if FILE_EXTENSIONS.iter().any(|ext| lower.ends_with(ext)) => Kind::File,
        _ => Kind::Notebook,
    }
}

/// The language a notebook header names, when `content` starts with one.
fn notebook_header(content: &[u8]) -> Option<&'static str> {
    NOTEBOOK_HEADERS
        .iter()
        .find(|(header, _)| content.starts_with(header))
        .map(|(_, language)| *language)
}

/// Where AUTO puts a notebook: "If the item is imported as a notebook, then the item's
/// extension is automatically removed" (Workspace API, import).
fn notebook_path(path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    match FILE_EXTENSIONS.iter().find(|ext| lower.ends_with(*ext)) {
        Some(ext) => path[..path.len() - ext.len()].to_string(),
        None => path.to_string(),
    }
}

/// `POST /api/2.0/workspace/import {path, format, language, content, overwrite}`.
pub async fn import(
    State(app): State<SharedApp>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let path = canonical(req_str(&body, "path", "")?)?;
    let format = opt_str(&body, "format", "")?.unwrap_or("SOURCE");
    if !FORMATS.contains(&format) {
        return Err(ApiError::invalid(format!(
            "Invalid value '{format}' for field 'format': expected one of {}",
            FORMATS.join(", ")
        )));
    }
    let language = opt_str(&body, "language", "")?;
    match language {
        Some(l) if !LANGUAGES.contains(&l) => {
            return Err(ApiError::invalid(format!(
                "Invalid value '{l}' for field 'language': expected one of {}",
                LANGUAGES.join(", ")
            )));
        }
        None if format == "SOURCE" => {
            return Err(ApiError::invalid(
                "The language field is required when format is SOURCE",
            ));
        }
        _ => {}
    }
    let content = STANDARD
        .decode(opt_str(&body, "content", "")?.unwrap_or(""))
        .map_err(|e| ApiError::malformed(format!("content is not valid base64: {e}")))?;
    let overwrite = opt_bool(&body, "overwrite", "")?.unwrap_or(false);

    let kind = imported_kind(format, &path, &content);
    let (path, language) = match (format, kind) {
        ("AUTO", Kind::Notebook) => (notebook_path(&path), notebook_header(&content)),
        _ => (path, language),
    };
    let mut state = app.lock();
    let state = &mut *state;
    let objects = &mut state.workspace.objects;
    let parent_path = parent(&path);
    match objects.get(parent_path) {
        Some(dir) if dir.kind == Kind::Directory => {}
        _ => {
            return Err(ApiError::not_found(format!(
                "The parent folder ({parent_path}) does not exist."
            )));
        }
    }
    let object_id = match objects.get(&path) {
        Some(existing) if existing.kind == Kind::Directory || !overwrite => {
            return Err(ApiError::already_exists(format!(
                "Path ({path}) already exists."
            )));
        }
        Some(existing) => existing.object_id,
        None => state.ids.object_id(),
    };
    let object = Object {
        kind,
        language: language.map(str::to_string),
        content,
        object_id,
    };
    objects.insert(path, object);
    Ok(Json(json!({})))
}

/// `GET /api/2.0/workspace/get-status?path=`.
pub async fn get_status(State(app): State<SharedApp>, params: Params) -> ApiResult<Json<Value>> {
    let given = params
        .get("path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid("Missing required field: path"))?;
    let path = canonical(given)?;
    let state = app.lock();
    let obj = state
        .workspace
        .objects
        .get(&path)
        .ok_or_else(|| ApiError::not_found(format!("Path ({given}) doesn't exist.")))?;
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
    let given = params
        .get("path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid("Missing required field: path"))?;
    let format = params.get("format").unwrap_or("SOURCE");
    if !FORMATS.contains(&format) {
        return Err(ApiError::invalid(format!(
            "Invalid value '{format}' for field 'format': expected one of {}",
            FORMATS.join(", ")
        )));
    }
    let path = canonical(given)?;
    let state = app.lock();
    let obj = state
        .workspace
        .objects
        .get(&path)
        .ok_or_else(|| ApiError::not_found(format!("Path ({given}) doesn't exist.")))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths() {
        assert_eq!(canonical("/Workspace/Shared/x").unwrap(), "/Shared/x");
        assert_eq!(canonical("/Shared/x/").unwrap(), "/Shared/x");
        assert_eq!(canonical("/Workspace").unwrap(), "/");
        assert_eq!(canonical("/WorkspaceX/a").unwrap(), "/WorkspaceX/a");
        assert!(canonical("Shared/x").is_err());
    }

    #[test]
    fn parents() {
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
    }

    #[test]
    fn import_kinds() {
        assert_eq!(imported_kind("SOURCE", "/a/b.sql", b""), Kind::File);
        assert_eq!(imported_kind("SOURCE", "/a/b", b""), Kind::Notebook);
        assert_eq!(imported_kind("AUTO", "/a/b", b"x"), Kind::File);
        assert_eq!(
            imported_kind("AUTO", "/a/b.py", b"# Databricks notebook source\n"),
            Kind::Notebook
        );
        assert_eq!(imported_kind("RAW", "/a/b", b""), Kind::File);
        assert_eq!(
            imported_kind(
                "AUTO",
                "/a/b.sql",
                b"-- Databricks notebook source\nSELECT 1"
            ),
            Kind::Notebook
        );
        assert_eq!(
            notebook_header(b"-- Databricks notebook source\n"),
            Some("SQL")
        );
        assert_eq!(notebook_path("/a/b.sql"), "/a/b");
        assert_eq!(notebook_path("/a/b.PY"), "/a/b");
        assert_eq!(notebook_path("/a/b"), "/a/b");
    }

    #[test]
    fn put_file_creates_parents_and_reads_back() {
        let mut ws = WorkspaceState::default();
        let mut ids = Ids::default();
        ws.put_file(&mut ids, "/Workspace/Shared/a/b.sql", "SELECT 1");
        assert_eq!(ws.file("/Shared/a/b.sql").as_deref(), Some("SELECT 1"));
        assert_eq!(ws.objects["/Shared/a"].kind, Kind::Directory);
        assert!(ws.file("/Shared/a").is_none());
    }
}
