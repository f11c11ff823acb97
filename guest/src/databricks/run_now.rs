//! Jobs API `run-now`: start a run of a deployed job (`sdp-agent deploy` made it) with the
//! payload as its `payload` job parameter. The caller needs only CAN_MANAGE_RUN on that job,
//! not the right to submit arbitrary code as `runs/submit` does.

use super::client::{Retry, WorkspaceClient};
use crate::agent::staging::Passed;
use crate::error::{Error, Result, Upstream};
use serde_json::{Map, Value, json};

const PATH: &str = "/api/2.2/jobs/run-now";

/// The job parameter the deployed job's task reads (`{{job.parameters.payload}}`).
pub const PAYLOAD_PARAMETER: &str = "payload";
/// The job parameter the deployed job passes as the host's `--timeout` (default 900).
pub const TIMEOUT_PARAMETER: &str = "timeout";
/// The job parameter the deployed job passes as `run --caller` (default empty): who asked.
pub const CALLER_PARAMETER: &str = "caller";

/// `{job_id, job_parameters: {payload: <base64 of the payload JSON, or @path of its staged
/// copy>[, timeout][, caller]}, idempotency_token}`. The caller is the host's (the one `serve`
/// admitted), never the payload's: a payload has no way to name job parameters.
pub fn body(job_id: i64, passed: Passed, token: &str, caller: Option<&str>) -> Value {
    let mut parameters = Map::new();
    if let Some(caller) = caller {
        parameters.insert(CALLER_PARAMETER.into(), caller.into());
    }
    match passed {
        Passed::Inline(encoded) => {
            parameters.insert(PAYLOAD_PARAMETER.into(), encoded.into());
        }
        Passed::Staged {
            reference,
            timeout_secs,
        } => {
            parameters.insert(PAYLOAD_PARAMETER.into(), reference.into());
            if let Some(secs) = timeout_secs {
                parameters.insert(TIMEOUT_PARAMETER.into(), secs.to_string().into());
            }
        }
    }
    json!({
        "job_id": job_id,
        "job_parameters": parameters,
        "idempotency_token": token,
    })
}

/// Starts the run; the body's idempotency token is what makes retrying this POST safe.
pub async fn start(ws: &WorkspaceClient, body: &Value) -> Result<i64> {
    debug_assert!(body.get("idempotency_token").is_some());
    let answer = ws.post(PATH, body, Retry::Safe).await?;
    answer.get("run_id").and_then(Value::as_i64).ok_or_else(|| {
        Error::Upstream(Upstream {
            status: 200,
            error_code: "MALFORMED_RESPONSE".into(),
            message: format!("run-now answered without a run_id: {answer}"),
            request: format!("POST {PATH}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{Payload, Side};
    use base64::Engine;

    fn parse(doc: Value) -> std::result::Result<Payload, Vec<String>> {
        Payload::parse(&doc.to_string(), Side::Predict).map_err(|e| match e {
            Error::InvalidPayload(fields) => fields.into_iter().map(|f| f.path).collect(),
            other => panic!("unexpected {other:?}"),
        })
    }

    #[test]
    fn a_job_id_replaces_the_runner_and_its_compute() {
        let p = parse(json!({"job_id": 42, "question": "build it"})).expect("valid");
        assert_eq!(p.job_id, Some(42));
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(Value::Object(p.doc.clone()).to_string());
        let b = body(42, Passed::Inline(encoded), "tok", None);
        assert!(b["job_parameters"].get(CALLER_PARAMETER).is_none());
        assert_eq!(b["job_id"], 42);
        assert_eq!(b["idempotency_token"], "tok");
        let encoded = b["job_parameters"]["payload"].as_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        let forwarded: Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(forwarded, json!({"job_id": 42, "question": "build it"}));
    }

    #[test]
    fn one_time_run_keys_are_refused_with_a_job_id() {
        let err = parse(json!({
            "job_id": 7, "question": "q", "runner_path": "/Workspace/a.py",
            "existing_cluster_id": "c", "run_name": "r",
        }))
        .unwrap_err();
        assert_eq!(err, ["runner_path", "existing_cluster_id", "run_name"]);
    }

    #[test]
    fn a_job_id_must_be_a_positive_whole_number() {
        for bad in [json!(0), json!(-3), json!("42"), json!(1.5)] {
            let err = parse(json!({"job_id": bad, "question": "q"})).unwrap_err();
            assert!(err.contains(&"job_id".to_string()), "{bad}: {err:?}");
        }
    }

    #[test]
    fn without_a_job_id_the_runner_is_still_required() {
        let err =
            parse(json!({"question": "q", "claude_endpoint": "databricks-claude-sonnet-4-5"}))
                .unwrap_err();
        assert_eq!(err, ["runner_path"]);
    }
}
