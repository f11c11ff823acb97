//! The Databricks SDKs' "metadata-service" credentials: a local service hands out the
//! workspace's token (`GET <url>` with `X-Databricks-Metadata-Version: 1` and
//! `X-Databricks-Host: <workspace>` answers `{access_token, token_type, expires_on}`), and is
//! asked again shortly before that token expires. The job launcher runs one on a Databricks
//! cluster, re-reading the run identity's short-lived token for every request.

use super::token::{self, Fresh, RefreshPolicy, Requester, TokenCache, TokenError};
use crate::client::HttpClient;
use crate::env::METADATA_SERVICE_URL_ENV as URL_ENV;
use http::{HeaderValue, Uri};
use http_body_util::{BodyExt, Empty};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bounds one token request, answer included (the SDKs allow 10 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The service's URL. Its path may be the only thing keeping other local processes from
/// asking, so it is shown (in `Debug` and messages) as `scheme://host:port/…`.
#[derive(Clone)]
pub struct ServiceUrl {
    full: String,
    shown: String,
}

impl ServiceUrl {
    /// An `http://` URL must be on loopback (the token comes back in clear text).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let uri: Uri = raw
            .parse()
            .map_err(|e| format!("{URL_ENV} is not a URL: {e}"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(format!("{URL_ENV} must be an absolute http(s) URL"));
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match scheme {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(format!(
                    "{URL_ENV}: http:// is only allowed on loopback; use https://"
                ));
            }
            other => return Err(format!("{URL_ENV}: unsupported scheme {other:?}")),
        }
        Ok(Self {
            full: raw.to_string(),
            shown: format!("{scheme}://{authority}/…"),
        })
    }
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// The answer (the fields databricks-sdk-py's `MetadataServiceTokenSource` reads).
#[derive(Deserialize)]
struct Answer {
    access_token: String,
    token_type: Option<String>,
    /// Unix seconds; a number, or a string of one.
    expires_on: Value,
}

/// Hands out the service's current token (see [`TokenCache`]).
pub struct MetadataSource {
    url: ServiceUrl,
    workspace: String,
    client: HttpClient,
    cache: TokenCache,
}

impl MetadataSource {
    pub fn new(url: ServiceUrl, workspace_url: &str, client: HttpClient) -> Self {
        let requester = Requester {
            what: "token request to the metadata service".into(),
            client_id: String::new(),
            url: url.to_string(),
        };
        Self {
            url,
            workspace: workspace_url.trim_end_matches('/').to_string(),
            client,
            cache: TokenCache::new(RefreshPolicy::default(), requester),
        }
    }

    /// `Bearer <token>`, asking the service when the cached one is due for a refresh.
    pub async fn header(&self) -> Result<HeaderValue, TokenError> {
        self.cache.header(self.fetch()).await
    }

    async fn fetch(&self) -> Result<Fresh, String> {
        let requested_at = Instant::now();
        let request = http::Request::get(&self.url.full)
            .header("X-Databricks-Metadata-Version", "1")
            .header("X-Databricks-Host", &self.workspace);
        let body = Empty::new().map_err(|never| match never {}).boxed_unsync();
        let (status, body) = token::exchange(&self.client, request, body, REQUEST_TIMEOUT).await?;
        if !status.is_success() {
            let start = token::body_start(&body);
            return Err(format!("HTTP {}: {start}", status.as_u16()));
        }
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| format!("unusable answer: {e}"))?;
        let header = token::bearer(&answer.access_token, answer.token_type.as_deref())?;
        let expires_on = match &answer.expires_on {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or("expires_on is not a Unix time in seconds")?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let lifetime = expires_on
            .checked_sub(now)
            .filter(|secs| *secs > 0)
            .map(Duration::from_secs)
            .ok_or("the token it gave has already expired")?;
        Ok(Fresh {
            header,
            requested_at,
            lifetime,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn urls_keep_their_path_out_of_messages() {
        let url = ServiceUrl::parse("http://127.0.0.1:4321/s3cr3t").unwrap();
        assert_eq!(
            format!("{url:?} {url}"),
            "http://127.0.0.1:4321/… http://127.0.0.1:4321/…"
        );
        assert!(ServiceUrl::parse("http://example.com/x").is_err());
        assert!(ServiceUrl::parse("https://example.com/x").is_ok());
        assert!(ServiceUrl::parse("/relative").is_err());
    }

    /// The metadata headers of each request, as `"version host"`.
    type Asked = Arc<std::sync::Mutex<Vec<String>>>;

    /// A service answering token-N (N = request count) with the given lifetime; records the
    /// headers it was asked with.
    async fn service(lifetime_secs: u64) -> (String, Arc<AtomicUsize>, Asked) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let hosts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (served, seen) = (count.clone(), hosts.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (served, seen) = (served.clone(), seen.clone());
                let handler = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let n = served.fetch_add(1, Ordering::SeqCst) + 1;
                        let version = request
                            .headers()
                            .get("x-databricks-metadata-version")
                            .cloned();
                        let host = request.headers().get("x-databricks-host").cloned();
                        seen.lock().unwrap().push(format!(
                            "{:?} {:?}",
                            version.as_ref().map(|v| v.to_str().unwrap().to_string()),
                            host.as_ref().map(|v| v.to_str().unwrap().to_string())
                        ));
                        let now = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .unwrap()
                            .as_secs();
                        let body = serde_json::json!({
                            "access_token": format!("token-{n}"),
                            "token_type": "Bearer",
                            "expires_on": now + lifetime_secs,
                        })
                        .to_string();
                        async move {
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from(body)),
                            ))
                        }
                    },
                );
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, handler)
                        .await;
                });
            }
        });
        (format!("http://{addr}/secret-path"), count, hosts)
    }

    #[tokio::test]
    async fn the_token_is_asked_for_again_when_it_is_due() {
        let (url, count, hosts) = service(2).await;
        let source = MetadataSource::new(
            ServiceUrl::parse(&url).unwrap(),
            "https://ws.example.com/",
            HttpClient::new().unwrap(),
        );
        let first = source.header().await.unwrap();
        assert_eq!(first.to_str().unwrap(), "Bearer token-1");
        assert!(first.is_sensitive());
        assert_eq!(source.header().await.unwrap(), first, "cached while fresh");
        assert_eq!(count.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        assert_eq!(
            source.header().await.unwrap().to_str().unwrap(),
            "Bearer token-2",
            "re-read once it expired"
        );
        assert_eq!(
            hosts.lock().unwrap()[0],
            "Some(\"1\") Some(\"https://ws.example.com\")"
        );
    }

    #[tokio::test]
    async fn an_unreachable_service_is_an_error_without_the_path() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let source = MetadataSource::new(
            ServiceUrl::parse(&format!("http://{addr}/s3cr3t")).unwrap(),
            "https://ws.example.com",
            HttpClient::new().unwrap(),
        );
        let message = source.header().await.unwrap_err().to_string();
        assert!(message.contains("metadata service"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }
}
