//! OAuth M2M: the token endpoint's grant and errors, and issued tokens as bearer tokens.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use sdp_emulator::{Emulator, EmulatorConfig};
use serde_json::Value;
use std::time::Duration;

use crate::{Client, start};

pub const FORM: &str = "application/x-www-form-urlencoded";

fn m2m(ttl_secs: u64) -> EmulatorConfig {
    EmulatorConfig {
        oauth_clients: vec![("svc-1".into(), "dose-s3cret".into())],
        oauth_token_ttl_secs: ttl_secs,
        ..Default::default()
    }
}

pub fn basic(id: &str, secret: &str) -> String {
    let pair = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// `POST /oidc/v1/token` with exactly these headers: (status, JSON body).
pub async fn token_request(
    emulator: &Emulator,
    authorization: Option<&str>,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let mut request = hyper::Request::builder()
        .method("POST")
        .uri(format!("{}/oidc/v1/token", emulator.url()))
        .header("content-type", content_type);
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let client = HyperClient::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.expect("token request");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, json)
}

#[tokio::test]
async fn client_credentials_grant_issues_a_fresh_bearer_token() {
    let (emulator, _) = start(m2m(3600)).await;
    let auth = basic("svc-1", "dose-s3cret");
    let body = "grant_type=client_credentials&scope=all-apis";
    let (status, first) = token_request(&emulator, Some(&auth), FORM, body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["expires_in"], 3600);
    assert_eq!(first["scope"], "all-apis");
    let token = first["access_token"].as_str().unwrap().to_string();
    let (_, second) = token_request(&emulator, Some(&auth), FORM, body).await;
    assert_ne!(second["access_token"], first["access_token"]);

    // The issued token opens every other route; the PAT still works too.
    let oauth = Client::new(&emulator).with_token(Some(&token));
    assert_eq!(oauth.get("/api/2.0/pipelines").await.status, 200);
    assert_eq!(
        Client::new(&emulator)
            .get("/api/2.0/pipelines")
            .await
            .status,
        200
    );
    let issued = emulator.issued_tokens();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[0].client_id, "svc-1");
    assert_eq!(issued[0].access_token, token);
}

#[tokio::test]
async fn scope_is_optional() {
    let (emulator, _) = start(m2m(60)).await;
    let auth = basic("svc-1", "dose-s3cret");
    let (status, answer) = token_request(
        &emulator,
        Some(&auth),
        FORM,
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn bad_grants_answer_in_the_oauth_error_shape() {
    let (emulator, _) = start(m2m(60)).await;
    let good = basic("svc-1", "dose-s3cret");
    let cases: &[(Option<&str>, &str, &str, u16, &str)] = &[
        (Some(&good), FORM, "scope=all-apis", 400, "invalid_request"),
        (
            Some(&good),
            FORM,
            "grant_type=password&scope=all-apis",
            400,
            "unsupported_grant_type",
        ),
        (
            Some(&good),
            "application/json",
            r#"{"grant_type":"client_credentials"}"#,
            400,
            "invalid_request",
        ),
        (
            Some(&good),
            FORM,
            "grant_type=client_credentials&grant_type=client_credentials",
            400,
            "invalid_request",
        ),
        (
            Some(&good),
            FORM,
            "grant_type=client_credentials&scope=sql",
            400,
            "invalid_scope",
        ),
        (
            None,
            FORM,
            "grant_type=client_credentials",
            401,
            "invalid_client",
        ),
        (
            Some(&basic("svc-1", "wrong")),
            FORM,
            "grant_type=client_credentials",
            401,
            "invalid_client",
        ),
        (
            Some(&basic("svc-2", "dose-s3cret")),
            FORM,
            "grant_type=client_credentials",
            401,
            "invalid_client",
        ),
        (
            Some("Bearer dapi-emulator-token"),
            FORM,
            "grant_type=client_credentials",
            401,
            "invalid_client",
        ),
    ];
    for (auth, content_type, body, status, error) in cases {
        let (got, answer) = token_request(&emulator, *auth, content_type, body).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (*status, Some(*error)),
            "{body}: {answer}"
        );
        assert!(
            answer["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{answer}"
        );
    }
    assert!(emulator.issued_tokens().is_empty());
}

#[tokio::test]
async fn issued_tokens_expire() {
    let (emulator, _) = start(m2m(1)).await;
    let auth = basic("svc-1", "dose-s3cret");
    let (_, answer) = token_request(
        &emulator,
        Some(&auth),
        FORM,
        "grant_type=client_credentials&scope=all-apis",
    )
    .await;
    let token = answer["access_token"].as_str().unwrap().to_string();
    let client = Client::new(&emulator).with_token(Some(&token));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = client.get("/api/2.0/pipelines").await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.error_code(), "UNAUTHENTICATED");
    assert_eq!(reply.message(), "Token expired.");
}

#[tokio::test]
async fn oauth_clients_alone_make_auth_required() {
    let (emulator, _) = start(EmulatorConfig {
        token: None,
        ..m2m(60)
    })
    .await;
    let anonymous = Client::new(&emulator).with_token(None);
    assert_eq!(anonymous.get("/api/2.0/pipelines").await.status, 401);
}
