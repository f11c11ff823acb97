//! Fills missing pipeline config by asking the model: the prompt, reading JSON out of a
//! chatty answer, validating it with the payload's own rules, and one repair round.

use crate::config::PartialConfig;
use crate::databricks::Workspace;
use crate::databricks::serving::{self, Message};
use crate::error::{Error, FieldError, Result};
use serde_json::{Map, Value};

const SYSTEM_PROMPT: &str = "You are a senior Databricks data engineer who designs Spark \
Declarative Pipelines (SDP, formerly Delta Live Tables) on Unity Catalog.\n\
Answer with ONE JSON object and nothing else: no prose, no Markdown fences.\n\
Keys:\n\
- \"pipelineName\": short snake_case pipeline name.\n\
- \"catalog\": Unity Catalog catalog (letters, digits, underscores).\n\
- \"schema\": target schema (letters, digits, underscores).\n\
- \"root_path\": absolute workspace folder for the pipeline's code, e.g. /Workspace/Shared/<pipelineName>.\n\
- \"workspace_file_paths\": non-empty array of absolute workspace paths of the SQL or Python source files, under root_path.\n\
- \"sources\": object mapping each of those paths to the complete file text: SDP SQL (CREATE OR \
REFRESH STREAMING TABLE / MATERIALIZED VIEW ...) or Python (from pyspark import pipelines as dp). \
Bronze ingests or generates the raw data, silver cleans it.\n\
Values given as fixed must be used unchanged.";

/// Asks the model for the keys `known` lacks and returns them validated. The model gets one
/// chance to repair an unusable answer; after that the call fails.
pub async fn fill_missing(
    ws: &Workspace,
    endpoint: &str,
    question: &str,
    known: &PartialConfig,
) -> Result<PartialConfig> {
    let missing = known.missing();
    let mut messages = vec![
        Message {
            role: "system",
            content: SYSTEM_PROMPT.to_string(),
        },
        Message {
            role: "user",
            content: format!(
                "Request: {question}\n\nFixed values (use unchanged):\n{}\n\nProvide: {}, and sources for every file.",
                serde_json::to_string_pretty(&known.known_json()).unwrap_or_default(),
                missing.join(", ")
            ),
        },
    ];
    let mut last_problems = String::new();
    for round in 0..2 {
        let answer = serving::chat(ws, endpoint, &messages).await?;
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
