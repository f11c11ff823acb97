//! OAuth machine-to-machine: `POST /oidc/v1/token` (client credentials grant, RFC 6749 §4.4)
//! and the access tokens it issued (JWTs, see [`crate::oidc`]), which every other route accepts
//! until they expire, within their scope.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use crate::oidc::{ALL_APIS as SCOPE, SigningKey};
use crate::state::SharedApp;

/// The workspace's token endpoint; the gate lets it through without a bearer token.
pub const TOKEN_PATH: &str = "/oidc/v1/token";

/// One access token handed out by the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    pub client_id: String,
    pub access_token: String,
}

/// What a token was issued for.
#[derive(Debug)]
struct Grant {
    /// The client id (M2M: its service principal) or the user it acts for.
    subject: String,
    scopes: Vec<String>,
    expires: Instant,
}

/// Tokens issued so far, with what they were issued for.
#[derive(Debug, Default)]
pub struct OAuthState {
    /// In issue order, for `Emulator::issued_tokens`.
    issued: Vec<IssuedToken>,
    grants: HashMap<String, Grant>,
}

/// What the gate learns about a bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    Valid,
    Expired,
    Unknown,
}

/// What to put in a new token.
pub struct NewToken<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub scope: &'a str,
    /// Negative: already expired (for tests of expiry).
    pub expires_in_secs: i64,
}

impl OAuthState {
    pub fn status(&self, token: &str, now: Instant) -> TokenStatus {
        match self.grants.get(token) {
            Some(grant) if now < grant.expires => TokenStatus::Valid,
            Some(_) => TokenStatus::Expired,
            None => TokenStatus::Unknown,
        }
    }

    /// The client (or user) an access token was issued to (expired or not).
    pub fn subject_of(&self, token: &str) -> Option<String> {
        self.grants.get(token).map(|g| g.subject.clone())
    }

    /// The scopes of an issued token (`None` for any other token).
    pub fn scopes_of(&self, token: &str) -> Option<Vec<String>> {
        self.grants.get(token).map(|g| g.scopes.clone())
    }

    pub fn issued(&self) -> Vec<IssuedToken> {
        self.issued.clone()
    }

    /// A signed access token (RFC 9068 claims), remembered until the emulator stops.
    pub fn issue(&mut self, key: &SigningKey, new: NewToken<'_>) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let claims = serde_json::json!({
            "iss": new.issuer,
            "sub": new.subject,
            "aud": new.subject,
            "client_id": new.subject,
            "scope": new.scope,
            "iat": now,
            "exp": now + new.expires_in_secs,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let access_token = key.sign(&claims);
        let ttl = Duration::from_secs(new.expires_in_secs.unsigned_abs());
        let expires = if new.expires_in_secs >= 0 {
            Instant::now() + ttl
        } else {
            Instant::now().checked_sub(ttl).unwrap_or_else(Instant::now)
        };
        self.grants.insert(
            access_token.clone(),
            Grant {
                subject: new.subject.to_string(),
                scopes: new.scope.split_whitespace().map(str::to_string).collect(),
                expires,
            },
        );
        self.issued.push(IssuedToken {
            client_id: new.subject.to_string(),
            access_token: access_token.clone(),
        });
        access_token
    }
}

/// An OAuth error answer: `{"error", "error_description"}` (RFC 6749 §5.2), not the
/// Databricks envelope, because that is what the real token endpoint speaks.
#[derive(Debug, PartialEq, Eq)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
        }
    }

    fn invalid_client(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6749 §5.2: a 401 names the authentication scheme the client should use.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oidc\""),
            );
        }
        response
    }
}

