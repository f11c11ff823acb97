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
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Scrapes are small and rare: a few at once are plenty.
const MAX_CONNECTIONS: usize = 16;

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
            let _ = http1::Builder::new()
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
