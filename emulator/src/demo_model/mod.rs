//! The deterministic "model" behind the offline demo: turns the agent's question into a
//! pipeline plan (names, paths and real SDP SQL). It reads the agent's prompt as a model would:
//! the first fenced JSON object holds the values it must keep, a second one the workspace's
//! defaults (the catalog to use when none is fixed).
//!
//! Told to be flawed (`EmulatorConfig::demo_flaw`), its first answer reads a table under a
//! wrong name, the mistake a validation update reports as `TABLE_OR_VIEW_NOT_FOUND`; any
//! later turn of the same conversation (it already holds an assistant answer: a repair
//! request) gets the corrected plan.

mod sql;
mod topics;

use serde_json::{Map, Value, json};

use sql::source_for;
use topics::{EVENTS, LAYERS, TOPICS, Topic};

/// The demo model's whole answer: one sentence, then the plan as a fenced JSON block. `flaw`
/// spoils the first answer of a conversation (see the module docs).
pub fn plan(body: &Map<String, Value>, flaw: bool) -> String {
    let repair = has_answered(body);
    // A follow-up turn is about the original request: the first user message holds it.
    let question = first_user_text(body);
    let mut blocks = fenced_objects(&question).into_iter();
    let known = blocks.next().unwrap_or_default();
    let defaults = blocks.next().unwrap_or_default();
    let prose = format!(
        "{question} {}",
        known.get("question").and_then(Value::as_str).unwrap_or("")
    )
    .to_lowercase();
    let words: Vec<&str> = prose
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let topic = detect_topic(&words);
    let known_str = |key: &str| {
        known
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };

    let mentioned: Vec<&str> = LAYERS
        .iter()
        .copied()
        .filter(|l| words.contains(l))
        .collect();
    let suffix = if mentioned.is_empty() {
        "demo".to_string()
    } else {
        mentioned.join("_")
    };
    let name = known_str("pipelineName")
        .or_else(|| known_str("pipeline_name"))
        .unwrap_or_else(|| format!("sdp_{}_{suffix}", topic.name));
    let catalog = known_str("catalog")
        .or_else(|| {
            let default = defaults.get("catalog").and_then(Value::as_str)?;
            Some(default.trim().to_string()).filter(|c| !c.is_empty())
        })
        .unwrap_or_else(|| "main".to_string());
    let schema = known_str("schema").unwrap_or_else(|| format!("{}_demo", topic.name));
    let root = known_str("root_path")
        .map(|r| r.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("/Workspace/Shared/sdp-agent/{name}"));
    let paths: Vec<String> = match known.get("workspace_file_paths").and_then(Value::as_array) {
        Some(given) if !given.is_empty() => given
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        // Bronze and silver always; gold only when asked for.
        _ => LAYERS
            .iter()
            .filter(|l| **l != "gold" || mentioned.contains(l))
            .map(|layer| format!("{root}/transformations/{layer}_{}.sql", topic.name))
            .collect(),
    };
    let mut sources: Map<String, Value> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| (path.clone(), json!(source_for(topic, path, i, paths.len()))))
        .collect();
    let flawed = flaw && !repair && spoil(&mut sources, topic);

    let plan = json!({
        "pipelineName": name,
        "catalog": catalog,
        "schema": schema,
        "root_path": root,
        "workspace_file_paths": paths,
        "sources": sources,
    });
    let pretty = serde_json::to_string_pretty(&plan).unwrap_or_default();
    let t = topic.name;
    let prose = if repair {
        format!(
            "Here are the corrected files: silver_{t} reads bronze_{t}, the table the pipeline defines."
        )
    } else if flawed {
        format!(
            "Here is a Spark Declarative Pipeline that generates synthetic {t} data into {t}_bronze and cleans it into silver_{t}."
        )
    } else {
        format!(
            "Here is a Spark Declarative Pipeline that generates synthetic {t} data into bronze_{t} and cleans it into silver_{t}."
        )
    };
    format!("{prose}\n\n```json\n{pretty}\n```\n")
}

