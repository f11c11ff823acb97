//! The request body limit: refused from `Content-Length` before anything is read, and
//! enforced while reading when the length is not declared (chunked uploads).

use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_LENGTH;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};

#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    /// The client went away or sent a malformed body.
    Read(String),
}

/// Whether `Content-Length` already says the body is over `limit`.
pub fn declared_too_large(headers: &HeaderMap, limit: u64) -> bool {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > limit)
}

/// The whole body, or `TooLarge` as soon as more than `limit` bytes have arrived.
///
/// Buffering is deliberate: the guest gets a body of known length, and a slow upload costs a
/// slot only for as long as the deadline allows.
pub async fn read_limited<B>(body: B, limit: u64) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Read(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::{Frame, SizeHint};
    use http_body_util::Full;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    #[test]
    fn declared_length() {
        let mut headers = HeaderMap::new();
        assert!(!declared_too_large(&headers, 10));
        headers.insert(CONTENT_LENGTH, "10".parse().unwrap());
        assert!(!declared_too_large(&headers, 10));
        headers.insert(CONTENT_LENGTH, "11".parse().unwrap());
        assert!(declared_too_large(&headers, 10));
    }

    /// `n` chunks of 4 bytes with no length announced, as a chunked upload arrives.
    struct Chunks(usize);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.0 == 0 {
                return Poll::Ready(None);
            }
            self.0 -= 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"abcd")))))
        }

        fn size_hint(&self) -> SizeHint {
            SizeHint::default()
        }
    }

    #[tokio::test]
    async fn streamed_body_is_cut_at_the_limit() {
        let ok = read_limited(Full::new(Bytes::from_static(b"0123456789")), 10).await;
        assert_eq!(ok.unwrap(), "0123456789");
        assert_eq!(read_limited(Chunks(2), 10).await.unwrap(), "abcdabcd");
        assert!(matches!(
            read_limited(Chunks(3), 10).await,
            Err(BodyError::TooLarge)
        ));
    }
}
