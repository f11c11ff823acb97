//! Strict validation of a runs/submit body. The real service rejects a wrong task shape (e.g. a
//! `python_task` key, a task without compute) only when the run is submitted; doing it here is
//! what lets end-to-end tests catch a client that builds the request wrong.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::compute;
use crate::error::{ApiError, ApiResult};
use crate::validate::{
    field, item_obj, known_keys, opt_array, opt_bool, opt_enum, opt_int, opt_obj, opt_str,
    opt_str_array, req_str, unknown_field,
};

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

/// Checks one task and returns its task_key.
fn validate_task<'a>(
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

/// Largest JSON form of a task's command-line parameters. Documented for run-now's
/// `python_params` ("cannot exceed 10,000 bytes"); a one-time run's task parameters travel
/// the same way, so the same bound holds here: a client that fits it works either way.
const MAX_PARAMETERS_BYTES: usize = 10_000;

pub(super) fn parameters_size(spec: &Map<String, Value>, ctx: &str) -> ApiResult<()> {
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

fn non_negative(obj: &Map<String, Value>, key: &str, ctx: &str) -> ApiResult<()> {
    match opt_int(obj, key, ctx)? {
        Some(n) if n < 0 => Err(ApiError::invalid(format!(
            "{} must not be negative",
            field(ctx, key)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    pub fn check(body: Value) -> Result<(), String> {
        validate_submit(body.as_object().unwrap()).map_err(|e| {
            assert_eq!(e.error_code, "INVALID_PARAMETER_VALUE");
            e.message
        })
    }

    pub fn python_task() -> Value {
        json!({
            "task_key": "run_agent",
            "spark_python_task": {"python_file": "/Workspace/a.py", "parameters": ["--x", "1"], "source": "WORKSPACE"},
            "existing_cluster_id": "0101-abc"
        })
    }

    #[test]
    fn accepts_classic_and_serverless_python_tasks() {
        check(json!({"run_name": "r", "tasks": [python_task()], "idempotency_token": "tok"}))
            .unwrap();
        check(json!({
            "tasks": [{"task_key": "t", "spark_python_task": {"python_file": "/a.py"}, "environment_key": "default"}],
            "environments": [{"environment_key": "default", "spec": {"environment_version": "2", "dependencies": ["databricks-sdk"]}}]
        }))
        .unwrap();
        check(json!({
            "tasks": [{"task_key": "t", "spark_python_task": {"python_file": "/a.py"},
                       "new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}}]
        }))
        .unwrap();
    }

    #[test]
    fn rejects_wrong_shapes_naming_the_field() {
        let err = check(json!({"tasks": [{"task_key": "t", "python_task": {"python_file": "/a.py"}, "existing_cluster_id": "c"}]})).unwrap_err();
        assert!(err.contains("python_task"), "{err}");
        let err = check(json!({"tasks": [python_task()], "bogus": 1})).unwrap_err();
        assert!(err.contains("bogus"), "{err}");
        let err = check(json!({"tasks": []})).unwrap_err();
        assert!(err.contains("tasks"), "{err}");
        let err = check(json!({})).unwrap_err();
        assert!(err.contains("tasks"), "{err}");
    }

    #[test]
    fn task_rules() {
        let mut t = python_task();
        t["task_key"] = json!("bad key!");
        assert!(
            check(json!({"tasks": [t]}))
                .unwrap_err()
                .contains("task_key")
        );

        let mut t = python_task();
        t.as_object_mut().unwrap().remove("existing_cluster_id");
        assert!(
            check(json!({"tasks": [t]}))
                .unwrap_err()
                .contains("compute")
        );

        let mut t = python_task();
        t["new_cluster"] = json!({"spark_version": "x", "node_type_id": "y", "num_workers": 0});
        assert!(
            check(json!({"tasks": [t]}))
                .unwrap_err()
                .contains("more than one")
        );

        let mut t = python_task();
        t["spark_python_task"]["parameters"] = json!([1]);
        assert!(
            check(json!({"tasks": [t]}))
                .unwrap_err()
                .contains("parameters")
        );

        let mut t = python_task();
        t["spark_python_task"]["source"] = json!("S3");
        assert!(check(json!({"tasks": [t]})).unwrap_err().contains("source"));

        let mut t = python_task();
        t["notebook_task"] = json!({"notebook_path": "/n"});
        assert!(
            check(json!({"tasks": [t]}))
                .unwrap_err()
                .contains("more than one task type")
        );

        let t = python_task();
        assert!(
            check(json!({"tasks": [t.clone(), t]}))
                .unwrap_err()
                .contains("unique")
        );

        let mut t = python_task();
        t.as_object_mut().unwrap().remove("spark_python_task");
        assert!(
            check(json!({"tasks": [t]}))
                .unwrap_err()
                .contains("no task type")
        );
    }

    #[test]
    fn idempotency_token_length() {
        let token = "x".repeat(65);
        assert!(
            check(json!({"tasks": [python_task()], "idempotency_token": token}))
                .unwrap_err()
                .contains("idempotency_token")
        );
    }

    #[test]
    fn parameters_are_size_limited() {
        let mut t = python_task();
        t["spark_python_task"]["parameters"] = json!(["x".repeat(9_970)]);
        check(json!({"tasks": [t]})).unwrap();
        t["spark_python_task"]["parameters"] = json!(["x".repeat(10_000)]);
        let err = check(json!({"tasks": [t]})).unwrap_err();
        assert!(
            err.contains("tasks[0].spark_python_task.parameters"),
            "{err}"
        );
        assert!(err.contains("10000 bytes"), "{err}");
    }

    #[test]
    fn depends_on_must_name_another_task() {
        let mut a = python_task();
        a["depends_on"] = json!([{"task_key": "nope"}]);
        assert!(
            check(json!({"tasks": [a]}))
                .unwrap_err()
                .contains("depends_on")
        );
    }
}
