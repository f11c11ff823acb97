//! Property tests over the two parsers that read untrusted text: the payload and the model's
//! answer. `PROPTEST_CASES=N` scales a run (CI uses the default; a long local run is noted in
//! the README).

use crate::databricks::pipelines::name_filter;
use crate::error::Error;
use crate::model_fill::{extract_object, read_answer};
use crate::payload::{Payload, Side};
use crate::pipeline_config::KEYS;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "/Workspace/[a-z_/]{1,30}(\\.sql|\\.py)?".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Mostly real payload keys, sometimes anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "question", "runner_path", "claude_endpoint", "existing_cluster_id", "new_cluster",
            "task_overrides", "environments", "run_name", "idempotency_token", "catalog",
            "schema", "pipelineName", "pipeline_name", "root_path", "workspace_file_paths",
            "sources", "full_refresh", "wait", "wait_timeout_seconds", "timeout_seconds",
            "spark_version", "node_type_id", "num_workers", "autoscale",
        ]).prop_map(str::to_string),
        1 => ".{0,12}",
    ]
}

fn identifier() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,20}"
}

fn abs_path() -> impl Strategy<Value = String> {
    "/Workspace(/[A-Za-z0-9_-]{1,12}){1,4}"
}

/// A config a model could validly answer with.
fn valid_config() -> impl Strategy<Value = Value> {
    (
        "[a-z][a-z0-9_ '%-]{0,40}",
        identifier(),
        identifier(),
        abs_path(),
        prop::collection::btree_set(abs_path().prop_map(|p| format!("{p}.sql")), 1..4),
    )
        .prop_map(|(name, catalog, schema, root, files)| {
            json!({
                "pipelineName": name, "catalog": catalog, "schema": schema,
                "root_path": root, "workspace_file_paths": files.into_iter().collect::<Vec<_>>(),
            })
        })
}

fn every_problem_names_a_field(e: &Error) {
    match e {
        Error::InvalidPayload(fields) => {
            assert!(!fields.is_empty());
            for f in fields {
                assert!(!f.path.is_empty() && !f.message.is_empty(), "{f:?}");
            }
        }
        other => panic!("parsing can only fail as invalid-payload, got {other:?}"),
    }
}

proptest! {
    #[test]
    fn payload_text_never_panics(text in ".{0,200}") {
        for side in [Side::Predict, Side::Run] {
            if let Err(e) = Payload::parse(&text, side) {
                every_problem_names_a_field(&e);
            }
        }
    }

    #[test]
    fn payload_documents_are_accepted_or_refused_with_fields(doc in prop::collection::btree_map(key(), any_json(), 0..10)) {
        let text = Value::Object(doc.into_iter().collect::<Map<_, _>>()).to_string();
        for side in [Side::Predict, Side::Run] {
            match Payload::parse(&text, side) {
                Ok(p) => {
                    // Whatever was accepted is usable as is: forwarded unchanged.
                    prop_assert_eq!(Value::Object(p.doc.clone()).to_string(), text.clone());
                }
                Err(e) => every_problem_names_a_field(&e),
            }
        }
    }

    #[test]
    fn a_complete_valid_payload_is_read_back_exactly(cfg in valid_config(), cluster in "[0-9a-z-]{1,20}") {
        let mut doc = cfg.clone();
        doc["runner_path"] = json!("/Workspace/Shared/launcher.py");
        doc["existing_cluster_id"] = json!(cluster);
        let p = Payload::parse(&doc.to_string(), Side::Predict).expect("valid payload");
        let complete = p.config.complete().expect("complete config");
        prop_assert_eq!(complete.pipeline_name.as_str(), cfg["pipelineName"].as_str().unwrap());
        prop_assert_eq!(complete.catalog.as_str(), cfg["catalog"].as_str().unwrap());
        prop_assert_eq!(complete.workspace_file_paths.len(), cfg["workspace_file_paths"].as_array().unwrap().len());
    }

    #[test]
    fn model_answers_never_panic(text in ".{0,300}") {
        let required: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
        let _ = extract_object(&text);
        if let Err(problems) = read_answer(&text, &required) {
            prop_assert!(!problems.is_empty());
        }
    }

    #[test]
    fn a_valid_answer_is_found_in_any_wrapping(
        cfg in valid_config(),
        before in "[^{}`]{0,80}",
        after in "[^{}`]{0,80}",
        fence in prop::sample::select(vec!["", "```json\n", "```JSON\n", "```\n"]),
        pretty in any::<bool>(),
    ) {
        let body = if pretty { serde_json::to_string_pretty(&cfg).unwrap() } else { cfg.to_string() };
        let close = if fence.is_empty() { "" } else { "\n```" };
        let text = format!("{before}{fence}{body}{close}{after}");
        let required: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
        let got = read_answer(&text, &required).expect("valid answer");
        prop_assert_eq!(got.known_json(), cfg);
    }

    #[test]
    fn the_name_filter_matches_the_name_whatever_the_escape_rules(name in ".{1,40}") {
        let filter = name_filter(&name);
        let literal = filter.strip_prefix("name LIKE '").and_then(|f| f.strip_suffix('\'')).unwrap();
        // Quotes come doubled; once undone, the pattern lines up with the name character by
        // character, differing only where `_` stands for a backslash. With no backslash left
        // there is no escape to interpret, so the name matches whether `\` escapes or not.
        prop_assert!(!literal.replace("''", "").contains('\''));
        let unquoted = literal.replace("''", "'");
        prop_assert!(!unquoted.contains('\\'), "backslash left in {}", filter);
        prop_assert_eq!(unquoted.chars().count(), name.chars().count());
        for (p, n) in unquoted.chars().zip(name.chars()) {
            prop_assert!(p == n || (p == '_' && n == '\\'), "{} vs {}", p, n);
        }
    }
}
