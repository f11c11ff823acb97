//! The metrics port (`--metrics-listen`): `GET /metrics` and nothing else, on a listener of
//! its own so the endpoint's callers never see it.

use super::metrics::{CONTENT_TYPE, Metrics};
use super::reply::{self, Reply};
use bytes::Bytes;
use http::header::HeaderValue;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Scrapes are small and rare: a few at once are plenty.
const MAX_CONNECTIONS: usize = 16;
/// A scraper sends its request at once; a connection that does not within this long gives its
/// place back, so idle sockets cannot starve scrapes.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The usage error when `--metrics-listen` is not loopback and `--metrics-public` was not given.
pub fn check_listen(addr: Option<SocketAddr>, public: bool) -> Result<(), String> {
    match addr {
        Some(addr) if !addr.ip().is_loopback() && !public => Err(format!(
            "--metrics-listen {addr} is not a loopback address: the metrics are not \
             authenticated, so say --metrics-public to serve them to whoever reaches that port"
        )),
        _ => Ok(()),
    }
}

/// Binds `addr` now (so a taken port fails at start); the future serves until dropped.
pub async fn bind(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
) -> std::io::Result<(SocketAddr, impl Future<Output = ()> + Send + 'static)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((bound, serve(listener, metrics)))
}

async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = connections.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        let handler = service_fn(move |request| {
            let metrics = metrics.clone();
            async move { Ok::<_, Infallible>(answer(&metrics, &request)) }
        });
        tokio::spawn(async move {
            // One scrape per connection: an idle keep-alive connection would hold a place.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), handler)
                .await;
            drop(permit);
        });
    }
}

fn answer(metrics: &Metrics, request: &Request<Incoming>) -> Reply {
    if request.uri().path() != "/metrics" {
        return reply::error(
            StatusCode::NOT_FOUND,
            "ENDPOINT_NOT_FOUND",
            "try GET /metrics",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "use GET",
        );
    }
    let mut response = Response::new(Full::new(Bytes::from(metrics.render())));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_metrics_need_the_flag() {
        let local: SocketAddr = "127.0.0.1:9464".parse().unwrap();
        let open: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        assert!(check_listen(None, false).is_ok());
        assert!(check_listen(Some(local), false).is_ok());
        let refused = check_listen(Some(open), false).unwrap_err();
        assert!(refused.contains("--metrics-public"), "{refused}");
        assert!(check_listen(Some(open), true).is_ok());
    }
}
