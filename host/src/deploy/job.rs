//! The job that runs the agent's `run`: one `spark_python_task` on the deployed launcher whose
//! argument is the `payload` job parameter (base64 of the payload JSON, or `@path` of a staged
//! copy, as `predict` sends it with run-now), then `--timeout` from the `timeout` parameter. Found by exact name and reset, or created: one job per name, same id on
//! every deploy.

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
            "parameters": ["{{job.parameters.payload}}", "--timeout", "{{job.parameters.timeout}}"],
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
        "tags": {"sdp-agent": env!("CARGO_PKG_VERSION")},
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

/// Creates the job named in `settings`, or resets the one that has that name. Answers its id
/// (None in a dry run that would create it). Two jobs of that name are an error: which one
/// to replace is not ours to guess.
pub async fn create_or_reset(rest: &Rest, settings: &Value) -> Result<Option<i64>, Failure> {
    let name = settings["name"].as_str().unwrap_or_default();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("name", name)
        .finish();
    let listed = rest.get(&format!("/api/2.2/jobs/list?{query}")).await?;
    let ids: Vec<i64> = listed
        .get("jobs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|j| j.pointer("/settings/name").and_then(Value::as_str) == Some(name))
        .filter_map(|j| j.get("job_id").and_then(Value::as_i64))
        .collect();
    match ids.as_slice() {
        [] => {
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
        [id] => {
            let body = json!({"job_id": id, "new_settings": settings});
            rest.write(Method::POST, "/api/2.2/jobs/reset", &body, Retry::Safe)
                .await?;
            Ok(Some(*id))
        }
        many => Err(Failure::Config(format!(
            "{} jobs are named {name:?} (ids {many:?}): delete or rename all but one, or deploy with another --name",
            many.len()
        ))),
    }
}
