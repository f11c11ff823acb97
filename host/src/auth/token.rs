//! What every short-lived workspace token has in common, whoever hands it out (an OAuth token
//! endpoint, a metadata service): one cached `Bearer` header shared by every concurrent call,
//! refreshed shortly before it expires, kept through a failed refresh while it is still valid.

use crate::client::{HttpClient, user_agent};
use bytes::Bytes;
use http::HeaderValue;
use http::header::{ACCEPT, USER_AGENT};
use http_body_util::{BodyExt, Limited};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use wasmtime_wasi_http::WasiBody;

/// A token answer is a small JSON document.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

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

/// Who asks for tokens, and where: what a failed request's message names.
pub struct Requester {
    /// For the message: e.g. `OAuth token request for client id "svc"`.
    pub what: String,
    /// The OAuth client id (empty for a metadata service).
    pub client_id: String,
    pub url: String,
}

impl Requester {
    fn error(&self, reason: String) -> TokenError {
        TokenError {
            requester: self.what.clone(),
            client_id: self.client_id.clone(),
            url: self.url.clone(),
            reason,
        }
    }
}

/// A token just obtained: its header and how long it lives, counted from `requested_at`.
pub struct Fresh {
    pub header: HeaderValue,
    /// When the request left: the server's clock for the lifetime started no earlier, so
    /// expiry computed from it is never later than the server's.
    pub requested_at: Instant,
    pub lifetime: Duration,
}

/// The cached token and when to stop using it.
#[derive(Clone, Debug)]
struct Cached {
    header: HeaderValue,
    refresh_at: Instant,
    expires_at: Instant,
}

impl Cached {
    fn new(fresh: Fresh, policy: &RefreshPolicy) -> Self {
        let expires_at = fresh.requested_at + fresh.lifetime;
        Self {
            header: fresh.header,
            refresh_at: expires_at - policy.margin(fresh.lifetime),
            expires_at,
        }
    }
}

/// Hands out the current token; at most one refresh runs at a time and every caller waiting
/// meanwhile gets its result.
pub struct TokenCache {
    policy: RefreshPolicy,
    requester: Requester,
    /// Held across the refresh itself: that is what makes concurrent callers share one.
    cached: Mutex<Option<Cached>>,
}

impl TokenCache {
    pub fn new(policy: RefreshPolicy, requester: Requester) -> Self {
        Self {
            policy,
            requester,
            cached: Mutex::new(None),
        }
    }

    /// The cached header, or `fetch`'s when the cached one is due for a refresh. `fetch` fails
    /// with the reason; the error names the requester.
    pub async fn header<F>(&self, fetch: F) -> Result<HeaderValue, TokenError>
    where
        F: Future<Output = Result<Fresh, String>>,
    {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.header.clone());
        }
        match fetch.await {
            Ok(fresh) => {
                let fresh = Cached::new(fresh, &self.policy);
                let header = fresh.header.clone();
                *cached = Some(fresh);
                Ok(header)
            }
            // Refreshing early leaves time to ride out a failed refresh on the old token.
            Err(reason) => match (self.requester.error(reason), cached.as_ref()) {
                (e, Some(old)) if Instant::now() < old.expires_at => {
                    tracing::warn!("{e}; using the current token until it expires");
                    Ok(old.header.clone())
                }
                (e, _) => Err(e),
            },
        }
    }
}

/// `Bearer <token>` (marked sensitive) from an answer's `access_token` and `token_type`, or why
/// the answer cannot be used.
pub fn bearer(access_token: &str, token_type: Option<&str>) -> Result<HeaderValue, String> {
    if let Some(kind) = token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(format!("token_type {kind:?} is not Bearer"));
    }
    let token = access_token.trim();
    if token.is_empty() {
        return Err("empty access_token".into());
    }
    let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "access_token is not a valid header value".to_string())?;
    header.set_sensitive(true);
    Ok(header)
}

