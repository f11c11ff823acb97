//! A tiny HTTP client for talking to the emulator the way an SDK would.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sdp_emulator::Emulator;
use serde_json::Value;

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The Databricks error code of an error answer.
    pub fn error_code(&self) -> String {
        self.json()["error_code"].as_str().unwrap_or("").to_string()
    }

    pub fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or("").to_string()
    }
}

pub struct Client {
    base: String,
    token: Option<String>,
    inner: HyperClient<HttpConnector, Full<Bytes>>,
}

impl Client {
    pub fn new(emulator: &Emulator) -> Self {
        Self {
            base: emulator.url(),
            token: emulator.token(),
            inner: HyperClient::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn with_token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_string);
        self
    }

    /// Sends `body` verbatim (so tests can send broken JSON).
    pub async fn raw(&self, method: &str, path: &str, body: &str) -> Reply {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("user-agent", "emulator-tests/0.1 os/linux");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let response = self.inner.request(request).await.expect("request failed");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.raw("GET", path, "").await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.raw("POST", path, &body.to_string()).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.raw("PUT", path, &body.to_string()).await
    }

    /// The events of pipeline `id` that belong to `update`, in the order the API lists them.
    pub async fn update_events(&self, id: &str, update: &str) -> Vec<Value> {
        let events = self
            .get(&format!("/api/2.0/pipelines/{id}/events"))
            .await
            .json();
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["origin"]["update_id"] == update)
            .cloned()
            .collect()
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
