//! The guest's only way out: our `WasiHttpHooks`.
//!
//! Every outgoing request of the component passes through [`Egress::send_request`], which
//! enforces the allow-list (workspace origin plus `--allow-host`), attaches the workspace's
//! `Authorization` from [`Authenticator`] (the guest cannot set it itself) and sends through the
//! shared pooled client.

use crate::auth::{Authenticator, TokenError};
use crate::client::HttpClient;
use crate::config::default_port;
use http::header::{AUTHORIZATION, HeaderValue, USER_AGENT};
use http::uri::Authority;
use http::{HeaderName, Uri};
use std::fmt;
use std::sync::{Arc, Mutex};
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

/// `User-Agent` sent when the guest sets none, in the SDKs' `<product>/<version> …` form.
pub fn user_agent() -> String {
    format!(
        "sdp-agent/{} wasmtime/48 os/{}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS
    )
}

/// Scheme, lower-cased host (IPv6 in brackets) and effective port of a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses an absolute `http(s)://host[:port]…` URL.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
        Self::from_uri(&uri).ok_or_else(|| format!("{url:?} is not an absolute http(s) URL"))
    }

    /// `None` for relative URIs and schemes other than http/https.
    pub fn from_uri(uri: &Uri) -> Option<Self> {
        let scheme = uri.scheme()?;
        let authority = uri.authority()?;
        let port = authority.port_u16().or_else(|| default_port(scheme))?;
        Some(Self {
            scheme: scheme.as_str().to_ascii_lowercase(),
            host: authority.host().to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// One `--allow-host` entry: `HOST`, `HOST:PORT`, optionally prefixed by `http://`/`https://`.
/// A missing part matches anything (so `HOST` alone allows every port and both schemes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    pub scheme: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl std::str::FromStr for AllowedHost {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (scheme, rest) = match raw.split_once("://") {
            Some((s, rest)) => {
                let s = s.to_ascii_lowercase();
                if s != "http" && s != "https" {
                    return Err(format!("{raw:?}: scheme must be http or https"));
                }
                (Some(s), rest)
            }
            None => (None, raw),
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains(['/', '@', '?', '#']) {
            return Err(format!("{raw:?}: expected HOST or HOST:PORT"));
        }
        let authority: Authority = rest
            .parse()
            .map_err(|e| format!("{raw:?}: expected HOST or HOST:PORT ({e})"))?;
        if authority.host().is_empty() {
            return Err(format!("{raw:?}: empty host"));
        }
        // `Authority` accepts `host:junk` and reports no port; a typo must not mean "any port".
        let after_host = &authority.as_str()[authority.host().len()..];
        if !after_host.is_empty() && authority.port_u16().is_none() {
            return Err(format!("{raw:?}: port must be a number 0-65535"));
        }
        Ok(Self {
            scheme,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16(),
        })
    }
}

impl AllowedHost {
    fn matches(&self, origin: &Origin) -> bool {
        self.host == origin.host
            && self.port.is_none_or(|p| p == origin.port)
            && self.scheme.as_ref().is_none_or(|s| *s == origin.scheme)
    }
}

/// What the policy says about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The workspace itself: send, with credentials.
    Workspace,
    /// An `--allow-host` destination: send, without credentials.
    Allowed,
    /// Anything else: refuse without dialling.
    Denied,
}

/// Why a request did not leave the host.
#[derive(Debug)]
pub enum Refusal {
    /// Not the workspace nor an `--allow-host`.
    Denied,
    /// The workspace's credentials could not be had (e.g. the OAuth token request failed).
    Credentials(TokenError),
}

/// The egress rules of one agent; shared (`Arc`) by every store it creates.
pub struct EgressPolicy {
    workspace: Origin,
    auth: Arc<Authenticator>,
    allowed: Vec<AllowedHost>,
    user_agent: HeaderValue,
}

impl EgressPolicy {
    pub fn new(workspace: Origin, auth: Arc<Authenticator>, allowed: Vec<AllowedHost>) -> Self {
        Self {
            workspace,
            auth,
            allowed,
            user_agent: HeaderValue::from_str(&user_agent())
                .unwrap_or_else(|_| HeaderValue::from_static("sdp-agent")),
        }
    }

    /// Decides on a request URI; only scheme, host and port matter.
    pub fn verdict(&self, uri: &Uri) -> Verdict {
        let Some(origin) = Origin::from_uri(uri) else {
            return Verdict::Denied;
        };
        if origin == self.workspace {
            Verdict::Workspace
        } else if self.allowed.iter().any(|a| a.matches(&origin)) {
            Verdict::Allowed
        } else {
            Verdict::Denied
        }
    }

