//! Serving side: validate, start the Jobs run that will execute `run` (a one-time run, or a
//! run of the deployed job when there is a job id), answer at once.

use super::staging;
use crate::databricks::plan::PlannedCall;
use crate::databricks::{WorkspaceClient, jobs, run_now};
use crate::error::Result;
use crate::payload::{Compute, Payload, Side};
use crate::policy;
use serde_json::{Map, Value, json};

const TASK_KEY: &str = "sdp_agent_run";
const ENVIRONMENT_KEY: &str = "sdp_agent_env";

#[derive(Debug, Clone)]
pub struct SubmittedRun {
    pub run_id: i64,
    pub run_url: String,
    /// Plan mode: the withheld writes (`run_id` is then a placeholder).
    pub plan: Option<Vec<PlannedCall>>,
}

pub async fn predict(text: &str) -> Result<SubmittedRun> {
    submit(Payload::parse(text, Side::Predict)?).await
}

/// Submits the run for a payload already validated for the predict side, when the
/// deployment's policy allows it (checked before anything is sent).
pub async fn submit(payload: Payload) -> Result<SubmittedRun> {
    policy::check_predict(&payload)?;
    let ws = WorkspaceClient::from_env()?.dry_run(payload.dry_run);
    // One token per predict call, reused by every retry of the submit inside it.
    let token = payload
        .idempotency_token
        .clone()
        .unwrap_or_else(fresh_token);
    let run_id = match payload.job_id {
        Some(job_id) => {
            let passed = staging::pass(&ws, &payload, &token).await?;
            let caller = super::caller();
            let body = run_now::body(job_id, passed, &token, caller.as_deref());
            run_now::start(&ws, &body).await?
        }
        None => {
            let parameters = match &payload.task_overrides {
                Some(_) => Vec::new(),
                None => staging::pass(&ws, &payload, &token).await?.into_arguments(),
            };
            jobs::submit(&ws, &submit_body(&payload, &token, parameters)).await?
        }
    };
    let fallback = format!("{}/jobs/runs/{run_id}", ws.base());
    let run_url = match jobs::run_page_url(&ws, run_id).await {
        Ok(Some(url)) => url,
        Ok(None) => fallback,
        Err(e) => {
            // The run exists; losing its link is no reason to report a failure.
            eprintln!("sdp-agent: runs/get for {run_id} failed ({e}); using {fallback}");
            fallback
        }
    };
    Ok(SubmittedRun {
        run_id,
        run_url,
        plan: ws.planned(),
    })
}

/// The `runs/submit` body: one task that runs the launcher with `parameters` (the payload as
/// base64, or the path of its staged copy), or the caller's own task from `task_overrides`.
fn submit_body(payload: &Payload, token: &str, parameters: Vec<String>) -> Value {
    let mut body = Map::new();
    let caller = super::caller();
    body.insert(
        "run_name".into(),
        Value::from(run_name(payload, caller.as_deref())),
    );
    body.insert("idempotency_token".into(), Value::from(token));
    if let Some(t) = payload.timeout_seconds {
        body.insert("timeout_seconds".into(), Value::from(t));
    }
    let mut environments = payload.environments.clone();
    let task = match &payload.task_overrides {
        Some(overrides) => {
            let mut task = overrides.clone();
            task.entry("task_key").or_insert_with(|| TASK_KEY.into());
            task
        }
        None => {
            let runner = payload.runner_path.clone().unwrap_or_default();
            let mut python = json!({ "python_file": runner, "parameters": parameters });
            if runner.starts_with('/') {
                python["source"] = "WORKSPACE".into();
            }
            let mut task = Map::new();
            task.insert("task_key".into(), TASK_KEY.into());
            task.insert("spark_python_task".into(), python);
            match &payload.compute {
                Compute::ExistingCluster(id) => {
                    task.insert("existing_cluster_id".into(), id.as_str().into());
                }
                Compute::NewCluster(spec) => {
                    task.insert("new_cluster".into(), Value::Object(spec.clone()));
                }
                Compute::Serverless {
                    environment_version,
                } => {
                    let envs = environments.get_or_insert_with(|| {
                        vec![json!({
                            "environment_key": ENVIRONMENT_KEY,
                            "spec": {"environment_version": environment_version},
                        })]
                    });
                    let key = envs
                        .first()
                        .and_then(|e| e.get("environment_key"))
                        .cloned()
                        .unwrap_or_else(|| ENVIRONMENT_KEY.into());
                    task.insert("environment_key".into(), key);
                }
            }
            task
        }
    };
    body.insert("tasks".into(), Value::Array(vec![Value::Object(task)]));
    if let Some(envs) = environments {
        body.insert("environments".into(), Value::Array(envs));
    }
    Value::Object(body)
}

/// The payload's name (or one made from the pipeline or question), then who asked, which a
/// payload cannot leave out.
fn run_name(payload: &Payload, caller: Option<&str>) -> String {
    let name = named_run(payload);
    match caller.map(str::trim).filter(|c| !c.is_empty()) {
        Some(caller) => format!("{name} (asked by {caller})"),
        None => name,
    }
}

fn named_run(payload: &Payload) -> String {
    if let Some(n) = &payload.run_name {
        return n.clone();
    }
    match (&payload.config.pipeline_name, &payload.question) {
        (Some(name), _) => format!("sdp-agent: {name}"),
        (None, Some(q)) => {
            let short: String = q.chars().take(80).collect();
            format!("sdp-agent: {short}")
        }
        (None, None) => "sdp-agent".into(),
    }
}

/// A random (v4) UUID from WASI's random source.
fn fresh_token() -> String {
    let mut bytes = [0u8; 16];
    wstd::rand::get_random_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(extra: Value) -> Payload {
        let mut doc = json!({
            "runner_path": "/Workspace/Shared/launcher.py",
            "question": "a bronze table over clickstream",
            "claude_endpoint": "databricks-claude-sonnet-4-5",
        });
        doc.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Payload::parse(&doc.to_string(), Side::Predict).expect("valid payload")
    }

    #[test]
    fn the_run_name_says_who_asked_whatever_the_payload_names_it() {
        let plain = payload(json!({}));
        assert_eq!(
            run_name(&plain, None),
            "sdp-agent: a bronze table over clickstream"
        );
        assert_eq!(
            run_name(&plain, Some("alice@example.com")),
            "sdp-agent: a bronze table over clickstream (asked by alice@example.com)"
        );
        let named = payload(json!({"run_name": "nightly"}));
        assert_eq!(
            run_name(&named, Some("bob@example.com")),
            "nightly (asked by bob@example.com)"
        );
        assert_eq!(run_name(&named, Some("  ")), "nightly");
    }
}
