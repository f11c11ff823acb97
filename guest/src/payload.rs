//! The request document (the seed's payload format, our compatibility contract), validated
//! in one pass so that every problem is reported at once.

use crate::config::{self, PartialConfig, kind};
use crate::error::{Error, FieldError, Result};
use serde_json::{Map, Value};

/// Every key the payload may carry; anything else is a typo worth reporting.
const KNOWN_KEYS: &[&str] = &[
    "question",
    "job_id",
    "runner_path",
    "claude_endpoint",
    "existing_cluster_id",
    "new_cluster",
    "task_overrides",
    "environments",
    "environment_version",
    "run_name",
    "idempotency_token",
    "timeout_seconds",
    "catalog",
    "schema",
    "pipelineName",
    "pipeline_name",
    "root_path",
    "workspace_file_paths",
    "sources",
    "full_refresh",
    "adopt",
    "wait",
    "wait_timeout_seconds",
    "dry_run",
];

/// Where a Jobs run gets its compute.
#[derive(Debug, Clone, PartialEq)]
pub enum Compute {
    ExistingCluster(String),
    NewCluster(Map<String, Value>),
    /// Neither given: a serverless environment of this version.
    Serverless {
        environment_version: String,
    },
}

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

/// Where the serving side learns the deployed job when the payload names none.
pub const JOB_ID_ENV: &str = "SDP_AGENT_JOB_ID";

#[derive(Debug, Clone)]
pub struct Payload {
    /// The document as received; forwarded to the job unchanged.
    pub doc: Map<String, Value>,
    pub question: Option<String>,
    /// Predict side: the deployed job to `run-now` (the payload's `job_id`, else
    /// `SDP_AGENT_JOB_ID`); None = a one-time `runs/submit`.
    pub job_id: Option<i64>,
    pub runner_path: Option<String>,
    pub claude_endpoint: Option<String>,
    pub compute: Compute,
    pub task_overrides: Option<Map<String, Value>>,
    pub environments: Option<Vec<Value>>,
    pub run_name: Option<String>,
    pub idempotency_token: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub config: PartialConfig,
    /// None = the default: true for a new pipeline, false for an existing one.
    pub full_refresh: Option<bool>,
    /// Let the agent edit a pipeline of that name it did not create.
    pub adopt: bool,
    pub wait: bool,
    pub wait_timeout_seconds: u64,
    /// Plan mode: send reads, withhold writes, answer with the plan (`databricks::plan`).
    pub dry_run: bool,
}

/// Which entry point reads the payload: the job side does not need a runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Predict,
    Run,
}

const DEFAULT_WAIT_TIMEOUT: u64 = 3600;

/// The host's default model endpoint, passed to the component's environment.
pub const ENDPOINT_ENV: &str = "CLAUDE_ENDPOINT_NAME";
/// A Claude endpoint every workspace with Foundation Model APIs has.
const SUGGESTED_ENDPOINT: &str = "databricks-claude-sonnet-4-5";

fn host_endpoint() -> Option<String> {
    std::env::var(ENDPOINT_ENV)
        .ok()
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
}

impl Payload {
    pub fn parse(text: &str, side: Side) -> Result<Payload> {
        let doc: Value = serde_json::from_str(text).map_err(|e| {
            Error::InvalidPayload(vec![FieldError::new("$", format!("not valid JSON: {e}"))])
        })?;
        let Value::Object(doc) = doc else {
            return Err(Error::InvalidPayload(vec![FieldError::new(
                "$",
                format!("must be a JSON object, got {}", kind(&doc)),
            )]));
        };
        let mut errors = Vec::new();
        let payload = Self::read(doc, side, &mut errors);
        if errors.is_empty() {
            Ok(payload)
        } else {
            Err(Error::InvalidPayload(errors))
        }
    }