    fn prepare_denied_log(&self, uri: &Uri) {
        tracing::warn!(
            %uri,
            "egress denied: not the workspace ({}) nor an --allow-host",
            self.workspace
        );
    }

    /// Applies the policy to a request: `Err` when it must not leave the host, otherwise the
    /// request with the headers the host is responsible for. The workspace's header is asked
    /// for per request, so an OAuth token is refreshed while a long call runs.
    pub async fn prepare(
        &self,
        mut request: http::Request<WasiBody>,
    ) -> Result<http::Request<WasiBody>, Refusal> {
        let verdict = self.verdict(request.uri());
        if verdict == Verdict::Denied {
            self.prepare_denied_log(request.uri());
            return Err(Refusal::Denied);
        }
        let authorization = match verdict {
            Verdict::Workspace => self.auth.header().await.map_err(Refusal::Credentials)?,
            // Credentials are for the workspace only.
            _ => None,
        };
        let headers = request.headers_mut();
        match authorization {
            Some(value) => headers.insert(AUTHORIZATION, value),
            None => headers.remove(AUTHORIZATION),
        };
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.user_agent.clone());
        }
        Ok(request)
    }
}

/// `Authorization` plus wasi-http's default list: the guest must not set credentials.
pub fn is_forbidden(name: &HeaderName) -> bool {
    *name == AUTHORIZATION || DEFAULT_FORBIDDEN_HEADERS.contains(name)
}

/// Per-store hooks: cheap to create, everything heavy is shared.
pub struct Egress {
    policy: Arc<EgressPolicy>,
    client: HttpClient,
    /// The first credentials failure of this store's requests: the guest only sees an
    /// opaque transport error, the host reports this instead.
    credentials_failure: Arc<Mutex<Option<TokenError>>>,
}

impl Egress {
    pub fn new(policy: Arc<EgressPolicy>, client: HttpClient) -> Self {
        Self {
            policy,
            client,
            credentials_failure: Arc::default(),
        }
    }

    /// Why a request of this store could not get its credentials, if one could not.
    pub fn credentials_failure(&self) -> Option<TokenError> {
        self.credentials_failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for Egress {
    // `is_forbidden_header` defaults to calling this, and the header checks that run off the
    // store use it directly, so overriding this one covers both paths.
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        Arc::new(is_forbidden)
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let policy = self.policy.clone();
        let client = self.client.clone();
        let failure = self.credentials_failure.clone();
        Box::new(async move {
            if policy.verdict(request.uri()) == Verdict::Denied {
                policy.prepare_denied_log(request.uri());
                // Take the guest's body before refusing: a client that writes its body while
                // awaiting the answer (wstd does) would otherwise see its body stream closed
                // ("connection reset") and never learn that the request was denied.
                drain(request.into_body()).await;
                return Err(Error::HttpRequestDenied);
            }
            let prepared = match policy.prepare(request).await {
                Ok(request) => request,
                Err(Refusal::Denied) => return Err(Error::HttpRequestDenied),
                Err(Refusal::Credentials(e)) => {
                    let message = e.to_string();
                    failure
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .get_or_insert(e);
                    return Err(Error::InternalError(Some(message)));
                }
            };
            let response = client.send(prepared, options).await?;
            // The pooled client drives connection I/O on its own tasks: nothing left to await.
            let io: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async { Ok(()) });
            Ok((response, io))
        })
    }
}

