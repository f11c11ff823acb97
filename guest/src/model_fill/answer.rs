//! Reading the model's answer: the first JSON object in chatty text, validated with the
//! payload's own rules.

use crate::error::FieldError;
use crate::pipeline_config::PartialConfig;
use serde_json::{Map, Value};

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
