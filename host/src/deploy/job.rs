//! The job that runs the agent's `run`: one `spark_python_task` on the deployed launcher whose
//! argument is the `payload` job parameter (base64 of the payload JSON, or `@path` of a staged
//! copy, as `predict` sends it with run-now), then `--timeout` from the `timeout` parameter and
//! `--caller` from the `caller` parameter (who asked, set by `serve`; empty when unknown, and
//! the launcher then leaves it out). Found by name (as Jobs compares names: ignoring case) and
//! reset, or created: one job per name, same id on every deploy.

use super::ownership::TAG_KEY;
use super::rest::{Rest, Retry};
use crate::deadline::DEFAULT_TIMEOUT_SECS;
use crate::outcome::Failure;
use http::Method;
use serde_json::{Value, json};

pub const TASK_KEY: &str = "sdp_agent_run";
const ENVIRONMENT_KEY: &str = "sdp_agent_env";
/// Serverless environment version the launcher is tested on (Python 3.12).
const ENVIRONMENT_VERSION: &str = "3";
/// Every predict starts a run; an endpoint needs many at once.
pub const MAX_CONCURRENT_RUNS: u32 = 100;

/// What the job runs on.
pub enum Compute<'a> {
    Serverless,
    Cluster(&'a str),
}

/// The whole `JobSettings` (a reset replaces every setting, so this is all of it).
pub fn settings(name: &str, launcher_path: &str, compute: &Compute) -> Value {
    let mut task = json!({
        "task_key": TASK_KEY,
        "spark_python_task": {
            "python_file": launcher_path,
            // `predict` sets `timeout` only for a staged payload that waits (the host reads an
            // inline payload's wait itself); its default is the host's default `--timeout`.
            "parameters": ["{{job.parameters.payload}}", "--timeout", "{{job.parameters.timeout}}",
                           "--caller", "{{job.parameters.caller}}"],
            "source": "WORKSPACE",
        },
    });
    let mut settings = json!({
        "name": name,
        "description": "sdp-agent: builds a Spark Declarative Pipeline from a request in words. \
                        Managed by `sdp-agent deploy`; its `payload` parameter is the base64 of the payload JSON.",
        "parameters": [
            {"name": "payload", "default": ""},
            {"name": "timeout", "default": DEFAULT_TIMEOUT_SECS.to_string()},
            // Who asked: `serve` sets it to the caller it admitted (run-now refuses a
            // parameter the job does not define); empty when unknown.
            {"name": "caller", "default": ""},
        ],
        "max_concurrent_runs": MAX_CONCURRENT_RUNS,
        "tags": {TAG_KEY: env!("CARGO_PKG_VERSION")},
    });
    match compute {
        Compute::Serverless => {
            task["environment_key"] = ENVIRONMENT_KEY.into();
            settings["environments"] = json!([{
                "environment_key": ENVIRONMENT_KEY,
                "spec": {"environment_version": ENVIRONMENT_VERSION},
            }]);
        }
        Compute::Cluster(id) => task["existing_cluster_id"] = (*id).into(),
    }
    settings["tasks"] = json!([task]);
    settings
}

/// Every job named `name`: `jobs/list?name=` compares names case-insensitively and answers a
/// page at a time (20 by default), so every page is read and compared the same way.
pub async fn named(rest: &Rest, name: &str) -> Result<Vec<Value>, Failure> {
    let wanted = name.to_lowercase();
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("name", name).append_pair("limit", "100");
        if let Some(t) = &token {
            query.append_pair("page_token", t);
        }
        let page = rest
            .get(&format!("/api/2.2/jobs/list?{}", query.finish()))
            .await?;
        found.extend(
            page.get("jobs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|j| {
                    j.pointer("/settings/name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.to_lowercase() == wanted)
                })
                .cloned(),
        );
        token = page
            .get("next_page_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// Creates the job of `settings`, or resets `existing` (the one of that name, found by
/// `ownership::survey`). Answers its id (None in a dry run that would create it).
pub async fn create_or_reset(
    rest: &Rest,
    settings: &Value,
    existing: Option<i64>,
) -> Result<Option<i64>, Failure> {
    match existing {
        None => {
            let created = rest
                .write(Method::POST, "/api/2.2/jobs/create", settings, Retry::Never)
                .await?;
            created
                .map(|answer| {
                    answer.get("job_id").and_then(Value::as_i64).ok_or_else(|| {
                        Failure::Transport(format!(
                            "jobs/create answered without a job_id: {answer}"
                        ))
                    })
                })
                .transpose()
        }
        Some(id) => {
            let body = json!({"job_id": id, "new_settings": settings});
            rest.write(Method::POST, "/api/2.2/jobs/reset", &body, Retry::Safe)
                .await?;
            Ok(Some(id))
        }
    }
}
