//! Bearer auth: every route wants `Authorization: Bearer <token>`, where the token is the
//! configured personal access token or an unexpired one issued by `/oidc/v1/token`.

use axum::http::{HeaderMap, header};

use crate::error::ApiError;
use crate::oauth::TokenStatus;

/// Ok when auth is off (`required == false`), or the request carries the personal access token
/// `pat`, or a token `issued` says is still valid.
pub fn check(
    required: bool,
    pat: Option<&str>,
    issued: impl Fn(&str) -> TokenStatus,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if !required {
        return Ok(());
    }
    match bearer(headers) {
        Some(token) if Some(token) == pat => Ok(()),
        Some(token) => match issued(token) {
            TokenStatus::Valid => Ok(()),
            // An expired OAuth token is what makes clients refresh.
            TokenStatus::Expired => Err(ApiError::unauthenticated("Token expired.")),
            TokenStatus::Unknown => Err(ApiError::unauthenticated("Invalid access token.")),
        },
        // Same wording as the real workspace when the header is absent or not a bearer token.
        None => Err(ApiError::unauthenticated(
            "Credential was not sent or was of an unsupported type for this API.",
        )),
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let given = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    given.strip_prefix("Bearer ").map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    fn none_issued(_: &str) -> TokenStatus {
        TokenStatus::Unknown
    }

    #[test]
    fn bearer_token_rules() {
        assert!(check(false, None, none_issued, &headers(None)).is_ok());
        let pat = Some("t");
        assert!(check(true, pat, none_issued, &headers(Some("Bearer t"))).is_ok());
        assert!(check(true, pat, none_issued, &headers(Some("Bearer x"))).is_err());
        assert!(check(true, pat, none_issued, &headers(Some("Basic dDp0"))).is_err());
        let err = check(true, pat, none_issued, &headers(None)).unwrap_err();
        assert_eq!(err.status.as_u16(), 401);
        assert_eq!(err.error_code, "UNAUTHENTICATED");
    }

    #[test]
    fn issued_tokens_count_until_they_expire() {
        let issued = |t: &str| match t {
            "fresh" => TokenStatus::Valid,
            "old" => TokenStatus::Expired,
            _ => TokenStatus::Unknown,
        };
        assert!(check(true, None, issued, &headers(Some("Bearer fresh"))).is_ok());
        let err = check(true, None, issued, &headers(Some("Bearer old"))).unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.message.as_str()),
            (401, "Token expired.")
        );
        assert!(check(true, Some("t"), issued, &headers(Some("Bearer nope"))).is_err());
    }
}
