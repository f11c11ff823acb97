//! OAuth machine-to-machine: the client-credentials grant against the workspace's
//! `/oidc/v1/token`, one cached token shared by every concurrent call, refreshed shortly before
//! it expires.

use super::token::{self, Fresh, RefreshPolicy, Requester, TokenCache, TokenError};
use crate::client::HttpClient;
use bytes::Bytes;
use http::HeaderValue;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use std::time::{Duration, Instant};

const TOKEN_PATH: &str = "/oidc/v1/token";
const GRANT: &[u8] = b"grant_type=client_credentials&scope=all-apis";
/// Bounds one token request, answer included.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// `expires_in` is optional in OAuth; without it, assume a short life rather than forever.
const ASSUMED_LIFETIME: Duration = Duration::from_secs(300);

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

/// Hands out the current access token (see [`TokenCache`]).
pub struct TokenSource {
    client_id: String,
    /// `Basic base64(client_id:client_secret)`, marked sensitive.
    basic: HeaderValue,
    url: String,
    client: HttpClient,
    cache: TokenCache,
}

impl TokenSource {
    pub fn new(
        workspace_url: &str,
        client_id: &str,
        basic: HeaderValue,
        client: HttpClient,
        policy: RefreshPolicy,
    ) -> Self {
        let url = format!("{}{TOKEN_PATH}", workspace_url.trim_end_matches('/'));
        let requester = Requester {
            what: format!("OAuth token request for client id {client_id:?}"),
            client_id: client_id.to_string(),
            url: url.clone(),
        };
        Self {
            client_id: client_id.to_string(),
            basic,
            url,
            client,
            cache: TokenCache::new(policy, requester),
        }
    }

    /// `Bearer <access token>`, fetching or refreshing it when due.
    pub async fn header(&self) -> Result<HeaderValue, TokenError> {
        self.cache.header(self.fetch()).await
    }

    async fn fetch(&self) -> Result<Fresh, String> {
        let requested_at = Instant::now();
        tracing::debug!(client_id = %self.client_id, url = %self.url, "requesting an OAuth token");
        let request = http::Request::post(&self.url)
            .header(AUTHORIZATION, self.basic.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        let body = Full::new(Bytes::from_static(GRANT))
            .map_err(|never| match never {})
            .boxed_unsync();
        let (status, body) = token::exchange(&self.client, request, body, TOKEN_TIMEOUT).await?;
        if !status.is_success() {
            return Err(rejection(status, &body));
        }
        let grant: Grant =
            serde_json::from_slice(&body).map_err(|e| format!("unusable answer: {e}"))?;
        let lifetime = match grant.expires_in {
            Some(0) => return Err("expires_in is 0".into()),
            Some(secs) => Duration::from_secs(secs),
            None => ASSUMED_LIFETIME,
        };
        let header = token::bearer(&grant.access_token, grant.token_type.as_deref())?;
        tracing::info!(client_id = %self.client_id, expires_in = lifetime.as_secs(), "OAuth token obtained");
        Ok(Fresh {
            header,
            requested_at,
            lifetime,
        })
    }
}

/// `HTTP 401 invalid_client: Client authentication failed`, or the start of a non-OAuth body.
fn rejection(status: http::StatusCode, body: &[u8]) -> String {
    match serde_json::from_slice::<GrantError>(body) {
        Ok(e) => match e.error_description.filter(|d| !d.is_empty()) {
            Some(description) => format!("HTTP {} {}: {description}", status.as_u16(), e.error),
            None => format!("HTTP {} {}", status.as_u16(), e.error),
        },
        Err(_) => format!("HTTP {}: {}", status.as_u16(), token::body_start(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Credentials;
    use sdp_emulator::{Emulator, EmulatorConfig};
    use std::sync::Arc;

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