/// Sends a token request within `timeout`, asking for JSON with our `User-Agent`: the status
/// and (bounded) body of the answer, or why there is none.
pub async fn exchange(
    client: &HttpClient,
    request: http::request::Builder,
    body: WasiBody,
    timeout: Duration,
) -> Result<(http::StatusCode, Bytes), String> {
    let request = request
        .header(ACCEPT, "application/json")
        .header(USER_AGENT, user_agent())
        .body(body)
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let send = async {
        let response = client
            .send(request, None)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok((status, bytes))
    };
    tokio::time::timeout(timeout, send)
        .await
        .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
}

/// The start of an answer body, for a message about a refused request.
pub fn body_start(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .trim()
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

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
            Fresh {
                header: HeaderValue::from_static("Bearer x"),
                requested_at: t0,
                lifetime: Duration::from_secs(3600),
            },
            &RefreshPolicy::default(),
        );
        assert_eq!(c.expires_at, t0 + Duration::from_secs(3600));
        assert_eq!(c.refresh_at, t0 + Duration::from_secs(3540));
    }

    #[test]
    fn bearer_refuses_other_types_and_empty_tokens() {
        assert_eq!(
            bearer(" abc ", Some("bearer")).unwrap().to_str().unwrap(),
            "Bearer abc"
        );
        assert!(bearer("abc", None).unwrap().is_sensitive());
        assert_eq!(
            bearer("abc", Some("mac")).unwrap_err(),
            "token_type \"mac\" is not Bearer"
        );
        assert_eq!(bearer("  ", None).unwrap_err(), "empty access_token");
    }

    fn fresh(n: usize, lifetime: Duration) -> Fresh {
        Fresh {
            header: HeaderValue::from_str(&format!("Bearer t{n}")).unwrap(),
            requested_at: Instant::now(),
            lifetime,
        }
    }

    fn cache(policy: RefreshPolicy) -> TokenCache {
        let requester = Requester {
            what: "test".into(),
            client_id: String::new(),
            url: "http://127.0.0.1/".into(),
        };
        TokenCache::new(policy, requester)
    }

    fn failure() -> String {
        "refused".into()
    }

    #[tokio::test]
    async fn a_due_token_is_fetched_again_and_a_failed_refresh_keeps_the_valid_one() {
        let cache = cache(RefreshPolicy {
            max_margin: Duration::from_secs(3600),
            fraction: 0.9,
        });
        let asked = AtomicUsize::new(0);
        let fetch_ok = || async {
            let n = asked.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(fresh(n, Duration::from_secs(10)))
        };
        // 90% of 10 s margin: due for a refresh after 1 s, valid for 10.
        assert_eq!(cache.header(fetch_ok()).await.unwrap(), "Bearer t1");
        assert_eq!(cache.header(fetch_ok()).await.unwrap(), "Bearer t1");
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let header = cache.header(async { Err(failure()) }).await.unwrap();
        assert_eq!(header, "Bearer t1", "still valid: kept through the failure");
        assert_eq!(cache.header(fetch_ok()).await.unwrap(), "Bearer t2");
    }

    #[tokio::test]
    async fn without_a_valid_token_a_failure_is_the_error() {
        let cache = cache(RefreshPolicy::default());
        let err = cache.header(async { Err(failure()) }).await.unwrap_err();
        assert_eq!(err.reason, "refused");
        assert_eq!(err.to_string(), "test to http://127.0.0.1/ failed: refused");
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(cache(RefreshPolicy::default()));
        let asked = Arc::new(AtomicUsize::new(0));
        let calls = (0..8).map(|_| {
            let (cache, asked) = (cache.clone(), asked.clone());
            tokio::spawn(async move {
                cache
                    .header(async {
                        let n = asked.fetch_add(1, Ordering::SeqCst) + 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(fresh(n, Duration::from_secs(3600)))
                    })
                    .await
                    .unwrap()
            })
        });
        for call in calls.collect::<Vec<_>>() {
            assert_eq!(call.await.unwrap(), "Bearer t1");
        }
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }
}
