//! Jobs API: one-time runs (`runs/submit`) and their UI link.

use super::client::{Retry, WorkspaceClient, query};
use crate::error::{Error, Result, Upstream};
use serde_json::Value;

/// Submits a one-time run; `body` must carry an `idempotency_token`, which is what makes
/// retrying this POST safe.
pub async fn submit(ws: &WorkspaceClient, body: &Value) -> Result<i64> {
    debug_assert!(body.get("idempotency_token").is_some());
    let answer = ws
        .post("/api/2.2/jobs/runs/submit", body, Retry::Safe)
        .await?;
    answer.get("run_id").and_then(Value::as_i64).ok_or_else(|| {
        Error::Upstream(Upstream {
            status: 200,
            error_code: "MALFORMED_RESPONSE".into(),
            message: format!("runs/submit answered without a run_id: {answer}"),
            request: "POST /api/2.2/jobs/runs/submit".into(),
        })
    })
}

/// The run's `run_page_url`, when the workspace gives one.
pub async fn run_page_url(ws: &WorkspaceClient, run_id: i64) -> Result<Option<String>> {
    let id = run_id.to_string();
    let run = ws
        .get(&format!(
            "/api/2.2/jobs/runs/get?{}",
            query(&[("run_id", &id)])
        ))
        .await?;
    Ok(run
        .get("run_page_url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_string))
}
