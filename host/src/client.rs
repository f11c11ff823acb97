//! One pooled HTTP(S) client for every guest request of the process.
//!
//! wasmtime-wasi-http's `default_send_request` dials a fresh TCP+TLS connection per request;
//! the agent makes many small calls to one workspace (polling included), so a keep-alive pool
//! saves a handshake per call. hyper does not follow redirects, and neither do we.

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::error::Error as StdError;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// Connect timeout when the guest sets none (the pooled connector has one global value).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body the guest may send (bodies are buffered, see `buffer_body`).
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;
/// Idle keep-alive connections are closed after this.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// A PEM bundle of roots to trust besides the Mozilla ones (a TLS-inspecting proxy's CA, say),
/// read as OpenSSL-based clients (Python's, on a cluster) read it.
pub const CA_FILE_ENV: &str = "SSL_CERT_FILE";

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

/// The Mozilla roots, plus every certificate of `ca_file` (which must hold at least one).
fn root_store(ca_file: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let Some(path) = ca_file else {
        return Ok(roots);
    };
    let what = || format!("{CA_FILE_ENV}={}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{}: {e}", what()))?;
    let (added, _unparsable) = roots.add_parsable_certificates(certs);
    if added == 0 {
        anyhow::bail!("{}: no usable PEM certificate in it", what());
    }
    Ok(roots)
}

/// Waits for the guest to finish its request body and sends it with a known length.
///
/// Streaming it instead races on a pooled connection: the workspace may answer a GET before the
/// guest has closed its (empty) body, hyper then drops the body, and the guest's pending write
/// fails with "stream closed". Agent requests are small JSON documents, so buffering is cheap.
async fn buffer_body(request: http::Request<WasiBody>) -> Result<http::Request<WasiBody>, Error> {
    let (parts, mut body) = request.into_parts();
    let mut buffered = BytesMut::new();
    while let Some(frame) = body.frame().await {
        // Trailers on a request are dropped: nothing the agent calls uses them.
        if let Ok(data) = frame?.into_data() {
            if buffered.len() + data.len() > MAX_REQUEST_BODY {
                return Err(Error::HttpRequestBodySize(None));
            }
            buffered.extend_from_slice(&data);
        }
    }
    let body = Full::new(buffered.freeze())
        .map_err(|never| match never {})
        .boxed_unsync();
    Ok(http::Request::from_parts(parts, body))
}

/// Maps an error from hyper / hyper-util / rustls / the OS to the closest wasi-http code.
pub fn classify(err: &(dyn StdError + 'static)) -> Error {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(mapped) = classify_one(e) {
            return mapped;
        }
        // `io::Error::source` skips the wrapped error itself; look inside explicitly.
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            let inner: &(dyn StdError + 'static) = inner;
            let mapped = classify(inner);
            if !matches!(mapped, Error::InternalError(_)) {
                return mapped;
            }
        }
        current = e.source();
    }
    if err.to_string().contains("dns error") {
        return dns_error(err);
    }
    Error::InternalError(Some(error_chain(err)))
}

fn classify_one(e: &(dyn StdError + 'static)) -> Option<Error> {
    if e.to_string() == "dns error" {
        return Some(dns_error(e));
    }
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(match tls {
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType => Error::TlsCertificateError,
            rustls::Error::AlertReceived(alert) => Error::TlsAlertReceived {
                alert_id: Some(u8::from(*alert)),
                alert_message: Some(format!("{alert:?}")),
            },
            _ => Error::TlsProtocolError,
        });
    }
    if let Some(io) = e.downcast_ref::<io::Error>() {
        let mapped = match io.kind() {
            io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
            io::ErrorKind::TimedOut => Error::ConnectionTimeout,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => Error::ConnectionTerminated,
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                Error::DestinationUnavailable
            }
            io::ErrorKind::AddrNotAvailable => Error::DestinationIpUnroutable,
            _ => return None,
        };
        return Some(mapped);
    }
    if let Some(h) = e.downcast_ref::<hyper::Error>() {
        // A body error of the guest's own request surfaces as the user error hyper wraps.
        if h.is_user()
            && let Some(source) = h.source()
            && let Some(own) = source.downcast_ref::<Error>()
        {
            return Some(clone_guest_error(own));
        }
        if h.is_timeout() {
            return Some(Error::HttpResponseTimeout);
        }
        if h.is_incomplete_message() {
            return Some(Error::HttpResponseIncomplete);
        }
        if h.is_canceled() || h.is_closed() {
            return Some(Error::ConnectionTerminated);
        }
        if h.is_parse() || h.is_parse_status() {
            return Some(Error::HttpProtocolError);
        }
        // Other hyper errors may carry an io::Error below: keep walking.
        return None;
    }
    None
}

