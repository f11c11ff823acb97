//! What one pipeline update reported in the event log: its errors (ERROR events,
//! `error.exceptions[].message`), the dataset graph (`flow_definition` events) and its INFO
//! events for the data checks (`flow_progress`). Events are
//! read by level, paged, and kept when their `origin.update_id` is that update.

use super::client::{WorkspaceClient, query};
use super::pipelines::next_page;
use crate::error::UpdateError;
use serde_json::Value;

/// Pages read at most, newest first (an update's events are among the newest).
const PAGES: usize = 5;
const PAGE_SIZE: &str = "100";
/// A message longer than this is cut (exception messages can carry whole plans).
const MESSAGE_CHARS: usize = 500;

/// The update's events of `level`, oldest first; as many as `PAGES` pages hold. A page that
/// cannot be read ends the reading: this is an explanation, never a reason to fail.
async fn of_update(ws: &WorkspaceClient, id: &str, update_id: &str, level: &str) -> Vec<Value> {
    let filter = format!("level='{level}'");
    let mut kept = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..PAGES {
        // A page token may be sent with nothing but max_results.
        let pairs: Vec<(&str, &str)> = match &token {
            Some(t) => vec![("page_token", t.as_str()), ("max_results", PAGE_SIZE)],
            None => vec![("filter", filter.as_str()), ("max_results", PAGE_SIZE)],
        };
        let path = format!("/api/2.0/pipelines/{id}/events?{}", query(&pairs));
        let Ok(page) = ws.get(&path).await else {
            break;
        };
        let events = page.get("events").and_then(Value::as_array);
        kept.extend(
            events
                .into_iter()
                .flatten()
                .filter(|e| {
                    e.pointer("/origin/update_id").and_then(Value::as_str) == Some(update_id)
                })
                .cloned(),
        );
        token = next_page(&page);
        if token.is_none() {
            break;
        }
    }
    kept.reverse();
    kept
}

/// Which file an error is in, from its dataset and its whole message (before it is cut).
pub type Locate<'a> = &'a dyn Fn(Option<&str>, &str) -> Option<String>;

/// Why `update_id` failed, each error once, oldest first: the `error.exceptions[].message` of
/// its ERROR events, each with the dataset the event is about and its file: the one of `files`
/// it names, else what `locate` finds; when no event carries an exception, the events' own
/// messages. Empty when none can be read.
pub async fn errors(
    ws: &WorkspaceClient,
    id: &str,
    update_id: &str,
    files: &[String],
    locate: Locate<'_>,
) -> Vec<UpdateError> {
    read_errors(&of_update(ws, id, update_id, "ERROR").await, files, locate)
}

/// The messages of `errors`, for a note on a failed update.
pub async fn failure_reasons(ws: &WorkspaceClient, id: &str, update_id: &str) -> Vec<String> {
    errors(ws, id, update_id, &[], &|_, _| None)
        .await
        .into_iter()
        .map(|e| e.message)
        .collect()
}

fn read_errors(events: &[Value], files: &[String], locate: Locate<'_>) -> Vec<UpdateError> {
    let mut exceptions = Vec::new();
    let mut headlines = Vec::new();
    for event in events {
        let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
        let headline = text("/message").unwrap_or_default();
        let dataset = text("/origin/dataset_name")
            .or_else(|| text("/origin/flow_name"))
            .map(str::to_string);
        let error = |message: &str| UpdateError {
            dataset: dataset.clone(),
            // Events name files only in words; a path of the pipeline's own is unambiguous.
            file: files
                .iter()
                .find(|f| headline.contains(f.as_str()) || message.contains(f.as_str()))
                .cloned()
                .or_else(|| locate(dataset.as_deref(), message)),
            message: message.trim().chars().take(MESSAGE_CHARS).collect(),
        };
        let messages = event.pointer("/error/exceptions").and_then(Value::as_array);
        for m in messages.into_iter().flatten() {
            if let Some(m) = m.get("message").and_then(Value::as_str) {
                exceptions.push(error(m));
            }
        }
        headlines.push(error(headline));
    }
    let chosen = if exceptions.is_empty() {
        headlines
    } else {
        exceptions
    };
    let mut out: Vec<UpdateError> = Vec::new();
    for e in chosen {
        if !e.message.is_empty() && !out.iter().any(|o| o.message == e.message) {
            out.push(e);
        }
    }
    out
}

/// A dataset of the pipeline and the datasets its flows read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub name: String,
    pub inputs: Vec<String>,
}

/// The datasets `update_id` defined (its `flow_definition` events), each after the datasets
/// of the pipeline it reads. Empty when the update reported none (yet).
pub async fn datasets(ws: &WorkspaceClient, id: &str, update_id: &str) -> Vec<Dataset> {
    graph(&info(ws, id, update_id).await)
}

/// The update's INFO events, oldest first: its `flow_definition`s (the graph) and its
/// `flow_progress` (rows and data quality, read by the data checks).
pub async fn info(ws: &WorkspaceClient, id: &str, update_id: &str) -> Vec<Value> {
    of_update(ws, id, update_id, "INFO").await
}

