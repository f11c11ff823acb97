//! A verdict as Databricks pipeline events: `flow_definition` for each flow of the graph,
//! WARN events for what the engine only reports, ERROR events (`error.exceptions[]` with the
//! engine's exception class, the message starting with the error class) for each problem, and
//! `flow_progress` with the row counts of a run. Like a workspace's, no event names the source
//! file a problem is in (`PipelineEvent`, `Origin` and `ErrorDetail` of databricks-sdk's
//! `service/pipelines.py` have no field for it): a client finds the file from the dataset
//! (`origin.dataset_name`) or from the code the message quotes. The caller stamps `id`, `sequence`, `timestamp` and `origin`'s pipeline
//! and update.

use serde_json::{Value, json};

use super::{Problem, Verdict};

/// Fully qualified dataset name as the workspace reports it.
pub fn qualified(catalog: &str, schema: &str, name: &str) -> String {
    match name.matches('.').count() {
        0 => format!("{catalog}.{schema}.{name}"),
        // `schema.table` is in the pipeline's catalog.
        1 => format!("{catalog}.{name}"),
        _ => name.to_string(),
    }
}

/// The `error` object of an event reporting `problem`.
pub fn error_of(problem: &Problem, fatal: bool) -> Value {
    json!({
        "fatal": fatal,
        "exceptions": [{"class_name": problem.exception, "message": problem.message}],
    })
}

/// Events for a finished update, oldest first; each without id/sequence/timestamp, and with
/// `origin` holding only flow and dataset names.
pub fn for_verdict(verdict: &Verdict, catalog: &str, schema: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let failed_flows: Vec<&str> = verdict
        .problems
        .iter()
        .filter_map(|p| p.flow.as_deref())
        .collect();
    for flow in &verdict.graph.flows {
        if failed_flows.contains(&flow.name.as_str()) {
            continue;
        }
        let output = qualified(catalog, schema, &flow.output);
        let inputs: Vec<Value> = flow
            .inputs
            .iter()
            .map(|i| json!({"name": qualified(catalog, schema, i)}))
            .collect();
        let flow_type = if flow.streaming { "APPEND" } else { "COMPLETE" };
        events.push(json!({
            "origin": {"flow_name": qualified(catalog, schema, &flow.name), "dataset_name": output},
            "message": format!("Flow '{output}' is defined as {flow_type}."),
            "level": "INFO",
            "event_type": "flow_definition",
            "details": {"flow_definition": {
                "output_dataset": output,
                "input_datasets": inputs,
                "flow_type": flow_type,
            }},
        }));
    }
    for warning in &verdict.warnings {
        events.push(json!({
            "origin": {},
            "message": warning,
            "level": "WARN",
            "event_type": "planning_information",
        }));
    }
    for problem in &verdict.problems {
        let mut event = match &problem.flow {
            Some(flow) => {
                let name = qualified(catalog, schema, flow);
                json!({
                    "origin": {"flow_name": name, "dataset_name": name},
                    "message": format!("Failed to resolve flow: '{name}'."),
                    "event_type": "flow_progress",
                    "details": {"flow_progress": {"status": "FAILED"}},
                })
            }
            None => json!({
                "origin": {},
                "message": "Failed to analyze the pipeline.",
                "event_type": "operation_progress",
            }),
        };
        event["level"] = json!("ERROR");
        event["error"] = error_of(problem, false);
        events.push(event);
    }
    for (table, rows) in &verdict.tables {
        let name = qualified(catalog, schema, table);
        let mut progress = json!({"status": "COMPLETED", "metrics": {"num_output_rows": rows}});
        if let Some(quality) = verdict.quality.get(table) {
            // As the Databricks event log carries it: `data_quality.dropped_records` and one
            // entry per expectation with its passed and failed records.
            let expectations: Vec<Value> = quality
                .expectations
                .iter()
                .map(|e| {
                    json!({"name": e.name, "dataset": name,
                           "passed_records": e.passed, "failed_records": e.failed})
                })
                .collect();
            progress["data_quality"] =
                json!({"dropped_records": quality.dropped, "expectations": expectations});
        }
        events.push(json!({
            "origin": {"flow_name": name, "dataset_name": name},
            "message": format!("Flow '{name}' has COMPLETED."),
            "level": "INFO",
            "event_type": "flow_progress",
            "details": {"flow_progress": progress},
        }));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::super::{Flow, Graph, Problem};
    use super::*;

    #[test]
    fn problems_and_flows_become_databricks_events() {
        let verdict = Verdict {
            problems: vec![
                Problem::new("TABLE_OR_VIEW_NOT_FOUND", "gone", "x.AnalysisException")
                    .in_flow("silver")
                    .in_file("/Workspace/s.sql"),
            ],
            graph: Graph {
                datasets: vec![],
                flows: vec![
                    Flow {
                        name: "bronze".into(),
                        output: "bronze".into(),
                        inputs: vec![],
                        streaming: false,
                        streamed: vec![],
                    },
                    Flow {
                        name: "silver".into(),
                        output: "silver".into(),
                        inputs: vec!["bronze".into()],
                        streaming: true,
                        streamed: vec!["bronze".into()],
                    },
                ],
            },
            ..Verdict::default()
        };
        let events = for_verdict(&verdict, "main", "demo");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["event_type"], "flow_definition");
        assert_eq!(events[0]["origin"]["dataset_name"], "main.demo.bronze");
        let error = &events[1];
        assert_eq!(error["level"], "ERROR");
        assert_eq!(error["origin"]["flow_name"], "main.demo.silver");
        assert_eq!(
            error["error"]["exceptions"][0]["message"],
            "[TABLE_OR_VIEW_NOT_FOUND] gone"
        );
        assert_eq!(
            error["error"]["exceptions"][0]["class_name"],
            "x.AnalysisException"
        );
        assert_eq!(
            error["message"], "Failed to resolve flow: 'main.demo.silver'.",
            "a real event names no source file (databricks-sdk's PipelineEvent has no field for it)"
        );
    }
}
