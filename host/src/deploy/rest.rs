//! The workspace as `deploy` sees it: JSON REST calls and raw file uploads with the host's
//! credentials and the SDKs' retry rules, and the plan of writes that `--dry-run` prints
//! instead of sending them.
//!
//! Its own hyper client rather than the guest's (`crate::client`): uploads are whole release
//! binaries (tens of MB), which the guest path buffers and caps.

use crate::auth::Authenticator;
use crate::client::HttpClient;
use crate::outcome::Failure;
use crate::workspace::Workspace;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MAX_ATTEMPTS: u32 = 5;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// One answer (uploads included) may take this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Whether a call may be repeated after an answer that does not say whether it acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Reads, whole replacements (PUT with overwrite, reset, PATCH of the whole app).
    Safe,
    /// Creates: only a 429 (not processed) is retried.
    Never,
}

/// One write `--dry-run` would have sent.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedWrite {
    pub method: String,
    pub path: String,
    pub body: Value,
}

pub struct Rest {
    base: String,
    auth: Arc<Authenticator>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    dry_run: bool,
    plan: Mutex<Vec<PlannedWrite>>,
}

/// What a workspace answered, parsed: the status and the JSON body (Null when empty).
pub struct Answer {
    pub status: StatusCode,
    pub json: Value,
}

impl Rest {
    /// The calls to `workspace` with its credentials (their tokens fetched with the host's
    /// client).
    pub fn for_workspace(workspace: &Workspace, dry_run: bool) -> Result<Self, Failure> {
        let client =
            HttpClient::new().map_err(|e| Failure::Config(format!("HTTP client: {e:#}")))?;
        let auth = Arc::new(Authenticator::new(
            &workspace.credentials,
            &workspace.url,
            &client,
        ));
        Self::new(&workspace.url, auth, dry_run)
    }

