//! What happens to each request, in order: open routes are answered at once; body limit from
//! its headers; the caller check; reading the body (under a short deadline of its own);
//! admission; the component (without the caller's credentials); all under one deadline, and
//! one access-log line at the end.
//!
//! The body is read before a slot is taken so that a slow sender holds a connection, never an
//! instance: slots are for work, not for waiting on the network. Bodies waiting for a slot are
//! bounded by `--max-body-bytes` each, and by the admitted callers (the check comes first).

use super::admission::Admission;
use super::body::{self, BodyError};
use super::callers::{self, Caller, Gate, Loopback, Refusal};
use super::invoke::Invoker;
use super::metrics::{self, Metrics};
use super::reply::{self, Reply};
use bytes::Bytes;
use http::header::{ALLOW, CONNECTION, CONTENT_LENGTH, HOST, HeaderValue, TRANSFER_ENCODING};
use http::{Method, Request, StatusCode};
use http_body::Body;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Answered by the host for anyone, whatever `--callers` says (load balancers and the Apps
/// proxy probe them): no caller check, no body read, no slot, so they cost nothing and can
/// neither be refused for load nor used to fill the server.
const OPEN_PATHS: [&str; 3] = ["/ping", "/health", "/api/ping"];
/// Longest a client may take to send its request body once its headers are in (408 beyond).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Service {
    pub admission: Admission,
    pub invoker: Invoker,
    pub gate: Gate,
    /// On a loopback bind: requests must name this machine.
    pub loopback: Option<Loopback>,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: u64,
    pub timeout: Duration,
    /// `Host` for HTTP/1.0 requests that send none (wasi-http needs an authority).
    pub authority: HeaderValue,
}

impl Service {
    pub async fn handle<B>(&self, request: Request<B>, peer: SocketAddr) -> Reply
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let method = request.method().clone();
        // The path only: query strings may carry things that do not belong in logs.
        let path = request.uri().path().to_owned();
        let (reply, caller) = if is_open(&path) {
            (open_route(&request), None)
        } else {
            self.respond(request, peer, started).await
        };
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

    async fn respond<B>(
        &self,
        request: Request<B>,
        peer: SocketAddr,
        started: Instant,
    ) -> (Reply, Option<Caller>)
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Some(loopback) = &self.loopback
            && let Err(reason) = loopback.check(request.method(), request.headers())
        {
            return (unread_body(reply::refused(&Refusal::Denied(reason))), None);
        }
        // Cheapest refusal first: an announced oversize body takes no slot and is never read.
        if body::declared_too_large(request.headers(), self.max_body_bytes) {
            return (unread_body(reply::too_large(self.max_body_bytes)), None);
        }
        let deadline = started + self.timeout;
        let checked = self.gate.check(request.headers(), peer.ip()).await;
        self.metrics.caller(checked.as_ref().err());
        let caller = match checked {
            Ok(caller) => caller,
            Err(refusal) => return (unread_body(reply::refused(&refusal)), None),
        };
        let (mut parts, body) = request.into_parts();
        let read_by = deadline.min(Instant::now() + BODY_READ_TIMEOUT);
        let read = body::read_limited(body, self.max_body_bytes);
        let bytes = match tokio::time::timeout_at(read_by.into(), read).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(BodyError::TooLarge)) => {
                return (unread_body(reply::too_large(self.max_body_bytes)), caller);
            }
            Ok(Err(BodyError::Read(e))) => {
                let message = format!("cannot read the request body: {e}");
                let reply = reply::error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message);
                return (unread_body(reply), caller);
            }
            Err(_) => return (unread_body(reply::slow_body(BODY_READ_TIMEOUT)), caller),
        };
        let slot = match tokio::time::timeout_at(deadline.into(), self.admission.admit()).await {
            Ok(Some(slot)) => slot,
            Ok(None) => {
                self.metrics.shed();
                return (reply::overloaded(), caller);
            }
            Err(_) => return (reply::deadline(self.timeout), caller),
        };
        self.metrics.in_flight.inc();
        let work = async {
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
        // component's outgoing calls.
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

fn is_open(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    OPEN_PATHS.contains(&path)
}

/// The answer to an open route: `{"status": "ok"}` for GET and HEAD, 405 otherwise; the body
/// (if any) is never read.
fn open_route<B>(request: &Request<B>) -> Reply {
    if *request.method() == Method::GET || *request.method() == Method::HEAD {
        let mut reply = reply::json(StatusCode::OK, &serde_json::json!({"status": "ok"}));
        if has_body(request) {
            reply = unread_body(reply);
        }
        return reply;
    }
    let mut reply = unread_body(reply::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "method not allowed here; use GET",
    ));
    reply
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    reply
}

/// Whether the request announces a body (which an answer that does not read it leaves behind).
fn has_body<B>(request: &Request<B>) -> bool {
    let headers = request.headers();
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_paths() {
        for path in ["/ping", "/health", "/api/ping", "/ping/"] {
            assert!(is_open(path), "{path}");
        }
        for path in [
            "/invocations",
            "/api/invocations",
            "/pingx",
            "/version",
            "/",
        ] {
            assert!(!is_open(path), "{path}");
        }
    }

    #[test]
    fn open_routes_answer_get_and_head_only() {
        let get = Request::get("/ping").body(()).unwrap();
        assert_eq!(open_route(&get).status(), StatusCode::OK);
        assert!(!open_route(&get).headers().contains_key(CONNECTION));
        let head = Request::head("/health").body(()).unwrap();
        assert_eq!(open_route(&head).status(), StatusCode::OK);
        let post = Request::post("/ping")
            .header(CONTENT_LENGTH, "1000")
            .body(())
            .unwrap();
        let refused = open_route(&post);
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(refused.headers()[ALLOW], "GET, HEAD");
        assert_eq!(refused.headers()[CONNECTION], "close");
    }
}
