//! The Pipelines service: CRUD and list (create/edit with full validation, name uniqueness,
//! the LIKE filter and opaque page tokens); updates and events live in `updates`.

pub mod events;
mod like;
mod spec;
pub mod updates;

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::body::{JsonBody, Params};
use crate::error::{ApiError, ApiResult};
use crate::identity::Caller;
use crate::ids::{Ids, now_ms};
use crate::permissions::ObjectType;
use crate::state::SharedApp;
use like::LikePattern;
use spec::{Mode, validate_settings};
use updates::Update;

#[derive(Debug)]
pub struct Pipeline {
    pub id: String,
    /// The stored settings, always carrying `id` like the real spec.
    pub spec: Map<String, Value>,
    pub last_modified: i64,
    /// `creator_user_name`: the caller for pipelines made through the API.
    pub creator: String,
    pub updates: Vec<Update>,
    /// Event log, oldest first.
    pub events: Vec<Value>,
}

impl Pipeline {
    pub fn name(&self) -> &str {
        self.spec.get("name").and_then(Value::as_str).unwrap_or("")
    }

    /// RUNNING while an update is active, IDLE otherwise.
    fn state(&self) -> &'static str {
        if self.updates.iter().any(|u| !u.is_final()) {
            "RUNNING"
        } else {
            "IDLE"
        }
    }

    /// Newest first, as the real `latest_updates`.
    fn latest_updates(&self) -> Value {
        self.updates
            .iter()
            .rev()
            .take(5)
            .map(Update::summary)
            .collect()
    }

    fn status_json(&self) -> Value {
        json!({
            "pipeline_id": self.id,
            "name": self.name(),
            "state": self.state(),
            "creator_user_name": self.creator,
            "latest_updates": self.latest_updates(),
        })
    }

    fn detail_json(&self) -> Value {
        json!({
            "pipeline_id": self.id,
            "name": self.name(),
            "state": self.state(),
            "spec": self.spec,
            "latest_updates": self.latest_updates(),
            "creator_user_name": self.creator,
            "run_as_user_name": self.creator,
            "last_modified": self.last_modified,
        })
    }
}

#[derive(Debug, Default)]
pub struct PipelinesState {
    pub list: Vec<Pipeline>,
    /// Final state for the next update started (set_next_update_outcome); COMPLETED when None.
    pub next_outcome: Option<String>,
    /// Why the next update that fails fails (its `error.exceptions[].message`).
    pub next_error: Option<String>,
}

impl PipelinesState {
    pub fn get_mut(&mut self, id: &str) -> ApiResult<&mut Pipeline> {
        self.list
            .iter_mut()
            .find(|p| p.id == id)
            .ok_or_else(|| no_such_pipeline(id))
    }

    /// Stores a spec under a fresh id (the spec gets `id` added) and returns the id.
    pub fn insert(&mut self, ids: &mut Ids, mut spec: Map<String, Value>) -> String {
        let id = ids.uuid();
        spec.insert("id".into(), json!(id));
        self.list.push(Pipeline {
            id: id.clone(),
            spec,
            last_modified: now_ms(),
            creator: crate::USER_NAME.to_string(),
            updates: Vec::new(),
            events: Vec::new(),
        });
        id
    }

    /// Another pipeline (not `except`) already called `name`.
    fn name_taken(&self, name: &str, except: Option<&str>) -> Option<&Pipeline> {
        self.list
            .iter()
            .find(|p| p.name() == name && Some(p.id.as_str()) != except)
    }

    pub fn summaries(&self) -> Vec<Value> {
        self.list
            .iter()
            .map(|p| {
                let updates: Vec<Value> = p.updates.iter().map(Update::record).collect();
                json!({"pipeline_id": p.id, "spec": p.spec, "updates": updates})
            })
            .collect()
    }
}

pub fn no_such_pipeline(id: &str) -> ApiError {
    ApiError::not_found(format!("Pipeline {id} does not exist."))
}

fn check_name_free(
    pipelines: &PipelinesState,
    spec: &Map<String, Value>,
    except: Option<&str>,
) -> ApiResult<()> {
    if spec.get("allow_duplicate_names") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
    match pipelines.name_taken(name, except) {
        Some(other) => Err(ApiError::already_exists(format!(
            "Pipeline with name '{name}' already exists (pipeline_id {}). \
             Set allow_duplicate_names to true to allow duplicate names.",
            other.id
        ))),
        None => Ok(()),
    }
}

/// `POST /api/2.0/pipelines`.
pub async fn create(
    State(app): State<SharedApp>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let spec = validate_settings(&body, Mode::Create)?;
    let mut state = app.lock();
    check_name_free(&state.pipelines, &spec, None)?;
    if body.get("dry_run") == Some(&Value::Bool(true)) {
        return Ok(Json(json!({"effective_settings": spec})));
    }
    let state = &mut *state;
    let id = state.pipelines.insert(&mut state.ids, spec);
    state
        .permissions
        .set_owner(ObjectType::Pipelines, &id, &caller.name);
    let pipeline = state.pipelines.get_mut(&id)?;
    pipeline.creator = caller.name;
    Ok(Json(
        json!({"pipeline_id": id, "effective_settings": pipeline.spec}),
    ))
}

/// `GET /api/2.0/pipelines/{id}`.
pub async fn get(State(app): State<SharedApp>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let mut state = app.lock();
    Ok(Json(state.pipelines.get_mut(&id)?.detail_json()))
}