/// Reads and drops a refused request's body, bounded in size and time.
async fn drain(body: WasiBody) {
    use http_body_util::{BodyExt, Limited};
    let read = Limited::new(body, 16 * 1024 * 1024).collect();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), read).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};

    fn pat(token: &str) -> Arc<Authenticator> {
        let credentials = crate::auth::Credentials::pat(token, &"test token").unwrap();
        let client = HttpClient::new().unwrap();
        Arc::new(Authenticator::new(&credentials, "https://unused", &client))
    }

    fn policy(allowed: &[&str]) -> EgressPolicy {
        EgressPolicy::new(
            Origin::from_url("https://adb-1.azuredatabricks.net").unwrap(),
            pat("dapi-secret"),
            allowed.iter().map(|a| a.parse().unwrap()).collect(),
        )
    }

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    fn request(url: &str) -> http::Request<WasiBody> {
        http::Request::builder()
            .uri(url)
            .body(
                Empty::new()
                    .map_err(|e: std::convert::Infallible| match e {})
                    .boxed_unsync(),
            )
            .unwrap()
    }

    #[test]
    fn workspace_origin_is_exact() {
        let p = policy(&[]);
        assert_eq!(
            p.verdict(&uri(
                "https://ADB-1.azuredatabricks.net/api/2.2/jobs/runs/submit"
            )),
            Verdict::Workspace
        );
        assert_eq!(
            p.verdict(&uri("https://adb-1.azuredatabricks.net:443/x")),
            Verdict::Workspace
        );
        // Same host, other scheme or port: not the workspace.
        assert_eq!(
            p.verdict(&uri("http://adb-1.azuredatabricks.net/x")),
            Verdict::Denied
        );
        assert_eq!(
            p.verdict(&uri("https://adb-1.azuredatabricks.net:8443/x")),
            Verdict::Denied
        );
        assert_eq!(
            p.verdict(&uri("https://adb-1.azuredatabricks.net.evil.com/")),
            Verdict::Denied
        );
        assert_eq!(p.verdict(&uri("/relative")), Verdict::Denied);
    }

    #[test]
    fn allow_host_forms() {
        let p = policy(&[
            "api.example.com",
            "Other.example.com:8443",
            "http://[::1]:9000",
        ]);
        assert_eq!(
            p.verdict(&uri("https://api.example.com/v1")),
            Verdict::Allowed
        );
        assert_eq!(
            p.verdict(&uri("http://api.example.com:8080/")),
            Verdict::Allowed
        );
        assert_eq!(
            p.verdict(&uri("https://other.example.com:8443/")),
            Verdict::Allowed
        );
        assert_eq!(
            p.verdict(&uri("https://other.example.com/")),
            Verdict::Denied
        );
        assert_eq!(p.verdict(&uri("http://[::1]:9000/")), Verdict::Allowed);
        assert_eq!(p.verdict(&uri("https://[::1]:9000/")), Verdict::Denied);
        assert_eq!(p.verdict(&uri("https://example.com/")), Verdict::Denied);
    }

    #[test]
    fn allow_host_parse_errors() {
        for bad in [
            "",
            "ftp://x.com",
            "x.com/path",
            "u@x.com",
            "x.com:notaport",
            "x.com:",
            "x.com:70000",
        ] {
            assert!(bad.parse::<AllowedHost>().is_err(), "{bad:?} should fail");
        }
        let ok: AllowedHost = "https://X.com/".parse().unwrap();
        assert_eq!(
            ok,
            AllowedHost {
                scheme: Some("https".into()),
                host: "x.com".into(),
                port: None
            }
        );
    }

    #[test]
    fn authorization_is_forbidden_with_defaults() {
        assert!(is_forbidden(&AUTHORIZATION));
        assert!(is_forbidden(&http::header::HOST));
        assert!(is_forbidden(&http::header::TRANSFER_ENCODING));
        assert!(!is_forbidden(&http::header::CONTENT_TYPE));
        assert!(!is_forbidden(&USER_AGENT));
    }

    #[tokio::test]
    async fn prepare_attaches_credentials_to_workspace_only() {
        let p = policy(&["api.example.com"]);
        let req = p
            .prepare(request(
                "https://adb-1.azuredatabricks.net/api/2.0/pipelines",
            ))
            .await
            .unwrap();
        assert_eq!(req.headers()[AUTHORIZATION], "Bearer dapi-secret");
        assert!(
            req.headers()[USER_AGENT]
                .to_str()
                .unwrap()
                .starts_with("sdp-agent/")
        );

        let req = p
            .prepare(request("https://api.example.com/"))
            .await
            .unwrap();
        assert!(req.headers().get(AUTHORIZATION).is_none());

        assert!(matches!(
            p.prepare(request("https://evil.example.org/")).await,
            Err(Refusal::Denied)
        ));
    }

    /// Whatever `Authorization` reaches the hooks (wasi-http refuses it from the guest, this is
    /// the second line), the workspace gets the host's and other hosts get none.
    #[tokio::test]
    async fn prepare_replaces_any_authorization() {
        let p = policy(&["api.example.com"]);
        for url in [
            "https://adb-1.azuredatabricks.net/x",
            "https://api.example.com/",
        ] {
            let mut req = request(url);
            req.headers_mut()
                .insert(AUTHORIZATION, HeaderValue::from_static("Bearer guest-made"));
            let req = p.prepare(req).await.unwrap();
            let expected = url.contains("adb-1").then_some("Bearer dapi-secret");
            assert_eq!(
                req.headers()
                    .get(AUTHORIZATION)
                    .map(|v| v.to_str().unwrap()),
                expected,
                "{url}"
            );
        }
    }

    /// A failed OAuth token request fails the guest's request without sending it, and the
    /// hooks keep the reason for the host to report.
    #[tokio::test]
    async fn credentials_failure_is_kept_for_the_host() {
        let (workspace, seen, _) = recording_server().await;
        let url = format!("http://{workspace}");
        let credentials =
            crate::auth::Credentials::oauth_m2m("svc-1", "dose-secret", &"test").unwrap();
        let client = HttpClient::new().unwrap();
        // The recording server answers the token request with `{}`: no access_token.
        let auth = Arc::new(Authenticator::new(&credentials, &url, &client));
        let policy = EgressPolicy::new(Origin::from_url(&url).unwrap(), auth, vec![]);
        let mut hooks = Egress::new(Arc::new(policy), client);
        assert!(hooks.credentials_failure().is_none());
        let err = send(&mut hooks, &format!("{url}/api/2.0/pipelines"))
            .await
            .unwrap_err();
        let Error::InternalError(Some(message)) = &err else {
            panic!("{err:?}")
        };
        assert!(message.contains("client id \"svc-1\""), "{message}");
        let failure = hooks.credentials_failure().expect("recorded");
        assert_eq!(failure.client_id, "svc-1");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "only the token request left the host");
        assert!(
            seen[0][AUTHORIZATION]
                .to_str()
                .unwrap()
                .starts_with("Basic "),
            "{:?}",
            seen[0]
        );
    }

    /// A loopback server recording request headers and counting accepted connections.
    async fn recording_server() -> (
        std::net::SocketAddr,
        Arc<std::sync::Mutex<Vec<http::HeaderMap>>>,
        Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (seen2, accepted2) = (seen.clone(), accepted.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                accepted2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        seen.lock().unwrap().push(req.headers().clone());
                        async {
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from_static(b"{}")),
                            ))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, seen, accepted)
    }

    async fn send(hooks: &mut Egress, url: &str) -> Result<http::Response<WasiBody>, Error> {
        let fut = hooks.send_request(request(url), None, Box::new(async { Ok(()) }));
        std::pin::Pin::from(fut).await.map(|(resp, _io)| resp)
    }

    #[tokio::test]
    async fn hooks_send_with_token_pool_and_refuse_unlisted() {
        let (workspace, seen, accepted) = recording_server().await;
        let (other, _, other_accepted) = recording_server().await;
        let policy = EgressPolicy::new(
            Origin::from_url(&format!("http://{workspace}")).unwrap(),
            pat("dapi-host-only"),
            vec![],
        );
        let mut hooks = Egress::new(Arc::new(policy), HttpClient::new().unwrap());

        for _ in 0..2 {
            let resp = send(&mut hooks, &format!("http://{workspace}/api/2.0/pipelines"))
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"{}");
        }
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 2);
            assert_eq!(seen[0][AUTHORIZATION], "Bearer dapi-host-only");
            assert!(
                seen[0][USER_AGENT]
                    .to_str()
                    .unwrap()
                    .contains("wasmtime/48")
            );
        }
        // Keep-alive: both requests used one pooled connection.
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);

        let denied = send(&mut hooks, &format!("http://{other}/steal")).await;
        assert!(
            matches!(denied, Err(Error::HttpRequestDenied)),
            "{denied:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            other_accepted.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "never dialled"
        );
    }

    #[tokio::test]
    async fn prepare_keeps_guest_user_agent() {
        let p = policy(&[]);
        let mut req = request("https://adb-1.azuredatabricks.net/");
        req.headers_mut()
            .insert(USER_AGENT, HeaderValue::from_static("guest/1"));
        let req = p.prepare(req).await.unwrap();
        assert_eq!(req.headers()[USER_AGENT], "guest/1");
    }

    /// A body that notes whether it was read to its end.
    struct Watched(Arc<std::sync::atomic::AtomicBool>, bool);

    impl http_body::Body for Watched {
        type Data = bytes::Bytes;
        type Error = Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Error>>> {
            if self.1 {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
                return std::task::Poll::Ready(None);
            }
            self.1 = true;
            std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
                b"{\"steal\": true}",
            )))))
        }
    }

    #[tokio::test]
    async fn a_denied_request_is_refused_only_after_its_body_is_taken() {
        let mut hooks = Egress::new(Arc::new(policy(&[])), HttpClient::new().unwrap());
        let read = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let request = http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:9/collect")
            .body(Watched(read.clone(), false).boxed_unsync())
            .unwrap();
        let fut = hooks.send_request(request, None, Box::new(async { Ok(()) }));
        let outcome = std::pin::Pin::from(fut).await.map(|(r, _)| r);
        assert!(
            matches!(outcome, Err(Error::HttpRequestDenied)),
            "{outcome:?}"
        );
        assert!(
            read.load(std::sync::atomic::Ordering::SeqCst),
            "body drained first"
        );
    }
}
