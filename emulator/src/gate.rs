//! The gate every request passes: buffer and record it, apply an injected fault, check auth,
//! then hand it to the route with its JSON body parsed once.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::auth;
use crate::body::ParsedBody;
use crate::error::ApiError;
use crate::oauth;
use crate::oidc;
use crate::state::SharedApp;

/// Workspace imports carry up to 10 MB of base64; leave headroom.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Files API uploads (release binaries) are bigger; the real limit (5 GiB) would be kept in
/// memory here, so the emulator stops well short of it.
const MAX_FILE_BYTES: usize = 512 * 1024 * 1024;
const FILES_PREFIX: &str = "/api/2.0/fs/files/";

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    /// Null when empty or not JSON.
    pub body: Value,
    /// The status answered (0 while the request is still being handled).
    pub status: u16,
}

pub async fn gate(State(app): State<SharedApp>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let is_file = parts.uri.path().starts_with(FILES_PREFIX);
    let limit = if is_file {
        MAX_FILE_BYTES
    } else {
        MAX_BODY_BYTES
    };
    // An unreadable body is treated like unparsable JSON: routes that need one say MALFORMED.
    let bytes = axum::body::to_bytes(body, limit).await.ok();
    if is_file && bytes.is_none() {
        // Never store a truncated (empty) file for an upload that did not arrive whole.
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "REQUEST_LIMIT_EXCEEDED",
            format!("the upload was unreadable or over {MAX_FILE_BYTES} bytes"),
        )
        .into_response();
    }

    let parsed = match bytes.as_deref() {
        // Raw file bytes are not JSON: do not parse (or record) megabytes of them.
        _ if is_file => ParsedBody::Empty,
        Some(b) => ParsedBody::parse(b),
        None => ParsedBody::Invalid,
    };
    let header_text = |name: header::HeaderName| {
        let value = parts.headers.get(name)?.to_str().ok()?;
        Some(value.to_string())
    };
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    tracing::debug!(%method, %path, "request");
    let recorded = RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        authorization: header_text(header::AUTHORIZATION),
        user_agent: header_text(header::USER_AGENT),
        body: parsed.recorded(),
        status: 0,
    };
    // Record on arrival so `requests()` is in arrival order; the status is filled in below.
    let index = {
        let mut state = app.lock();
        state.requests.push(recorded);
        state.requests.len() - 1
    };
    let request = Request::from_parts(parts, Body::from(bytes.unwrap_or_default()));
    let response = answer(&app, &method, &path, request, parsed, next).await;
    app.lock().requests[index].status = response.status().as_u16();
    response
}

/// Faults first (they simulate the network/front end), then auth, then the route itself.
async fn answer(
    app: &SharedApp,
    method: &str,
    path: &str,
    mut request: Request,
    parsed: ParsedBody,
    next: Next,
) -> Response {
    let fault = app.lock().faults.take(method, path);
    if let Some(fault) = &fault {
        if fault.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
        }
        if fault.answers() && !fault.after_handling {
            return fault.response();
        }
    }
    // The token endpoint authenticates clients itself (HTTP Basic), not with a bearer token;
    // the OAuth metadata and keys are public.
    if path != oauth::TOKEN_PATH && !oidc::is_public(path) {
        let now = std::time::Instant::now();
        let checked = auth::check(
            app.auth_required(),
            app.config.token.as_deref(),
            |token| app.token_status(token, now),
            request.headers(),
        );
        if let Err(err) = checked {
            return err.into_response();
        }
        if let Some(token) = auth::bearer(request.headers())
            && !app.token_allows(token, path)
        {
            return ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "Provided OAuth token does not have required scopes",
            )
            .into_response();
        }
        let token = auth::bearer(request.headers());
        let caller = app.caller(token);
        request.extensions_mut().insert(caller);
    }
    request.extensions_mut().insert(parsed);
    let response = next.run(request).await;
    match fault {
        // The work is done (state changed) but the client sees the error: a "lost" answer.
        Some(fault) if fault.answers() => fault.response(),
        _ => response,
    }
}

/// Unknown routes and unsupported methods both answer like the real front end.
pub async fn not_found(request: Request) -> ApiError {
    ApiError::endpoint_not_found(request.method().as_str(), request.uri().path())
}
