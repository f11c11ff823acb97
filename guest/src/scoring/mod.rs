//! The Model Serving front door: the MLflow scoring protocol that Databricks Model Serving
//! speaks, exported as `wasi:http/incoming-handler` so any WASI HTTP host (`wasmtime serve`,
//! `sdp-agent serve`) can serve the agent with nothing else.

mod reply;
mod wrappers;

use crate::error::Error;
use reply::{error_reply, json_reply};
use serde_json::{Value, json};
use wstd::http::body::util::{BodyExt, Limited};
use wstd::http::{Body, Method, Request, Response};

/// Largest request body accepted; a serving request is a few KiB of JSON.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Answers one request; every answer, errors included, is JSON.
pub async fn handle(request: Request<Body>) -> Response<Body> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    match route(&path) {
        Route::Health => match method {
            Method::GET | Method::HEAD => json_reply(200, &json!({"status": "ok"})),
            _ => not_allowed("GET"),
        },
        Route::Version => match method {
            Method::GET => json_reply(
                200,
                &json!({"name": "sdp-agent", "version": env!("CARGO_PKG_VERSION")}),
            ),
            _ => not_allowed("GET"),
        },
        Route::Invocations => match method {
            Method::POST => invocations(request).await,
            _ => not_allowed("POST"),
        },
        Route::HostMetadata => match method {
            Method::GET => json_reply(200, &host_metadata()),
            _ => not_allowed("GET"),
        },
        Route::Unknown => error_reply(
            404,
            "ENDPOINT_NOT_FOUND",
            &format!("no route for {path}; try POST /invocations"),
        ),
    }
}

enum Route {
    Health,
    Version,
    Invocations,
    HostMetadata,
    Unknown,
}

fn route(path: &str) -> Route {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    // A Databricks App accepts token-authenticated calls on `/api/...` paths only.
    let segments = match segments.as_slice() {
        ["api", rest @ ..] if matches!(rest, ["ping" | "health" | "version" | "invocations"]) => {
            rest
        }
        all => all,
    };
    match segments {
        ["ping"] | ["health"] => Route::Health,
        ["version"] => Route::Version,
        ["invocations"] => Route::Invocations,
        // A client pointed at this server as if it were a workspace.
        ["serving-endpoints", name, "invocations"] if !name.is_empty() => Route::Invocations,
        // Asked by the Databricks SDKs when a client is configured with this server as host.
        [".well-known", "databricks-config"] => Route::HostMetadata,
        _ => Route::Unknown,
    }
}

/// The host metadata a Databricks SDK reads when a client starts (`HostMetadata` in
/// databricks-sdk-py `oauth.py`: `oidc_endpoint`, optional `account_id`, `workspace_id`,
/// `cloud`). This server is a workspace's model endpoint, so its OIDC is the workspace's, when
/// that is known; the ids are not known here and are left out. Without this answer the SDK
/// logs a warning on every client start.
fn host_metadata() -> Value {
    match crate::databricks::WorkspaceClient::from_env() {
        Ok(ws) => json!({"oidc_endpoint": format!("{}/oidc", ws.base())}),
        Err(_) => json!({"oidc_endpoint": ""}),
    }
}

fn not_allowed(allow: &str) -> Response<Body> {
    let mut r = error_reply(
        405,
        "METHOD_NOT_ALLOWED",
        &format!("method not allowed here; use {allow}"),
    );
    r.headers_mut()
        .insert("allow", allow.parse().expect("static header value"));
    r
}

async fn invocations(request: Request<Body>) -> Response<Body> {
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return error_reply(
            415,
            "BAD_REQUEST",
            &format!("content type must be application/json, got `{content_type}`"),
        );
    }
    let declared = request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT) {
        return too_large();
    }
    let body = request.into_body().into_boxed_body();
    let bytes = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<wstd::http::body::util::LengthLimitError>()
                .is_some() =>
        {
            return too_large();
        }
        Err(e) => return error_reply(400, "BAD_REQUEST", &format!("cannot read body: {e}")),
    };
    let doc: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return error_reply(400, "BAD_REQUEST", &format!("body is not valid JSON: {e}"));
        }
    };
    match wrappers::records(doc) {
        Err(e) => error_reply(400, "BAD_REQUEST", &e),
        Ok(wrappers::Input::Raw(payload)) => {
            match crate::agent::predict(&payload.to_string()).await {
                Ok(run) => json_reply(200, &run_json(&run)),
                Err(e) => agent_error(&e, ""),
            }
        }
        Ok(wrappers::Input::Records { field, records }) => predict_all(&field, records).await,
    }
}

