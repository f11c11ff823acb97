//! The request document (the seed's payload format, our compatibility contract), validated
//! in one pass so that every problem is reported at once.

use crate::error::{Error, FieldError, Result};
use crate::fields::{self, boolean, count, kind, object};
use crate::pipeline_config::PartialConfig;
use serde_json::{Map, Value};

mod checks;
mod cluster;
mod keys;

use checks::{
    check_endpoint_name, check_file_paths, check_no_one_time_run_keys, check_runner_path,
    check_sources, check_warehouse_id, is_endpoint_name, not_an_endpoint,
};
use cluster::check_new_cluster;
use keys::KNOWN_KEYS;

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

/// Where the serving side learns the deployed job when the payload names none.
pub const JOB_ID_ENV: &str = "SDP_AGENT_JOB_ID";
/// The operator's launcher (`serve --runner-path`), for one-time runs whose payload names none.
pub const RUNNER_ENV: &str = "SDP_AGENT_RUNNER_PATH";

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
    /// Validate the source files a run writes before its update (`validate_only`); default on.
    pub validate: bool,
    /// The SQL warehouse that counts nulls and duplicate keys after a waited update.
    pub warehouse_id: Option<String>,
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
pub(crate) const SUGGESTED_ENDPOINT: &str = "databricks-claude-sonnet-4-5";

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
            doc.get(key).and_then(|v| fields::string(key, v, errors))
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
            fields::string("task_overrides.task_key", k, errors);
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
        let validate = doc
            .get("validate")
            .and_then(|v| boolean("validate", v, errors))
            .unwrap_or(true);
        let warehouse_id =
            s("warehouse_id", errors).and_then(|w| check_warehouse_id(w, wait, errors));
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
        let runner_path = match side {
            Side::Predict if job_id.is_none() && !doc.contains_key("runner_path") => env_runner(),
            _ => runner_path,
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
                    format!(
                        "required (the workspace path of the launcher .py file) unless \
                         task_overrides is given or the server names one ({RUNNER_ENV})"
                    ),
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
            validate,
            warehouse_id,
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

/// `SDP_AGENT_RUNNER_PATH` of the component's environment (`serve --runner-path`).
fn env_runner() -> Option<String> {
    std::env::var(RUNNER_ENV)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
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
