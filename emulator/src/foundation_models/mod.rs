//! Foundation Model chat (`/serving-endpoints/{name}/invocations`, and the OpenAI-compatible
//! `/serving-endpoints/chat/completions`). Who answers: a recording (`--replay`), else a real
//! chat endpoint the body is forwarded to unchanged (`--model-url`), else the emulator itself
//! (`local`: a per-endpoint script, else the demo model). Any answer can be recorded
//! (`--record`), and the `usage` of every successful answer is summed (what a run cost).

mod args;
mod local;
mod proxy;
mod recording;

use std::collections::{HashMap, VecDeque};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedApp;

pub use args::ModelArgs;
pub use proxy::{MODEL_TOKEN_ENV, ModelUpstream};
pub use recording::{Recording, recording_key};

#[derive(Clone, Debug)]
pub enum ChatReply {
    /// content is a plain string
    Text(String),
    /// content is a list of blocks: a reasoning block (summary_text) then a text block
    Blocks { reasoning: String, text: String },
    /// the whole HTTP body as given (e.g. garbage or a custom shape), status 200
    RawBody(String),
    /// an error answer
    Error {
        status: u16,
        error_code: String,
        message: String,
    },
}

/// Where the chat route's answers come from, beside the emulator's own.
#[derive(Clone, Debug, Default)]
pub struct ModelConfig {
    /// Forward every chat request, unchanged, to this endpoint (`--model-url`).
    pub upstream: Option<ModelUpstream>,
    /// Store every exchange, or answer from stored ones (`--record` / `--replay`).
    pub recording: Option<Recording>,
}

/// Model calls answered with success, and the tokens their `usage` reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModelUsage {
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl ModelUsage {
    /// Adds one successful answer (`usage` missing counts as no tokens).
    fn add(&mut self, answer: &Value) {
        let tokens = |key: &str| answer["usage"][key].as_u64().unwrap_or(0);
        self.calls += 1;
        self.prompt_tokens += tokens("prompt_tokens");
        self.completion_tokens += tokens("completion_tokens");
    }
}

#[derive(Debug, Default)]
pub struct ChatState {
    scripted: HashMap<String, VecDeque<ChatReply>>,
    /// Request keys an endpoint answers 400 to, by endpoint.
    refused: HashMap<String, Vec<String>>,
    pub requests: Vec<Value>,
    /// Summed over every successful answer, whoever gave it.
    pub usage: ModelUsage,
}

impl ChatState {
    pub fn script(&mut self, endpoint: &str, replies: Vec<ChatReply>) {
        self.scripted
            .entry(endpoint.to_string())
            .or_default()
            .extend(replies);
    }

    pub fn refuse_parameter(&mut self, endpoint: &str, key: &str) {
        self.refused
            .entry(endpoint.to_string())
            .or_default()
            .push(key.to_string());
    }
}

/// One answer as it goes back to the client (and into a recording): status, type, bytes.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

impl Exchange {
    async fn of(response: Response) -> Exchange {
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        // The emulator's own answers are small and in memory: reading them cannot fail.
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        Exchange {
            status,
            content_type,
            body,
        }
    }

    fn error(error: ApiError) -> Exchange {
        let body = serde_json::json!({"error_code": error.error_code, "message": error.message});
        Exchange {
            status: error.status,
            content_type: Some(HeaderValue::from_static("application/json")),
            body: Bytes::from(body.to_string()),
        }
    }
}

impl IntoResponse for Exchange {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        match self.content_type {
            Some(value) => response.headers_mut().insert(header::CONTENT_TYPE, value),
            None => response.headers_mut().remove(header::CONTENT_TYPE),
        };
        response
    }
}

/// `POST /serving-endpoints/{name}/invocations`.
pub async fn invocations(
    State(app): State<SharedApp>,
    Path(endpoint): Path<String>,
    JsonBody(body): JsonBody,
    raw: Bytes,
) -> Response {
    answer(&app, &endpoint, body, raw).await
}

/// `POST /serving-endpoints/chat/completions` (OpenAI-compatible; endpoint named by `model`).
pub async fn chat_completions(
    State(app): State<SharedApp>,
    JsonBody(body): JsonBody,
    raw: Bytes,
) -> ApiResult<Response> {
    let endpoint = crate::fields::req_str(&body, "model", "")?.to_string();
    Ok(answer(&app, &endpoint, body, raw).await)
}

async fn answer(app: &SharedApp, endpoint: &str, body: Map<String, Value>, raw: Bytes) -> Response {
    app.lock().chat.requests.push(Value::Object(body.clone()));
    let model = &app.config.model;
    let exchange = match (&model.recording, &model.upstream) {
        (Some(Recording::Replay(dir)), _) => recording::replay(dir, &raw),
        (_, Some(upstream)) => upstream.forward(raw.clone()).await,
        _ => {
            let response = match local::answer(app, endpoint, &body) {
                Ok(response) => response,
                Err(error) => error.into_response(),
            };
            Exchange::of(response).await
        }
    };
    if let Some(Recording::Record(dir)) = &model.recording
        && let Err(error) = recording::store(dir, endpoint, &raw, &exchange)
    {
        // Asked to record and could not: say so rather than hand out an unrecorded answer.
        return Exchange::error(error).into_response();
    }
    if exchange.status.is_success()
        && let Ok(answer) = serde_json::from_slice::<Value>(&exchange.body)
    {
        app.lock().chat.usage.add(&answer);
    }
    exchange.into_response()
}
