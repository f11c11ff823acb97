use super::*;
use serde_json::{Value, json};

fn parsed(f: &Failure) -> Value {
    let line = f.to_json();
    assert!(!line.contains('\n'));
    serde_json::from_str(&line).unwrap()
}

#[test]
fn invalid_payload_lists_every_field() {
    let f = Failure::InvalidPayload(vec![
        FieldProblem {
            path: "runner_path".into(),
            message: "required".into(),
        },
        FieldProblem {
            path: "new_cluster.num_workers".into(),
            message: "must be >= 0".into(),
        },
    ]);
    assert_eq!(
        parsed(&f),
        json!({"error": {
            "kind": "invalid_payload",
            "message": "invalid payload: runner_path: required; new_cluster.num_workers: must be >= 0",
            "fields": [
                {"path": "runner_path", "message": "required"},
                {"path": "new_cluster.num_workers", "message": "must be >= 0"}
            ]
        }})
    );
    // Kind comes first for humans reading the line.
    assert!(
        f.to_json()
            .starts_with(r#"{"error":{"kind":"invalid_payload","message":"#)
    );
}

#[test]
fn missing_config_and_upstream_details() {
    let f = Failure::MissingConfig(vec!["catalog".into(), "schema".into()]);
    assert_eq!(
        parsed(&f),
        json!({"error": {"kind": "missing_config", "message": "missing config: catalog, schema",
                          "missing": ["catalog", "schema"]}})
    );
    let f = Failure::Upstream {
        status: 403,
        error_code: "PERMISSION_DENIED".into(),
        message: "no access".into(),
        request: "POST /api/2.0/pipelines".into(),
    };
    assert_eq!(
        parsed(&f),
        json!({"error": {"kind": "upstream",
                          "message": "POST /api/2.0/pipelines answered 403 PERMISSION_DENIED: no access",
                          "status": 403, "error_code": "PERMISSION_DENIED",
                          "request": "POST /api/2.0/pipelines"}})
    );
}

#[test]
fn simple_kinds() {
    for (f, kind) in [
        (Failure::LlmUnusable("x".into()), "llm_unusable"),
        (Failure::Timeout("x".into()), "timeout"),
        (Failure::Transport("x".into()), "transport"),
        (Failure::Trap("x".into()), "trap"),
        (Failure::Config("x".into()), "config"),
        (Failure::Auth("x".into()), "auth"),
    ] {
        assert_eq!(parsed(&f), json!({"error": {"kind": kind, "message": "x"}}));
    }
    assert_eq!(
        parsed(&Failure::UpdateActive("p-1".into())),
        json!({"error": {"kind": "update_active",
                          "message": "an update of pipeline p-1 is already running; nothing new was started",
                          "pipeline_id": "p-1"}})
    );
    let refused = Failure::PipelineRefused {
        pipeline_id: "p-2".into(),
        creator: "alice@example.com".into(),
        reason: "not ours".into(),
    };
    assert_eq!(
        parsed(&refused),
        json!({"error": {"kind": "pipeline_refused", "message": "not ours",
                          "pipeline_id": "p-2", "creator": "alice@example.com"}})
    );
    let invalid = Failure::ValidationFailed {
        pipeline_id: "p-3".into(),
        update_id: "u-3".into(),
        repair_rounds: 2,
        errors: vec![ValidationProblem {
            dataset: Some("m.s.silver".into()),
            file: None,
            message: "[TABLE_OR_VIEW_NOT_FOUND] `bronze`".into(),
        }],
    };
    assert_eq!(
        parsed(&invalid),
        json!({"error": {"kind": "validation_failed",
                          "message": "the sources of pipeline p-3 failed validation (update u-3, \
                                      2 repair round(s)); no update was started: \
                                      m.s.silver: [TABLE_OR_VIEW_NOT_FOUND] `bronze`",
                          "pipeline_id": "p-3", "update_id": "u-3", "repair_rounds": 2,
                          "errors": [{"dataset": "m.s.silver", "file": null,
                                      "message": "[TABLE_OR_VIEW_NOT_FOUND] `bronze`"}]}})
    );
}

#[test]
fn policy_refused_names_the_field_and_the_rule() {
    let f = Failure::PolicyRefused {
        field: "job_id".into(),
        rule: "this endpoint starts job 7 only".into(),
    };
    assert_eq!(
        parsed(&f),
        json!({"error": {"kind": "policy_refused",
                          "message": "refused by the deployment's policy: job_id: this endpoint starts job 7 only",
                          "field": "job_id", "rule": "this endpoint starts job 7 only"}})
    );
}
