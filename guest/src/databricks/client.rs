//! The one way the agent talks to the workspace: JSON over wasi-http, with the SDKs' retry
//! rules (429/503 and dropped connections, Retry-After honoured, bounded) and Databricks'
//! error shape turned into `Error::Upstream`. In plan mode it sends only reads (see `plan`).

use super::plan::{Plan, PlannedCall};
use crate::error::{Error, Result, Upstream};
use serde_json::Value;
use std::time::{Duration, Instant};
use wstd::http::error::ErrorCode;
use wstd::http::{Body, Client, Method, Request, StatusCode};

pub const USER_AGENT: &str = concat!("sdp-agent/", env!("CARGO_PKG_VERSION"), " wstd/0.6 os/wasi");

/// Whether a call may be sent again after a failure whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Idempotent (GET, PUT of a whole spec, a POST carrying an idempotency token).
    Safe,
    /// A retry could act twice (e.g. creating a pipeline).
    Never,
}

/// Limits of one logical call, retries included.
const MAX_ATTEMPTS: u32 = 5;
const TOTAL_DEADLINE: Duration = Duration::from_secs(180);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A client of one workspace: its URL, an optional token, and the HTTP client (named apart
/// from the `workspace` files service module beside it).
pub struct WorkspaceClient {
    base: String,
    token: Option<String>,
    /// Set in plan mode: the writes withheld so far.
    plan: Option<Plan>,
}

impl WorkspaceClient {
    /// From the component's environment: `DATABRICKS_HOST` (required) and `DATABRICKS_TOKEN`
    /// (only when the embedding host does not add credentials itself).
    pub fn from_env() -> Result<Self> {
        let host = std::env::var("DATABRICKS_HOST")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .ok_or_else(|| Error::MissingConfig(vec!["DATABRICKS_HOST".into()]))?;
        let token = std::env::var("DATABRICKS_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        Ok(Self::new(&host, token))
    }

    pub fn new(host: &str, token: Option<String>) -> Self {
        let host = host.trim().trim_end_matches('/');
        let base = if host.contains("://") {
            host.to_string()
        } else {
            format!("https://{host}")
        };
        WorkspaceClient {
            base,
            token,
            plan: None,
        }
    }

    /// Plan mode when `on`: from now on only reads are sent (see `plan`).
    pub fn dry_run(mut self, on: bool) -> Self {
        self.plan = on.then(Plan::default);
        self
    }

    /// In plan mode, the calls withheld so far, in order; `None` otherwise.
    pub fn planned(&self) -> Option<Vec<PlannedCall>> {
        self.plan.as_ref().map(Plan::calls)
    }

    /// Plan mode: writes are withheld, so nothing they would start ever runs.
    pub fn is_dry_run(&self) -> bool {
        self.plan.is_some()
    }

    /// The workspace URL, e.g. for UI links.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.call(
            Method::GET,
            path,
            None,
            Retry::Safe,
            Duration::from_secs(60),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value, retry: Retry) -> Result<Value> {
        self.call(
            Method::POST,
            path,
            Some(body),
            retry,
            Duration::from_secs(60),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(
            Method::PUT,
            path,
            Some(body),
            Retry::Safe,
            Duration::from_secs(60),
        )
        .await
    }

    /// Sends one logical call, retrying what the Databricks SDKs retry.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        retry: Retry,
        first_byte_timeout: Duration,
    ) -> Result<Value> {
        if let Some(answer) = self
            .plan
            .as_ref()
            .and_then(|p| p.withhold(&method, path, body))
        {
            return Ok(answer);
        }
        let what = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self
                .send_once(&method, path, body, first_byte_timeout)
                .await;
            let wait = match &outcome {
                Attempt::Done(_) => None,
                // 429 means "not processed": safe for any call. A 503 may come after the
                // work was done, so only idempotent calls repeat it.
                Attempt::Status {
                    status,
                    retry_after,
                    ..
                } if *status == 429 || (*status == 503 && retry == Retry::Safe) => {
                    Some(retry_after.unwrap_or_else(|| backoff(attempt)))
                }
                Attempt::Transport {
                    retryable: true, ..
                } if retry == Retry::Safe => Some(backoff(attempt)),
                _ => None,
            };
            let wait =
                wait.filter(|w| attempt < MAX_ATTEMPTS && started.elapsed() + *w < TOTAL_DEADLINE);
            match (outcome, wait) {
                (Attempt::Done(v), _) => return Ok(v),
                (other, Some(w)) => {
                    eprintln!(
                        "sdp-agent: {what}: {} (attempt {attempt}); retrying in {} ms",
                        other.describe(),
                        w.as_millis()
                    );
                    wstd::task::sleep(w.into()).await;
                }
                (other, None) => return Err(other.into_error(what)),
            }
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        first_byte_timeout: Duration,
    ) -> Attempt {
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base))
            .header("Accept", "application/json")
            .header("User-Agent", USER_AGENT);
        if let Some(token) = &self.token {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(v) => {
                builder = builder.header("Content-Type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let request = match builder.body(body) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Transport {
                    message: format!("cannot build request: {e}"),
                    retryable: false,
                    timeout: false,
                };
            }
        };
        let mut client = Client::new();
        client.set_connect_timeout(CONNECT_TIMEOUT);
        client.set_first_byte_timeout(first_byte_timeout);
        let response = match client.send(request).await {
            Ok(r) => r,
            Err(e) => return Attempt::transport(&e),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
        let mut body = response.into_body();
        let bytes = match body.contents().await {
            Ok(b) => b.to_vec(),
            Err(e) => return Attempt::transport(&e),
        };
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Attempt::Done(Value::Object(Default::default()));
            }
            return match serde_json::from_slice(&bytes) {
                Ok(v) => Attempt::Done(v),
                Err(e) => Attempt::Status {
                    status: status.as_u16(),
                    retry_after: None,
                    error_code: "MALFORMED_RESPONSE".into(),
                    message: format!("answer is not JSON ({e}): {}", snippet(&bytes)),
                },
            };
        }
        let (error_code, message) = error_fields(status, &bytes);
        Attempt::Status {
            status: status.as_u16(),
            retry_after,
            error_code,
            message,
        }
    }
}

