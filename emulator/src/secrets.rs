//! Secret scopes: `GET /api/2.0/secrets/list?scope=` (key names only, never values), and the
//! lookup serving endpoints make for `{{secrets/<scope>/<key>}}` references. Tests seed secrets
//! with `Emulator::put_secret`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::body::Params;
use crate::error::{ApiError, ApiResult};
use crate::ids::now_ms;
use crate::state::SharedApp;

#[derive(Debug, Default)]
pub struct SecretsState {
    /// scope -> key -> (value, last updated ms).
    scopes: BTreeMap<String, BTreeMap<String, (String, i64)>>,
}

impl SecretsState {
    pub fn put(&mut self, scope: &str, key: &str, value: &str) {
        self.scopes
            .entry(scope.to_string())
            .or_default()
            .insert(key.to_string(), (value.to_string(), now_ms()));
    }

    pub fn exists(&self, scope: &str, key: &str) -> bool {
        self.scopes.get(scope).is_some_and(|s| s.contains_key(key))
    }
}

fn no_scope(scope: &str) -> ApiError {
    ApiError::not_found(format!("Scope {scope} does not exist!"))
}

/// `GET /api/2.0/secrets/list?scope=S` → `{"secrets": [{key, last_updated_timestamp}]}` (the
/// key absent when the scope is empty).
pub async fn list(State(app): State<SharedApp>, params: Params) -> ApiResult<Json<Value>> {
    let scope = params
        .get("scope")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid("Missing required field: scope"))?;
    let state = app.lock();
    let keys = state
        .secrets
        .scopes
        .get(scope)
        .ok_or_else(|| no_scope(scope))?;
    if keys.is_empty() {
        return Ok(Json(json!({})));
    }
    let secrets: Vec<Value> = keys
        .iter()
        .map(|(key, (_, at))| json!({"key": key, "last_updated_timestamp": at}))
        .collect();
    Ok(Json(json!({ "secrets": secrets })))
}
