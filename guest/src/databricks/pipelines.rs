//! Pipelines API (Spark Declarative Pipelines): find by exact name, create, edit, updates.

use super::client::{Retry, Workspace, query};
use crate::config::PipelineConfig;
use crate::error::{Error, Result, Upstream};
use serde_json::{Map, Value, json};

/// States after which an update does nothing more.
pub const FINAL_STATES: [&str; 3] = ["COMPLETED", "FAILED", "CANCELED"];

/// A `name LIKE '…'` filter matching `name` literally: LIKE wildcards and the escape
/// character are escaped, and quotes doubled as in SQL.
pub fn name_filter(name: &str) -> String {
    let mut pattern = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match c {
            '\\' | '%' | '_' => {
                pattern.push('\\');
                pattern.push(c);
            }
            '\'' => pattern.push_str("''"),
            c => pattern.push(c),
        }
    }
    format!("name LIKE '{pattern}'")
}

/// The id of the pipeline named exactly `name`, following every page (LIKE is not equality:
/// case rules and stray matches differ between workspaces).
pub async fn find_by_name(ws: &Workspace, name: &str) -> Result<Option<String>> {
    let filter = name_filter(name);
    let mut token: Option<String> = None;
    loop {
        let mut pairs = vec![("filter", filter.as_str()), ("max_results", "100")];
        if let Some(t) = &token {
            pairs.push(("page_token", t));
        }
        let page = ws
            .get(&format!("/api/2.0/pipelines?{}", query(&pairs)))
            .await?;
        let found = page
            .get("statuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|s| s.get("pipeline_id").and_then(Value::as_str));
        if let Some(id) = found {
            return Ok(Some(id.to_string()));
        }
        token = page
            .get("next_page_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(None);
        }
    }
}

fn libraries(cfg: &PipelineConfig) -> Value {
    cfg.workspace_file_paths
        .iter()
        .map(|p| json!({"file": {"path": p}}))
        .collect()
}

/// Creates a serverless, triggered pipeline; returns its id.
pub async fn create(ws: &Workspace, cfg: &PipelineConfig) -> Result<String> {
    let body = json!({
        "name": cfg.pipeline_name,
        "catalog": cfg.catalog,
        "schema": cfg.schema,
        "root_path": cfg.root_path,
        "libraries": libraries(cfg),
        "serverless": true,
        "continuous": false,
        "channel": "CURRENT",
    });
    let answer = ws.post("/api/2.0/pipelines", &body, Retry::Never).await?;
    answer
        .get("pipeline_id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| malformed("POST /api/2.0/pipelines", "pipeline_id", &answer))
}

/// Points an existing pipeline at `cfg`. PUT replaces the whole spec, so the current spec is
/// read and only name/catalog/schema/root_path/libraries change; everything else is kept.
/// Returns the names of the settings that changed.
pub async fn edit(ws: &Workspace, id: &str, cfg: &PipelineConfig) -> Result<Vec<&'static str>> {
    let current = ws.get(&format!("/api/2.0/pipelines/{id}")).await?;
    let Some(Value::Object(spec)) = current.get("spec") else {
        return Err(malformed(
            &format!("GET /api/2.0/pipelines/{id}"),
            "spec",
            &current,
        ));
    };
    let (spec, changed) = edited_spec(spec.clone(), cfg);
    let mut body = spec;
    body.insert("pipeline_id".into(), Value::from(id));
    ws.put(&format!("/api/2.0/pipelines/{id}"), &Value::Object(body))
        .await?;
    Ok(changed)
}

/// `spec` with the agent's fields set, and which of them changed.
pub fn edited_spec(
    mut spec: Map<String, Value>,
    cfg: &PipelineConfig,
) -> (Map<String, Value>, Vec<&'static str>) {
    // A legacy (Hive metastore) pipeline publishes to `target`; sending `schema` beside it
    // is rejected, so its schema goes where it already lives.
    let schema_key = if spec.contains_key("target") && !spec.contains_key("schema") {
        "target"
    } else {
        "schema"
    };
    let wanted = [
        ("name", Value::from(cfg.pipeline_name.as_str())),
        ("catalog", Value::from(cfg.catalog.as_str())),
        (schema_key, Value::from(cfg.schema.as_str())),
        ("root_path", Value::from(cfg.root_path.as_str())),
        ("libraries", libraries(cfg)),
    ];
    let mut changed = Vec::new();
    for (key, value) in wanted {
        if spec.get(key) != Some(&value) {
            changed.push(key);
            spec.insert(key.to_string(), value);
        }
    }
    (spec, changed)
}

/// How starting an update ended.
pub enum Started {
    Update(String),
    /// 409: an update is already active.
    AlreadyRunning,
}

pub async fn start_update(ws: &Workspace, id: &str, full_refresh: bool) -> Result<Started> {
    let path = format!("/api/2.0/pipelines/{id}/updates");
    // Not retried: a lost answer would start a second update, and the 409 guard would make
    // the retry look like a conflict.
    match ws
        .post(&path, &json!({"full_refresh": full_refresh}), Retry::Never)
        .await
    {
        Ok(answer) => answer
            .get("update_id")
            .and_then(Value::as_str)
            .map(|u| Started::Update(u.to_string()))
            .ok_or_else(|| malformed(&format!("POST {path}"), "update_id", &answer)),
        Err(Error::Upstream(u)) if u.status == 409 => Ok(Started::AlreadyRunning),
        Err(e) => Err(e),
    }
}

/// The update's current state.
pub async fn update_state(ws: &Workspace, id: &str, update_id: &str) -> Result<String> {
    let path = format!("/api/2.0/pipelines/{id}/updates/{update_id}");
    let answer = ws.get(&path).await?;
    answer
        .pointer("/update/state")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| malformed(&format!("GET {path}"), "update.state", &answer))
}

/// The first ERROR event's message, to say why an update failed.
pub async fn first_error(ws: &Workspace, id: &str) -> Option<String> {
    let events = ws
        .get(&format!("/api/2.0/pipelines/{id}/events"))
        .await
        .ok()?;
    events
        .get("events")?
        .as_array()?
        .iter()
        .find(|e| e.get("level").and_then(Value::as_str) == Some("ERROR"))
        .and_then(|e| e.get("message").and_then(Value::as_str))
        .map(str::to_string)
}

fn malformed(request: &str, field: &str, answer: &Value) -> Error {
    Error::Upstream(Upstream {
        status: 200,
        error_code: "MALFORMED_RESPONSE".into(),
        message: format!(
            "answer lacks `{field}`: {}",
            answer.to_string().chars().take(200).collect::<String>()
        ),
        request: request.to_string(),
    })
}
