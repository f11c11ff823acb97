//! One pooled HTTP(S) client for every guest request of the process.
//!
//! wasmtime-wasi-http's `default_send_request` dials a fresh TCP+TLS connection per request;
//! the agent makes many small calls to one workspace (polling included), so a keep-alive pool
//! saves a handshake per call. hyper does not follow redirects, and neither do we.

mod body;
mod errors;
mod tls;

pub use errors::classify;

use crate::env::CA_FILE_ENV;
use body::{FrameTimeout, buffer_body};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tls::root_store;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// Connect timeout when the guest sets none (the pooled connector has one global value).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle keep-alive connections are closed after this.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// `User-Agent` sent when the guest sets none, in the SDKs' `<product>/<version> …` form.
pub fn user_agent() -> String {
    format!(
        "sdp-agent/{} wasmtime/48 os/{}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS
    )
}

/// Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, WasiBody>,
    /// How long to wait for a response head when the guest set no deadline of its own: a
    /// stalled workspace must not hold a call until its overall deadline.
    head_default: Option<Duration>,
    /// The operator's cap on that wait, whatever the guest asked for (`--http-timeout`).
    head_cap: Option<Duration>,
}

impl HttpClient {
    /// HTTP/1.1 over plain TCP or rustls (ring, Mozilla roots plus any in `SSL_CERT_FILE`).
    pub fn new() -> anyhow::Result<Self> {
        let mut http = HttpConnector::new();
        // The TLS wrapper hands https:// URIs to this connector too.
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca_file = std::env::var_os(CA_FILE_ENV).filter(|p| !p.is_empty());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(root_store(ca_file.as_deref().map(Path::new))?)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            inner,
            head_default: None,
            head_cap: None,
        })
    }

    /// The same client (same pool), waiting at most `limit` for a response head when the
    /// guest asks for no deadline. A deadline the guest sets wins: the model call asks for
    /// minutes, and cutting it short would only make it be asked (and billed) again.
    pub fn with_head_default(mut self, limit: Duration) -> Self {
        self.head_default = Some(limit);
        self
    }

    /// The same client (same pool) with every response head due within `limit`, whatever
    /// the guest asked for.
    pub fn with_head_cap(mut self, limit: Duration) -> Self {
        self.head_cap = Some(limit);
        self
    }

    /// Sends one request (absolute URI), honouring the guest's `request-options` as far as a
    /// pooled client can: connecting is bounded by the connector's own timeout, the response
    /// head by `connect + first-byte` from the start of the send (a reused connection needs no
    /// connect), and each body frame by `between-bytes`.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        let options = options.unwrap_or_default();
        let request = buffer_body(request).await?;
        let guest_deadline = options
            .first_byte_timeout
            .map(|first_byte| options.connect_timeout.unwrap_or(Duration::ZERO) + first_byte);
        let head_deadline = match (guest_deadline.or(self.head_default), self.head_cap) {
            (Some(wait), Some(cap)) => Some(wait.min(cap)),
            (wait, cap) => wait.or(cap),
        };
        let pending = self.inner.request(request);
        let response = match head_deadline {
            Some(limit) => tokio::time::timeout(limit, pending)
                .await
                .map_err(|_| Error::ConnectionReadTimeout)?,
            None => pending.await,
        }
        .map_err(|e| {
            let mapped = classify(&e);
            tracing::debug!(error = ?e, mapped = %mapped, "outgoing request failed");
            mapped
        })?;
        Ok(response.map(|incoming| {
            let body = incoming.map_err(|e| {
                let mapped = classify(&e);
                tracing::debug!(error = ?e, mapped = %mapped, "reading a response body failed");
                mapped
            });
            match options.between_bytes_timeout {
                Some(limit) => FrameTimeout::new(body, limit).boxed_unsync(),
                None => body.boxed_unsync(),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_connection_is_connection_refused() {
        // Bind then drop: the port is very likely closed afterwards.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = HttpClient::new().unwrap();
        let req = http::Request::builder()
            .uri(format!("http://127.0.0.1:{port}/"))
            .body(
                http_body_util::Empty::new()
                    .map_err(|e: std::convert::Infallible| match e {})
                    .boxed_unsync(),
            )
            .unwrap();
        let err = client.send(req, None).await.unwrap_err();
        assert!(matches!(err, Error::ConnectionRefused), "{err:?}");
    }
    fn empty_request(url: &str) -> http::Request<WasiBody> {
        http::Request::builder()
            .uri(url)
            .body(
                http_body_util::Empty::new()
                    .map_err(|e: std::convert::Infallible| match e {})
                    .boxed_unsync(),
            )
            .unwrap()
    }

    /// A server that accepts connections and never answers.
    async fn silent_server() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                open.push(stream);
            }
        });
        addr
    }

    #[tokio::test]
    async fn first_byte_timeout_is_honoured() {
        let addr = silent_server().await;
        let options = RequestOptions {
            first_byte_timeout: Some(Duration::from_millis(200)),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let err = HttpClient::new()
            .unwrap()
            .send(empty_request(&format!("http://{addr}/")), Some(options))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ConnectionReadTimeout), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn the_host_default_applies_when_the_guest_sets_none_and_the_cap_always() {
        let addr = silent_server().await;
        let url = format!("http://{addr}/");
        let default = HttpClient::new()
            .unwrap()
            .with_head_default(Duration::from_millis(200));
        let err = default.send(empty_request(&url), None).await.unwrap_err();
        assert!(matches!(err, Error::ConnectionReadTimeout), "{err:?}");

        let guest_asks_longer = RequestOptions {
            first_byte_timeout: Some(Duration::from_secs(30)),
            ..Default::default()
        };
        let capped = default.with_head_cap(Duration::from_millis(300));
        let started = std::time::Instant::now();
        let err = capped
            .send(empty_request(&url), Some(guest_asks_longer))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ConnectionReadTimeout), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
