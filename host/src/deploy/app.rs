//! `--serve app`: a Databricks App named NAME running `sdp-agent serve` (see
//! `host/launcher/sdp_agent_app.py`), allowed to run the job and read the volume, then a
//! SNAPSHOT deployment of the app folder (after any deployment still in progress), waited for.

use super::ownership::APP_MARK;
use super::rest::{Rest, Retry};
use super::wait::{self, Step};
use crate::outcome::Failure;
use http::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// What the deployed app is.
pub struct Deployed {
    pub url: Option<String>,
    pub deployment_id: Option<String>,
    /// The application id of the app's service principal (what it serves as).
    pub service_principal: Option<String>,
}

/// The application id of an app's service principal.
fn service_principal(app: Option<&Value>) -> Option<String> {
    app?["service_principal_client_id"]
        .as_str()
        .map(str::to_string)
}

/// The name of the app's resource that grants it the job (`valueFrom` in a bundle's app.yaml).
pub const JOB_RESOURCE: &str = "sdp-agent-job";

/// The App body for create and update (and a bundle's app resource): its name, and the grants
/// its service principal needs: running the job and reading the binaries. No `CAN_QUERY` on
/// the model: predict never asks it (the job's runs do, as the job's run identity), and
/// granting it would need CAN_MANAGE on that endpoint. `job` is the job id and `volume` the
/// volume's full name, or what stands for them.
pub fn body(name: &str, job: &str, volume: &str) -> Value {
    json!({
        "name": name,
        "description": format!("sdp-agent: request in words -> Spark Declarative Pipeline (MLflow scoring protocol under /api/). {APP_MARK}"),
        "resources": [
            {"name": JOB_RESOURCE, "description": "the job predict starts (run-now)",
             "job": {"id": job, "permission": "CAN_MANAGE_RUN"}},
            {"name": "sdp-agent-binaries", "description": "the sdp-agent binaries",
             "uc_securable": {"securable_full_name": volume, "securable_type": "VOLUME", "permission": "READ_VOLUME"}},
        ],
    })
}

/// Creates or updates the app, waits for its compute, deploys `source_code_path` and waits
/// for the deployment.
/// `existing` is the app of that name as read before (`ownership::survey`).
pub async fn deploy(
    rest: &Rest,
    body: &Value,
    existing: Option<Value>,
    source_code_path: &str,
    limit: Duration,
) -> Result<Deployed, Failure> {
    let name = body["name"].as_str().unwrap_or_default();
    let path = format!("/api/2.0/apps/{name}");
    let written = match &existing {
        None => {
            rest.write(Method::POST, "/api/2.0/apps", body, Retry::Never)
                .await?
        }
        Some(_) => rest.write(Method::PATCH, &path, body, Retry::Safe).await?,
    };
    let deployment = json!({"source_code_path": source_code_path, "mode": "SNAPSHOT"});
    let deployments = format!("{path}/deployments");
    if rest.dry_run() {
        rest.write(Method::POST, &deployments, &deployment, Retry::Never)
            .await?;
        let url = existing
            .as_ref()
            .and_then(|a| a["url"].as_str())
            .map(str::to_string);
        return Ok(Deployed {
            url,
            deployment_id: None,
            service_principal: service_principal(existing.as_ref()),
        });
    }
    let deadline = Instant::now() + limit;
    let app = wait_for_compute(rest, &path, written, deadline).await?;
    // A deployment still in progress (an earlier deploy that timed out, say) is waited for,
    // not raced: one deployment at a time, ours last so it holds the sources just imported.
    if let Some(pending) = app["pending_deployment"]["deployment_id"].as_str() {
        let pending_path = format!("{deployments}/{pending}");
        wait::until(
            rest,
            &pending_path,
            None,
            deadline,
            "the app's deployment in progress",
            |d| match wait::text(d, "/status/state") {
                "IN_PROGRESS" | "" => Step::Pending {
                    state: "IN_PROGRESS".to_string(),
                    post: None,
                },
                _ => Step::Done,
            },
        )
        .await?;
    }
    let started = rest
        .write(Method::POST, &deployments, &deployment, Retry::Never)
        .await?
        .unwrap_or_default();
    let id = started["deployment_id"]
        .as_str()
        .ok_or_else(|| {
            Failure::Transport(format!(
                "app deployment answered without a deployment_id: {started}"
            ))
        })?
        .to_string();
    wait_for_deployment(rest, &format!("{deployments}/{id}"), started, deadline).await?;
    Ok(Deployed {
        url: app["url"].as_str().map(str::to_string),
        deployment_id: Some(id),
        service_principal: service_principal(Some(&app)),
    })
}

/// Waits until the app's compute is ACTIVE, starting it (once) when it is stopped.
async fn wait_for_compute(
    rest: &Rest,
    path: &str,
    app: Option<Value>,
    deadline: Instant,
) -> Result<Value, Failure> {
    let mut started = false;
    wait::until(
        rest,
        path,
        app,
        deadline,
        "the app's compute",
        |app| match wait::text(app, "/compute_status/state") {
            "ACTIVE" => Step::Done,
            "ERROR" => Step::Failed(format!(
                "app compute is in ERROR: {}",
                app.pointer("/compute_status/message")
                    .unwrap_or(&Value::Null)
            )),
            state => Step::Pending {
                state: state.to_string(),
                post: (state == "STOPPED" && !std::mem::replace(&mut started, true))
                    .then(|| format!("{path}/start")),
            },
        },
    )
    .await
}

async fn wait_for_deployment(
    rest: &Rest,
    path: &str,
    first: Value,
    deadline: Instant,
) -> Result<Value, Failure> {
    wait::until(
        rest,
        path,
        Some(first),
        deadline,
        "the app deployment",
        |d| match wait::text(d, "/status/state") {
            "SUCCEEDED" => Step::Done,
            state @ ("FAILED" | "CANCELLED") => Step::Failed(format!(
                "the app deployment {state}: {}",
                d.pointer("/status/message").unwrap_or(&Value::Null)
            )),
            state => Step::Pending {
                state: state.to_string(),
                post: None,
            },
        },
    )
    .await
}
