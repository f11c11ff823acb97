//! What happens to each request, in order: body limit from its headers, admission, reading
//! the body, the component; all under one deadline, and one access-log line at the end.

use super::admission::Admission;
use super::body::{self, BodyError};
use super::invoke::Invoker;
use super::reply::{self, Reply};
use bytes::Bytes;
use http::header::{CONNECTION, HOST, HeaderValue};
use http::{Request, StatusCode};
use http_body::Body;
use std::time::{Duration, Instant};

pub struct Service {
    pub admission: Admission,
    pub invoker: Invoker,
    pub max_body_bytes: u64,
    pub timeout: Duration,
    /// `Host` for HTTP/1.0 requests that send none (wasi-http needs an authority).
    pub authority: HeaderValue,
}

impl Service {
    pub async fn handle<B>(&self, request: Request<B>) -> Reply
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let method = request.method().clone();
        // The path only: query strings may carry things that do not belong in logs.
        let path = request.uri().path().to_owned();
        let reply = self.respond(request, started).await;
        tracing::info!(
            target: "sdp_agent::access",
            "{method} {path} {} {:.1}ms",
            reply.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        reply
    }

    async fn respond<B>(&self, request: Request<B>, started: Instant) -> Reply
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // Cheapest refusal first: an announced oversize body takes no slot and is never read.
        if body::declared_too_large(request.headers(), self.max_body_bytes) {
            return unread_body(reply::too_large(self.max_body_bytes));
        }
        let deadline = started + self.timeout;
        let slot = match tokio::time::timeout_at(deadline.into(), self.admission.admit()).await {
            Ok(Some(slot)) => slot,
            Ok(None) => return unread_body(reply::overloaded()),
            Err(_) => return reply::deadline(self.timeout),
        };
        let work = async {
            let (mut parts, body) = request.into_parts();
            let bytes = match body::read_limited(body, self.max_body_bytes).await {
                Ok(bytes) => bytes,
                Err(BodyError::TooLarge) => return reply::too_large(self.max_body_bytes),
                Err(BodyError::Read(e)) => {
                    return reply::error(
                        StatusCode::BAD_REQUEST,
                        "BAD_REQUEST",
                        &format!("cannot read the request body: {e}"),
                    );
                }
            };
            if !parts.headers.contains_key(HOST) {
                parts.headers.insert(HOST, self.authority.clone());
            }
            self.invoker
                .invoke(Request::from_parts(parts, bytes), deadline)
                .await
        };
        // Guest code is interrupted by the epoch deadline; this also bounds the wait on the
        // component's outgoing calls and on a slow upload.
        let reply = tokio::time::timeout_at(deadline.into(), work)
            .await
            .unwrap_or_else(|_| reply::deadline(self.timeout));
        // Only now, with the store dropped, may another request take the slot.
        drop(slot);
        reply
    }
}

/// A refusal sent without reading the request body: the connection cannot carry another
/// request (the rest of this body would be read as one), so say it will close. Otherwise a
/// client reusing it would meet a closed socket instead of an answer.
fn unread_body(mut reply: Reply) -> Reply {
    reply
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    reply
}
