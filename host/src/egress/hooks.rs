//! What wasi-http calls for every outgoing request of a store: the policy's verdict, then
//! the shared pooled client; a request it refuses has its body drained first.

use super::observe::{CallLog, EgressObserver, Outgoing};
use super::policy::{EgressPolicy, Refusal, Verdict, is_forbidden};
use crate::auth::TokenError;
use crate::client::HttpClient;
use std::sync::{Arc, Mutex};
use wasmtime_wasi_http::{Error, ForbiddenHeaderFilter, RequestOptions, WasiBody, WasiHttpHooks};

/// Per-store hooks: cheap to create, everything heavy is shared.
pub struct EgressHooks {
    policy: Arc<EgressPolicy>,
    client: HttpClient,
    /// The first credentials failure of this store's requests: the guest only sees an
    /// opaque transport error, the host reports this instead.
    credentials_failure: Arc<Mutex<Option<TokenError>>>,
    /// Told how every call ended (serve's metrics), when someone listens.
    calls: Option<CallLog>,
}

impl EgressHooks {
    pub fn new(policy: Arc<EgressPolicy>, client: HttpClient) -> Self {
        Self {
            policy,
            client,
            credentials_failure: Arc::default(),
            calls: None,
        }
    }

    /// The same hooks, reporting every call to `observer`.
    pub fn observed_by(mut self, observer: Option<Arc<dyn EgressObserver>>) -> Self {
        self.calls = observer.map(CallLog::new);
        self
    }

    /// Why a request of this store could not get its credentials, if one could not.
    pub fn credentials_failure(&self) -> Option<TokenError> {
        self.credentials_failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

type SendFuture = Box<dyn Future<Output = Result<Sent, Error>> + Send>;

impl WasiHttpHooks for EgressHooks {
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
        let calls = self.calls.clone();
        let (method, uri) = (request.method().clone(), request.uri().clone());
        if let Some(calls) = &calls {
            calls.starting(&method, &uri);
        }
        Box::new(async move {
            let result = send(policy, client, failure, request, options).await;
            if let Some(calls) = calls {
                let outcome = match &result {
                    Ok((response, _)) => Outgoing::Answered(response.status().as_u16()),
                    Err(Error::HttpRequestDenied) => Outgoing::Denied,
                    Err(_) => Outgoing::Failed,
                };
                calls.ended(method, uri, outcome);
            }
            result
        })
    }
}

/// What a send resolves to: the response, and the connection's I/O (none to wait for here).
type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

/// The policy, then the pooled client.
async fn send(
    policy: Arc<EgressPolicy>,
    client: HttpClient,
    failure: Arc<Mutex<Option<TokenError>>>,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<Sent, Error> {
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
    use crate::auth::Authenticator;
    use crate::egress::Origin;
    use crate::egress::testing::{pat, policy, request};
    use http::header::{AUTHORIZATION, USER_AGENT};
    use http_body_util::BodyExt;

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
        let mut hooks = EgressHooks::new(Arc::new(policy), client);
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

    async fn send(hooks: &mut EgressHooks, url: &str) -> Result<http::Response<WasiBody>, Error> {
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
        let mut hooks = EgressHooks::new(Arc::new(policy), HttpClient::new().unwrap());

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
        let mut hooks = EgressHooks::new(Arc::new(policy(&[])), HttpClient::new().unwrap());
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
