//! Pipeline updates: start (409 while one is active), poll-driven state progression, stop, and
//! the event log that records every state change.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use super::Pipeline;
use crate::body::JsonBody;
use crate::engine::{self, Verdict};
use crate::error::{ApiError, ApiResult};
use crate::fields::{known_keys, opt_bool, opt_str, opt_str_array};
use crate::ids::{Ids, now_ms, rfc3339};
use crate::state::{SharedApp, State as AppState};

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
    /// When it reached its final state (ms); 0 while active.
    end_time: i64,
    full_refresh: bool,
    validate_only: bool,
    refresh_selection: Vec<Value>,
    full_refresh_selection: Vec<Value>,
    /// The spec as it was when the update started (the real `config`).
    config: Map<String, Value>,
    /// A test scripted the final state (`set_next_update_outcome`): no engine runs.
    forced: bool,
    /// Why a scripted FAILED update failed (`set_next_update_error`).
    error: String,
    /// What the engine found; None while it is still working (the update then stays in its
    /// last active state).
    verdict: Option<Verdict>,
    /// Stops the engine's work when the update is canceled.
    work: Option<tokio::task::AbortHandle>,
}

impl Update {
    /// A validation update analyses the graph and runs nothing: it has no RUNNING state.
    fn active_states(&self) -> &'static [&'static str] {
        if self.validate_only {
            &ACTIVE_STATES[..ACTIVE_STATES.len() - 1]
        } else {
            ACTIVE_STATES
        }
    }

    pub fn state(&self) -> &str {
        self.active_states()
            .get(self.step)
            .copied()
            .unwrap_or(&self.final_state)
    }

    pub fn is_final(&self) -> bool {
        self.step >= self.active_states().len()
    }

    /// When a run (not a validation) that wrote its tables ended, if this is one.
    pub fn wrote_at(&self) -> Option<i64> {
        (self.is_final() && !self.validate_only && self.final_state == "COMPLETED")
            .then_some(self.end_time)
    }

    /// Row counts of the tables a run wrote (engine runs only), by dataset name.
    fn tables(&self) -> Value {
        self.verdict
            .as_ref()
            .map_or_else(|| json!({}), |v| json!(v.tables))
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
            "end_time": self.end_time,
            "tables": self.tables(),
            "shapes": self.verdict.as_ref().map_or_else(|| json!({}), |v| json!(v.shapes)),
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

    /// Counts one poll; true when that moved the update to its next state. The last step,
    /// to the final state, waits for the engine's verdict, which decides that state (unless
    /// a test forced one).
    fn poll(&mut self, polls_per_state: usize) -> bool {
        if self.is_final() {
            return false;
        }
        self.polls += 1;
        if self.polls < polls_per_state.max(1) {
            return false;
        }
        let last_active = self.step + 1 == self.active_states().len();
        if last_active {
            let Some(verdict) = &self.verdict else {
                return false;
            };
            if self.final_state.is_empty() {
                self.final_state = if verdict.failed() {
                    "FAILED"
                } else {
                    "COMPLETED"
                }
                .into();
            }
        }
        self.polls = 0;
        self.step += 1;
        if self.is_final() {
            self.end_time = now_ms();
        }
        true
    }
}

/// Hands an engine's verdict to its update (called by the engine's task when it is done).
fn deliver(state: &mut AppState, pipeline_id: &str, update_id: &str, verdict: Verdict) {
    let Ok(pipeline) = state.pipelines.get_mut(pipeline_id) else {
        return;
    };
    if let Some(update) = pipeline.updates.iter_mut().find(|u| u.id == update_id) {
        update.verdict = Some(verdict);
        update.work = None;
    }
}

/// Appends the engine's events for a finished update, before its final `update_progress`.
fn log_verdict(ids: &mut Ids, pipeline: &mut Pipeline, update_index: usize) {
    let update = &pipeline.updates[update_index];
    let Some(verdict) = &update.verdict else {
        return;
    };
    let (catalog, schema) = engine::target_of(&update.config);
    let events = engine::events::for_verdict(verdict, &catalog, &schema);
    let update_id = update.id.clone();
    for mut event in events {
        event["id"] = json!(ids.uuid());
        event["sequence"] = json!({"control_plane_seq_no": pipeline.events.len() + 1});
        event["origin"]["pipeline_id"] = json!(pipeline.id);
        event["origin"]["pipeline_name"] = json!(pipeline.name());
        event["origin"]["update_id"] = json!(update_id);
        event["timestamp"] = json!(rfc3339(now_ms()));
        event["maturity_level"] = json!("STABLE");
        pipeline.events.push(event);
    }
}

/// Appends the events of the update's current state: `update_progress`, and before a scripted
/// FAILED one the `flow_progress` ERROR event that carries the reason in `error.exceptions`, as
/// the real event log does (the FAILED headline itself says only that the update failed; an
/// engine's reasons were logged by `log_verdict`).
fn log_progress(ids: &mut Ids, pipeline: &mut Pipeline, update_index: usize) {
    let update = &pipeline.updates[update_index];
    let state = update.state().to_string();
    let failed = state == "FAILED";
    let origin = json!({"pipeline_id": pipeline.id, "pipeline_name": pipeline.name(), "update_id": update.id});
    let mut events = Vec::new();
    if failed && update.forced {
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
    let config = pipeline.spec.clone();
    // Consumed only by an update that really starts.
    let final_state = state.pipelines.next_outcome.take();
    let error = state
        .pipelines
        .next_error
        .take()
        .unwrap_or_else(|| DEFAULT_ERROR.to_string());
    let update_id = state.ids.uuid();
    // A scripted outcome stands in for the engine's verdict: nothing runs.
    let started = match final_state {
        Some(_) => engine::Started::Ready(Verdict::default()),
        None => engine::start(
            &app,
            state,
            &engine::UpdateRef {
                pipeline_id: &pipeline_id,
                update_id: &update_id,
                spec: &config,
                validate_only,
                full_refresh,
                refresh_selection: &refresh_selection,
                full_refresh_selection: &full_refresh_selection,
            },
            deliver,
        ),
    };
    let (verdict, work) = match started {
        engine::Started::Ready(verdict) => (Some(verdict), None),
        engine::Started::Pending(work) => (None, Some(work)),
    };
    let pipeline = state.pipelines.get_mut(&pipeline_id)?;
    pipeline.updates.push(Update {
        id: update_id.clone(),
        pipeline_id: pipeline_id.clone(),
        step: 0,
        polls: 0,
        // Empty until the verdict decides, unless a test forced it.
        forced: final_state.is_some(),
        final_state: final_state.unwrap_or_default(),
        cause,
        creation_time: now_ms(),
        end_time: 0,
        full_refresh,
        validate_only,
        refresh_selection,
        full_refresh_selection,
        config,
        error,
        verdict,
        work,
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
        if pipeline.updates[index].is_final() && !pipeline.updates[index].forced {
            log_verdict(&mut state.ids, pipeline, index);
        }
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
        update.end_time = now_ms();
        update.final_state = "CANCELED".to_string();
        if let Some(work) = update.work.take() {
            work.abort();
        }
        log_progress(&mut state.ids, pipeline, index);
    }
    Ok(Json(json!({})))
}