    fn read(mut doc: Map<String, Value>, side: Side, errors: &mut Vec<FieldError>) -> Payload {
        for key in doc.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                // An empty key still needs a visible path.
                let path = if key.is_empty() {
                    "$[\"\"]"
                } else {
                    key.as_str()
                };
                errors.push(FieldError::new(path, unknown_key_message(key)));
            }
        }
        let s = |key: &str, errors: &mut Vec<FieldError>| {
            doc.get(key).and_then(|v| config::string(key, v, errors))
        };
        let question = s("question", errors);
        let job_id = doc
            .get("job_id")
            .and_then(|v| count("job_id", v, 1, i64::MAX as u64, errors))
            .map(|n| n as i64);
        let runner_path = s("runner_path", errors);
        let mut claude_endpoint = s("claude_endpoint", errors)
            .and_then(|e| check_endpoint_name("claude_endpoint", e, errors));
        let run_name = s("run_name", errors);
        let idempotency_token = s("idempotency_token", errors).and_then(|t| {
            if t.len() > 64 {
                errors.push(FieldError::new(
                    "idempotency_token",
                    "must be at most 64 characters",
                ));
                None
            } else {
                Some(t)
            }
        });
        let existing = s("existing_cluster_id", errors);
        let new_cluster = doc
            .get("new_cluster")
            .and_then(|v| object("new_cluster", v, errors));
        if let Some(nc) = &new_cluster {
            check_new_cluster(nc, errors);
        }
        let task_overrides = doc
            .get("task_overrides")
            .and_then(|v| object("task_overrides", v, errors));
        if let Some(t) = &task_overrides
            && let Some(k) = t.get("task_key")
        {
            config::string("task_overrides.task_key", k, errors);
        }
        let environments = doc.get("environments").and_then(|v| match v {
            Value::Array(a) => Some(a.clone()),
            other => {
                errors.push(FieldError::new(
                    "environments",
                    format!("must be an array of Jobs environments, got {}", kind(other)),
                ));
                None
            }
        });
        let environment_version = s("environment_version", errors);
        let timeout_seconds = doc
            .get("timeout_seconds")
            .and_then(|v| count("timeout_seconds", v, 0, 172_800, errors));
        let wait_timeout_seconds = doc
            .get("wait_timeout_seconds")
            .and_then(|v| count("wait_timeout_seconds", v, 1, 86_400, errors))
            .unwrap_or(DEFAULT_WAIT_TIMEOUT);
        let full_refresh = doc
            .get("full_refresh")
            .and_then(|v| boolean("full_refresh", v, errors));
        let adopt = doc
            .get("adopt")
            .and_then(|v| boolean("adopt", v, errors))
            .unwrap_or(false);
        let wait = doc
            .get("wait")
            .and_then(|v| boolean("wait", v, errors))
            .unwrap_or(false);
        let dry_run = doc
            .get("dry_run")
            .and_then(|v| boolean("dry_run", v, errors))
            .unwrap_or(false);
        let config = PartialConfig::read(&doc, errors);

        if existing.is_some() && new_cluster.is_some() {
            errors.push(FieldError::new(
                "new_cluster",
                "give either existing_cluster_id or new_cluster, not both",
            ));
        }
        let job_id = match side {
            Side::Predict => job_id.or_else(env_job_id),
            Side::Run => job_id,
        };
        if side == Side::Predict
            && let Some(id) = job_id
        {
            check_no_one_time_run_keys(&doc, id, errors);
        } else if side == Side::Predict {
            if task_overrides.is_none() && runner_path.is_none() && !doc.contains_key("runner_path")
            {
                errors.push(FieldError::new(
                    "runner_path",
                    "required (the workspace path of the launcher .py file) unless task_overrides is given",
                ));
            }
            if let Some(r) = &runner_path {
                check_runner_path(r, errors);
            }
        }
        check_file_paths(&config, errors);
        check_sources(&config, doc.contains_key("workspace_file_paths"), errors);
        let missing = config.missing();
        if !missing.is_empty() && question.is_none() && !doc.contains_key("question") {
            errors.push(FieldError::new(
                "question",
                format!(
                    "required when the config is incomplete (missing: {})",
                    missing.join(", ")
                ),
            ));
        }
        // A job that would have to ask the model must know which endpoint: the payload's,
        // else the serving host's, written into the payload because the job's own
        // environment has no CLAUDE_ENDPOINT_NAME. (A task of the caller's own, from
        // task_overrides, does not run the agent on this payload.)
        if side == Side::Predict
            && task_overrides.is_none()
            && !missing.is_empty()
            && claude_endpoint.is_none()
            && !doc.contains_key("claude_endpoint")
        {
            match host_endpoint() {
                Some(name) if is_endpoint_name(&name) => {
                    doc.insert("claude_endpoint".into(), Value::from(name.as_str()));
                    claude_endpoint = Some(name);
                }
                Some(name) => errors.push(FieldError::new(
                    "claude_endpoint",
                    format!("from {ENDPOINT_ENV}: {}", not_an_endpoint(&name)),
                )),
                // A deployed job names its endpoint itself (`sdp-agent deploy` writes it
                // beside the launcher), so run-now may leave it to the job.
                None if job_id.is_some() => {}
                None => errors.push(FieldError::new(
                    "claude_endpoint",
                    format!(
                        "required when the config is incomplete (missing: {}): the serving \
                         endpoint of the model that fills it in, e.g. `{SUGGESTED_ENDPOINT}` \
                         (or set {ENDPOINT_ENV} where predict runs)",
                        missing.join(", ")
                    ),
                )),
            }
        }
        let compute = match (existing, new_cluster) {
            (Some(id), _) => Compute::ExistingCluster(id),
            (None, Some(nc)) => Compute::NewCluster(nc),
            (None, None) => Compute::Serverless {
                environment_version: environment_version.unwrap_or_else(|| "3".into()),
            },
        };
        Payload {
            doc,
            question,
            job_id,
            runner_path,
            claude_endpoint,
            compute,
            task_overrides,
            environments,
            run_name,
            idempotency_token,
            timeout_seconds,
            config,
            full_refresh,
            adopt,
            wait,
            wait_timeout_seconds,
            dry_run,
        }
    }
}

