//! Answers the host makes itself, in the component's error shape
//! (`{"error_code", "message"}`), so clients see one format whoever answered.

use super::callers::Refusal;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use http_body_util::Full;
use std::time::Duration;

pub type Reply = Response<Full<Bytes>>;

pub fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    json(
        status,
        &serde_json::json!({"error_code": code, "message": message}),
    )
}

/// `value` as a JSON answer.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(value.to_string())));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

/// Every slot busy and the queue full: come back in a second.
pub fn overloaded() -> Reply {
    let mut reply = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "TEMPORARILY_UNAVAILABLE",
        "the server is at its concurrency limit and its queue is full; retry later",
    );
    reply
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    reply
}

/// A caller the gate did not let in: 401 (with the scheme to use), 403, or 503 when the
/// identity could not be checked.
pub fn refused(refusal: &Refusal) -> Reply {
    match refusal {
        Refusal::Unauthenticated { reason, bad_token } => {
            let mut reply = error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", reason);
            // RFC 6750 §3: the scheme, and `invalid_token` when one was sent but refused.
            let challenge = if *bad_token {
                r#"Bearer error="invalid_token""#
            } else {
                "Bearer"
            };
            reply
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            reply
        }
        Refusal::Denied(reason) => error(StatusCode::FORBIDDEN, "PERMISSION_DENIED", reason),
        Refusal::Limited { retry_after } => retry_later(
            error(
                StatusCode::TOO_MANY_REQUESTS,
                "REQUEST_LIMIT_EXCEEDED",
                "too many new callers to check at once; retry later",
            ),
            *retry_after,
        ),
        Refusal::Unavailable {
            reason,
            retry_after,
        } => retry_later(
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "TEMPORARILY_UNAVAILABLE",
                &format!("cannot check who is calling: {reason}; retry later"),
            ),
            *retry_after,
        ),
    }
}

/// `reply` with `Retry-After` in whole seconds (at least 1).
fn retry_later(mut reply: Reply, after: Duration) -> Reply {
    let secs = after.as_secs().max(1) + u64::from(after.subsec_nanos() > 0);
    reply
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    reply
}

pub fn too_large(limit: u64) -> Reply {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "BAD_REQUEST",
        &format!("request body exceeds {limit} bytes (--max-body-bytes)"),
    )
}

/// The body did not arrive within `limit` of the headers.
pub fn slow_body(limit: Duration) -> Reply {
    error(
        StatusCode::REQUEST_TIMEOUT,
        "REQUEST_TIMEOUT",
        &format!(
            "the request body did not arrive within {}s",
            limit.as_secs()
        ),
    )
}

pub fn deadline(timeout: Duration) -> Reply {
    error(
        StatusCode::GATEWAY_TIMEOUT,
        "DEADLINE_EXCEEDED",
        &format!(
            "no answer within {}s (--request-timeout)",
            timeout.as_secs()
        ),
    )
}

pub fn internal(message: &str) -> Reply {
    error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn overloaded_is_json_with_retry_after() {
        let reply = overloaded();
        assert_eq!(reply.status(), 503);
        assert_eq!(reply.headers()[RETRY_AFTER], "1");
        assert_eq!(reply.headers()[CONTENT_TYPE], "application/json");
        let body = reply.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error_code"], "TEMPORARILY_UNAVAILABLE");
        assert!(json["message"].as_str().unwrap().contains("retry"));
    }
}
