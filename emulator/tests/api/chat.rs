//! Foundation Model chat over HTTP: the answer envelope, scripted replies, the demo model
//! fallback and request validation.

use sdp_emulator::ChatReply;
use serde_json::{Value, json};

use crate::start_default;

const ENDPOINT: &str = "databricks-claude-sonnet-4";

fn chat(question: &str) -> Value {
    json!({
        "messages": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": question}],
        "max_tokens": 2000,
        "temperature": 0.1,
        "thinking": {"type": "enabled", "budget_tokens": 1024}
    })
}

fn path(endpoint: &str) -> String {
    format!("/serving-endpoints/{endpoint}/invocations")
}

#[tokio::test]
async fn scripted_replies_in_order_then_demo_model() {
    let (emulator, client) = start_default().await;
    emulator.script_chat(
        ENDPOINT,
        vec![
            ChatReply::Text("plain".into()),
            ChatReply::Blocks {
                reasoning: "thinking...".into(),
                text: "answer".into(),
            },
            ChatReply::RawBody("not json at all".into()),
            ChatReply::Error {
                status: 429,
                error_code: "REQUEST_LIMIT_EXCEEDED".into(),
                message: "rate limited".into(),
            },
        ],
    );
    // Another endpoint's script is separate.
    emulator.script_chat("other", vec![ChatReply::Text("other".into())]);

    let first = client.post(&path(ENDPOINT), &chat("q1")).await;
    assert_eq!(first.status, 200);
    let first = first.json();
    assert_eq!(first["object"], "chat.completion");
    assert_eq!(first["model"], ENDPOINT);
    assert!(first["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(first["created"].as_i64().unwrap() > 1_600_000_000);
    let choice = &first["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "plain");
    let usage = &first["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );

    let blocks = client.post(&path(ENDPOINT), &chat("q2")).await.json();
    assert_eq!(
        blocks["choices"][0]["message"]["content"],
        json!([
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thinking..."}]},
            {"type": "text", "text": "answer"}
        ])
    );
    let raw = client.post(&path(ENDPOINT), &chat("q3")).await;
    assert_eq!((raw.status, raw.text.as_str()), (200, "not json at all"));
    let error = client.post(&path(ENDPOINT), &chat("q4")).await;
    assert_eq!(
        (error.status, error.error_code().as_str()),
        (429, "REQUEST_LIMIT_EXCEEDED")
    );

    // Script exhausted: the demo model answers with prose plus a fenced JSON plan.
    let planned = client
        .post(
            &path(ENDPOINT),
            &chat("Generate synthetic clickstream and build an SDP pipeline to bronze/silver."),
        )
        .await
        .json();
    let content = planned["choices"][0]["message"]["content"]
        .as_str()
        .unwrap();
    assert!(content.contains("```json"));
    assert!(content.contains("sdp_clickstream_bronze_silver"));

    let other = client.post(&path("other"), &chat("q")).await.json();
    assert_eq!(other["choices"][0]["message"]["content"], "other");

    let bodies = emulator.chat_requests();
    assert_eq!(bodies.len(), 6);
    assert_eq!(bodies[0]["messages"][1]["content"], "q1");
    assert_eq!(bodies[0]["thinking"]["budget_tokens"], 1024);
}

#[tokio::test]
async fn openai_compatible_route_uses_the_model_field() {
    let (emulator, client) = start_default().await;
    emulator.script_chat(ENDPOINT, vec![ChatReply::Text("via model".into())]);
    let mut body = chat("q");
    body["model"] = json!(ENDPOINT);
    let reply = client
        .post("/serving-endpoints/chat/completions", &body)
        .await
        .json();
    assert_eq!(reply["choices"][0]["message"]["content"], "via model");
}

#[tokio::test]
async fn chat_validation() {
    let (_emulator, client) = start_default().await;
    let bad = [
        json!({}),
        json!({"messages": []}),
        json!({"messages": [{"role": "robot", "content": "hi"}]}),
        json!({"messages": [{"role": "user"}]}),
        json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}),
        json!({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}),
    ];
    for body in bad {
        let reply = client.post(&path(ENDPOINT), &body).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "INVALID_PARAMETER_VALUE"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn answers_are_cut_at_max_tokens_and_refused_parameters_answer_400() {
    let (emulator, client) = start_default().await;
    let long = "y".repeat(100);
    emulator.script_chat(
        ENDPOINT,
        vec![ChatReply::Text(long.clone()), ChatReply::Text(long.clone())],
    );
    let mut body = chat("q");
    body["max_tokens"] = json!(10);
    let cut = client.post(&path(ENDPOINT), &body).await.json();
    assert_eq!(cut["choices"][0]["finish_reason"], "length");
    assert_eq!(cut["choices"][0]["message"]["content"], "y".repeat(40));
    body["max_tokens"] = json!(25);
    let whole = client.post(&path(ENDPOINT), &body).await.json();
    assert_eq!(whole["choices"][0]["finish_reason"], "stop");
    assert_eq!(whole["choices"][0]["message"]["content"], long);

    emulator.refuse_chat_parameter(ENDPOINT, "temperature");
    let reply = client.post(&path(ENDPOINT), &chat("q")).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "INVALID_PARAMETER_VALUE")
    );
    assert!(reply.message().contains("'temperature'"), "{}", reply.text);
    let mut without = chat("q");
    without.as_object_mut().unwrap().remove("temperature");
    assert_eq!(client.post(&path(ENDPOINT), &without).await.status, 200);
}
