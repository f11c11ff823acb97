//! `workspace/import`: what an import creates (file or notebook, and where) from its format,
//! path and content.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::check_format;
use super::tree::{Kind, Object, canonical, parent};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::fields::{opt_bool, opt_str, req_str};
use crate::identity::Caller;
use crate::permissions::{self, ObjectType};
use crate::state::SharedApp;

const LANGUAGES: &[&str] = &["SQL", "PYTHON", "SCALA", "R"];
/// Source files with these extensions are stored as plain workspace FILEs.
const FILE_EXTENSIONS: &[&str] = &[".sql", ".py", ".scala", ".r"];

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
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let path = canonical(req_str(&body, "path", "")?)?;
    let format = opt_str(&body, "format", "")?.unwrap_or("SOURCE");
    check_format(format)?;
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
    match state.workspace.objects.get(&path) {
        Some(existing) if existing.kind != Kind::Directory && overwrite => {
            permissions::check_edit(state, &caller, &path)?
        }
        Some(_) => {}
        None => permissions::check_create(state, &caller, &path)?,
    }
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
        None => {
            let id = state.ids.object_id();
            // The creator manages what it created.
            let kind = match kind {
                Kind::Notebook => ObjectType::Notebooks,
                _ => ObjectType::Files,
            };
            state
                .permissions
                .set_owner(kind, &id.to_string(), &caller.name);
            id
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
