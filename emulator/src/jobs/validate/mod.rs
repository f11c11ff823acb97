//! Strict validation of a runs/submit body. The real service rejects a wrong task shape (e.g. a
//! `python_task` key, a task without compute) only when the run is submitted; doing it here is
//! what lets end-to-end tests catch a client that builds the request wrong.

mod task;
#[cfg(test)]
pub(super) mod tests;

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::compute;
use crate::error::{ApiError, ApiResult};
use crate::fields::{field, item_obj, known_keys, opt_array, opt_int, opt_obj, opt_str, req_str};
pub(super) use task::parameters_size;
use task::validate_task;

const TOP_LEVEL_KEYS: &[&str] = &[
    "run_name",
    "tasks",
    "environments",
    "idempotency_token",
    "timeout_seconds",
    "queue",
    "run_as",
    "access_control_list",
    "budget_policy_id",
    "git_source",
    "notification_settings",
    "health",
    "webhook_notifications",
    "email_notifications",
    "usage_policy_id",
];

pub fn validate_submit(body: &Map<String, Value>) -> ApiResult<()> {
    known_keys(body, TOP_LEVEL_KEYS, "")?;
    opt_str(body, "run_name", "")?;
    non_negative(body, "timeout_seconds", "")?;
    if let Some(token) = opt_str(body, "idempotency_token", "")?
        && token.chars().count() > 64
    {
        return Err(ApiError::invalid(
            "idempotency_token must be at most 64 characters long",
        ));
    }
    for key in [
        "queue",
        "run_as",
        "git_source",
        "notification_settings",
        "health",
        "webhook_notifications",
        "email_notifications",
    ] {
        opt_obj(body, key, "")?;
    }
    opt_array(body, "access_control_list", "")?;
    opt_str(body, "budget_policy_id", "")?;
    opt_str(body, "usage_policy_id", "")?;

    let environments = compute::validate_environments(body)?;
    let tasks = match opt_array(body, "tasks", "")? {
        Some(tasks) if !tasks.is_empty() => tasks,
        _ => return Err(ApiError::invalid("tasks must contain at least one task")),
    };
    if tasks.len() > 100 {
        return Err(ApiError::invalid(format!(
            "tasks has {} entries; a run may have at most 100 tasks",
            tasks.len()
        )));
    }
    let mut keys = HashSet::new();
    for (i, task) in tasks.iter().enumerate() {
        let key = validate_task(task, i, &environments)?;
        if !keys.insert(key) {
            return Err(ApiError::invalid(format!(
                "tasks[{i}].task_key '{key}' is not unique: task keys must be unique within a run"
            )));
        }
    }
    validate_dependencies(tasks, &keys)
}

/// depends_on entries must name another task of the same run.
fn validate_dependencies(tasks: &[Value], keys: &HashSet<&str>) -> ApiResult<()> {
    for (i, task) in tasks.iter().enumerate() {
        let ctx = format!("tasks[{i}]");
        let task = item_obj(task, &ctx)?;
        let own = task.get("task_key").and_then(Value::as_str);
        for (j, dep) in opt_array(task, "depends_on", &ctx)?
            .into_iter()
            .flatten()
            .enumerate()
        {
            let dep_ctx = format!("{ctx}.depends_on[{j}]");
            let dep = item_obj(dep, &dep_ctx)?;
            known_keys(dep, &["task_key", "outcome"], &dep_ctx)?;
            let target = req_str(dep, "task_key", &dep_ctx)?;
            if Some(target) == own || !keys.contains(target) {
                return Err(ApiError::invalid(format!(
                    "{dep_ctx}.task_key '{target}' does not name another task of this run"
                )));
            }
        }
    }
    Ok(())
}

fn non_negative(obj: &Map<String, Value>, key: &str, ctx: &str) -> ApiResult<()> {
    match opt_int(obj, key, ctx)? {
        Some(n) if n < 0 => Err(ApiError::invalid(format!(
            "{} must not be negative",
            field(ctx, key)
        ))),
        _ => Ok(()),
    }
}
