//! The deterministic "model" behind the offline demo: turns the agent's question into a
//! pipeline plan (names, paths and real SDP SQL). It reads the agent's prompt as a model would:
//! the first fenced JSON object holds the values it must keep, a second one the workspace's
//! defaults (the catalog to use when none is fixed).
//!
//! Told to be flawed (`EmulatorConfig::demo_flaw`: a wrong table, column or streaming read,
//! see `repair.rs`), its first answer has that mistake; a later turn of the same conversation
//! (it already holds an assistant answer: a repair request) gets its last answer's files
//! fixed where the errors the request carries point.

mod repair;
mod sql;
mod topics;

pub use repair::DemoFlaw;
use repair::{fix, spoil};

use serde_json::{Map, Value, json};

use sql::{Ingest, source_for};
use topics::{EVENTS, LAYERS, TOPICS, Topic};

/// The demo model's whole answer: one sentence, then the plan as a fenced JSON block. `flaw`
/// spoils the first answer of a conversation (see the module docs).
pub fn plan(body: &Map<String, Value>, flaw: DemoFlaw) -> String {
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
    let ingest = Ingest::from_question(&question);
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
        .map(|(i, path)| {
            (
                path.clone(),
                json!(source_for(topic, ingest.as_ref(), path, i, paths.len())),
            )
        })
        .collect();
    let flawed = spoil(&mut sources, topic, flaw);

    let mut plan = json!({
        "pipelineName": name,
        "catalog": catalog,
        "schema": schema,
        "root_path": root,
        "workspace_file_paths": paths,
        "sources": sources,
    });
    let t = topic.name;
    let prose = if repair {
        // The files of its last answer, fixed where the errors of the request point.
        if let Some(previous) = last_answer(body) {
            plan = previous;
        }
        let errors = last_user_text(body);
        let fixes = match plan.get_mut("sources").and_then(Value::as_object_mut) {
            Some(sources) => fix(sources, &errors),
            None => Vec::new(),
        };
        if fixes.is_empty() {
            "I found nothing in these errors that I can fix: here are the files as they were."
                .to_string()
        } else {
            format!("Here are the corrected files: {}.", fixes.join("; "))
        }
    } else {
        let bronze = if flaw == DemoFlaw::Table && flawed {
            format!("{t}_bronze")
        } else {
            format!("bronze_{t}")
        };
        let what = match &ingest {
            Some(i) => format!("ingests the {} files of {}", i.format, i.path),
            None => format!("generates synthetic {t} data"),
        };
        format!(
            "Here is a Spark Declarative Pipeline that {what} into {bronze} and cleans it into silver_{t}."
        )
    };
    let pretty = serde_json::to_string_pretty(&plan).unwrap_or_default();
    format!("{prose}\n\n```json\n{pretty}\n```\n")
}

/// The plan of the last assistant answer (its first fenced JSON object with sources).
fn last_answer(body: &Map<String, Value>) -> Option<Value> {
    let answer = messages(body).filter(|m| m["role"] == "assistant").last()?;
    let text = text_of(&answer["content"]);
    fenced_objects(&text)
        .into_iter()
        .find(|o| o.get("sources").is_some_and(Value::is_object))
        .map(Value::Object)
}

/// Text of the last user message: a repair request carries the errors.
fn last_user_text(body: &Map<String, Value>) -> String {
    messages(body)
        .filter(|m| m["role"] == "user")
        .last()
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default()
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
    text_of(&first["content"])
}

/// A message's text: string content, or the text blocks of a block list.
fn text_of(content: &Value) -> String {
    match content {
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
        let answer = plan(body.as_object().unwrap(), DemoFlaw::None);
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

    /// The first answer with `flaw`, then the answer to a repair request carrying `error`.
    fn flawed_then_repaired(flaw: DemoFlaw, error: &str) -> (Value, Value, Value) {
        let question = json!({"role": "user", "content": "clickstream bronze and silver"});
        let first =
            json!({"messages": [{"role": "system", "content": "You plan pipelines."}, question]});
        let answer = plan(first.as_object().unwrap(), flaw);
        let repair = json!({"messages": [
            {"role": "system", "content": "You plan pipelines."},
            question,
            {"role": "assistant", "content": answer},
            {"role": "user", "content": format!("The pipeline failed validation. Errors:\n- {error}\nReturn the corrected files.")},
        ]});
        let fixed = plan_of(&plan(repair.as_object().unwrap(), flaw));
        let clean = plan_of(&plan(first.as_object().unwrap(), DemoFlaw::None));
        (plan_of(&answer), fixed, clean)
    }

    #[test]
    fn each_flaw_then_the_fix_the_errors_point_to() {
        let (flawed, fixed, clean) = flawed_then_repaired(
            DemoFlaw::Table,
            "silver_clickstream: [TABLE_OR_VIEW_NOT_FOUND] The table or view `clickstream_bronze` cannot be found.",
        );
        let silver = flawed["workspace_file_paths"][1].as_str().unwrap();
        assert!(
            flawed["sources"][silver]
                .as_str()
                .unwrap()
                .contains("FROM clickstream_bronze")
        );
        assert_eq!(fixed, clean, "the fix is the unflawed plan");

        // An error that names nothing it can fix leaves the files as they were.
        let (flawed, fixed, _) = flawed_then_repaired(DemoFlaw::Table, "[INTERNAL_ERROR] boom");
        assert_eq!(fixed, flawed);

        let (flawed, fixed, clean) = flawed_then_repaired(
            DemoFlaw::Column,
            "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter with name `event_i` \
             cannot be resolved. Did you mean one of the following? [`bronze_clickstream`.`event_id`, `bronze_clickstream`.`event_ts`].",
        );
        assert!(
            flawed["sources"][silver]
                .as_str()
                .unwrap()
                .contains("AS SELECT\n  event_i,")
        );
        assert_eq!(fixed, clean);

        let (flawed, fixed, clean) = flawed_then_repaired(
            DemoFlaw::Streaming,
            "[INVALID_FLOW_QUERY_TYPE.BATCH_RELATION_FOR_STREAMING_TABLE] Flow `spark_catalog`.`clickstream_demo`.`bronze_clickstream` returns an invalid relation type.",
        );
        let bronze = flawed["workspace_file_paths"][0].as_str().unwrap();
        assert!(
            flawed["sources"][bronze]
                .as_str()
                .unwrap()
                .contains("STREAMING TABLE bronze_clickstream")
        );
        assert_eq!(fixed, clean);
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
    fn a_volume_path_in_the_question_is_ingested_with_read_files() {
        let plan =
            ask("Ingest the JSON order files in /Volumes/main/raw/orders/ into bronze and silver.");
        let paths = plan["workspace_file_paths"].as_array().unwrap();
        let bronze = plan["sources"][paths[0].as_str().unwrap()]
            .as_str()
            .unwrap();
        assert!(
            bronze.contains("CREATE OR REFRESH STREAMING TABLE bronze_orders")
                && bronze.contains(
                    "FROM STREAM read_files('/Volumes/main/raw/orders/', format => 'json')"
                ),
            "{bronze}"
        );
        let plan = ask("load the csv customers at `/Volumes/main/raw/customers` please");
        let paths = plan["workspace_file_paths"].as_array().unwrap();
        let bronze = plan["sources"][paths[0].as_str().unwrap()]
            .as_str()
            .unwrap();
        assert!(
            bronze.contains(
                "read_files('/Volumes/main/raw/customers', format => 'csv', header => true)"
            ),
            "{bronze}"
        );
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
