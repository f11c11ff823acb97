//! Jobs runs: runs/submit (validated, idempotent), runs/get, runs/get-output, and the
//! lifecycle PENDING -> RUNNING -> TERMINATED driven by the configured executor. Runs of named
//! jobs (run-now, `named`) start here too.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::body::{JsonBody, Params};
use crate::config::{RunOutcome, SubmittedRun};
use crate::error::{ApiError, ApiResult};
use crate::ids::now_ms;
use crate::state::SharedApp;

mod compute;
pub mod named;
mod run_as;
pub mod run_now;
mod validate;

use validate::validate_submit;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Pending,
    Running,
    Terminated { success: bool },
}

#[derive(Debug)]
struct TaskRun {
    run_id: i64,
    /// The task as submitted; runs/get echoes its settings back like the real service.
    spec: Value,
}

#[derive(Debug)]
pub struct Run {
    run_id: i64,
    job_id: i64,
    origin: RunOrigin,
    request: Value,
    tasks: Vec<TaskRun>,
    phase: Phase,
    logs: String,
    error: Option<String>,
    start_time: i64,
    end_time: i64,
}

#[derive(Debug, Default)]
pub struct JobsState {
    runs: Vec<Run>,
}

impl JobsState {
    fn find(&self, run_id: i64) -> Option<&Run> {
        self.runs.iter().find(|r| r.run_id == run_id)
    }

    fn find_mut(&mut self, run_id: i64) -> Option<&mut Run> {
        self.runs.iter_mut().find(|r| r.run_id == run_id)
    }

    /// `{"run_id", "request", "state"}` for every run, in submission order.
    pub fn summaries(&self) -> Vec<Value> {
        self.runs
            .iter()
            .map(|r| json!({"run_id": r.run_id, "request": r.request, "state": r.state()}))
            .collect()
    }

    pub fn logs(&self, run_id: i64) -> Option<String> {
        self.runs
            .iter()
            .find(|r| r.run_id == run_id || r.tasks.iter().any(|t| t.run_id == run_id))
            .map(|r| r.logs.clone())
    }
}

impl Run {
    fn state(&self) -> Value {
        let mut state = json!({"user_cancelled_or_timedout": false});
        let (life_cycle, message) = match self.phase {
            Phase::Pending => ("PENDING", "Waiting for cluster"),
            Phase::Running => ("RUNNING", "In run"),
            Phase::Terminated { success: true } => ("TERMINATED", ""),
            Phase::Terminated { success: false } => {
                ("TERMINATED", self.error.as_deref().unwrap_or("Run failed"))
            }
        };
        state["life_cycle_state"] = json!(life_cycle);
        state["state_message"] = json!(message);
        if let Phase::Terminated { success } = self.phase {
            state["result_state"] = json!(if success { "SUCCESS" } else { "FAILED" });
        }
        state
    }

    /// The newer `status` object that accompanies the legacy `state`.
    fn status(&self) -> Value {
        match self.phase {
            Phase::Pending => json!({"state": "PENDING"}),
            Phase::Running => json!({"state": "RUNNING"}),
            Phase::Terminated { success: true } => json!({"state": "TERMINATED",
                "termination_details": {"code": "SUCCESS", "type": "SUCCESS", "message": ""}}),
            Phase::Terminated { success: false } => json!({"state": "TERMINATED",
                "termination_details": {"code": "RUN_EXECUTION_ERROR", "type": "CLIENT_ERROR",
                    "message": self.error.clone().unwrap_or_default()}}),
        }
    }

    fn page_url(&self, base: &str, run_id: i64) -> String {
        format!("{base}/?o=1234567890#job/{}/run/{run_id}", self.job_id)
    }

    fn timing(&self, into: &mut Map<String, Value>) {
        into.insert("start_time".into(), json!(self.start_time));
        into.insert("end_time".into(), json!(self.end_time));
        into.insert("setup_duration".into(), json!(0));
        let execution = if self.end_time > 0 {
            self.end_time - self.start_time
        } else {
            0
        };
        into.insert("execution_duration".into(), json!(execution));
        into.insert("cleanup_duration".into(), json!(0));
    }

