//! OAuth machine-to-machine: the client-credentials grant against the workspace's
//! `/oidc/v1/token`, one cached token shared by every concurrent call, refreshed shortly before
//! it expires.

use crate::client::HttpClient;
use crate::egress::user_agent;
use bytes::Bytes;
use http::HeaderValue;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const TOKEN_PATH: &str = "/oidc/v1/token";
const GRANT: &[u8] = b"grant_type=client_credentials&scope=all-apis";
/// Bounds one token request, answer included.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// A token answer is a small JSON document.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// `expires_in` is optional in OAuth; without it, assume a short life rather than forever.
const ASSUMED_LIFETIME: Duration = Duration::from_secs(300);

/// When to refresh: `margin(lifetime)` before expiry, i.e. `fraction` of the lifetime but at
/// most `max_margin` (60 s of a 1 h token; 0.2 s of a 2 s test token).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefreshPolicy {
    pub max_margin: Duration,
    pub fraction: f64,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            max_margin: Duration::from_secs(60),
            fraction: 0.1,
        }
    }
}

impl RefreshPolicy {
    pub fn margin(&self, lifetime: Duration) -> Duration {
        lifetime.mul_f64(self.fraction).min(self.max_margin)
    }
}

/// A token request that failed. Names who asked (the client id) and where, never a secret.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{requester} to {url} failed: {reason}")]
pub struct TokenError {
    /// What asked, for the message: e.g. `OAuth token request for client id "svc"`.
    pub requester: String,
    /// The OAuth client id (empty for a metadata service).
    pub client_id: String,
    pub url: String,
    pub reason: String,
}

/// The cached token and when to stop using it.
#[derive(Clone, Debug)]
struct Cached {
    header: HeaderValue,
    refresh_at: Instant,
    expires_at: Instant,
}

impl Cached {
    /// `requested_at` is when the request left: the server's clock for `expires_in` started no
    /// earlier, so expiry computed from it is never later than the server's.
    fn new(
        header: HeaderValue,
        requested_at: Instant,
        lifetime: Duration,
        policy: &RefreshPolicy,
    ) -> Self {
        let expires_at = requested_at + lifetime;
        Self {
            header,
            refresh_at: expires_at - policy.margin(lifetime),
            expires_at,
        }
    }
}

/// The successful answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct Grant {
    access_token: String,
    token_type: Option<String>,
    expires_in: Option<u64>,
}

/// The error answer (RFC 6749 §5.2).
#[derive(Deserialize)]
struct GrantError {
    error: String,
    error_description: Option<String>,
}

/// Hands out the current access token; at most one refresh runs at a time and every caller
/// waiting meanwhile gets its result.
pub struct TokenSource {
    client_id: String,
    /// `Basic base64(client_id:client_secret)`, marked sensitive.
    basic: HeaderValue,
    url: String,
    client: HttpClient,
    policy: RefreshPolicy,
    /// Held across the refresh itself: that is what makes concurrent callers share one.
    cached: Mutex<Option<Cached>>,
}

impl TokenSource {
    pub fn new(
        workspace_url: &str,
        client_id: &str,
        basic: HeaderValue,
        client: HttpClient,
        policy: RefreshPolicy,
    ) -> Self {
        Self {
            client_id: client_id.to_string(),
            basic,
            url: format!("{}{TOKEN_PATH}", workspace_url.trim_end_matches('/')),
            client,
            policy,
            cached: Mutex::new(None),
        }
    }

