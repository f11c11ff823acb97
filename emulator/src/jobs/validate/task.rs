//! One task of a runs/submit body: its keys, its one task type, its compute, its settings.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::non_negative;
use crate::error::{ApiError, ApiResult};
use crate::fields::{
    field, item_obj, known_keys, opt_array, opt_bool, opt_enum, opt_int, opt_obj, opt_str,
    opt_str_array, req_str, unknown_field,
};
use crate::jobs::compute;

const TASK_KEYS: &[&str] = &[
    "task_key",
    "description",
    "depends_on",
    "existing_cluster_id",
    "new_cluster",
    "job_cluster_key",
    "environment_key",
    "libraries",
    "timeout_seconds",
    "max_retries",
    "min_retry_interval_millis",
    "retry_on_timeout",
    "run_if",
    "email_notifications",
    "webhook_notifications",
    "notification_settings",
    "health",
    "disable_auto_optimization",
];

pub const TASK_TYPES: &[&str] = &[
    "spark_python_task",
    "notebook_task",
    "spark_jar_task",
    "spark_submit_task",
    "python_wheel_task",
    "sql_task",
    "dbt_task",
    "pipeline_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "clean_rooms_notebook_task",
    "dashboard_task",
    "power_bi_task",
];

const RUN_IF: &[&str] = &[
    "ALL_SUCCESS",
    "ALL_DONE",
    "NONE_DONE",
    "AT_LEAST_ONE_SUCCESS",
    "ALL_FAILED",
    "AT_LEAST_ONE_FAILED",
];

/// Checks one task and returns its task_key.
pub(super) fn validate_task<'a>(
    task: &'a Value,
    i: usize,
    environments: &HashSet<&str>,
) -> ApiResult<&'a str> {
    let ctx = format!("tasks[{i}]");
    let task = item_obj(task, &ctx)?;
    if let Some(key) = task
        .keys()
        .find(|k| !TASK_KEYS.contains(&k.as_str()) && !TASK_TYPES.contains(&k.as_str()))
    {
        return Err(unknown_field(&ctx, key));
    }
    let key = req_str(task, "task_key", &ctx)?;
    if key.chars().count() > 100
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ApiError::invalid(format!(
            "{ctx}.task_key '{key}' is invalid: it must match ^[\\w\\-]+$ and be at most 100 characters"
        )));
    }
    validate_task_type(task, &ctx, key)?;
    compute::validate_compute(task, &ctx, key, environments)?;

    opt_str(task, "description", &ctx)?;
    non_negative(task, "timeout_seconds", &ctx)?;
    opt_int(task, "max_retries", &ctx)?;
    non_negative(task, "min_retry_interval_millis", &ctx)?;
    opt_bool(task, "retry_on_timeout", &ctx)?;
    opt_bool(task, "disable_auto_optimization", &ctx)?;
    opt_enum(task, "run_if", &ctx, RUN_IF)?;
    for key in [
        "email_notifications",
        "webhook_notifications",
        "notification_settings",
        "health",
    ] {
        opt_obj(task, key, &ctx)?;
    }
    for (j, library) in opt_array(task, "libraries", &ctx)?
        .into_iter()
        .flatten()
        .enumerate()
    {
        item_obj(library, &format!("{ctx}.libraries[{j}]"))?;
    }
    Ok(key)
}

fn validate_task_type(task: &Map<String, Value>, ctx: &str, key: &str) -> ApiResult<()> {
    let types: Vec<&str> = TASK_TYPES
        .iter()
        .copied()
        .filter(|t| task.contains_key(*t))
        .collect();
    let kind = match types.as_slice() {
        [one] => *one,
        [] => {
            return Err(ApiError::invalid(format!(
                "Task {key} ({ctx}) has no task type: set exactly one of {}",
                TASK_TYPES.join(", ")
            )));
        }
        many => {
            return Err(ApiError::invalid(format!(
                "Task {key} ({ctx}) sets more than one task type: {}",
                many.join(", ")
            )));
        }
    };
    let type_ctx = field(ctx, kind);
    let Some(spec) = opt_obj(task, kind, ctx)? else {
        return Err(ApiError::invalid(format!(
            "Invalid value for field '{type_ctx}': expected an object"
        )));
    };
    match kind {
        "spark_python_task" => {
            known_keys(spec, &["python_file", "parameters", "source"], &type_ctx)?;
            req_str(spec, "python_file", &type_ctx)?;
            opt_str_array(spec, "parameters", &type_ctx)?;
            parameters_size(spec, &type_ctx)?;
            opt_enum(spec, "source", &type_ctx, &["WORKSPACE", "GIT"])
        }
        "notebook_task" => req_str(spec, "notebook_path", &type_ctx).map(drop),
        "pipeline_task" => req_str(spec, "pipeline_id", &type_ctx).map(drop),
        _ => Ok(()),
    }
}

/// Largest JSON form of a task's command-line parameters. Documented for run-now's
/// `python_params` ("cannot exceed 10,000 bytes"); a one-time run's task parameters travel
/// the same way, so the same bound holds here: a client that fits it works either way.
const MAX_PARAMETERS_BYTES: usize = 10_000;

pub(in crate::jobs) fn parameters_size(spec: &Map<String, Value>, ctx: &str) -> ApiResult<()> {
    let Some(parameters) = spec.get("parameters") else {
        return Ok(());
    };
    let size = serde_json::json!({ "parameters": parameters })
        .to_string()
        .len();
    if size > MAX_PARAMETERS_BYTES {
        return Err(ApiError::invalid(format!(
            "The JSON representation of {} ({size} bytes) exceeds the limit of \
             {MAX_PARAMETERS_BYTES} bytes",
            field(ctx, "parameters")
        )));
    }
    Ok(())
}