    fn task_json(&self, task: &TaskRun, base: Option<&str>) -> Value {
        let mut out = task.spec.as_object().cloned().unwrap_or_default();
        out.insert("run_id".into(), json!(task.run_id));
        out.insert("attempt_number".into(), json!(0));
        self.progress(&mut out, base, task.run_id);
        Value::Object(out)
    }

    /// What a run and each of its tasks report alike: state, status, timing and, when the
    /// answer links pages, the page of `run_id`.
    fn progress(&self, out: &mut Map<String, Value>, base: Option<&str>, run_id: i64) {
        out.insert("state".into(), self.state());
        out.insert("status".into(), self.status());
        self.timing(out);
        if let Some(base) = base {
            out.insert("run_page_url".into(), json!(self.page_url(base, run_id)));
        }
    }

    fn run_json(&self, base: Option<&str>) -> Value {
        let run_name = self.request.get("run_name").cloned();
        let mut out = Map::new();
        out.insert("job_id".into(), json!(self.job_id));
        out.insert("run_id".into(), json!(self.run_id));
        out.insert("number_in_job".into(), json!(self.run_id));
        out.insert("original_attempt_run_id".into(), json!(self.run_id));
        out.insert("creator_user_name".into(), json!(crate::USER_NAME));
        out.insert("run_name".into(), run_name.unwrap_or(json!("Untitled")));
        let run_type = match self.origin {
            RunOrigin::Submit => "SUBMIT_RUN",
            RunOrigin::Job(_) => "JOB_RUN",
        };
        out.insert("run_type".into(), json!(run_type));
        if let Some(params) = self.request.get("job_parameters") {
            out.insert("job_parameters".into(), params.clone());
        }
        out.insert("format".into(), json!("MULTI_TASK"));
        self.progress(&mut out, base, self.run_id);
        let tasks = self.tasks.iter().map(|t| self.task_json(t, base)).collect();
        out.insert("tasks".into(), Value::Array(tasks));
        Value::Object(out)
    }
}

fn run_id_param(params: &Params) -> ApiResult<i64> {
    match params.get("run_id") {
        None | Some("") => Err(ApiError::invalid("Missing required field: run_id")),
        Some(raw) => raw
            .parse()
            .map_err(|_| ApiError::invalid(format!("Invalid value for run_id: '{raw}'"))),
    }
}

/// Where run_page_url links point, or None when the config omits them.
fn page_url_base(app: &SharedApp) -> Option<&str> {
    (!app.config.omit_run_page_url).then_some(app.url.as_str())
}

fn no_such_run(run_id: i64) -> ApiError {
    ApiError::not_found(format!("Run {run_id} does not exist."))
}

/// `POST /api/2.x/jobs/runs/submit`.
pub async fn submit(
    State(app): State<SharedApp>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    validate_submit(&body)?;
    let (run_id, _) = start_run(&app, Value::Object(body), RunOrigin::Submit);
    Ok(Json(json!({"run_id": run_id})))
}

/// What started a run: a one-time submit, or run-now of a named job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOrigin {
    Submit,
    Job(i64),
}

