//! `--model-url`: the chat route's body goes, unchanged, to a real chat endpoint (a Databricks
//! serving endpoint's `/serving-endpoints/<name>/invocations`, or any OpenAI-compatible
//! `/v1/chat/completions`), and its answer comes back unchanged: status, errors and
//! `finish_reason` included. The agent already retries a model call as for any call (429 and
//! 503 and dropped connections, bounded): an upstream that cannot be reached is answered 503
//! so that retry applies, and the proxy adds no retries of its own.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::Exchange;
use crate::error::ApiError;

/// The model endpoint's bearer token. An environment variable only: never a flag (it would
/// show in `ps`), never logged.
pub const MODEL_TOKEN_ENV: &str = "SDP_AGENT_MODEL_TOKEN";

/// As long as the agent waits for a model's answer (its model calls ask for 300 s).
const MODEL_TIMEOUT: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The real model behind the chat route.
#[derive(Clone)]
pub struct ModelUpstream {
    url: Uri,
    token: Option<Arc<str>>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl fmt::Debug for ModelUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelUpstream")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ModelUpstream {
    /// `url` must be absolute http(s); the token, when given, is sent as `Bearer`.
    pub fn new(url: &str, token: Option<String>) -> anyhow::Result<Self> {
        let parsed: Uri = url
            .parse()
            .map_err(|e| anyhow::anyhow!("--model-url {url:?}: {e}"))?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
            anyhow::bail!("--model-url {url:?}: expected an absolute http:// or https:// URL");
        }
        let mut http = HttpConnector::new();
        // The TLS wrapper hands https:// URIs to this connector too.
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            url: parsed,
            token: token.filter(|t| !t.is_empty()).map(Arc::from),
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// With the token of `SDP_AGENT_MODEL_TOKEN`, when set.
    pub fn from_env(url: &str) -> anyhow::Result<Self> {
        Self::new(url, std::env::var(MODEL_TOKEN_ENV).ok())
    }

    /// Sends `body` as it came and hands back what the endpoint answered.
    pub async fn forward(&self, body: Bytes) -> Exchange {
        match tokio::time::timeout(MODEL_TIMEOUT, self.send(body)).await {
            Ok(Ok(exchange)) => exchange,
            Ok(Err(error)) => Exchange::error(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "TEMPORARILY_UNAVAILABLE",
                format!("the model at {} could not be reached: {error}", self.url),
            )),
            Err(_) => Exchange::error(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "DEADLINE_EXCEEDED",
                format!(
                    "the model at {} did not answer within {} s",
                    self.url,
                    MODEL_TIMEOUT.as_secs()
                ),
            )),
        }
    }

    async fn send(&self, body: Bytes) -> anyhow::Result<Exchange> {
        let mut request = hyper::Request::post(self.url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| anyhow::anyhow!("{MODEL_TOKEN_ENV} is not a valid header value"))?;
            value.set_sensitive(true);
            request = request.header(header::AUTHORIZATION, value);
        }
        let response = self.client.request(request.body(Full::new(body))?).await?;
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Exchange {
            status,
            content_type,
            body,
        })
    }
}