    /// `Bearer <access token>`, fetching or refreshing it when due.
    pub async fn header(&self) -> Result<HeaderValue, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.header.clone());
        }
        match self.fetch().await {
            Ok(fresh) => {
                let header = fresh.header.clone();
                *cached = Some(fresh);
                Ok(header)
            }
            // Refreshing early leaves time to ride out a failed refresh on the old token.
            Err(e) => match cached.as_ref() {
                Some(old) if Instant::now() < old.expires_at => {
                    tracing::warn!("{e}; using the current token until it expires");
                    Ok(old.header.clone())
                }
                _ => Err(e),
            },
        }
    }

    async fn fetch(&self) -> Result<Cached, TokenError> {
        let requested_at = Instant::now();
        tracing::debug!(client_id = %self.client_id, url = %self.url, "requesting an OAuth token");
        let (status, body) = tokio::time::timeout(TOKEN_TIMEOUT, self.exchange())
            .await
            .map_err(|_| self.error(format!("no answer within {}s", TOKEN_TIMEOUT.as_secs())))??;
        if !status.is_success() {
            return Err(self.error(rejection(status, &body)));
        }
        let grant: Grant = serde_json::from_slice(&body)
            .map_err(|e| self.error(format!("unusable answer: {e}")))?;
        if let Some(kind) = grant.token_type.as_deref()
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(self.error(format!("token_type {kind:?} is not Bearer")));
        }
        let lifetime = match grant.expires_in {
            Some(0) => return Err(self.error("expires_in is 0".into())),
            Some(secs) => Duration::from_secs(secs),
            None => ASSUMED_LIFETIME,
        };
        let token = grant.access_token.trim();
        if token.is_empty() {
            return Err(self.error("empty access_token".into()));
        }
        let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| self.error("access_token is not a valid header value".into()))?;
        header.set_sensitive(true);
        tracing::info!(client_id = %self.client_id, expires_in = lifetime.as_secs(), "OAuth token obtained");
        Ok(Cached::new(header, requested_at, lifetime, &self.policy))
    }

    /// Sends the grant; the status and (bounded) body of the answer.
    async fn exchange(&self) -> Result<(http::StatusCode, Bytes), TokenError> {
        let body = Full::new(Bytes::from_static(GRANT))
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::post(&self.url)
            .header(AUTHORIZATION, self.basic.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, user_agent())
            .body(body)
            .map_err(|e| self.error(format!("cannot build the request: {e}")))?;
        let response = self
            .client
            .send(request, None)
            .await
            .map_err(|e| self.error(format!("{e}")))?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| self.error(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((status, bytes))
    }

    fn error(&self, reason: String) -> TokenError {
        TokenError {
            requester: format!("OAuth token request for client id {:?}", self.client_id),
            client_id: self.client_id.clone(),
            url: self.url.clone(),
            reason,
        }
    }
}