/// `SDP_AGENT_JOB_ID` of the component's environment; the host checked it is a job id.
fn env_job_id() -> Option<i64> {
    std::env::var(JOB_ID_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|id| *id > 0)
}

/// A run of a deployed job takes its code and compute from the job: keys that would describe
/// a one-time run are mistakes, not silently dropped settings.
fn check_no_one_time_run_keys(doc: &Map<String, Value>, job_id: i64, errors: &mut Vec<FieldError>) {
    for key in ONE_TIME_RUN_KEYS {
        if doc.contains_key(*key) {
            errors.push(FieldError::new(
                *key,
                format!("not used when predict starts job {job_id} (run-now): the job's settings decide it"),
            ));
        }
    }
}

fn unknown_key_message(key: &str) -> String {
    let lower = key.to_ascii_lowercase().replace(['-', '_'], "");
    let close = KNOWN_KEYS
        .iter()
        .find(|k| k.to_ascii_lowercase().replace('_', "") == lower);
    match close {
        Some(k) => format!("unknown field; did you mean `{k}`?"),
        None => "unknown field".to_string(),
    }
}

fn object(path: &str, v: &Value, errors: &mut Vec<FieldError>) -> Option<Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m.clone()),
        other => {
            errors.push(FieldError::new(
                path,
                format!("must be an object, got {}", kind(other)),
            ));
            None
        }
    }
}

fn boolean(path: &str, v: &Value, errors: &mut Vec<FieldError>) -> Option<bool> {
    v.as_bool().or_else(|| {
        errors.push(FieldError::new(
            path,
            format!("must be true or false, got {}", kind(v)),
        ));
        None
    })
}

fn count(path: &str, v: &Value, min: u64, max: u64, errors: &mut Vec<FieldError>) -> Option<u64> {
    match v.as_u64() {
        Some(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            errors.push(FieldError::new(
                path,
                format!("must be a whole number from {min} to {max}"),
            ));
            None
        }
    }
}

