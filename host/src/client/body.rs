//! Request and response bodies on their way through the client: the guest's request body
//! buffered whole, a response body bounded between frames.

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime_wasi_http::{Error, WasiBody};

/// Largest request body the guest may send (bodies are buffered, see `buffer_body`).
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// Waits for the guest to finish its request body and sends it with a known length.
///
/// Streaming it instead races on a pooled connection: the workspace may answer a GET before the
/// guest has closed its (empty) body, hyper then drops the body, and the guest's pending write
/// fails with "stream closed". Agent requests are small JSON documents, so buffering is cheap.
pub async fn buffer_body(
    request: http::Request<WasiBody>,
) -> Result<http::Request<WasiBody>, Error> {
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

/// Fails a response body that stalls for longer than `limit` between frames.
pub struct FrameTimeout<B> {
    inner: B,
    limit: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<B> FrameTimeout<B> {
    pub fn new(inner: B, limit: Duration) -> Self {
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
}