/// The dataset graph of `events` (see [`datasets`]).
pub fn graph(events: &[Value]) -> Vec<Dataset> {
    let mut defined: Vec<Dataset> = Vec::new();
    let definitions = events
        .iter()
        .filter(|e| e.get("event_type").and_then(Value::as_str) == Some("flow_definition"))
        .filter_map(|e| e.pointer("/details/flow_definition"));
    for definition in definitions {
        let Some(output) = definition.get("output_dataset").and_then(Value::as_str) else {
            continue;
        };
        let inputs = definition.get("input_datasets").and_then(Value::as_array);
        let inputs = inputs.into_iter().flatten().filter_map(|i| {
            // `{"name": ...}` objects, or plain names.
            i.get("name").and_then(Value::as_str).or_else(|| i.as_str())
        });
        // Several flows may write one dataset (append flows): one entry, every input.
        let index = match defined.iter().position(|d| d.name == output) {
            Some(i) => i,
            None => {
                defined.push(Dataset {
                    name: output.to_string(),
                    inputs: Vec::new(),
                });
                defined.len() - 1
            }
        };
        for input in inputs {
            if !defined[index].inputs.iter().any(|i| i == input) {
                defined[index].inputs.push(input.to_string());
            }
        }
    }
    upstream_first(defined)
}

/// Orders datasets so each comes after the pipeline's datasets it reads, otherwise keeping
/// their order; a cycle (which validation rejects) keeps its members' order.
fn upstream_first(mut rest: Vec<Dataset>) -> Vec<Dataset> {
    let mut ordered: Vec<Dataset> = Vec::with_capacity(rest.len());
    while !rest.is_empty() {
        let ready = rest
            .iter()
            .position(|d| {
                d.inputs
                    .iter()
                    .all(|i| i == &d.name || !rest.iter().any(|r| &r.name == i))
            })
            .unwrap_or(0);
        ordered.push(rest.remove(ready));
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition(output: &str, inputs: &[&str]) -> Value {
        let inputs: Vec<Value> = inputs.iter().map(|i| json!({ "name": i })).collect();
        json!({"event_type": "flow_definition", "level": "INFO",
               "details": {"flow_definition": {"output_dataset": output, "input_datasets": inputs}}})
    }

    #[test]
    fn the_graph_lists_each_dataset_after_what_feeds_it() {
        let events = [
            definition("m.s.silver", &["m.s.bronze"]),
            json!({"event_type": "flow_progress", "level": "INFO"}),
            definition("m.s.bronze", &["m.s.synthetic"]),
            definition("m.s.synthetic", &[]),
            definition("m.s.silver", &["m.s.bronze", "m.s.extra"]),
        ];
        assert_eq!(
            graph(&events),
            vec![
                Dataset {
                    name: "m.s.synthetic".into(),
                    inputs: vec![]
                },
                Dataset {
                    name: "m.s.bronze".into(),
                    inputs: vec!["m.s.synthetic".into()]
                },
                Dataset {
                    name: "m.s.silver".into(),
                    inputs: vec!["m.s.bronze".into(), "m.s.extra".into()]
                },
            ]
        );
    }

    #[test]
    fn errors_carry_their_dataset_and_the_file_the_event_names() {
        let file = "/Workspace/p/silver.sql".to_string();
        let events = [
            json!({"level": "ERROR", "message": format!("Failed to resolve flow: 'm.s.silver' (defined in {file})."),
                   "origin": {"dataset_name": "m.s.silver"},
                   "error": {"exceptions": [{"message": "[TABLE_OR_VIEW_NOT_FOUND] `bronze`"}]}}),
            json!({"level": "ERROR", "message": "Update 1 is FAILED.", "origin": {}}),
        ];
        // A file the event names wins over what the locator finds.
        let elsewhere = |_: Option<&str>, _: &str| Some("/kept.sql".to_string());
        let errors = read_errors(&events, std::slice::from_ref(&file), &elsewhere);
        assert_eq!(
            errors,
            vec![UpdateError {
                dataset: Some("m.s.silver".into()),
                file: Some(file),
                message: "[TABLE_OR_VIEW_NOT_FOUND] `bronze`".into(),
            }]
        );
        // Without exceptions, the headlines are all there is.
        let errors = read_errors(&events[1..], &[], &elsewhere);
        assert_eq!(errors[0].message, "Update 1 is FAILED.");
        assert_eq!(errors[0].file.as_deref(), Some("/kept.sql"));
        // The locator reads the whole message: the code a parse error quotes may come after
        // the cut.
        let long = format!(
            "[PARSE_SYNTAX_ERROR] x\n\n== SQL ==\n{}SELEC * FROM silver;\n^^^\n",
            "-- a comment line\n".repeat(60)
        );
        let events = [json!({"level": "ERROR", "message": "m", "origin": {},
                             "error": {"exceptions": [{"message": long}]}})];
        let at_the_end = |_: Option<&str>, m: &str| {
            m.contains("SELEC * FROM silver;")
                .then(|| "/p/gold.sql".to_string())
        };
        let errors = read_errors(&events, &[], &at_the_end);
        assert_eq!(errors[0].file.as_deref(), Some("/p/gold.sql"));
        assert!(!errors[0].message.contains("SELEC * FROM silver;"));
    }
}
