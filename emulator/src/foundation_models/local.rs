//! The emulator's own answers: a per-endpoint script, else the deterministic demo model. The
//! request is validated as a real endpoint does; an answer longer than `max_tokens` is cut
//! there with `finish_reason: "length"`, and an endpoint can be told to refuse a parameter
//! (some models refuse `temperature`).

use std::collections::VecDeque;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::ChatReply;
use crate::demo_model;
use crate::error::{ApiError, ApiResult};
use crate::fields::{item_obj, opt_array, opt_int, opt_obj};
use crate::state::SharedApp;

/// What an endpoint answers when `max_tokens` is not given.
const DEFAULT_MAX_TOKENS: usize = 4096;

/// The emulator's token estimate.
const CHARS_PER_TOKEN: usize = 4;

pub fn answer(app: &SharedApp, endpoint: &str, body: &Map<String, Value>) -> ApiResult<Response> {
    let (scripted, id) = {
        let mut state = app.lock();
        validate(body)?;
        let refused = state.chat.refused.get(endpoint).into_iter().flatten();
        if let Some(key) = refused.into_iter().find(|k| body.contains_key(k.as_str())) {
            return Err(ApiError::invalid(format!(
                "Unsupported parameter: '{key}' is not supported with this model."
            )));
        }
        let scripted = state
            .chat
            .scripted
            .get_mut(endpoint)
            .and_then(VecDeque::pop_front);
        (scripted, state.ids.chat_id())
    };
    let reply =
        scripted.unwrap_or_else(|| ChatReply::Text(demo_model::plan(body, app.config.demo_flaw)));
    let prompt_chars: usize = body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| m["content"].to_string().len())
        .sum();
    let max_tokens = body
        .get("max_tokens")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_MAX_TOKENS, |n| n as usize);
    let mut finish_reason = "stop";
    let mut cut = |mut text: String| {
        if let Some((i, _)) = text.char_indices().nth(max_tokens * CHARS_PER_TOKEN) {
            finish_reason = "length";
            text.truncate(i);
        }
        text
    };
    let content = match reply {
        ChatReply::Text(text) => json!(cut(text)),
        ChatReply::Blocks { reasoning, text } => json!([
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": reasoning}]},
            {"type": "text", "text": cut(text)},
        ]),
        ChatReply::RawBody(raw) => {
            return Ok(([(header::CONTENT_TYPE, "application/json")], raw).into_response());
        }
        ChatReply::Error {
            status,
            error_code,
            message,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(ApiError::new(status, &error_code, message));
        }
    };
    Ok(Json(completion(
        &id,
        endpoint,
        content,
        finish_reason,
        prompt_chars,
    ))
    .into_response())
}

/// The OpenAI chat-completions envelope Databricks answers with; token counts are estimated
/// at CHARS_PER_TOKEN characters per token.
fn completion(
    id: &str,
    model: &str,
    content: Value,
    finish_reason: &str,
    prompt_chars: usize,
) -> Value {
    let prompt_tokens = prompt_chars.div_ceil(CHARS_PER_TOKEN);
    let completion_tokens = content.to_string().len().div_ceil(CHARS_PER_TOKEN);
    let created = crate::ids::now_ms() / 1000;
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    })
}

fn validate(body: &Map<String, Value>) -> ApiResult<()> {
    let messages = match opt_array(body, "messages", "")? {
        Some(messages) if !messages.is_empty() => messages,
        _ => {
            return Err(ApiError::invalid(
                "messages is required and must contain at least one message",
            ));
        }
    };
    for (i, message) in messages.iter().enumerate() {
        let ctx = format!("messages[{i}]");
        let message = item_obj(message, &ctx)?;
        let role = message.get("role").and_then(Value::as_str);
        if !matches!(role, Some("system" | "user" | "assistant")) {
            return Err(ApiError::invalid(format!(
                "{ctx}.role must be one of system, user, assistant (got {})",
                message.get("role").unwrap_or(&Value::Null)
            )));
        }
        if !matches!(
            message.get("content"),
            Some(Value::String(_) | Value::Array(_))
        ) {
            return Err(ApiError::invalid(format!(
                "{ctx}.content must be a string or a list of content blocks"
            )));
        }
    }
    if opt_int(body, "max_tokens", "")?.is_some_and(|n| n < 1) {
        return Err(ApiError::invalid("max_tokens must be a positive integer"));
    }
    match body.get("temperature") {
        None | Some(Value::Null) => {}
        Some(Value::Number(t)) if t.as_f64().is_some_and(|t| (0.0..=2.0).contains(&t)) => {}
        Some(_) => {
            return Err(ApiError::invalid(
                "temperature must be a number between 0 and 2",
            ));
        }
    }
    opt_obj(body, "thinking", "")?;
    Ok(())
}