/// `POST /oidc/v1/token`: form-encoded `grant_type=client_credentials[&scope=all-apis]`, the
/// client authenticated with HTTP Basic.
pub async fn token(State(app): State<SharedApp>, headers: HeaderMap, body: Bytes) -> Response {
    match grant(&app, &headers, &body) {
        Ok(answer) => {
            let mut response = (StatusCode::OK, axum::Json(answer)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(err) => err.into_response(),
    }
}

fn grant(
    app: &SharedApp,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, OAuthError> {
    let form = parse_form(headers, body)?;
    match form.get("grant_type").map(String::as_str) {
        None => {
            return Err(OAuthError::bad_request(
                "invalid_request",
                "Missing required parameter: grant_type",
            ));
        }
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::bad_request(
                "unsupported_grant_type",
                format!("Unsupported grant type: {other}"),
            ));
        }
    }
    if let Some(scope) = form.get("scope")
        && scope.split_whitespace().any(|s| s != SCOPE)
    {
        return Err(OAuthError::bad_request(
            "invalid_scope",
            format!("Invalid scope {scope:?}: only {SCOPE} is supported"),
        ));
    }
    if form.contains_key("client_secret") {
        return Err(OAuthError::bad_request(
            "invalid_request",
            "Send the client credentials with HTTP Basic authentication, not in the body",
        ));
    }
    let (client_id, secret) = basic_credentials(headers)?;
    let known = app
        .config
        .oauth_clients
        .iter()
        .any(|(id, s)| *id == client_id && *s == secret);
    if !known {
        return Err(OAuthError::invalid_client("Client authentication failed"));
    }
    let ttl_secs = app.config.oauth_token_ttl_secs;
    let issuer = format!("{}/oidc", app.url);
    let access_token = app.lock().oauth.issue(
        &app.signing_key,
        NewToken {
            issuer: &issuer,
            subject: &client_id,
            scope: SCOPE,
            expires_in_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2),
        },
    );
    Ok(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl_secs,
        "scope": SCOPE,
    }))
}

/// The form body; each parameter at most once (RFC 6749 §3.2).
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::bad_request(
            "invalid_request",
            format!("Content-Type must be application/x-www-form-urlencoded, got {content_type:?}"),
        ));
    }
    let mut form = HashMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        if form.insert(key.to_string(), value.to_string()).is_some() {
            return Err(OAuthError::bad_request(
                "invalid_request",
                format!("Parameter {key} given more than once"),
            ));
        }
    }
    Ok(form)
}

/// `Authorization: Basic base64(client_id:client_secret)`.
fn basic_credentials(headers: &HeaderMap) -> Result<(String, String), OAuthError> {
    let missing =
        || OAuthError::invalid_client("Client authentication failed: no HTTP Basic credentials");
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(missing());
    }
    let malformed =
        || OAuthError::invalid_client("Client authentication failed: malformed Basic credentials");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    Ok((id.to_string(), secret.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(state: &mut OAuthState, key: &SigningKey, expires_in_secs: i64) -> String {
        state.issue(
            key,
            NewToken {
                issuer: "http://x/oidc",
                subject: "c1",
                scope: SCOPE,
                expires_in_secs,
            },
        )
    }

    #[test]
    fn issued_tokens_expire() {
        let key = SigningKey::generate();
        let mut state = OAuthState::default();
        let token = issue(&mut state, &key, 10);
        let now = Instant::now();
        assert_eq!(state.status(&token, now), TokenStatus::Valid);
        assert_eq!(
            state.status(&token, now + Duration::from_secs(11)),
            TokenStatus::Expired
        );
        assert_eq!(state.status("other", now), TokenStatus::Unknown);
        let second = issue(&mut state, &key, 10);
        assert_ne!(token, second, "every grant is a fresh token");
        assert_eq!(state.issued().len(), 2);
        assert_eq!(token.split('.').count(), 3, "a JWT");
        assert_eq!(state.scopes_of(&token), Some(vec![SCOPE.to_string()]));
        let old = issue(&mut state, &key, -60);
        assert_eq!(state.status(&old, Instant::now()), TokenStatus::Expired);
    }

    #[test]
    fn basic_credentials_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            basic_credentials(&headers).unwrap_err().error,
            "invalid_client"
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode("id:se:cret");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers).unwrap(),
            ("id".to_string(), "se:cret".to_string())
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert!(basic_credentials(&headers).is_err());
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!"));
        assert!(basic_credentials(&headers).is_err());
    }
}