/// Starts a run of a validated request (a runs/submit body, or the tasks of a job with its
/// parameters resolved) and hands it to the executor. A request whose idempotency token a run
/// already carries gets that run instead: `(run_id, false)`.
pub fn start_run(app: &SharedApp, request: Value, origin: RunOrigin) -> (i64, bool) {
    let token = request.get("idempotency_token").and_then(Value::as_str);
    let run_id = {
        let mut state = app.lock();
        // A retried call with a known token is answered with the original run: nothing new.
        if let Some(token) = token {
            let existing = state.jobs.runs.iter().find(|r| {
                r.request.get("idempotency_token").and_then(Value::as_str) == Some(token)
            });
            if let Some(run) = existing {
                return (run.run_id, false);
            }
        }
        let run_id = state.ids.run_id();
        let job_id = match origin {
            RunOrigin::Submit => state.ids.job_id(),
            RunOrigin::Job(id) => id,
        };
        let tasks = request
            .get("tasks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|spec| TaskRun {
                run_id: state.ids.run_id(),
                spec: spec.clone(),
            })
            .collect();
        let now = now_ms();
        let immediate = app.config.run_executor.is_none();
        state.jobs.runs.push(Run {
            run_id,
            job_id,
            origin,
            request: request.clone(),
            tasks,
            phase: if immediate {
                Phase::Terminated { success: true }
            } else {
                Phase::Pending
            },
            logs: String::new(),
            error: None,
            start_time: now,
            end_time: if immediate { now } else { 0 },
        });
        run_id
    };
    if let Some(executor) = app.config.run_executor.clone() {
        let app = app.clone();
        tokio::spawn(async move {
            set_phase(&app, run_id, Phase::Running);
            // Run it as its own task so a panicking executor still ends the run (as FAILED).
            let outcome = tokio::spawn(executor(SubmittedRun { run_id, request }))
                .await
                .unwrap_or_else(|e| RunOutcome {
                    success: false,
                    logs: String::new(),
                    error: Some(format!("run executor panicked: {e}")),
                });
            finish(&app, run_id, outcome);
        });
    }
    (run_id, true)
}

fn set_phase(app: &SharedApp, run_id: i64, phase: Phase) {
    if let Some(run) = app.lock().jobs.find_mut(run_id) {
        run.phase = phase;
    }
}

fn finish(app: &SharedApp, run_id: i64, outcome: RunOutcome) {
    if let Some(run) = app.lock().jobs.find_mut(run_id) {
        run.phase = Phase::Terminated {
            success: outcome.success,
        };
        run.logs = outcome.logs;
        run.error = match (outcome.success, outcome.error) {
            (false, None) => Some("Run failed".to_string()),
            (_, error) => error,
        };
        run.end_time = now_ms();
    }
}

/// `GET /api/2.x/jobs/runs/get?run_id=N`.
pub async fn get(State(app): State<SharedApp>, params: Params) -> ApiResult<Json<Value>> {
    let run_id = run_id_param(&params)?;
    let base = page_url_base(&app);
    let state = app.lock();
    let run = state.jobs.find(run_id).ok_or_else(|| no_such_run(run_id))?;
    Ok(Json(run.run_json(base)))
}

/// `GET /api/2.x/jobs/runs/get-output?run_id=N` for a task run, or for a single-task run.
pub async fn get_output(State(app): State<SharedApp>, params: Params) -> ApiResult<Json<Value>> {
    let run_id = run_id_param(&params)?;
    let base = page_url_base(&app);
    let state = app.lock();
    let (run, metadata) = if let Some(run) = state.jobs.find(run_id) {
        match run.tasks.as_slice() {
            [task] => (run, run.task_json(task, base)),
            _ => {
                return Err(ApiError::invalid(
                    "Retrieving the output of runs with multiple tasks is not supported. \
                     Please retrieve the output of each individual task run instead.",
                ));
            }
        }
    } else {
        state
            .jobs
            .runs
            .iter()
            .find_map(|r| {
                let task = r.tasks.iter().find(|t| t.run_id == run_id)?;
                Some((r, r.task_json(task, base)))
            })
            .ok_or_else(|| no_such_run(run_id))?
    };
    let mut out = json!({"metadata": metadata});
    // Output only exists once the run is over, as on Databricks.
    if let Phase::Terminated { success } = run.phase {
        out["logs"] = json!(run.logs);
        out["logs_truncated"] = json!(false);
        if !success {
            out["error"] = json!(run.error);
        }
    }
    Ok(Json(out))
}
