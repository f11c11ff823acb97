//! Plan mode (`"dry_run": true`): reads are sent, writes are withheld and recorded in the order
//! they would have been sent, each answered with placeholders for the ids it would have made.
//!
//! Every call passes `WorkspaceClient::call`, which asks [`Plan::withhold`] first, so a write added
//! anywhere in the agent is withheld without knowing about plan mode. What counts as a read is
//! listed here and nothing else is: an unknown call is a write.

use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::BTreeSet;
use wstd::http::Method;

/// Placeholders for what withheld writes would have produced. Jobs ids are numbers and cannot
/// hold a name, so theirs are negative (no real id is).
pub const RUN_ID: i64 = -1;
pub const JOB_ID: i64 = -2;
pub const PIPELINE_ID: &str = "<pipeline_id>";
pub const UPDATE_ID: &str = "<update_id>";

/// One request a dry run did not send.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCall {
    pub method: String,
    /// Path and query, as it would have been sent.
    pub path: String,
    pub body: Option<Value>,
}

/// The calls one dry run withheld, and the placeholders it has handed out.
#[derive(Debug, Default)]
pub struct Plan {
    calls: RefCell<Vec<PlannedCall>>,
    issued: RefCell<BTreeSet<String>>,
}

impl Plan {
    /// `Some(answer)` when the call must not be sent: it is recorded and `answer` stands in for
    /// the workspace's. A read naming a placeholder is withheld too: the object it would ask
    /// about does not exist.
    pub fn withhold(&self, method: &Method, path: &str, body: Option<&Value>) -> Option<Value> {
        let answer = if is_read(method, path) {
            if !self.names_placeholder(path) {
                return None;
            }
            json!({})
        } else {
            let answer = placeholder_answer(path);
            if let Value::Object(fields) = &answer {
                let mut issued = self.issued.borrow_mut();
                for v in fields.values() {
                    issued.insert(token(v));
                }
            }
            answer
        };
        self.calls.borrow_mut().push(PlannedCall {
            method: method.to_string(),
            path: path.to_string(),
            body: body.cloned(),
        });
        Some(answer)
    }

    /// The withheld calls so far, in order.
    pub fn calls(&self) -> Vec<PlannedCall> {
        self.calls.borrow().clone()
    }

    fn names_placeholder(&self, path: &str) -> bool {
        let issued = self.issued.borrow();
        if issued.is_empty() {
            return false;
        }
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        route.split('/').any(|s| issued.contains(s))
            || form_urlencoded::parse(query.as_bytes()).any(|(_, v)| issued.contains(v.as_ref()))
    }
}

/// GET/HEAD, and asking a model (a serving endpoint's `invocations`): nothing changes.
pub fn is_read(method: &Method, path: &str) -> bool {
    if *method == Method::GET || *method == Method::HEAD {
        return true;
    }
    let route = path.split('?').next().unwrap_or(path);
    *method == Method::POST
        && matches!(
            route
                .trim_matches('/')
                .split('/')
                .collect::<Vec<_>>()
                .as_slice(),
            ["serving-endpoints", _, "invocations"]
        )
}

/// The ids a write answers with (Jobs and Pipelines REST reference), as placeholders; `{}` for
/// writes whose answer carries nothing the agent reads.
fn placeholder_answer(path: &str) -> Value {
    let route = path.split('?').next().unwrap_or(path);
    match route
        .trim_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["api", _, "jobs", "runs", "submit"] => json!({ "run_id": RUN_ID }),
        ["api", _, "jobs", "run-now"] => json!({ "run_id": RUN_ID, "number_in_job": RUN_ID }),
        ["api", _, "jobs", "create"] => json!({ "job_id": JOB_ID }),
        ["api", _, "pipelines"] => json!({ "pipeline_id": PIPELINE_ID }),
        ["api", _, "pipelines", _, "updates"] => json!({ "update_id": UPDATE_ID }),
        _ => json!({}),
    }
}

/// The plan as JSON: `[{"method", "path", "body"}, ...]` (`body` null when there is none).
pub fn to_json(calls: &[PlannedCall]) -> Value {
    calls
        .iter()
        .map(|c| json!({"method": c.method, "path": c.path, "body": c.body}))
        .collect()
}

/// A placeholder as it appears in a path: the string itself, or the number's digits.
fn token(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pass_and_everything_else_is_withheld() {
        let plan = Plan::default();
        assert_eq!(
            plan.withhold(&Method::GET, "/api/2.0/pipelines?x=1", None),
            None
        );
        assert_eq!(
            plan.withhold(&Method::POST, "/serving-endpoints/claude/invocations", None),
            None
        );
        let body = json!({"path": "/a"});
        assert_eq!(
            plan.withhold(&Method::POST, "/api/2.0/workspace/mkdirs", Some(&body)),
            Some(json!({}))
        );
        // Unknown methods and paths are writes.
        assert!(
            plan.withhold(&Method::DELETE, "/api/2.0/anything", None)
                .is_some()
        );
        assert!(
            plan.withhold(&Method::PATCH, "/serving-endpoints/x", None)
                .is_some()
        );
        let calls = plan.calls();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0].method, "POST");
        assert_eq!(calls[0].body, Some(body));
    }

    #[test]
    fn writes_answer_placeholders_and_reads_of_them_are_withheld() {
        let plan = Plan::default();
        let created = plan.withhold(&Method::POST, "/api/2.0/pipelines", Some(&json!({})));
        assert_eq!(created, Some(json!({"pipeline_id": PIPELINE_ID})));
        let started = plan.withhold(
            &Method::POST,
            "/api/2.0/pipelines/<pipeline_id>/updates",
            None,
        );
        assert_eq!(started, Some(json!({"update_id": UPDATE_ID})));
        assert_eq!(
            plan.withhold(&Method::GET, "/api/2.0/pipelines/<pipeline_id>", None),
            Some(json!({}))
        );
        // A real id is still read.
        assert_eq!(
            plan.withhold(&Method::GET, "/api/2.0/pipelines/abc-1", None),
            None
        );

        let submitted = plan.withhold(&Method::POST, "/api/2.2/jobs/runs/submit", None);
        assert_eq!(submitted, Some(json!({"run_id": RUN_ID})));
        assert_eq!(
            plan.withhold(&Method::GET, "/api/2.2/jobs/runs/get?run_id=-1", None),
            Some(json!({}))
        );
        assert_eq!(
            plan.withhold(&Method::GET, "/api/2.2/jobs/runs/get?run_id=7", None),
            None
        );
        assert_eq!(plan.calls().len(), 5);
    }
}
