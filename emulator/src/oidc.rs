//! The workspace as an OAuth authorization server: its metadata under `/oidc` (RFC 8414, and
//! the same document as OpenID discovery), the key set its access tokens are signed with
//! (`jwks_uri`), and the tokens themselves: JWTs with issuer `{workspace}/oidc`, subject,
//! scope and expiry (RFC 9068), as Databricks issues them. Both documents are public.
//!
//! Databricks signs with RS256; ring (the crypto this workspace already builds) cannot make
//! RSA keys, so each emulator makes a fresh P-256 key and signs with ES256, which Databricks
//! equally documents for the tokens it accepts. A verifier must take either.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::state::SharedApp;

/// RFC 8414 metadata, which the Databricks SDKs read to find the token endpoint.
pub const METADATA_PATH: &str = "/oidc/.well-known/oauth-authorization-server";
/// The same metadata for OpenID Connect clients.
pub const OPENID_PATH: &str = "/oidc/.well-known/openid-configuration";
pub const JWKS_PATH: &str = "/oidc/jwks.json";
/// The scope of a token for every REST API of the workspace.
pub const ALL_APIS: &str = "all-apis";

/// Whether a path is answered without a bearer token.
pub fn is_public(path: &str) -> bool {
    [METADATA_PATH, OPENID_PATH, JWKS_PATH].contains(&path)
}

/// The workspace's token signing key.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    /// The public point's coordinates, base64url.
    x: String,
    y: String,
}

impl SigningKey {
    pub fn generate() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("the system has randomness for a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("a key ring just made is readable");
        // Uncompressed point: 0x04 || x || y.
        let point = pair.public_key().as_ref();
        Self {
            kid: uuid::Uuid::new_v4().simple().to_string(),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..65]),
        }
    }

    /// The public key as a JWK (RFC 7517).
    fn jwk(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y, "kid": self.kid,
               "alg": "ES256", "use": "sig"})
    }

    /// `claims` signed as an access token (`typ: at+jwt`, RFC 9068).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("JSON claims always sign")
    }
}

/// `GET /oidc/.well-known/oauth-authorization-server` (and `openid-configuration`).
pub async fn metadata(State(app): State<SharedApp>) -> Response {
    let issuer = format!("{}/oidc", app.url);
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/v1/authorize"),
        "token_endpoint": format!("{issuer}/v1/token"),
        "jwks_uri": format!("{}{JWKS_PATH}", app.url),
        "scopes_supported": [ALL_APIS, "sql", "offline_access", "iam.current-user:read"],
        "response_types_supported": ["code"],
        "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    }))
    .into_response()
}

/// `GET /oidc/jwks.json`.
pub async fn jwks(State(app): State<SharedApp>) -> Response {
    Json(json!({"keys": [app.signing_key.jwk()]})).into_response()
}

/// Which API paths a token of these scopes may call: `all-apis` every one; the narrow
/// `iam.current-user:read` (what an app asks to learn who its user is) only SCIM `Me`.
pub fn scope_allows(scopes: &[String], path: &str) -> bool {
    scopes.iter().any(|s| match s.as_str() {
        ALL_APIS => true,
        "iam.current-user:read" => path == crate::scim::ME_PATH,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_open_their_paths_only() {
        let narrow = vec!["iam.current-user:read".to_string()];
        assert!(scope_allows(&narrow, crate::scim::ME_PATH));
        assert!(!scope_allows(&narrow, "/api/2.2/jobs/run-now"));
        assert!(scope_allows(&[ALL_APIS.into()], "/api/2.2/jobs/run-now"));
        assert!(!scope_allows(&[], crate::scim::ME_PATH));
    }

    #[test]
    fn tokens_verify_with_the_published_key() {
        let key = SigningKey::generate();
        let token = key.sign(&json!({"iss": "x", "exp": 4_000_000_000u64, "scope": ALL_APIS}));
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk()).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(data.claims["scope"], ALL_APIS);
        assert_eq!(data.header.kid.as_deref(), Some(key.kid.as_str()));
    }
}
