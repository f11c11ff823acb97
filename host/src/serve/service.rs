//! What happens to each request, in order: open routes pass; body limit from its headers; the
//! caller check; admission; reading the body; the component (without the caller's
//! credentials); all under one deadline, and one access-log line at the end.

use super::admission::Admission;
use super::body::{self, BodyError};
use super::callers::{self, Caller, Gate};
use super::invoke::Invoker;
use super::metrics::{self, Metrics};
use super::reply::{self, Reply};
use bytes::Bytes;
use http::header::{CONNECTION, HOST, HeaderValue};
use http::{Request, StatusCode};
use http_body::Body;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Answered for anyone, whatever `--callers` says: load balancers probe them.
const OPEN_PATHS: [&str; 2] = ["/ping", "/health"];

pub struct Service {
    pub admission: Admission,
    pub invoker: Invoker,
    pub gate: Gate,
    pub metrics: Arc<Metrics>,
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
        let (reply, caller) = self.respond(request, started).await;
        let elapsed = started.elapsed();
        self.metrics
            .answered(metrics::route(&path), reply.status().as_u16(), elapsed);
        // Common Log Format puts the user first, `-` when unknown; never a credential.
        let who = caller.as_ref().map_or("-", |c| c.user_name.as_str());
        tracing::info!(
            target: "sdp_agent::access",
            "{who} {method} {path} {} {:.1}ms",
            reply.status().as_u16(),
            elapsed.as_secs_f64() * 1000.0
        );
        reply
    }

    async fn respond<B>(&self, request: Request<B>, started: Instant) -> (Reply, Option<Caller>)
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // Cheapest refusal first: an announced oversize body takes no slot and is never read.
        if body::declared_too_large(request.headers(), self.max_body_bytes) {
            return (unread_body(reply::too_large(self.max_body_bytes)), None);
        }
        let deadline = started + self.timeout;
        let open = OPEN_PATHS.contains(&request.uri().path().trim_end_matches('/'));
        let caller = if open {
            None
        } else {
            let checked = self.gate.check(request.headers()).await;
            self.metrics.caller(checked.as_ref().err());
            match checked {
                Ok(caller) => caller,
                Err(refusal) => return (unread_body(reply::refused(&refusal)), None),
            }
        };
        let slot = match tokio::time::timeout_at(deadline.into(), self.admission.admit()).await {
            Ok(Some(slot)) => slot,
            Ok(None) => {
                self.metrics.shed();
                return (unread_body(reply::overloaded()), caller);
            }
            Err(_) => return (reply::deadline(self.timeout), caller),
        };
        self.metrics.in_flight.inc();
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
            callers::strip_credentials(&mut parts.headers);
            let name = caller.as_ref().map(|c| c.user_name.as_str());
            self.invoker
                .invoke(Request::from_parts(parts, bytes), deadline, name)
                .await
        };
        // Guest code is interrupted by the epoch deadline; this also bounds the wait on the
        // component's outgoing calls and on a slow upload.
        let reply = tokio::time::timeout_at(deadline.into(), work)
            .await
            .unwrap_or_else(|_| reply::deadline(self.timeout));
        // Only now, with the store dropped, may another request take the slot.
        drop(slot);
        self.metrics.in_flight.dec();
        (reply, caller)
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
