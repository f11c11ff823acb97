//! Fills missing pipeline config by asking the model: the prompt, reading JSON out of a
//! chatty answer, validating it with the payload's own rules, and one repair round.

use crate::config::PartialConfig;
use crate::databricks::Workspace;
use crate::databricks::serving::{Chat, Message};
use crate::error::{Error, FieldError, Result};
use serde_json::{Map, Value, json};

/// What the model must answer, and the rules of Spark Declarative Pipelines that real
/// pipelines fail on, with one worked example.
const SYSTEM_PROMPT: &str = r#"You are a senior Databricks data engineer who designs Spark Declarative Pipelines (SDP, formerly Delta Live Tables) on Unity Catalog.
Answer with ONE JSON object and nothing else: no prose, no Markdown fences.
Keys:
- "pipelineName": short snake_case pipeline name.
- "catalog": Unity Catalog catalog (letters, digits, underscores).
- "schema": target schema (letters, digits, underscores).
- "root_path": absolute workspace folder for the pipeline's code, e.g. /Workspace/Shared/<pipelineName>.
- "workspace_file_paths": non-empty array of absolute workspace paths of the source files, under root_path, each ending in .sql or .py.
- "sources": object mapping each of those paths to the complete file text.
Rules the pipeline must follow (a real update fails otherwise):
- SQL files use CREATE OR REFRESH MATERIALIZED VIEW name AS SELECT ... or CREATE OR REFRESH STREAMING TABLE name AS SELECT ...; Python files use `from pyspark import pipelines as dp` with @dp.materialized_view / @dp.table.
- A STREAMING TABLE needs a streaming source: FROM STREAM(other_table) or FROM STREAM read_files('/Volumes/...'). A batch source such as range() or a materialized view read without STREAM(...) goes into a MATERIALIZED VIEW.
- Refer to other datasets of the pipeline by their plain name: no LIVE. prefix.
- No DBFS paths (dbfs:/, /dbfs, /FileStore, /mnt): files live in Unity Catalog volumes (/Volumes/<catalog>/<schema>/<volume>/...).
- Tables are Unity Catalog tables: the pipeline publishes into its catalog and schema; name outside tables as catalog.schema.table.
- When the request names no source data, generate synthetic data with range(): SELECT id, ... FROM range(0, 10000).
- Bronze ingests or generates the raw data, silver cleans and types it (expectations: CONSTRAINT c EXPECT (cond) ON VIOLATION DROP ROW), gold aggregates when asked.
Example answer for "synthetic orders, bronze and silver":
{"pipelineName": "sdp_orders", "catalog": "main", "schema": "orders_demo", "root_path": "/Workspace/Shared/sdp_orders", "workspace_file_paths": ["/Workspace/Shared/sdp_orders/transformations/bronze_orders.sql", "/Workspace/Shared/sdp_orders/transformations/silver_orders.sql"], "sources": {"/Workspace/Shared/sdp_orders/transformations/bronze_orders.sql": "CREATE OR REFRESH MATERIALIZED VIEW bronze_orders AS SELECT id AS order_id, CAST(id % 500 AS INT) AS customer_id, round(5 + (id * 13) % 9500 / 100.0, 2) AS amount, timestamp_seconds(1735689600 + id * 37) AS order_ts FROM range(0, 10000);", "/Workspace/Shared/sdp_orders/transformations/silver_orders.sql": "CREATE OR REFRESH MATERIALIZED VIEW silver_orders (CONSTRAINT valid_amount EXPECT (amount > 0) ON VIOLATION DROP ROW) AS SELECT order_id, customer_id, CAST(amount AS DECIMAL(10, 2)) AS amount, order_ts, to_date(order_ts) AS order_date FROM bronze_orders;"}}
The user's message starts with a fenced JSON block of FIXED values: use each of them exactly as given. A second fenced JSON block, when present, holds the workspace's defaults: use its catalog unless the request names another."#;