/// `HTTP 401 invalid_client: Client authentication failed`, or the start of a non-OAuth body.
fn rejection(status: http::StatusCode, body: &[u8]) -> String {
    match serde_json::from_slice::<GrantError>(body) {
        Ok(e) => match e.error_description.filter(|d| !d.is_empty()) {
            Some(description) => format!("HTTP {} {}: {description}", status.as_u16(), e.error),
            None => format!("HTTP {} {}", status.as_u16(), e.error),
        },
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let start: String = text.trim().chars().take(200).collect();
            format!("HTTP {}: {start}", status.as_u16())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Credentials;
    use sdp_emulator::{Emulator, EmulatorConfig};
    use std::sync::Arc;

    #[test]
    fn margin_scales_with_lifetime_up_to_a_cap() {
        let p = RefreshPolicy::default();
        assert_eq!(p.margin(Duration::from_secs(3600)), Duration::from_secs(60));
        assert_eq!(p.margin(Duration::from_secs(300)), Duration::from_secs(30));
        assert_eq!(p.margin(Duration::from_secs(2)), Duration::from_millis(200));
        let custom = RefreshPolicy {
            max_margin: Duration::from_secs(5),
            fraction: 0.5,
        };
        assert_eq!(
            custom.margin(Duration::from_secs(60)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn cached_token_is_refreshed_before_it_expires() {
        let t0 = Instant::now();
        let c = Cached::new(
            HeaderValue::from_static("Bearer x"),
            t0,
            Duration::from_secs(3600),
            &RefreshPolicy::default(),
        );
        assert_eq!(c.expires_at, t0 + Duration::from_secs(3600));
        assert_eq!(c.refresh_at, t0 + Duration::from_secs(3540));
    }

    #[test]
    fn rejections_read_oauth_errors_or_the_body() {
        let oauth =
            br#"{"error":"invalid_client","error_description":"Client authentication failed"}"#;
        assert_eq!(
            rejection(http::StatusCode::UNAUTHORIZED, oauth),
            "HTTP 401 invalid_client: Client authentication failed"
        );
        assert_eq!(
            rejection(http::StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>"),
            "HTTP 502: <html>bad gateway</html>"
        );
    }

    async fn emulator(ttl_secs: u64) -> Emulator {
        Emulator::start(EmulatorConfig {
            token: None,
            oauth_clients: vec![("svc".into(), "dose-secret".into())],
            oauth_token_ttl_secs: ttl_secs,
            ..Default::default()
        })
        .await
        .unwrap()
    }

    fn source(emu: &Emulator, secret: &str, policy: RefreshPolicy) -> TokenSource {
        let Credentials::OAuthM2m { client_id, basic } =
            Credentials::oauth_m2m("svc", secret, &"test").unwrap()
        else {
            unreachable!()
        };
        TokenSource::new(
            &emu.url(),
            &client_id,
            basic,
            HttpClient::new().unwrap(),
            policy,
        )
    }

    fn token_requests(emu: &Emulator) -> usize {
        emu.requests()
            .iter()
            .filter(|r| r.path == TOKEN_PATH)
            .count()
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_token_request() {
        let emu = emulator(3600).await;
        let tokens = Arc::new(source(&emu, "dose-secret", RefreshPolicy::default()));
        let calls = (0..16).map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.header().await.unwrap() })
        });
        let headers: Vec<HeaderValue> = join_all(calls).await;
        assert!(
            headers.windows(2).all(|w| w[0] == w[1]),
            "one token for all"
        );
        assert_eq!(token_requests(&emu), 1);
        let issued = emu.issued_tokens();
        assert_eq!(
            headers[0].to_str().unwrap(),
            format!("Bearer {}", issued[0].access_token)
        );
        // The grant went out as the SDKs send it.
        let grant = emu
            .requests()
            .into_iter()
            .find(|r| r.path == TOKEN_PATH)
            .unwrap();
        assert_eq!(
            grant.authorization.as_deref(),
            Some("Basic c3ZjOmRvc2Utc2VjcmV0")
        );
        assert_eq!(grant.status, 200);
    }

    async fn join_all<T: Send + 'static>(
        handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }

    /// A margin as long as the lifetime: every call is "due", so each one refreshes.
    const EAGER: RefreshPolicy = RefreshPolicy {
        max_margin: Duration::from_secs(7200),
        fraction: 1.0,
    };

    #[tokio::test]
    async fn refreshes_inside_the_margin() {
        let emu = emulator(3600).await;
        let tokens = source(&emu, "dose-secret", EAGER);
        let first = tokens.header().await.unwrap();
        let second = tokens.header().await.unwrap();
        assert_ne!(first, second);
        assert_eq!(token_requests(&emu), 2);

        // The default margin keeps the hour-long token.
        let lazy = source(&emu, "dose-secret", RefreshPolicy::default());
        let a = lazy.header().await.unwrap();
        assert_eq!(lazy.header().await.unwrap(), a);
        assert_eq!(token_requests(&emu), 3);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_unexpired_token() {
        let emu = emulator(3600).await;
        let tokens = source(&emu, "dose-secret", EAGER);
        let first = tokens.header().await.unwrap();
        emu.inject_fault(sdp_emulator::Fault {
            path_prefix: TOKEN_PATH.into(),
            status: 503,
            error_code: "TEMPORARILY_UNAVAILABLE".into(),
            message: "down".into(),
            ..Default::default()
        });
        assert_eq!(tokens.header().await.unwrap(), first);
        assert_eq!(token_requests(&emu), 2, "the refresh was attempted");
        assert_ne!(
            tokens.header().await.unwrap(),
            first,
            "and retried next time"
        );
    }

    #[tokio::test]
    async fn rejected_client_names_the_id_not_the_secret() {
        let emu = emulator(3600).await;
        let tokens = source(&emu, "wrong-secret", RefreshPolicy::default());
        let err = tokens.header().await.unwrap_err();
        let message = err.to_string();
        assert_eq!(err.client_id, "svc");
        assert!(
            message.contains("client id \"svc\"")
                && message.contains("/oidc/v1/token")
                && message.contains("HTTP 401 invalid_client"),
            "{message}"
        );
        assert!(!message.contains("wrong-secret"), "{message}");
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_a_token_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let Credentials::OAuthM2m { basic, .. } =
            Credentials::oauth_m2m("svc", "s", &"test").unwrap()
        else {
            unreachable!()
        };
        let tokens = TokenSource::new(
            &url,
            "svc",
            basic,
            HttpClient::new().unwrap(),
            RefreshPolicy::default(),
        );
        let err = tokens.header().await.unwrap_err();
        assert!(err.reason.to_lowercase().contains("refused"), "{err}");
    }
}
