//! `--record DIR` / `--replay DIR`: every model exchange as one JSON file in DIR, named by the
//! key of its request (the start of the SHA-256 of the request body as sent). Replay answers
//! the stored status, content type and body byte for byte, so a recording made against a real
//! model reruns in CI without one.

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Exchange;
use crate::error::ApiError;

#[derive(Clone, Debug)]
pub enum Recording {
    Record(PathBuf),
    Replay(PathBuf),
}

impl Recording {
    /// Records into `dir`, made when missing.
    pub fn record(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("--record {}: {e}", dir.display()))?;
        Ok(Self::Record(dir.to_path_buf()))
    }

    /// Replays from `dir`, which must be a folder.
    pub fn replay(dir: &Path) -> anyhow::Result<Self> {
        if !dir.is_dir() {
            anyhow::bail!("--replay {}: not a folder", dir.display());
        }
        Ok(Self::Replay(dir.to_path_buf()))
    }
}

/// 16 hex digits: the first 64 bits of the SHA-256 of the request body.
pub fn recording_key(request: &[u8]) -> String {
    Sha256::digest(request)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One file of a recording.
#[derive(Serialize, Deserialize)]
struct Stored {
    key: String,
    /// The endpoint the agent named (for a reader; not part of the key).
    endpoint: String,
    request: Value,
    status: u16,
    content_type: Option<String>,
    /// The answer's body exactly as received.
    body: String,
}

fn file(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.json"))
}

pub fn store(
    dir: &Path,
    endpoint: &str,
    request: &[u8],
    exchange: &Exchange,
) -> Result<(), ApiError> {
    let failed = |what: String| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            format!("recording the model exchange in {}: {what}", dir.display()),
        )
    };
    let key = recording_key(request);
    let stored = Stored {
        key: key.clone(),
        endpoint: endpoint.to_string(),
        request: serde_json::from_slice(request).unwrap_or(Value::Null),
        status: exchange.status.as_u16(),
        content_type: exchange
            .content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: String::from_utf8(exchange.body.to_vec())
            .map_err(|_| failed("the answer is not UTF-8 text".into()))?,
    };
    let text = serde_json::to_string_pretty(&stored).map_err(|e| failed(e.to_string()))?;
    // Whole files only: a reader (or a replay) never sees half an exchange.
    let partial = dir.join(format!(".{key}.json.partial"));
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, file(dir, &key)))
        .map_err(|e| failed(e.to_string()))
}

pub fn replay(dir: &Path, request: &[u8]) -> Exchange {
    let key = recording_key(request);
    let path = file(dir, &key);
    let stored = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str::<Stored>(&text).map_err(|e| e.to_string()));
    match stored {
        Ok(stored) => Exchange {
            status: StatusCode::from_u16(stored.status).unwrap_or(StatusCode::BAD_GATEWAY),
            content_type: stored
                .content_type
                .and_then(|v| HeaderValue::from_str(&v).ok()),
            body: Bytes::from(stored.body),
        },
        Err(error) => {
            let message = if path.exists() {
                format!(
                    "the recorded model exchange {} is unreadable: {error}",
                    path.display()
                )
            } else {
                format!(
                    "no recorded model exchange for key {key} in {} (this request was not \
                     recorded; record it with --record)",
                    dir.display()
                )
            };
            tracing::warn!("{message}");
            Exchange::error(ApiError::not_found(message))
        }
    }
}
