//! Model Serving: chat with a Foundation Model endpoint (Claude) and read its answer text.

use super::client::{Retry, WorkspaceClient};
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

/// What the answers so far cost, from each answer's `usage` (absent counts as no tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub calls: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    fn add(&mut self, answer: &Value) {
        let tokens = |key: &str| {
            answer
                .pointer(&format!("/usage/{key}"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        self.calls += 1;
        self.prompt_tokens += tokens("prompt_tokens");
        self.completion_tokens += tokens("completion_tokens");
    }
}

/// Output budget of the first request, and of the one retry when the answer was cut off.
const MAX_TOKENS: u32 = 8192;
const MAX_TOKENS_RETRY: u32 = 32000;

/// A conversation partner behind one endpoint. It remembers what the endpoint refused, so a
/// repair round does not pay for the same 400 again.
pub struct Chat<'a> {
    ws: &'a WorkspaceClient,
    endpoint: String,
    /// Sent until the endpoint rejects it (some models take no `temperature`).
    temperature: bool,
    usage: Usage,
}

impl<'a> Chat<'a> {
    pub fn new(ws: &'a WorkspaceClient, endpoint: &str) -> Self {
        Chat {
            ws,
            endpoint: endpoint.to_string(),
            temperature: true,
            usage: Usage::default(),
        }
    }

    /// Every answer received so far, a cut one asked again included (it was paid for).
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Sends the conversation and returns the answer's text. An answer cut off at
    /// `max_tokens` (`finish_reason: "length"`, truncated JSON no repair can fix) is asked for
    /// again with a larger budget; a 400 naming `temperature` is retried once without it.
    pub async fn ask(&mut self, messages: &[Message]) -> Result<String> {
        let mut max_tokens = MAX_TOKENS;
        loop {
            let mut body = json!({
                "messages": messages
                    .iter()
                    .map(|m| json!({"role": m.role, "content": m.content}))
                    .collect::<Vec<_>>(),
                "max_tokens": max_tokens,
            });
            if self.temperature {
                body["temperature"] = json!(0.0);
            }
            // A chat answer is pure: asking again is harmless, and models can take a while.
            let outcome = self
                .ws
                .call(
                    Method::POST,
                    &format!("/serving-endpoints/{}/invocations", self.endpoint),
                    Some(&body),
                    Retry::Safe,
                    Duration::from_secs(300),
                )
                .await;
            let answer = match outcome {
                Ok(answer) => answer,
                Err(Error::Upstream(u))
                    if u.status == 400
                        && self.temperature
                        && u.message.to_ascii_lowercase().contains("temperature") =>
                {
                    eprintln!(
                        "sdp-agent: the endpoint refuses temperature ({}); asking without it",
                        u.message
                    );
                    self.temperature = false;
                    continue;
                }
                Err(Error::Upstream(u))
                    if u.status == 400
                        && max_tokens > MAX_TOKENS
                        && u.message.to_ascii_lowercase().contains("max_tokens") =>
                {
                    return Err(Error::LlmUnusable(format!(
                        "the answer was cut off at {MAX_TOKENS} tokens and the endpoint refuses \
                         max_tokens {max_tokens}: {}",
                        u.message
                    )));
                }
                Err(e) => return Err(e),
            };
            self.usage.add(&answer);
            if answer
                .pointer("/choices/0/finish_reason")
                .and_then(Value::as_str)
                == Some("length")
            {
                if max_tokens < MAX_TOKENS_RETRY {
                    eprintln!(
                        "sdp-agent: the answer was cut off at {max_tokens} tokens; asking again with {MAX_TOKENS_RETRY}"
                    );
                    max_tokens = MAX_TOKENS_RETRY;
                    continue;
                }
                return Err(Error::LlmUnusable(format!(
                    "the answer was cut off at {max_tokens} tokens (finish_reason \"length\")"
                )));
            }
            return answer_text(&answer);
        }
    }
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
