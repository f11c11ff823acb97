//! Injected faults: scripted failures (503s, 429s with Retry-After, garbage bodies, delays, lost
//! answers) that let tests prove the client's retry and error handling.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

#[derive(Clone, Debug, Default)]
pub struct Fault {
    /// None = any method.
    pub method: Option<String>,
    /// Matched against the request path (no query), e.g. "/api/2.2/jobs/runs/submit".
    pub path_prefix: String,
    /// Answer status, e.g. 503 (0 = don't answer with an error, only delay).
    pub status: u16,
    /// e.g. "TEMPORARILY_UNAVAILABLE".
    pub error_code: String,
    pub message: String,
    /// Adds a Retry-After header.
    pub retry_after_secs: Option<u64>,
    /// Sleep before answering (or before the normal handling when status == 0).
    pub delay_ms: u64,
    /// Send this body instead of the JSON error (garbage bodies).
    pub raw_body: Option<String>,
    /// How many matching requests it applies to (then it is used up). 0 is taken as 1, so a
    /// fault built with `..Default::default()` still fires once.
    pub times: usize,
    /// true = process the request normally (state changes happen!) and THEN answer with the
    /// error: simulates "the request succeeded but the answer was lost".
    pub after_handling: bool,
    /// Close the connection without sending a byte instead of answering (a crashed front end
    /// or a reset). With `after_handling`, the work is done first.
    pub drop_connection: bool,
    /// Let this many matching requests through untouched before the fault starts firing
    /// (e.g. the first token request succeeds, the refresh fails).
    pub skip: usize,
    /// Adds a `Location` header: with a 3xx status, a redirect (to another host, say).
    pub location: Option<String>,
}

impl Fault {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
    }

    /// Whether this fault replaces the answer (rather than only delaying it).
    pub fn answers(&self) -> bool {
        self.status != 0 || self.drop_connection
    }

    /// The error answer this fault stands for.
    pub fn response(&self) -> Response {
        if self.drop_connection {
            // A body that fails before its first frame makes hyper abort the connection
            // before the buffered head is flushed: the client sees no answer at all.
            return Response::new(axum::body::Body::new(Severed));
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = match &self.raw_body {
            Some(body) => (status, body.clone()).into_response(),
            None => ApiError::new(status, &self.error_code, self.message.clone()).into_response(),
        };
        if let Some(target) = self
            .location
            .as_deref()
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            response.headers_mut().insert(header::LOCATION, target);
        }
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Faults waiting to fire, in injection order.
#[derive(Debug, Default)]
pub struct Faults {
    pending: Vec<Fault>,
}

impl Faults {
    pub fn inject(&mut self, mut fault: Fault) {
        fault.times = fault.times.max(1);
        self.pending.push(fault);
    }

    /// The first fault matching this request, consuming one of its uses.
    pub fn take(&mut self, method: &str, path: &str) -> Option<Fault> {
        let index = self.pending.iter().position(|f| f.matches(method, path))?;
        let fault = &mut self.pending[index];
        if fault.skip > 0 {
            fault.skip -= 1;
            return None;
        }
        fault.times -= 1;
        let fired = fault.clone();
        if fault.times == 0 {
            self.pending.remove(index);
        }
        Some(fired)
    }
}

/// A response body that fails at once.
struct Severed;

impl http_body::Body for Severed {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected fault: connection dropped",
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_match_method_and_prefix_and_get_used_up() {
        let mut faults = Faults::default();
        faults.inject(Fault {
            method: Some("POST".into()),
            path_prefix: "/api/2.2/jobs".into(),
            status: 503,
            times: 2,
            ..Default::default()
        });
        assert!(faults.take("GET", "/api/2.2/jobs/runs/get").is_none());
        assert!(faults.take("POST", "/api/2.0/pipelines").is_none());
        assert!(faults.take("post", "/api/2.2/jobs/runs/submit").is_some());
        assert!(faults.take("POST", "/api/2.2/jobs/runs/submit").is_some());
        assert!(faults.take("POST", "/api/2.2/jobs/runs/submit").is_none());
    }

    #[test]
    fn zero_times_fires_once() {
        let mut faults = Faults::default();
        faults.inject(Fault {
            path_prefix: "/".into(),
            status: 500,
            ..Default::default()
        });
        assert!(faults.take("GET", "/x").is_some());
        assert!(faults.take("GET", "/x").is_none());
    }
}
