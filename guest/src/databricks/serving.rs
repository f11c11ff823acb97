//! Model Serving: chat with a Foundation Model endpoint (Claude) and read its answer text.

use super::client::{Retry, Workspace};
use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::time::Duration;
use wstd::http::Method;

/// A chat message as the endpoint takes it.
#[derive(Debug, Clone)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

/// Sends the conversation and returns the answer's text.
pub async fn chat(ws: &Workspace, endpoint: &str, messages: &[Message]) -> Result<String> {
    let body = json!({
        "messages": messages
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect::<Vec<_>>(),
        "max_tokens": 4096,
        "temperature": 0.0,
    });
    // A chat answer is pure: asking again is harmless, and models can take a while.
    let answer = ws
        .call(
            Method::POST,
            &format!("/serving-endpoints/{endpoint}/invocations"),
            Some(&body),
            Retry::Safe,
            Duration::from_secs(300),
        )
        .await?;
    answer_text(&answer)
}

/// The assistant's text: `content` is either a string or a list of blocks, of which the
/// `text` blocks count (reasoning blocks are the model thinking aloud).
pub fn answer_text(answer: &Value) -> Result<String> {
    let content = answer
        .pointer("/choices/0/message/content")
        .ok_or_else(|| {
            Error::LlmUnusable(format!(
                "the endpoint's answer has no choices[0].message.content: {}",
                truncate(&answer.to_string())
            ))
        })?;
    let text = match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        other => {
            return Err(Error::LlmUnusable(format!(
                "message content is neither text nor blocks: {}",
                truncate(&other.to_string())
            )));
        }
    };
    if text.trim().is_empty() {
        return Err(Error::LlmUnusable("the model answered with no text".into()));
    }
    Ok(text)
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}
