//! Pipeline updates: start (409 while one is active), poll-driven state progression, stop, and
//! the event log that records every state change.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use super::Pipeline;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::ids::{Ids, now_ms, rfc3339};
use crate::state::SharedApp;
use crate::validate::{known_keys, opt_bool, opt_str, opt_str_array};

/// The active states an update walks through, one step per `update_polls_per_state` GETs.
const ACTIVE_STATES: &[&str] = &[
    "QUEUED",
    "CREATED",
    "WAITING_FOR_RESOURCES",
    "INITIALIZING",
    "SETTING_UP_TABLES",
    "RUNNING",
];

/// Why an update fails unless a test says otherwise.
const DEFAULT_ERROR: &str = "[TABLE_OR_VIEW_NOT_FOUND] The table or view `bronze` cannot be found. \
                             (emulated failure: set_next_update_outcome(\"FAILED\"))";

const START_KEYS: &[&str] = &[
    "full_refresh",
    "validate_only",
    "refresh_selection",
    "full_refresh_selection",
    "cause",
];

#[derive(Debug)]
pub struct Update {
    id: String,
    pipeline_id: String,
    /// Index into ACTIVE_STATES; ACTIVE_STATES.len() means `final_state` was reached.
    step: usize,
    polls: usize,
    final_state: String,
    cause: String,
    creation_time: i64,
    full_refresh: bool,
    validate_only: bool,
    refresh_selection: Vec<Value>,
    full_refresh_selection: Vec<Value>,
    /// The spec as it was when the update started (the real `config`).
    config: Map<String, Value>,
    /// Why it fails, when its final state is FAILED.
    error: String,
}

impl Update {
    pub fn state(&self) -> &str {
        ACTIVE_STATES
            .get(self.step)
            .copied()
            .unwrap_or(&self.final_state)
    }

    pub fn is_final(&self) -> bool {
        self.step >= ACTIVE_STATES.len()
    }

    /// One entry of `latest_updates`.
    pub fn summary(&self) -> Value {
        json!({"update_id": self.id, "state": self.state(), "creation_time": rfc3339(self.creation_time)})
    }

    /// What `Emulator::pipelines()` shows for an update.
    pub fn record(&self) -> Value {
        json!({
            "update_id": self.id,
            "state": self.state(),
            "full_refresh": self.full_refresh,
            "validate_only": self.validate_only,
            "refresh_selection": self.refresh_selection,
            "full_refresh_selection": self.full_refresh_selection,
            "cause": self.cause,
            "creation_time": self.creation_time,
        })
    }

    fn detail(&self) -> Value {
        let mut out = json!({
            "pipeline_id": self.pipeline_id,
            "update_id": self.id,
            "state": self.state(),
            "cause": self.cause,
            "creation_time": self.creation_time,
            "full_refresh": self.full_refresh,
            "validate_only": self.validate_only,
            "config": self.config,
        });
        if !self.refresh_selection.is_empty() {
            out["refresh_selection"] = json!(self.refresh_selection);
        }
        if !self.full_refresh_selection.is_empty() {
            out["full_refresh_selection"] = json!(self.full_refresh_selection);
        }
        out
    }

    /// Counts one poll; true when that moved the update to its next state.
    fn poll(&mut self, polls_per_state: usize) -> bool {
        if self.is_final() {
            return false;
        }
        self.polls += 1;
        if self.polls < polls_per_state.max(1) {
            return false;
        }
        self.polls = 0;
        self.step += 1;
        true
    }
}

/// Appends the events of the update's current state: `update_progress`, and before a FAILED
/// one the `flow_progress` ERROR event that carries the reason in `error.exceptions`, as the
/// real event log does (the FAILED headline itself says only that the update failed).
fn log_progress(ids: &mut Ids, pipeline: &mut Pipeline, update_index: usize) {
    let update = &pipeline.updates[update_index];
    let state = update.state().to_string();
    let failed = state == "FAILED";
    let origin = json!({"pipeline_id": pipeline.id, "pipeline_name": pipeline.name(), "update_id": update.id});
    let mut events = Vec::new();
    if failed {
        let mut flow_origin = origin.clone();
        flow_origin["flow_name"] = json!("silver");
        flow_origin["dataset_name"] = json!("silver");
        events.push(json!({
            "id": ids.uuid(),
            "origin": flow_origin,
            "timestamp": rfc3339(now_ms()),
            "message": "Failed to resolve flow: 'silver'.",
            "level": "ERROR",
            "maturity_level": "STABLE",
            "event_type": "flow_progress",
            "details": {"flow_progress": {"status": "FAILED"}},
            "error": {
                "fatal": true,
                "exceptions": [{
                    "class_name": "org.apache.spark.sql.AnalysisException",
                    "message": update.error.clone(),
                }],
            },
        }));
    }
    events.push(json!({
        "id": ids.uuid(),
        "origin": origin,
        "timestamp": rfc3339(now_ms()),
        "message": format!("Update {} is {state}.", &update.id[..6]),
        "level": if failed { "ERROR" } else { "INFO" },
        "maturity_level": "STABLE",
        "event_type": "update_progress",
        "details": {"update_progress": {"state": state}},
    }));
    for mut event in events {
        event["sequence"] = json!({"control_plane_seq_no": pipeline.events.len() + 1});
        pipeline.events.push(event);
    }
}

