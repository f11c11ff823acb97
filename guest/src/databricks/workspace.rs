//! Workspace files API: where pipeline source files live.

use super::client::{Retry, WorkspaceClient, query};
use crate::error::{Error, Result};
use base64::Engine;
use serde_json::{Value, json};

/// What `get-status` says is at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    File,
    Notebook,
    /// A folder, a library, a repo: nothing a pipeline can run as source.
    Other,
}

/// What is at `path`, or None when nothing is.
pub async fn object_at(ws: &WorkspaceClient, path: &str) -> Result<Option<Object>> {
    match ws
        .get(&format!(
            "/api/2.0/workspace/get-status?{}",
            query(&[("path", path)])
        ))
        .await
    {
        Ok(status) => Ok(Some(
            match status.get("object_type").and_then(Value::as_str) {
                Some("FILE") => Object::File,
                Some("NOTEBOOK") => Object::Notebook,
                _ => Object::Other,
            },
        )),
        Err(Error::Upstream(u)) if u.status == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates `dir` and its parents (fine if they exist).
pub async fn mkdirs(ws: &WorkspaceClient, dir: &str) -> Result<()> {
    ws.post(
        "/api/2.0/workspace/mkdirs",
        &json!({ "path": dir }),
        Retry::Safe,
    )
    .await
    .map(drop)
}

/// First lines that make `AUTO` import a notebook (and drop the file's extension).
const NOTEBOOK_HEADERS: [&str; 3] = [
    "# Databricks notebook source",
    "-- Databricks notebook source",
    "// Databricks notebook source",
];

/// `text` without a leading notebook header line, so that it imports as a file.
pub fn as_file_source(text: &str) -> &str {
    let trimmed = text.trim_start_matches('\u{feff}');
    let (first, rest) = trimmed.split_once('\n').unwrap_or((trimmed, ""));
    if NOTEBOOK_HEADERS.contains(&first.trim_end()) {
        rest
    } else {
        text
    }
}

/// Writes a source file (creating its folder), replacing what is there. `AUTO` keeps a
/// `.sql`/`.py` path a workspace FILE at exactly that path once no notebook header is left.
pub async fn upload(ws: &WorkspaceClient, path: &str, text: &str) -> Result<()> {
    if let Some((dir, _)) = path.rsplit_once('/')
        && !dir.is_empty()
    {
        mkdirs(ws, dir).await?;
    }
    let body = json!({
        "path": path,
        "format": "AUTO",
        "content": base64::engine::general_purpose::STANDARD.encode(as_file_source(text)),
        "overwrite": true,
    });
    ws.post("/api/2.0/workspace/import", &body, Retry::Safe)
        .await
        .map(|_: Value| ())
}

/// The bytes of a workspace file (`export`, `format=AUTO`: a file comes back as it is).
pub async fn export(ws: &WorkspaceClient, path: &str) -> Result<Vec<u8>> {
    let request = "GET /api/2.0/workspace/export";
    let answer = ws
        .get(&format!(
            "/api/2.0/workspace/export?{}",
            query(&[("path", path), ("format", "AUTO")])
        ))
        .await?;
    let malformed = |message: String| {
        Error::Upstream(crate::error::Upstream {
            status: 200,
            error_code: "MALFORMED_RESPONSE".into(),
            message,
            request: request.into(),
        })
    };
    let content = answer
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(format!("export answered without content for {path}")))?;
    base64::engine::general_purpose::STANDARD
        .decode(content)
        .map_err(|e| malformed(format!("export content of {path} is not base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notebook_headers_are_stripped() {
        assert_eq!(
            as_file_source("-- Databricks notebook source\nSELECT 1"),
            "SELECT 1"
        );
        assert_eq!(
            as_file_source("# Databricks notebook source\r\nx = 1"),
            "x = 1"
        );
        assert_eq!(as_file_source("SELECT 1"), "SELECT 1");
        assert_eq!(
            as_file_source("SELECT 1 -- Databricks notebook source"),
            "SELECT 1 -- Databricks notebook source"
        );
    }
}