/// The user's message: the fixed values (always the first fenced block), the workspace's
/// defaults (the second, when known), then the request.
pub fn user_message(
    question: &str,
    known: &PartialConfig,
    default_catalog: Option<&str>,
    missing: &[String],
) -> String {
    let fence = |v: &Value| {
        format!(
            "```json\n{}\n```",
            serde_json::to_string_pretty(v).unwrap_or_default()
        )
    };
    let mut text = format!(
        "Fixed values (use unchanged):\n{}\n\n",
        fence(&known.known_json())
    );
    if let Some(catalog) = default_catalog {
        text.push_str(&format!(
            "Workspace defaults (the catalog to use unless the request names another):\n{}\n\n",
            fence(&json!({ "catalog": catalog }))
        ));
    }
    text.push_str(&format!(
        "Request: {question}\n\nProvide: {}, and sources for every file that is not fixed.",
        missing.join(", ")
    ));
    text
}

/// Asks the model for the keys `known` lacks and returns them validated. The model gets one
/// chance to repair an unusable answer; after that the call fails.
pub async fn fill_missing(
    ws: &Workspace,
    endpoint: &str,
    question: &str,
    known: &PartialConfig,
    default_catalog: Option<&str>,
) -> Result<PartialConfig> {
    let missing = known.missing();
    let mut messages = vec![
        Message {
            role: "system",
            content: SYSTEM_PROMPT.to_string(),
        },
        Message {
            role: "user",
            content: user_message(question, known, default_catalog, &missing),
        },
    ];
    let mut chat = Chat::new(ws, endpoint);
    let mut last_problems = String::new();
    for round in 0..2 {
        let answer = chat.ask(&messages).await?;
        match read_answer(&answer, &missing) {
            Ok(cfg) => return Ok(cfg),
            Err(problems) => {
                last_problems = problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                eprintln!(
                    "sdp-agent: model answer {} unusable: {last_problems}",
                    round + 1
                );
                messages.push(Message {
                    role: "assistant",
                    content: answer,
                });
                messages.push(Message {
                    role: "user",
                    content: format!(
                        "That answer cannot be used: {last_problems}. Reply again with only the \
corrected JSON object."
                    ),
                });
            }
        }
    }
    Err(Error::LlmUnusable(format!(
        "still invalid after one repair round: {last_problems}"
    )))
}

/// The config in the model's answer, or every problem with it.
pub fn read_answer(text: &str, required: &[String]) -> Result<PartialConfig, Vec<FieldError>> {
    let Some(doc) = extract_object(text) else {
        return Err(vec![FieldError::new(
            "$",
            "no JSON object found in the answer",
        )]);
    };
    let mut problems = Vec::new();
    let cfg = PartialConfig::read(&doc, &mut problems);
    // Values the payload already fixed are not the model's to get right.
    problems.retain(|p| {
        let root = p.path.split(['.', '[']).next().unwrap_or_default();
        root == "sources"
            || root == "$"
            || required
                .iter()
                .any(|k| k == root || (k == "pipelineName" && root == "pipeline_name"))
    });
    let still_missing = cfg.missing();
    for key in required {
        if still_missing.contains(key) && !doc.contains_key(key.as_str()) {
            problems.push(FieldError::new(key.as_str(), "required but not given"));
        }
    }
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(problems)
    }
}

/// The first JSON object in `text`: inside a Markdown fence if there is one, else the first
/// `{` from which a whole object parses (prose around it is ignored).
pub fn extract_object(text: &str) -> Option<Map<String, Value>> {
    fenced_blocks(text)
        .into_iter()
        .chain(std::iter::once(text))
        .find_map(first_object)
}

fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        // Skip the info string (`json`, `JSON`, …) up to the end of the line.
        let body_start = after.find('\n').map_or(after.len(), |i| i + 1);
        let body = &after[body_start..];
        match body.find("```") {
            Some(end) => {
                blocks.push(&body[..end]);
                rest = &body[end + 3..];
            }
            None => {
                blocks.push(body);
                break;
            }
        }
    }
    blocks
}

fn first_object(text: &str) -> Option<Map<String, Value>> {
    text.match_indices('{').find_map(|(i, _)| {
        let mut stream = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(Value::Object(m))) => Some(m),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_json_in_fences_and_prose() {
        let t = "Sure!\n```json\n{\"catalog\": \"main\"}\n```\nbye";
        assert_eq!(extract_object(t).unwrap()["catalog"], "main");
        let t = "Here you go: {\"schema\": \"s\"} — done";
        assert_eq!(extract_object(t).unwrap()["schema"], "s");
        assert!(extract_object("no json at all").is_none());
    }
}
