//! Personal-access-token auth: every route wants `Authorization: Bearer <token>`.

use axum::http::{HeaderMap, header};

use crate::error::ApiError;

/// Ok when no token is configured or the request carries exactly that bearer token.
pub fn check(expected: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match given.and_then(|v| v.strip_prefix("Bearer ")) {
        Some(token) if token.trim() == expected => Ok(()),
        Some(_) => Err(ApiError::unauthenticated("Invalid access token.")),
        // Same wording as the real workspace when the header is absent or not a bearer token.
        None => Err(ApiError::unauthenticated(
            "Credential was not sent or was of an unsupported type for this API.",
        )),
    }
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

    #[test]
    fn bearer_token_rules() {
        assert!(check(None, &headers(None)).is_ok());
        assert!(check(Some("t"), &headers(Some("Bearer t"))).is_ok());
        assert!(check(Some("t"), &headers(Some("Bearer x"))).is_err());
        assert!(check(Some("t"), &headers(Some("Basic dDp0"))).is_err());
        let err = check(Some("t"), &headers(None)).unwrap_err();
        assert_eq!(err.status.as_u16(), 401);
        assert_eq!(err.error_code, "UNAUTHENTICATED");
    }
}