/// The demo's deliberate mistake: the first source that reads the bronze table names it
/// `<topic>_bronze`, which nothing defines. False when no source reads it.
fn spoil(sources: &mut Map<String, Value>, topic: &Topic) -> bool {
    let right = format!("FROM bronze_{}", topic.name);
    let wrong = format!("FROM {}_bronze", topic.name);
    let Some(text) = sources
        .values_mut()
        .find(|t| t.as_str().is_some_and(|t| t.contains(&right)))
    else {
        return false;
    };
    *text = json!(text.as_str().unwrap_or_default().replace(&right, &wrong));
    true
}

fn messages(body: &Map<String, Value>) -> impl Iterator<Item = &Value> {
    body.get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Whether the conversation already holds an answer: this turn follows up on it.
fn has_answered(body: &Map<String, Value>) -> bool {
    messages(body).any(|m| m["role"] == "assistant")
}

/// Text of the first user message (string content, or the text blocks of a block list).
fn first_user_text(body: &Map<String, Value>) -> String {
    let Some(first) = messages(body).find(|m| m["role"] == "user") else {
        return String::new();
    };
    match &first["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The fenced JSON objects in the question, in order (```json {...} ``` or ``` {...} ```).
fn fenced_objects(question: &str) -> Vec<Map<String, Value>> {
    question
        .split("```")
        .skip(1)
        .step_by(2)
        .filter_map(|block| {
            let block = block.strip_prefix("json").unwrap_or(block);
            serde_json::from_str::<Map<String, Value>>(block.trim()).ok()
        })
        .collect()
}

/// The topic whose keyword appears first in the question; `events` when none does.
fn detect_topic(words: &[&str]) -> &'static Topic {
    words
        .iter()
        .find_map(|w| TOPICS.iter().find(|t| t.keywords.contains(w)))
        .unwrap_or(&EVENTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(question: &str) -> Value {
        let body = json!({"messages": [
            {"role": "system", "content": "You plan pipelines."},
            {"role": "user", "content": question},
        ]});
        let answer = plan(body.as_object().unwrap(), false);
        let (prose, rest) = answer.split_once("```json\n").expect("fenced block");
        assert!(prose.trim().ends_with('.'), "{prose}");
        let json = rest.split_once("\n```").unwrap().0;
        serde_json::from_str(json).unwrap()
    }

    /// The plan in an answer.
    fn plan_of(answer: &str) -> Value {
        let json = answer.split_once("```json\n").unwrap().1;
        serde_json::from_str(json.split_once("\n```").unwrap().0).unwrap()
    }

    #[test]
    fn a_flawed_first_answer_then_the_fix_when_asked_again() {
        let question = "clickstream bronze and silver";
        let first = json!({"messages": [
            {"role": "system", "content": "You plan pipelines."},
            {"role": "user", "content": question},
        ]});
        let flawed = plan_of(&plan(first.as_object().unwrap(), true));
        let silver = flawed["workspace_file_paths"][1].as_str().unwrap();
        let text = flawed["sources"][silver].as_str().unwrap();
        assert!(text.contains("FROM clickstream_bronze"), "{text}");
        let bronze = flawed["workspace_file_paths"][0].as_str().unwrap();
        assert!(
            flawed["sources"][bronze]
                .as_str()
                .unwrap()
                .contains("MATERIALIZED VIEW bronze_clickstream")
        );

        let repair = json!({"messages": [
            {"role": "system", "content": "You plan pipelines."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": "(the flawed plan)"},
            {"role": "user", "content": "Validation failed: [TABLE_OR_VIEW_NOT_FOUND] … Return the corrected files."},
        ]});
        let fixed = plan_of(&plan(repair.as_object().unwrap(), true));
        let text = fixed["sources"][silver].as_str().unwrap();
        assert!(text.contains("FROM bronze_clickstream"), "{text}");
        assert_eq!(fixed["pipelineName"], flawed["pipelineName"], "same plan");
        assert_eq!(
            fixed,
            plan_of(&plan(first.as_object().unwrap(), false)),
            "the fix is the unflawed plan"
        );
    }

    #[test]
    fn clickstream_bronze_silver() {
        let plan =
            ask("Generate synthetic clickstream and build an SDP pipeline to bronze/silver.");
        assert_eq!(plan["pipelineName"], "sdp_clickstream_bronze_silver");
        assert_eq!(plan["catalog"], "main");
        assert_eq!(plan["schema"], "clickstream_demo");
        let root = "/Workspace/Shared/sdp-agent/sdp_clickstream_bronze_silver";
        assert_eq!(plan["root_path"], root);
        let bronze = format!("{root}/transformations/bronze_clickstream.sql");
        let silver = format!("{root}/transformations/silver_clickstream.sql");
        assert_eq!(plan["workspace_file_paths"], json!([bronze, silver]));
        let bronze_sql = plan["sources"][&bronze].as_str().unwrap();
        assert!(bronze_sql.contains("CREATE OR REFRESH MATERIALIZED VIEW bronze_clickstream"));
        for col in [
            "event_id",
            "user_id",
            "session_id",
            "page",
            "event_type",
            "event_ts",
            "FROM range(",
        ] {
            assert!(bronze_sql.contains(col), "{col}");
        }
        let silver_sql = plan["sources"][&silver].as_str().unwrap();
        assert!(silver_sql.contains("FROM bronze_clickstream"));
        assert!(silver_sql.contains("IS NOT NULL"));
    }

    #[test]
    fn gold_only_when_asked() {
        let plan = ask("IoT sensors to bronze, silver and gold");
        let paths = plan["workspace_file_paths"].as_array().unwrap();
        assert_eq!(paths.len(), 3);
        let gold = paths[2].as_str().unwrap();
        assert!(gold.ends_with("/gold_iot.sql"));
        assert!(
            plan["sources"][gold]
                .as_str()
                .unwrap()
                .contains("FROM silver_iot")
        );
    }

    #[test]
    fn topics_and_default() {
        assert_eq!(ask("IoT sensor readings please")["schema"], "iot_demo");
        assert_eq!(
            ask("orders into bronze")["pipelineName"],
            "sdp_orders_bronze"
        );
        assert_eq!(ask("payments pipeline")["schema"], "transactions_demo");
        assert_eq!(ask("server logs")["schema"], "logs_demo");
        assert_eq!(
            ask("something else entirely")["pipelineName"],
            "sdp_events_demo"
        );
    }

    #[test]
    fn known_values_win() {
        let plan = ask(
            "Create clickstream bronze & silver.\n\n```json\n{\"catalog\": \"dev\", \"schema\": \"demo\", \
             \"pipelineName\": \"sdp_clickstream_demo\", \"root_path\": \"/Workspace/Repos/r/\", \
             \"workspace_file_paths\": [\"/Workspace/Repos/r/pipelines/bronze.sql\"]}\n```",
        );
        assert_eq!(plan["catalog"], "dev");
        assert_eq!(plan["schema"], "demo");
        assert_eq!(plan["pipelineName"], "sdp_clickstream_demo");
        assert_eq!(plan["root_path"], "/Workspace/Repos/r");
        let only = "/Workspace/Repos/r/pipelines/bronze.sql";
        assert_eq!(plan["workspace_file_paths"], json!([only]));
        assert!(
            plan["sources"][only]
                .as_str()
                .unwrap()
                .contains("bronze_clickstream")
        );
    }

    #[test]
    fn the_workspace_default_catalog_unless_one_is_fixed() {
        let defaults = "```json\n{\"catalog\": \"workspace\"}\n```";
        let plan = ask(&format!("```json\n{{}}\n```\n{defaults}\nclickstream"));
        assert_eq!(plan["catalog"], "workspace");
        let plan = ask(&format!(
            "```json\n{{\"catalog\": \"dev\"}}\n```\n{defaults}\nclickstream"
        ));
        assert_eq!(plan["catalog"], "dev");
    }

    #[test]
    fn single_unnamed_file_holds_both_layers_and_is_deterministic() {
        let q = "orders\n```json\n{\"workspace_file_paths\": [\"/x/pipeline.sql\"]}\n```";
        let plan = ask(q);
        let sql = plan["sources"]["/x/pipeline.sql"].as_str().unwrap();
        assert!(sql.contains("bronze_orders") && sql.contains("silver_orders"));
        assert_eq!(ask(q), plan);
    }
}
