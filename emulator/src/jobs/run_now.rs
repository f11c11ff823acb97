//! `jobs/run-now` of a named job: resolves the job's parameter references
//! (`{{job.parameters.NAME}}`, `{{job.id}}`) in its tasks and then runs like a one-time run, so
//! the same executor "executes" both.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use super::named::{Job, job_id_field};
use super::validate::parameters_size;
use super::{RunOrigin, start_run};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::fields::{known_keys, opt_obj, opt_str};
use crate::state::SharedApp;

/// The fields of `jobs.RunNow`, besides the legacy task parameters below.
const RUN_NOW_KEYS: &[&str] = &[
    "job_id",
    "job_parameters",
    "idempotency_token",
    "queue",
    "performance_target",
    "only",
    "pipeline_params",
];

/// Task parameters of the older kind, which a job with job parameters refuses.
const LEGACY_PARAMS: &[&str] = &[
    "python_params",
    "jar_params",
    "notebook_params",
    "python_named_params",
    "spark_submit_params",
    "sql_params",
    "dbt_commands",
];

/// `POST /api/2.x/jobs/run-now`: the job's tasks with its parameters resolved, run like a
/// one-time run (same executor, same idempotency rule).
pub async fn run_now(
    State(app): State<SharedApp>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let keys: Vec<&str> = RUN_NOW_KEYS.iter().chain(LEGACY_PARAMS).copied().collect();
    known_keys(&body, &keys, "")?;
    let job_id = job_id_field(&body)?;
    let token = opt_str(&body, "idempotency_token", "")?;
    if token.is_some_and(|t| t.chars().count() > 64) {
        return Err(ApiError::invalid(
            "idempotency_token must be at most 64 characters long",
        ));
    }
    let given = opt_obj(&body, "job_parameters", "")?;
    let request = {
        let state = app.lock();
        let job = state.named_jobs.find(job_id)?;
        let values = job_parameters(job, given)?;
        if let Some(legacy) = LEGACY_PARAMS.iter().find(|k| body.contains_key(**k)) {
            return Err(ApiError::invalid(if values.is_empty() {
                format!(
                    "{legacy}: task parameters of this kind are not supported by this emulator; use job_parameters"
                )
            } else {
                format!(
                    "{legacy} cannot be used with a job that defines job parameters; use job_parameters"
                )
            }));
        }
        let request = resolved_request(job, &values, token);
        resolved_size(&request)?;
        request
    };
    let (run_id, _) = start_run(&app, request, RunOrigin::Job(job_id));
    Ok(Json(json!({"run_id": run_id, "number_in_job": run_id})))
}

/// Job parameters become the task's command-line parameters, which carry at most 10,000 bytes
/// (documented for run-now's `python_params`; for job parameter values the docs are silent):
/// a client that stays under that bound works either way.
fn resolved_size(request: &Value) -> ApiResult<()> {
    let tasks = request["tasks"].as_array().into_iter().flatten();
    for (i, task) in tasks.enumerate() {
        if let Some(spec) = task.get("spark_python_task").and_then(Value::as_object) {
            parameters_size(spec, &format!("tasks[{i}].spark_python_task"))?;
        }
    }
    Ok(())
}

/// The job's parameter defaults overridden by the call's values; unknown names are refused.
fn job_parameters(job: &Job, given: Option<&Map<String, Value>>) -> ApiResult<Map<String, Value>> {
    let mut values: Map<String, Value> = job
        .settings
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("name")?.as_str()?.to_string(),
                p.get("default")?.clone(),
            ))
        })
        .collect();
    for (name, value) in given.into_iter().flatten() {
        if !values.contains_key(name) {
            return Err(ApiError::invalid(format!(
                "Job parameter '{name}' is not defined in job {}",
                job.job_id
            )));
        }
        if !value.is_string() {
            return Err(ApiError::invalid(format!(
                "Invalid value for field 'job_parameters.{name}': expected a string"
            )));
        }
        values.insert(name.clone(), value.clone());
    }
    Ok(values)
}

/// A runs/submit-shaped request for the run: what the executor reads, and what runs/get echoes.
fn resolved_request(job: &Job, values: &Map<String, Value>, token: Option<&str>) -> Value {
    let resolve = |text: &str| -> String {
        let mut out = text.replace("{{job.id}}", &job.job_id.to_string());
        for (name, value) in values {
            let value = value.as_str().unwrap_or_default();
            out = out.replace(&format!("{{{{job.parameters.{name}}}}}"), value);
        }
        out
    };
    let mut tasks = job
        .settings
        .get("tasks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for task in &mut tasks {
        if let Some(params) = task
            .pointer_mut("/spark_python_task/parameters")
            .and_then(Value::as_array_mut)
        {
            for p in params.iter_mut() {
                if let Some(text) = p.as_str() {
                    *p = Value::from(resolve(text));
                }
            }
        }
        if let Some(params) = task
            .pointer_mut("/notebook_task/base_parameters")
            .and_then(Value::as_object_mut)
        {
            for p in params.values_mut() {
                if let Some(text) = p.as_str() {
                    *p = Value::from(resolve(text));
                }
            }
        }
    }
    let mut request = json!({"run_name": job.name(), "tasks": tasks});
    if let Some(envs) = job.settings.get("environments") {
        request["environments"] = envs.clone();
    }
    if let Some(token) = token {
        request["idempotency_token"] = token.into();
    }
    let parameters: Vec<Value> = values
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    request["job_parameters"] = Value::Array(parameters);
    request
}
