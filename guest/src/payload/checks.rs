//! Checks of single payload values: run-now keys, endpoint names, file paths, the runner.

use super::SUGGESTED_ENDPOINT;
use crate::error::FieldError;
use crate::pipeline_config::PartialConfig;
use serde_json::{Map, Value};

/// Keys that shape a one-time run; a deployed job's own settings decide them instead.
const ONE_TIME_RUN_KEYS: &[&str] = &[
    "runner_path",
    "task_overrides",
    "existing_cluster_id",
    "new_cluster",
    "environments",
    "environment_version",
    "run_name",
    "timeout_seconds",
];

/// A run of a deployed job takes its code and compute from the job: keys that would describe
/// a one-time run are mistakes, not silently dropped settings.
pub fn check_no_one_time_run_keys(
    doc: &Map<String, Value>,
    job_id: i64,
    errors: &mut Vec<FieldError>,
) {
    for key in ONE_TIME_RUN_KEYS {
        if doc.contains_key(*key) {
            errors.push(FieldError::new(
                *key,
                format!("not used when predict starts job {job_id} (run-now): the job's settings decide it"),
            ));
        }
    }
}

/// Serving endpoint names are letters, digits, `-` and `_` (they go into a URL path); the
/// seed's `anthropic/claude-…` style names are not endpoint names.
pub fn check_endpoint_name(
    path: &str,
    name: String,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    if is_endpoint_name(&name) {
        Some(name)
    } else {
        errors.push(FieldError::new(path, not_an_endpoint(&name)));
        None
    }
}

pub fn is_endpoint_name(name: &str) -> bool {
    name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

pub fn not_an_endpoint(name: &str) -> String {
    format!(
        "`{name}` is not a serving endpoint name (letters, digits, - and _ only); \
         e.g. `{SUGGESTED_ENDPOINT}`"
    )
}

/// Pipeline source files are SQL or Python files: a library path without either extension
/// would be imported as a notebook (dropping the name the pipeline refers to).
pub fn check_file_paths(config: &PartialConfig, errors: &mut Vec<FieldError>) {
    for (i, path) in config.workspace_file_paths.iter().flatten().enumerate() {
        if !(path.ends_with(".sql") || path.ends_with(".py")) {
            errors.push(FieldError::new(
                format!("workspace_file_paths[{i}]"),
                format!("`{path}` must name a .sql or .py file"),
            ));
        }
    }
}

/// Every source given must be one of the pipeline's files, or it would be refused only after
/// the job's compute has started.
pub fn check_sources(config: &PartialConfig, paths_given: bool, errors: &mut Vec<FieldError>) {
    let listed: &[String] = match &config.workspace_file_paths {
        Some(paths) => paths,
        // workspace_file_paths is present but invalid: that error is already reported.
        None if paths_given => return,
        None => &[],
    };
    for path in config.sources.keys() {
        if !listed.contains(path) {
            errors.push(FieldError::new(
                format!("sources.{path}"),
                "not one of workspace_file_paths (list every file a source is given for)",
            ));
        }
    }
}

/// A SQL warehouse id (hex digits, e.g. `1234567890abcdef`) is only used to check the data of
/// an update the run waits for: without `wait` it would silently do nothing.
pub fn check_warehouse_id(id: String, wait: bool, errors: &mut Vec<FieldError>) -> Option<String> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        errors.push(FieldError::new(
            "warehouse_id",
            format!("`{id}` is not a SQL warehouse id (letters and digits, e.g. 1234567890abcdef)"),
        ));
        None
    } else if !wait {
        errors.push(FieldError::new(
            "warehouse_id",
            "used only to check the data of an update the run waits for: add \"wait\": true",
        ));
        None
    } else {
        Some(id)
    }
}

pub fn check_runner_path(r: &str, errors: &mut Vec<FieldError>) {
    let uri = ["dbfs:/", "s3://", "s3a://", "abfss://", "gs://", "file:/"]
        .iter()
        .any(|p| r.starts_with(p));
    if !(r.starts_with('/') || uri) {
        errors.push(FieldError::new(
            "runner_path",
            format!("`{r}` must be an absolute workspace path or a dbfs:/ or cloud storage URI"),
        ));
    } else if !r.ends_with(".py") {
        errors.push(FieldError::new(
            "runner_path",
            format!("`{r}` must name a Python file (.py)"),
        ));
    }
}
