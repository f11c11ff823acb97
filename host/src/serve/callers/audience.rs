//! Whether an OAuth token was issued by this workspace for its APIs, checked before the
//! workspace is asked who holds it. SCIM `Me` only proves a token is valid: a token another
//! Databricks App obtained for its users with a narrow scope (`iam.current-user:read`) passes
//! it too, so its author could call this endpoint as those users.
//!
//! Databricks OAuth access tokens are JWTs: issuer `{workspace}/oidc`, an expiry, a `scope`,
//! signed with a key the workspace publishes (OIDC discovery under `{workspace}/oidc`,
//! `jwks_uri`). Opaque tokens (personal access tokens) are not JWTs and pass on to SCIM.

use super::scim::CheckFailed;
use crate::client::HttpClient;
use bytes::Bytes;
use http::header::{ACCEPT, USER_AGENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The scope of a token for the workspace's REST APIs.
pub const ALL_APIS: &str = "all-apis";
/// Under the issuer: where its endpoints (and `jwks_uri`) are listed.
const DISCOVERY: &str = "/.well-known/oauth-authorization-server";
/// Keys are fetched again after this long, or when a token names one not yet seen (at most
/// once per `REFRESH_GAP`, so random key ids cannot make the server fetch on every request).
const KEYS_TTL: Duration = Duration::from_secs(3600);
const REFRESH_GAP: Duration = Duration::from_secs(60);
/// The algorithms Databricks signs and accepts tokens with; never a symmetric one.
const ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
/// Clock difference tolerated on `exp`.
const LEEWAY_SECS: u64 = 30;
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Why a token is refused, or that it could not be checked.
#[derive(Debug)]
pub enum Verdict {
    /// Not issued by this workspace for its APIs (401 `invalid_token`, no SCIM call).
    Refused(String),
    /// The workspace's keys could not be read (503).
    Unchecked(CheckFailed),
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

/// The key set as published; keys of kinds this check does not use are skipped, not fatal.
#[derive(Deserialize)]
struct KeySet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    scope: Scope,
}

/// `scope` as RFC 9068 writes it (one space-separated string), or as a list.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Scope {
    Text(String),
    List(Vec<String>),
    #[default]
    Missing,
}

impl Scope {
    fn names(&self) -> Vec<&str> {
        match self {
            Scope::Text(text) => text.split_whitespace().collect(),
            Scope::List(list) => list.iter().map(String::as_str).collect(),
            Scope::Missing => Vec::new(),
        }
    }
}

#[derive(Default)]
struct Keys {
    keys: Vec<Jwk>,
    fetched: Option<Instant>,
}

/// The audience check of one server.
pub struct Audience {
    /// `{workspace}/oidc`.
    issuer: String,
    origin: String,
    scopes: Vec<String>,
    client: HttpClient,
    timeout: Duration,
    keys: Mutex<Keys>,
}

impl Audience {
    /// `accept_scopes`: scopes accepted besides `all-apis` (`--accept-scope`).
    pub fn new(
        workspace_url: &str,
        accept_scopes: &[String],
        client: HttpClient,
        timeout: Duration,
    ) -> Self {
        let origin = workspace_url.trim_end_matches('/').to_string();
        let mut scopes = vec![ALL_APIS.to_string()];
        scopes.extend(accept_scopes.iter().map(|s| s.trim().to_string()));
        Self {
            issuer: format!("{origin}/oidc"),
            origin,
            scopes,
            client,
            timeout,
            keys: Mutex::new(Keys::default()),
        }
    }

