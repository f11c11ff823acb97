//! runs/submit bodies a workspace accepts and the ones it refuses, with their messages.

use super::*;
use serde_json::json;

pub fn check(body: Value) -> Result<(), String> {
    validate_submit(body.as_object().unwrap()).map_err(|e| {
        assert_eq!(e.error_code, "INVALID_PARAMETER_VALUE");
        e.message
    })
}

pub fn python_task() -> Value {
    json!({
        "task_key": "run_agent",
        "spark_python_task": {"python_file": "/Workspace/a.py", "parameters": ["--x", "1"], "source": "WORKSPACE"},
        "existing_cluster_id": "0101-abc"
    })
}

#[test]
fn accepts_classic_and_serverless_python_tasks() {
    check(json!({"run_name": "r", "tasks": [python_task()], "idempotency_token": "tok"})).unwrap();
    check(json!({
        "tasks": [{"task_key": "t", "spark_python_task": {"python_file": "/a.py"}, "environment_key": "default"}],
        "environments": [{"environment_key": "default", "spec": {"environment_version": "2", "dependencies": ["databricks-sdk"]}}]
    }))
    .unwrap();
    check(json!({
        "tasks": [{"task_key": "t", "spark_python_task": {"python_file": "/a.py"},
                   "new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}}]
    }))
    .unwrap();
}

#[test]
fn rejects_wrong_shapes_naming_the_field() {
    let err = check(json!({"tasks": [{"task_key": "t", "python_task": {"python_file": "/a.py"}, "existing_cluster_id": "c"}]})).unwrap_err();
    assert!(err.contains("python_task"), "{err}");
    let err = check(json!({"tasks": [python_task()], "bogus": 1})).unwrap_err();
    assert!(err.contains("bogus"), "{err}");
    let err = check(json!({"tasks": []})).unwrap_err();
    assert!(err.contains("tasks"), "{err}");
    let err = check(json!({})).unwrap_err();
    assert!(err.contains("tasks"), "{err}");
}

/// The message refusing `python_task()` after `change`.
fn task_refusal(change: impl FnOnce(&mut Value)) -> String {
    let mut t = python_task();
    change(&mut t);
    check(json!({"tasks": [t]})).unwrap_err()
}

#[test]
fn task_rules() {
    type Change = fn(&mut Value);
    let cases: [(Change, &str); 7] = [
        (|t| t["task_key"] = json!("bad key!"), "task_key"),
        (
            |t| drop(t.as_object_mut().unwrap().remove("existing_cluster_id")),
            "compute",
        ),
        (
            |t| {
                t["new_cluster"] =
                    json!({"spark_version": "x", "node_type_id": "y", "num_workers": 0})
            },
            "more than one",
        ),
        (
            |t| t["spark_python_task"]["parameters"] = json!([1]),
            "parameters",
        ),
        (|t| t["spark_python_task"]["source"] = json!("S3"), "source"),
        (
            |t| t["notebook_task"] = json!({"notebook_path": "/n"}),
            "more than one task type",
        ),
        (
            |t| drop(t.as_object_mut().unwrap().remove("spark_python_task")),
            "no task type",
        ),
    ];
    for (change, named) in cases {
        let err = task_refusal(change);
        assert!(err.contains(named), "{named}: {err}");
    }

    let t = python_task();
    assert!(
        check(json!({"tasks": [t.clone(), t]}))
            .unwrap_err()
            .contains("unique")
    );
}

#[test]
fn idempotency_token_length() {
    let token = "x".repeat(65);
    assert!(
        check(json!({"tasks": [python_task()], "idempotency_token": token}))
            .unwrap_err()
            .contains("idempotency_token")
    );
}

#[test]
fn parameters_are_size_limited() {
    let mut t = python_task();
    t["spark_python_task"]["parameters"] = json!(["x".repeat(9_970)]);
    check(json!({"tasks": [t]})).unwrap();
    t["spark_python_task"]["parameters"] = json!(["x".repeat(10_000)]);
    let err = check(json!({"tasks": [t]})).unwrap_err();
    assert!(
        err.contains("tasks[0].spark_python_task.parameters"),
        "{err}"
    );
    assert!(err.contains("10000 bytes"), "{err}");
}

#[test]
fn depends_on_must_name_another_task() {
    let mut a = python_task();
    a["depends_on"] = json!([{"task_key": "nope"}]);
    assert!(
        check(json!({"tasks": [a]}))
            .unwrap_err()
            .contains("depends_on")
    );
}