/// Serving endpoint names are letters, digits, `-` and `_` (they go into a URL path); the
/// seed's `anthropic/claude-…` style names are not endpoint names.
fn check_endpoint_name(path: &str, name: String, errors: &mut Vec<FieldError>) -> Option<String> {
    if is_endpoint_name(&name) {
        Some(name)
    } else {
        errors.push(FieldError::new(path, not_an_endpoint(&name)));
        None
    }
}

fn is_endpoint_name(name: &str) -> bool {
    name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

fn not_an_endpoint(name: &str) -> String {
    format!(
        "`{name}` is not a serving endpoint name (letters, digits, - and _ only); \
         e.g. `{SUGGESTED_ENDPOINT}`"
    )
}

/// Pipeline source files are SQL or Python files: a library path without either extension
/// would be imported as a notebook (dropping the name the pipeline refers to).
fn check_file_paths(config: &PartialConfig, errors: &mut Vec<FieldError>) {
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
fn check_sources(config: &PartialConfig, paths_given: bool, errors: &mut Vec<FieldError>) {
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

fn check_runner_path(r: &str, errors: &mut Vec<FieldError>) {
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

/// The fields Jobs needs to start a cluster; the rest of the spec is forwarded as given. A
/// cluster policy (`policy_id`) may supply any of them, and a single-node cluster has no
/// workers: then only the types of the values given are checked, and Jobs judges the rest.
fn check_new_cluster(nc: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    let text = |k: &str, errors: &mut Vec<FieldError>| {
        nc.get(k)
            .map(|v| config::string(&format!("new_cluster.{k}"), v, errors).is_some())
    };
    let flag = |k: &str, errors: &mut Vec<FieldError>| {
        nc.get(k)
            .and_then(|v| boolean(&format!("new_cluster.{k}"), v, errors))
            .unwrap_or(false)
    };
    let policy = text("policy_id", errors).is_some();
    flag("apply_policy_default_values", errors);
    let single_node = flag("is_single_node", errors);
    if text("spark_version", errors).is_none() && !policy {
        errors.push(FieldError::new(
            "new_cluster.spark_version",
            "required (or policy_id)",
        ));
    }
    let node = text("node_type_id", errors);
    let pool = text("instance_pool_id", errors);
    if node.is_none() && pool.is_none() && !policy {
        errors.push(FieldError::new(
            "new_cluster.node_type_id",
            "required (or instance_pool_id, or policy_id)",
        ));
    }
    match (nc.get("num_workers"), nc.get("autoscale")) {
        (Some(n), _) => {
            count("new_cluster.num_workers", n, 0, 100_000, errors);
        }
        (None, Some(Value::Object(a))) => {
            let min = a
                .get("min_workers")
                .and_then(|v| count("new_cluster.autoscale.min_workers", v, 0, 100_000, errors));
            let max = a
                .get("max_workers")
                .and_then(|v| count("new_cluster.autoscale.max_workers", v, 1, 100_000, errors));
            match (min, max) {
                (Some(lo), Some(hi)) if lo > hi => errors.push(FieldError::new(
                    "new_cluster.autoscale",
                    "min_workers must not exceed max_workers",
                )),
                (Some(_), Some(_)) => {}
                _ if a.contains_key("min_workers") && a.contains_key("max_workers") => {}
                _ => errors.push(FieldError::new(
                    "new_cluster.autoscale",
                    "needs min_workers and max_workers",
                )),
            }
        }
        (None, Some(other)) => errors.push(FieldError::new(
            "new_cluster.autoscale",
            format!("must be an object, got {}", kind(other)),
        )),
        (None, None) if single_node || policy => {}
        (None, None) => errors.push(FieldError::new(
            "new_cluster.num_workers",
            "required (or autoscale, is_single_node or policy_id)",
        )),
    }
}
