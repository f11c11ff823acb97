//! Workspace files API: where pipeline source files live.

use super::client::{Retry, Workspace, query};
use crate::error::{Error, Result};
use base64::Engine;
use serde_json::{Value, json};

/// Whether an object exists at `path`.
pub async fn exists(ws: &Workspace, path: &str) -> Result<bool> {
    match ws
        .get(&format!(
            "/api/2.0/workspace/get-status?{}",
            query(&[("path", path)])
        ))
        .await
    {
        Ok(_) => Ok(true),
        Err(Error::Upstream(u)) if u.status == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates `dir` and its parents (fine if they exist).
pub async fn mkdirs(ws: &Workspace, dir: &str) -> Result<()> {
    ws.post(
        "/api/2.0/workspace/mkdirs",
        &json!({ "path": dir }),
        Retry::Safe,
    )
    .await
    .map(drop)
}

/// Writes a source file (creating its folder), replacing what is there.
pub async fn upload(ws: &Workspace, path: &str, text: &str) -> Result<()> {
    if let Some((dir, _)) = path.rsplit_once('/')
        && !dir.is_empty()
    {
        mkdirs(ws, dir).await?;
    }
    let body = json!({
        "path": path,
        "format": "AUTO",
        "content": base64::engine::general_purpose::STANDARD.encode(text),
        "overwrite": true,
    });
    ws.post("/api/2.0/workspace/import", &body, Retry::Safe)
        .await
        .map(|_: Value| ())
}

/// The bytes of a workspace file (`export`, `format=AUTO`: a file comes back as it is).
pub async fn export(ws: &Workspace, path: &str) -> Result<Vec<u8>> {
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