/// Validates every record (and holds it to the policy) before submitting any, so one bad
/// record submits nothing.
async fn predict_all(field: &str, records: Vec<Value>) -> Response<Body> {
    let mut payloads = Vec::with_capacity(records.len());
    let mut problems = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let parsed =
            crate::payload::Payload::parse(&record.to_string(), crate::payload::Side::Predict)
                .and_then(|p| crate::policy::check_predict(&p).map(|()| p));
        match parsed {
            Ok(p) => payloads.push(p),
            Err(Error::InvalidPayload(errs)) => problems.extend(errs.into_iter().map(|mut f| {
                f.path = format!("{field}[{i}].{}", f.path);
                f
            })),
            Err(e) => return agent_error(&e, &format!("{field}[{i}]: ")),
        }
    }
    if !problems.is_empty() {
        return agent_error(&Error::InvalidPayload(problems), "");
    }
    let mut predictions = Vec::with_capacity(payloads.len());
    for (i, payload) in payloads.into_iter().enumerate() {
        match crate::agent::submit(payload).await {
            Ok(run) => predictions.push(run_json(&run)),
            Err(e) => {
                let done: Vec<String> = predictions
                    .iter()
                    .map(|p| p["run_id"].to_string())
                    .collect();
                let note = if done.is_empty() {
                    format!("{field}[{i}]: ")
                } else {
                    format!(
                        "{field}[{i}] (runs already submitted: {}): ",
                        done.join(", ")
                    )
                };
                return agent_error(&e, &note);
            }
        }
    }
    json_reply(200, &json!({ "predictions": predictions }))
}

fn run_json(run: &crate::agent::SubmittedRun) -> Value {
    let mut answer = json!({"run_id": run.run_id, "run_url": run.run_url});
    if let Some(plan) = &run.plan {
        answer["plan"] = crate::databricks::plan::to_json(plan);
    }
    answer
}

fn too_large() -> Response<Body> {
    error_reply(
        413,
        "BAD_REQUEST",
        &format!("request body exceeds {BODY_LIMIT} bytes"),
    )
}

/// Maps the agent's errors onto HTTP: the caller's fault is 4xx, the workspace's is 5xx.
fn agent_error(e: &Error, prefix: &str) -> Response<Body> {
    let message = format!("{prefix}{e}");
    match e {
        Error::InvalidPayload(fields) => reply::with_details(
            400,
            "INVALID_PARAMETER_VALUE",
            &message,
            json!(
                fields
                    .iter()
                    .map(|f| json!({"field": f.path, "message": f.message}))
                    .collect::<Vec<_>>()
            ),
        ),
        Error::MissingConfig(_) => error_reply(400, "INVALID_PARAMETER_VALUE", &message),
        Error::Upstream(u) => reply::with_details(
            502,
            if u.error_code.is_empty() {
                "UPSTREAM_ERROR"
            } else {
                &u.error_code
            },
            &message,
            json!([{"upstream_status": u.status, "request": u.request}]),
        ),
        Error::Timeout(_) => error_reply(504, "DEADLINE_EXCEEDED", &message),
        // The pipeline exists with sources that stay invalid: a state to fix, not a retry.
        Error::ValidationFailed(v) => reply::with_details(
            400,
            "INVALID_STATE",
            &message,
            json!(
                v.errors
                    .iter()
                    .map(
                        |e| json!({"pipeline_id": v.pipeline_id, "update_id": v.update_id,
                                    "dataset": e.dataset, "file": e.file, "message": e.message})
                    )
                    .collect::<Vec<_>>()
            ),
        ),
        // A rule of the deployment, not a fault of the request's form: `error` names the kind
        // and the field the way `sdp-agent` prints a failure.
        Error::PolicyRefused(r) => json_reply(
            403,
            &json!({
                "error_code": "PERMISSION_DENIED",
                "message": message,
                "error": {"kind": "policy_refused", "field": r.field, "message": message},
            }),
        ),
        Error::UpdateActive(_) | Error::PipelineRefused(_) => {
            error_reply(409, "RESOURCE_CONFLICT", &message)
        }
        Error::LlmUnusable(_) | Error::Transport(_) => {
            error_reply(502, "TEMPORARILY_UNAVAILABLE", &message)
        }
    }
}