    /// `Ok` for an opaque token (SCIM decides) or a JWT this workspace issued for its APIs.
    pub async fn check(&self, token: &str) -> Result<(), Verdict> {
        if !is_jwt(token) {
            return Ok(());
        }
        let refused = |why: &str| Verdict::Refused(format!("this OAuth token {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|_| refused("is malformed"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(refused(&format!("is signed with {:?}", header.alg)));
        }
        let candidates = self.keys_for(header.kid.as_deref()).await?;
        if candidates.is_empty() {
            // Say why in the caller's terms: most often another workspace's token.
            return Err(match issuer_of(token) {
                Some(issuer) if issuer != self.issuer => refused(&format!(
                    "was not issued by this workspace ({}) but by {issuer}",
                    self.issuer
                )),
                _ => refused("is signed with a key this workspace does not publish"),
            });
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.validate_aud = false;
        validation.leeway = LEEWAY_SECS;
        let mut last = refused("is signed with a key this workspace does not publish");
        for key in &candidates {
            let Ok(decoding) = DecodingKey::from_jwk(key) else {
                continue;
            };
            match jsonwebtoken::decode::<Claims>(token, &decoding, &validation) {
                Ok(data) => return self.scope_allowed(&data.claims.scope),
                Err(e) => {
                    last = match e.kind() {
                        ErrorKind::ExpiredSignature => refused("has expired"),
                        ErrorKind::InvalidIssuer => refused(&format!(
                            "was not issued by this workspace ({})",
                            self.issuer
                        )),
                        ErrorKind::MissingRequiredClaim(claim) => {
                            refused(&format!("has no `{claim}` claim"))
                        }
                        ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                            refused("has a signature this workspace's keys do not verify")
                        }
                        _ => refused("is malformed"),
                    };
                    // Only a wrong signature may be another key's; the rest are the token's.
                    if !matches!(e.kind(), ErrorKind::InvalidSignature) {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    fn scope_allowed(&self, scope: &Scope) -> Result<(), Verdict> {
        let names = scope.names();
        if names.iter().any(|n| self.scopes.iter().any(|s| s == n)) {
            return Ok(());
        }
        Err(Verdict::Refused(format!(
            "was issued for scope {:?}, not for this workspace's APIs ({}; --accept-scope adds \
             others)",
            names.join(" "),
            self.scopes.join(", ")
        )))
    }

    /// The published keys that may have signed a token naming `kid` (all of them without).
    async fn keys_for(&self, kid: Option<&str>) -> Result<Vec<Jwk>, Verdict> {
        let mut keys = self.keys.lock().await;
        let age = keys.fetched.map(|at| at.elapsed());
        let stale = age.is_none_or(|a| a > KEYS_TTL);
        let unknown = kid.is_some_and(|k| {
            !keys
                .keys
                .iter()
                .any(|j| j.common.key_id.as_deref() == Some(k))
        });
        if stale || (unknown && age.is_none_or(|a| a > REFRESH_GAP)) {
            match self.fetch().await {
                Ok(fresh) => {
                    keys.keys = fresh;
                    keys.fetched = Some(Instant::now());
                }
                // Known keys still verify what they signed while the workspace is away.
                Err(e) if keys.keys.is_empty() => return Err(Verdict::Unchecked(e)),
                Err(e) => tracing::warn!("cannot refresh the workspace's token keys: {e}"),
            }
        }
        Ok(keys
            .keys
            .iter()
            .filter(|k| kid.is_none() || k.common.key_id.as_deref() == kid)
            .cloned()
            .collect())
    }

    /// Discovery, then its `jwks_uri` (which must be on the workspace itself).
    async fn fetch(&self) -> Result<Vec<Jwk>, CheckFailed> {
        let discovery: Discovery = self.get(&format!("{}{DISCOVERY}", self.issuer)).await?;
        if !discovery.jwks_uri.starts_with(&format!("{}/", self.origin)) {
            return Err(CheckFailed::new(format!(
                "the workspace's OIDC discovery names keys elsewhere ({})",
                discovery.jwks_uri
            )));
        }
        let set: KeySet = self.get(&discovery.jwks_uri).await?;
        Ok(set
            .keys
            .into_iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k).ok())
            .filter(|k| {
                matches!(
                    k.algorithm,
                    AlgorithmParameters::RSA(_) | AlgorithmParameters::EllipticCurve(_)
                )
            })
            .collect())
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, CheckFailed> {
        let failed = |e: String| CheckFailed::new(format!("reading {url}: {e}"));
        let body = Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = Request::get(url)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, crate::egress::user_agent())
            .body(body)
            .map_err(|e| failed(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .send(request, None)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| failed(e.to_string()))?
                .to_bytes();
            if status != StatusCode::OK {
                return Err(failed(format!("HTTP {}", status.as_u16())));
            }
            serde_json::from_slice(&bytes).map_err(|e| failed(e.to_string()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| failed(format!("no answer within {}s", self.timeout.as_secs_f64())))?
    }
}

/// The `iss` a JWT claims, unverified: only to word a refusal.
fn issuer_of(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["iss"].as_str().map(str::to_string)
}

/// Three non-empty base64url parts: the shape of a JWS in compact form.
fn is_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_compact_jws_is_a_jwt() {
        assert!(is_jwt("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"));
        for opaque in [
            "dapi0123456789abcdef",
            "a.b",
            "a..c",
            "a.b.c.d",
            "a.b+/.c",
            "emu-oauth-0123",
        ] {
            assert!(!is_jwt(opaque), "{opaque}");
        }
    }

    #[test]
    fn scopes_as_text_or_list() {
        let text: Claims = serde_json::from_str(r#"{"scope": "all-apis offline_access"}"#).unwrap();
        assert_eq!(text.scope.names(), ["all-apis", "offline_access"]);
        let list: Claims = serde_json::from_str(r#"{"scope": ["sql"]}"#).unwrap();
        assert_eq!(list.scope.names(), ["sql"]);
        let none: Claims = serde_json::from_str("{}").unwrap();
        assert!(none.scope.names().is_empty());
    }
}