/// `PUT /api/2.0/pipelines/{id}`: the body becomes the whole new spec.
pub async fn edit(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let mut spec = validate_settings(&body, Mode::Edit)?;
    for key in ["pipeline_id", "id"] {
        if let Some(given) = body.get(key).filter(|v| !v.is_null())
            && given.as_str() != Some(id.as_str())
        {
            return Err(ApiError::invalid(format!(
                "The {key} in the request body ({given}) does not match the pipeline being edited ({id})"
            )));
        }
    }
    let expected = crate::fields::opt_int(&body, "expected_last_modified", "")?;
    let mut state = app.lock();
    let current = state.pipelines.get_mut(&id)?.last_modified;
    // Optimistic concurrency: an edit based on an older read must not undo a newer one.
    if let Some(expected) = expected
        && expected != current
    {
        return Err(ApiError::conflict(format!(
            "Pipeline {id} was modified (last_modified {current}) after the expected \
             last_modified {expected}; read it again and retry the edit."
        )));
    }
    check_name_free(&state.pipelines, &spec, Some(&id))?;
    spec.insert("id".into(), json!(id));
    let pipeline = state.pipelines.get_mut(&id)?;
    pipeline.spec = spec;
    // Strictly increasing, so two edits within a millisecond still differ.
    pipeline.last_modified = now_ms().max(current + 1);
    Ok(Json(json!({})))
}

/// `DELETE /api/2.0/pipelines/{id}`.
pub async fn delete(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut state = app.lock();
    state.pipelines.get_mut(&id)?;
    state.pipelines.list.retain(|p| p.id != id);
    Ok(Json(json!({})))
}

/// `GET /api/2.0/pipelines?filter=&max_results=&page_token=`.
pub async fn list(State(app): State<SharedApp>, params: Params) -> ApiResult<Json<Value>> {
    let fold = app.config.like_case_insensitive;
    let filter = params.get("filter").unwrap_or("");
    let pattern = parse_filter(
        &if fold {
            filter.to_lowercase()
        } else {
            filter.to_string()
        },
        app.config.like_backslash_escapes,
    )?;
    let page_size = match params.get("max_results") {
        None | Some("") => app.config.list_page_size,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(app.config.list_page_size),
            _ => {
                return Err(ApiError::invalid(format!(
                    "Invalid value for max_results: '{raw}' (expected a positive integer)"
                )));
            }
        },
    }
    .max(1);
    let offset = match params.get("page_token") {
        None | Some("") => 0,
        Some(token) => decode_page_token(token)?,
    };
    let state = app.lock();
    let matching: Vec<&Pipeline> = state
        .pipelines
        .list
        .iter()
        .filter(|p| {
            pattern.as_ref().is_none_or(|like| {
                if fold {
                    like.matches(&p.name().to_lowercase())
                } else {
                    like.matches(p.name())
                }
            })
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|p| p.status_json())
        .collect();
    let mut out = json!({});
    if !page.is_empty() {
        out["statuses"] = Value::Array(page);
    }
    if offset + page_size < matching.len() {
        out["next_page_token"] = json!(encode_page_token(offset + page_size));
    }
    Ok(Json(out))
}

/// The only filter supported: `name LIKE '<pattern>'` ('' inside the literal is a quote).
fn parse_filter(filter: &str, backslash_escapes: bool) -> ApiResult<Option<LikePattern>> {
    let filter = filter.trim();
    if filter.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        ApiError::invalid(format!(
            "Invalid filter '{filter}': expected name LIKE '<pattern>'"
        ))
    };
    let (column, rest) = filter.split_once(char::is_whitespace).ok_or_else(invalid)?;
    let (op, literal) = rest
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or_else(invalid)?;
    if !column.eq_ignore_ascii_case("name") || !op.eq_ignore_ascii_case("like") {
        return Err(invalid());
    }
    let body = literal
        .trim()
        .strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))
        .ok_or_else(invalid)?;
    // Inside the literal a quote only appears doubled.
    if body.replace("''", "").contains('\'') {
        return Err(invalid());
    }
    Ok(Some(LikePattern::new(
        &body.replace("''", "'"),
        backslash_escapes,
    )))
}

fn encode_page_token(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("pipelines-offset:{offset}"))
}

fn decode_page_token(token: &str) -> ApiResult<usize> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| s.strip_prefix("pipelines-offset:")?.parse().ok())
        .ok_or_else(|| ApiError::invalid(format!("Invalid page_token: '{token}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_grammar() {
        let p = parse_filter("name LIKE 'sdp%'", true).unwrap().unwrap();
        assert!(p.matches("sdp_x"));
        let p = parse_filter("  NAME  like   'it''s%' ", true)
            .unwrap()
            .unwrap();
        assert!(p.matches("it's mine"));
        assert!(parse_filter("", true).unwrap().is_none());
        for bad in [
            "name = 'x'",
            "notebook LIKE 'x'",
            "name LIKE x",
            "name LIKE 'a'b'",
            "name LIKE 'x",
            "name",
        ] {
            assert!(parse_filter(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        assert_eq!(decode_page_token(&encode_page_token(50)).unwrap(), 50);
        assert!(decode_page_token("garbage!").is_err());
        assert!(decode_page_token(&URL_SAFE_NO_PAD.encode("x:1")).is_err());
    }
}
