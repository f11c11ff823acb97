//! Pipeline updates: start one (adopting it when the answer was lost), poll its state, and
//! read why it failed from its own ERROR events.

use super::client::{Retry, Workspace, backoff, outcome_unknown, query};
use super::pipelines::{malformed, next_page};
use crate::error::{Error, Result};
use serde_json::{Value, json};

/// States after which an update does nothing more.
pub const FINAL_STATES: [&str; 3] = ["COMPLETED", "FAILED", "CANCELED"];

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
pub async fn start(ws: &Workspace, id: &str, full_refresh: bool) -> Result<Started> {
    let path = format!("/api/2.0/pipelines/{id}/updates");
    let before = latest_update_ids(ws, id).await?;
    let mut attempt = 1;
    loop {
        let error = match ws
            .post(&path, &json!({"full_refresh": full_refresh}), Retry::Never)
            .await
        {
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
async fn latest_update_ids(ws: &Workspace, id: &str) -> Result<Vec<String>> {
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
pub async fn state(ws: &Workspace, id: &str, update_id: &str) -> Result<String> {
    let path = format!("/api/2.0/pipelines/{id}/updates/{update_id}");
    let answer = ws.get(&path).await?;
    answer
        .pointer("/update/state")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| malformed(&format!("GET {path}"), "update.state", &answer))
}

/// Pages of ERROR events read at most, newest first (a failed update's are among the newest).
const EVENT_PAGES: usize = 5;
/// A reason longer than this is cut (exception messages can carry whole plans).
const REASON_CHARS: usize = 500;

/// Why `update_id` failed: the `error.exceptions[].message` of that update's ERROR events
/// (oldest first, each once), else those events' own messages. Empty when none can be read.
pub async fn failure_reasons(ws: &Workspace, id: &str, update_id: &str) -> Vec<String> {
    let mut exceptions = Vec::new();
    let mut headlines = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..EVENT_PAGES {
        // A page token may be sent with nothing but max_results.
        let pairs: Vec<(&str, &str)> = match &token {
            Some(t) => vec![("page_token", t.as_str()), ("max_results", "100")],
            None => vec![("filter", "level='ERROR'"), ("max_results", "100")],
        };
        let path = format!("/api/2.0/pipelines/{id}/events?{}", query(&pairs));
        let Ok(page) = ws.get(&path).await else {
            break;
        };
        let events = page.get("events").and_then(Value::as_array);
        for event in events.into_iter().flatten() {
            if event.pointer("/origin/update_id").and_then(Value::as_str) != Some(update_id) {
                continue;
            }
            let messages = event.pointer("/error/exceptions").and_then(Value::as_array);
            for m in messages.into_iter().flatten() {
                if let Some(m) = m.get("message").and_then(Value::as_str) {
                    exceptions.push(m.to_string());
                }
            }
            if let Some(m) = event.get("message").and_then(Value::as_str) {
                headlines.push(m.to_string());
            }
        }
        token = next_page(&page);
        if token.is_none() {
            break;
        }
    }
    let chosen = if exceptions.is_empty() {
        headlines
    } else {
        exceptions
    };
    let mut out: Vec<String> = Vec::new();
    // Newest first on the wire; the first error is usually the cause.
    for m in chosen.into_iter().rev() {
        let m: String = m.trim().chars().take(REASON_CHARS).collect();
        if !m.is_empty() && !out.contains(&m) {
            out.push(m);
        }
    }
    out
}