/// Errors produced while reading the guest's outgoing body (e.g. a body longer than its
/// `Content-Length`) go back to the guest unchanged where that is meaningful.
fn clone_guest_error(e: &Error) -> Error {
    match e {
        Error::HttpRequestBodySize(n) => Error::HttpRequestBodySize(*n),
        other => Error::InternalError(Some(other.to_string())),
    }
}

fn dns_error(e: &(dyn StdError + 'static)) -> Error {
    Error::DnsError {
        rcode: Some(error_chain(e)),
        info_code: None,
    }
}

/// `outer: inner: innermost`, for messages that end up in the guest's error string.
fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut current = e.source();
    while let Some(s) = current {
        parts.push(s.to_string());
        current = s.source();
    }
    parts.dedup();
    parts.join(": ")
}

/// Fails a response body that stalls for longer than `limit` between frames.
struct FrameTimeout<B> {
    inner: B,
    limit: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<B> FrameTimeout<B> {
    fn new(inner: B, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            sleep: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl<B> Body for FrameTimeout<B>
where
    B: Body<Data = Bytes, Error = Error> + Unpin,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + this.limit;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(frame)
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_kinds_map_to_wasi_codes() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(matches!(classify(&refused), Error::ConnectionRefused));
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "connect timeout");
        assert!(matches!(classify(&timed_out), Error::ConnectionTimeout));
        // Wrapped the way hyper-rustls wraps a TLS failure.
        let tls = io::Error::other(io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        ));
        assert!(matches!(classify(&tls), Error::TlsCertificateError));
        let other = io::Error::other("weird");
        assert!(matches!(classify(&other), Error::InternalError(Some(m)) if m == "weird"));
    }

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

    /// A self-signed test CA (P-256, CN=sdp-agent-test-ca); its key was thrown away.
    const TEST_CA_PEM: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBkDCCATWgAwIBAgIUUTzirwtvHUz8DUBntLzbbjHQm4MwCgYIKoZIzj0EAwIw\n\
HDEaMBgGA1UEAwwRc2RwLWFnZW50LXRlc3QtY2EwIBcNMjYxMTI2MTkyNzUwWhgP\n\
MjEyNjExMDIxOTI3NTBaMBwxGjAYBgNVBAMMEXNkcC1hZ2VudC10ZXN0LWNhMFkw\n\
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2o9hmq7P09xi43uvHpelY/T8CLD9A7FE\n\
k9U3vxxMFZwBDuGzkGayWF6lUYI5e1gOY7TOThk5GuKF2xC3M8Wj0KNTMFEwHQYD\n\
VR0OBBYEFOpnQyD6mbn2GWqLpUWLiIbB8wTyMB8GA1UdIwQYMBaAFOpnQyD6mbn2\n\
GWqLpUWLiIbB8wTyMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIh\n\
ANhoAJsYgShjmOOgjN7EZtTyFPmmVz8+ev4C4ft3EgXYAiEAvhTSNEVErI92qgGf\n\
+TacPicD7636ZtalhG8h1X7IcBM=\n\
-----END CERTIFICATE-----\n\
";

    #[test]
    fn extra_roots_come_from_a_pem_bundle() {
        let mozilla = root_store(None).unwrap().len();
        let dir = std::env::temp_dir().join(format!("sdp-agent-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = dir.join("bundle.pem");
        std::fs::write(&bundle, TEST_CA_PEM).unwrap();
        assert_eq!(root_store(Some(&bundle)).unwrap().len(), mozilla + 1);
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let err = root_store(Some(&empty)).unwrap_err().to_string();
        assert!(
            err.contains("SSL_CERT_FILE") && err.contains("no usable"),
            "{err}"
        );
        let err = root_store(Some(&dir.join("missing.pem")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.pem"), "{err}");
        std::fs::remove_dir_all(dir).ok();
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

    /// A body that never produces a frame.
    struct Stalled;

    impl Body for Stalled {
        type Data = Bytes;
        type Error = Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn stalled_body_times_out_between_frames() {
        let mut body = FrameTimeout::new(Stalled, Duration::from_millis(50));
        let frame = body.frame().await;
        assert!(matches!(frame, Some(Err(Error::ConnectionReadTimeout))));
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