    pub fn new(base: &str, auth: Arc<Authenticator>, dry_run: bool) -> Result<Self, Failure> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(30)));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|e| Failure::Config(format!("TLS setup: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            auth,
            client: Client::builder(TokioExecutor::new()).build(connector),
            dry_run,
            plan: Mutex::new(Vec::new()),
        })
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The writes recorded instead of sent, in order.
    pub fn plan(&self) -> Vec<PlannedWrite> {
        self.plan.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// A read whose 404 means "absent": `Ok(None)`.
    pub async fn get_optional(&self, path: &str) -> Result<Option<Value>, Failure> {
        let answer = self
            .send(Method::GET, path, Payload::None, Retry::Safe)
            .await?;
        match answer.status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(answer.json)),
            _ => Err(upstream("GET", path, &answer)),
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        let answer = self
            .send(Method::GET, path, Payload::None, Retry::Safe)
            .await?;
        ok_json("GET", path, answer)
    }

    /// A JSON write; with `--dry-run` it is recorded and `Ok(None)` is answered.
    pub async fn write(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        retry: Retry,
    ) -> Result<Option<Value>, Failure> {
        if self.dry_run {
            self.record(&method, path, body.clone());
            return Ok(None);
        }
        let text = Bytes::from(body.to_string());
        let answer = self
            .send(method.clone(), path, Payload::Json(text), retry)
            .await?;
        ok_json(method.as_str(), path, answer).map(Some)
    }

    /// A DELETE (with `--dry-run`, recorded); an absent resource is already deleted.
    pub async fn delete(&self, path: &str) -> Result<(), Failure> {
        if self.dry_run {
            self.record(&Method::DELETE, path, Value::Null);
            return Ok(());
        }
        let answer = self
            .send(Method::DELETE, path, Payload::None, Retry::Safe)
            .await?;
        match answer.status {
            StatusCode::NOT_FOUND => Ok(()),
            _ => ok_json("DELETE", path, answer).map(drop),
        }
    }

    /// Uploads raw bytes (Files API `PUT …?overwrite=true`: repeating it is harmless). The
    /// plan shows their size and sha256 instead of the bytes.
    pub async fn upload(&self, path: &str, bytes: Bytes) -> Result<(), Failure> {
        if self.dry_run {
            let body = serde_json::json!({"bytes": bytes.len(), "sha256": sha256_hex(&bytes)});
            self.record(&Method::PUT, path, body);
            return Ok(());
        }
        let answer = self
            .send(Method::PUT, path, Payload::Raw(bytes), Retry::Safe)
            .await?;
        ok_json("PUT", path, answer).map(drop)
    }

    fn record(&self, method: &Method, path: &str, body: Value) {
        if let Ok(mut plan) = self.plan.lock() {
            plan.push(PlannedWrite {
                method: method.to_string(),
                path: path.to_string(),
                body,
            });
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        payload: Payload,
        retry: Retry,
    ) -> Result<Answer, Failure> {
        let what = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.send_once(&method, path, &payload).await;
            let wait = match &outcome {
                Ok((answer, retry_after)) => {
                    let status = answer.status;
                    let again = status == StatusCode::TOO_MANY_REQUESTS
                        || (status == StatusCode::SERVICE_UNAVAILABLE && retry == Retry::Safe);
                    again.then(|| retry_after.unwrap_or_else(|| backoff(attempt)))
                }
                Err(_) if retry == Retry::Safe => Some(backoff(attempt)),
                Err(_) => None,
            };
            match (outcome, wait) {
                (_, Some(w)) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(%what, attempt, wait_ms = w.as_millis() as u64, "retrying");
                    tokio::time::sleep(w).await;
                }
                // The last answer (or failure) is the result.
                (Ok((answer, _)), _) => return Ok(answer),
                (Err(e), _) => return Err(e),
            }
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        payload: &Payload,
    ) -> Result<(Answer, Option<Duration>), Failure> {
        let what = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base))
            .header(USER_AGENT, crate::egress::user_agent())
            .header(ACCEPT, "application/json");
        if let Some(header) = self
            .auth
            .header()
            .await
            .map_err(|e| Failure::Auth(e.to_string()))?
        {
            request = request.header(AUTHORIZATION, header);
        }
        let body = match payload {
            Payload::None => Bytes::new(),
            Payload::Json(b) => {
                request = request.header(CONTENT_TYPE, "application/json");
                b.clone()
            }
            Payload::Raw(b) => {
                request = request.header(CONTENT_TYPE, "application/octet-stream");
                b.clone()
            }
        };
        let request = request
            .body(Full::new(body))
            .map_err(|e| Failure::Config(format!("{what}: {e}")))?;
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?
                .to_bytes();
            anyhow::Ok((status, retry_after, bytes))
        };
        let (status, retry_after, bytes) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| Failure::Timeout(format!("{what}: no answer within {CALL_TIMEOUT:?}")))?
            .map_err(|e| Failure::Transport(format!("{what}: {e:#}")))?;
        // Error answers of some front ends are HTML; keep the text for the message.
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&bytes).chars().take(300).collect())
            })
        };
        Ok((Answer { status, json }, retry_after))
    }
}

enum Payload {
    None,
    Json(Bytes),
    Raw(Bytes),
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500 * 2u64.pow(attempt.min(6)))
}

fn ok_json(method: &str, path: &str, answer: Answer) -> Result<Value, Failure> {
    if answer.status.is_success() {
        Ok(answer.json)
    } else {
        Err(upstream(method, path, &answer))
    }
}

fn upstream(method: &str, path: &str, answer: &Answer) -> Failure {
    let field = |k: &str| {
        answer
            .json
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let message = match (&answer.json, field("message")) {
        (Value::String(text), _) => text.clone(),
        (_, m) if !m.is_empty() => m,
        _ => answer
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_string(),
    };
    Failure::Upstream {
        status: answer.status.as_u16(),
        error_code: field("error_code"),
        message,
        request: format!("{method} {}", path.split('?').next().unwrap_or(path)),
    }
}

/// What the Files API is asked for a file at `path` (`/Volumes/…`, `/Models/…`): each
/// segment percent-encoded (a name may hold any letter; only unreserved ASCII stays as is).
pub fn files_api_path(path: &str) -> String {
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let encoded: Vec<String> = path
        .split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect();
    format!("/api/2.0/fs/files{}", encoded.join("/"))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
