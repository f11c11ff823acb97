//! Pipeline updates: start one (adopting it when the answer was lost) and poll its state.
//! What an update reported (its errors, its dataset graph) is read in `events`.

use super::client::{Retry, WorkspaceClient, backoff, outcome_unknown};
use super::pipelines::malformed;
use crate::error::{Error, Result};
use serde_json::{Value, json};

/// States after which an update does nothing more.
pub const FINAL_STATES: [&str; 3] = ["COMPLETED", "FAILED", "CANCELED"];

/// What an update does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Refreshes the pipeline's datasets (all of their data with `full_refresh`).
    Refresh { full_refresh: bool },
    /// Analyses the graph and the code and writes no data (`validate_only`).
    Validate,
}

impl Kind {
    fn body(self) -> Value {
        match self {
            Kind::Refresh { full_refresh } => json!({ "full_refresh": full_refresh }),
            Kind::Validate => json!({ "validate_only": true }),
        }
    }
}

/// How starting an update ended.
pub enum Started {
    Update(String),
    /// 409: an update is already active.
    AlreadyRunning,
}

const START_ATTEMPTS: u32 = 3;

/// Starts an update. The call has no idempotency token, so it is never blindly repeated:
/// after a 5xx, a timeout or a dropped connection the pipeline's `latest_updates` tell whether
/// it started anyway (then that update is adopted; repeating would answer 409) or not (then
/// it is sent again).
pub async fn start(ws: &WorkspaceClient, id: &str, kind: Kind) -> Result<Started> {
    let path = format!("/api/2.0/pipelines/{id}/updates");
    let before = latest_update_ids(ws, id).await?;
    let mut attempt = 1;
    loop {
        let error = match ws.post(&path, &kind.body(), Retry::Never).await {
            Ok(answer) => {
                return answer
                    .get("update_id")
                    .and_then(Value::as_str)
                    .map(|u| Started::Update(u.to_string()))
                    .ok_or_else(|| malformed(&format!("POST {path}"), "update_id", &answer));
            }
            Err(Error::Upstream(u)) if u.status == 409 => return Ok(Started::AlreadyRunning),
            Err(e) if outcome_unknown(&e) => e,
            Err(e) => return Err(e),
        };
        let after = latest_update_ids(ws, id).await?;
        if let Some(started) = after.into_iter().find(|u| !before.contains(u)) {
            eprintln!("sdp-agent: starting an update answered {error}, but it started: {started}");
            return Ok(Started::Update(started));
        }
        if attempt >= START_ATTEMPTS {
            return Err(error);
        }
        eprintln!("sdp-agent: starting an update failed ({error}); none started, retrying");
        wstd::task::sleep(backoff(attempt).into()).await;
        attempt += 1;
    }
}

/// Ids in the pipeline's `latest_updates` (its newest updates).
async fn latest_update_ids(ws: &WorkspaceClient, id: &str) -> Result<Vec<String>> {
    let answer = ws.get(&format!("/api/2.0/pipelines/{id}")).await?;
    Ok(answer
        .get("latest_updates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|u| u.get("update_id").and_then(Value::as_str))
        .map(str::to_string)
        .collect())
}

/// The update's current state.
pub async fn state(ws: &WorkspaceClient, id: &str, update_id: &str) -> Result<String> {
    let path = format!("/api/2.0/pipelines/{id}/updates/{update_id}");
    let answer = ws.get(&path).await?;
    answer
        .pointer("/update/state")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| malformed(&format!("GET {path}"), "update.state", &answer))
}