/// The outcome of one HTTP exchange.
enum Attempt {
    Done(Value),
    Status {
        status: u16,
        retry_after: Option<Duration>,
        error_code: String,
        message: String,
    },
    Transport {
        message: String,
        retryable: bool,
        timeout: bool,
    },
}

impl Attempt {
    fn transport(e: &wstd::http::Error) -> Attempt {
        let code = e.downcast_ref::<ErrorCode>();
        let (retryable, timeout) = match code {
            Some(ErrorCode::HttpRequestDenied) => (false, false),
            Some(
                ErrorCode::ConnectionTimeout
                | ErrorCode::ConnectionReadTimeout
                | ErrorCode::ConnectionWriteTimeout
                | ErrorCode::HttpResponseTimeout
                | ErrorCode::DnsTimeout,
            ) => (true, true),
            Some(
                ErrorCode::ConnectionRefused
                | ErrorCode::ConnectionTerminated
                | ErrorCode::ConnectionLimitReached
                | ErrorCode::DnsError(_)
                | ErrorCode::HttpResponseIncomplete,
            ) => (true, false),
            _ => (false, false),
        };
        let message = match code {
            Some(ErrorCode::HttpRequestDenied) => {
                "request denied by the host's egress policy (host not allowed)".to_string()
            }
            Some(c) => format!("{c:?}"),
            None => format!("{e:#}"),
        };
        Attempt::Transport {
            message,
            retryable,
            timeout,
        }
    }

    fn describe(&self) -> String {
        match self {
            Attempt::Done(_) => "ok".into(),
            Attempt::Status {
                status, error_code, ..
            } => format!("{status} {error_code}"),
            Attempt::Transport { message, .. } => message.clone(),
        }
    }

    fn into_error(self, request: String) -> Error {
        match self {
            Attempt::Done(_) => unreachable!("a success is not an error"),
            Attempt::Status {
                status,
                error_code,
                message,
                ..
            } => Error::Upstream(Upstream {
                status,
                error_code,
                message,
                request,
            }),
            Attempt::Transport {
                message,
                timeout: true,
                ..
            } => Error::Timeout(format!("{request}: {message}")),
            Attempt::Transport { message, .. } => Error::Transport(format!("{request}: {message}")),
        }
    }
}

/// `{error_code, message}` of a Databricks error body, or the start of whatever came instead.
fn error_fields(status: StatusCode, bytes: &[u8]) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let code = field("error_code").unwrap_or_default();
    let message = field("message")
        .or_else(|| field("error"))
        .unwrap_or_else(|| {
            let s = snippet(bytes);
            if s.is_empty() {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                s
            }
        });
    (code, message)
}

fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Exponential back-off with full jitter: 0.5–1× of 250 ms · 2^(attempt-1), at most 10 s.
pub fn backoff(attempt: u32) -> Duration {
    let base_ms = (250u64 << attempt.saturating_sub(1).min(6)).min(10_000);
    let mut r = [0u8; 2];
    wstd::rand::get_insecure_random_bytes(&mut r);
    let jitter = u16::from_le_bytes(r) as u64 * base_ms / 2 / u16::MAX as u64;
    Duration::from_millis(base_ms / 2 + jitter)
}

/// Failures after which the workspace may or may not have acted (so a call without an
/// idempotency token must look before it is sent again).
pub fn outcome_unknown(e: &Error) -> bool {
    match e {
        Error::Upstream(u) => u.status == 429 || u.status >= 500,
        Error::Transport(_) | Error::Timeout(_) => true,
        _ => false,
    }
}

/// A query string from pairs, percent-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