/// `POST /api/2.0/pipelines/{id}/updates`.
pub async fn start(
    State(app): State<SharedApp>,
    Path(pipeline_id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    known_keys(&body, START_KEYS, "")?;
    let full_refresh = opt_bool(&body, "full_refresh", "")?.unwrap_or(false);
    let validate_only = opt_bool(&body, "validate_only", "")?.unwrap_or(false);
    opt_str_array(&body, "refresh_selection", "")?;
    opt_str_array(&body, "full_refresh_selection", "")?;
    let cause = opt_str(&body, "cause", "")?
        .unwrap_or("API_CALL")
        .to_string();
    let selection = |key: &str| body.get(key).and_then(Value::as_array).cloned();
    let refresh_selection = selection("refresh_selection").unwrap_or_default();
    let full_refresh_selection = selection("full_refresh_selection").unwrap_or_default();
    if full_refresh && !full_refresh_selection.is_empty() {
        return Err(ApiError::invalid(
            "full_refresh and full_refresh_selection cannot both be set",
        ));
    }

    let mut state = app.lock();
    let state = &mut *state;
    let pipeline = state.pipelines.get_mut(&pipeline_id)?;
    if let Some(active) = pipeline.updates.iter().find(|u| !u.is_final()) {
        return Err(ApiError::conflict(format!(
            "Cannot start a new update: update {} of pipeline {pipeline_id} is still active ({}).",
            active.id,
            active.state()
        )));
    }
    // Consumed only by an update that really starts.
    let final_state = state.pipelines.next_outcome.take();
    let error = state
        .pipelines
        .next_error
        .take()
        .unwrap_or_else(|| DEFAULT_ERROR.to_string());
    let update_id = state.ids.uuid();
    let pipeline = state.pipelines.get_mut(&pipeline_id)?;
    pipeline.updates.push(Update {
        id: update_id.clone(),
        pipeline_id: pipeline_id.clone(),
        step: 0,
        polls: 0,
        final_state: final_state.unwrap_or_else(|| "COMPLETED".to_string()),
        cause,
        creation_time: now_ms(),
        full_refresh,
        validate_only,
        refresh_selection,
        full_refresh_selection,
        config: pipeline.spec.clone(),
        error,
    });
    let index = pipeline.updates.len() - 1;
    log_progress(&mut state.ids, pipeline, index);
    Ok(Json(json!({"update_id": update_id})))
}

/// `GET /api/2.0/pipelines/{id}/updates/{update_id}`: every poll counts toward the next state.
pub async fn get(
    State(app): State<SharedApp>,
    Path((pipeline_id, update_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let polls_per_state = app.config.update_polls_per_state;
    let mut state = app.lock();
    let state = &mut *state;
    let pipeline = state.pipelines.get_mut(&pipeline_id)?;
    let index = pipeline
        .updates
        .iter()
        .position(|u| u.id == update_id)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Update {update_id} of pipeline {pipeline_id} does not exist."
            ))
        })?;
    if pipeline.updates[index].poll(polls_per_state) {
        log_progress(&mut state.ids, pipeline, index);
    }
    Ok(Json(json!({"update": pipeline.updates[index].detail()})))
}

/// `POST /api/2.0/pipelines/{id}/stop`: cancels the active update, if any.
pub async fn stop(
    State(app): State<SharedApp>,
    Path(pipeline_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut state = app.lock();
    let state = &mut *state;
    let pipeline = state.pipelines.get_mut(&pipeline_id)?;
    if let Some(index) = pipeline.updates.iter().position(|u| !u.is_final()) {
        let update = &mut pipeline.updates[index];
        update.step = ACTIVE_STATES.len();
        update.final_state = "CANCELED".to_string();
        log_progress(&mut state.ids, pipeline, index);
    }
    Ok(Json(json!({})))
}
