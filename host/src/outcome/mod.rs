//! The one JSON line `predict` and `run` print, for success and for failure.

use crate::component::{PipelineResult, PlannedCall, SubmittedRun};
use serde::Serialize;
use serde_json::{Value, json};

mod checks;
mod failure;

pub use checks::Checked;
pub use failure::Failure;
#[cfg(test)]
pub use failure::FieldProblem;

/// A successful call's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Success {
    Submitted {
        run_id: i64,
        run_url: String,
    },
    Pipeline {
        service_url: String,
        pipeline_id: String,
        update_id: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        state: Option<String>,
        /// The pipeline's datasets, each after those it reads (`[{name, inputs}]`).
        #[serde(skip_serializing_if = "Option::is_none")]
        datasets: Option<Vec<DatasetNode>>,
        /// The data checks by table, after a waited update that completed.
        #[serde(skip_serializing_if = "Option::is_none")]
        checks: Option<std::collections::BTreeMap<String, Checked>>,
        /// Who asked for the run (`run --caller`).
        #[serde(skip_serializing_if = "Option::is_none")]
        caller: Option<String>,
        /// What the run's model calls cost; absent when the model answered nothing.
        #[serde(skip_serializing_if = "Option::is_none")]
        model: Option<ModelCost>,
    },
    /// A dry run: the withheld requests in order, then the answer's fields, with placeholders.
    /// Nothing was started, so there is no final state to fail on.
    Planned {
        plan: Vec<Value>,
        #[serde(flatten)]
        result: serde_json::Map<String, Value>,
    },
}

/// `"model": {"calls", "prompt_tokens", "completion_tokens"}`, summed over a run's answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModelCost {
    pub calls: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// A dataset of the pipeline and the datasets its flows read.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatasetNode {
    pub name: String,
    pub inputs: Vec<String>,
}

impl Success {
    /// Whether the work it reports went well: a waited-for update that ended FAILED or
    /// CANCELED is reported in full but fails the job.
    pub fn succeeded(&self) -> bool {
        match self {
            Success::Pipeline {
                state: Some(state), ..
            } => state == "COMPLETED",
            _ => true,
        }
    }
}

impl Success {
    /// The same answer saying who asked for it (a pipeline run's, planned or not).
    pub fn with_caller(mut self, who: Option<&str>) -> Self {
        let Some(who) = who else { return self };
        match &mut self {
            Success::Pipeline { caller, .. } => *caller = Some(who.to_string()),
            Success::Planned { result, .. } if result.contains_key("pipeline_id") => {
                result.insert("caller".into(), Value::from(who));
            }
            _ => {}
        }
        self
    }
}

impl From<SubmittedRun> for Success {
    fn from(r: SubmittedRun) -> Self {
        planned(
            r.plan,
            Success::Submitted {
                run_id: r.run_id,
                run_url: r.run_url,
            },
        )
    }
}

impl From<PipelineResult> for Success {
    fn from(r: PipelineResult) -> Self {
        planned(
            r.plan,
            Success::Pipeline {
                service_url: r.service_url,
                pipeline_id: r.pipeline_id,
                update_id: r.update_id,
                message: r.message,
                state: r.state,
                datasets: r.datasets.map(|all| {
                    all.into_iter()
                        .map(|d| DatasetNode {
                            name: d.name,
                            inputs: d.inputs,
                        })
                        .collect()
                }),
                checks: r.checks.map(checks::by_table),
                caller: None,
                model: (r.model.calls > 0).then_some(ModelCost {
                    calls: r.model.calls,
                    prompt_tokens: r.model.prompt_tokens,
                    completion_tokens: r.model.completion_tokens,
                }),
            },
        )
    }
}

/// `result` as it is, or with the plan of a dry run in front (bodies as JSON, not text).
fn planned(plan: Option<Vec<PlannedCall>>, result: Success) -> Success {
    let Some(plan) = plan else { return result };
    let plan = plan
        .into_iter()
        .map(|c| {
            let body = c
                .body
                .map(|b| serde_json::from_str(&b).unwrap_or(Value::String(b)));
            json!({"method": c.method, "path": c.path, "body": body})
        })
        .collect();
    let Ok(Value::Object(result)) = serde_json::to_value(&result) else {
        unreachable!("a result serializes as an object")
    };
    Success::Planned { plan, result }
}

impl Success {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("result JSON serialises")
    }
}

/// The line to print for a call's outcome.
pub fn render(outcome: &Result<Success, Failure>) -> String {
    match outcome {
        Ok(s) => s.to_json(),
        Err(f) => f.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_shapes() {
        let s = Success::Submitted {
            run_id: 42,
            run_url: "https://h/jobs/runs/42".into(),
        };
        assert_eq!(
            s.to_json(),
            r#"{"run_id":42,"run_url":"https://h/jobs/runs/42"}"#
        );
        let mut s = Success::Pipeline {
            service_url: "https://h/pipelines/p".into(),
            pipeline_id: "p".into(),
            update_id: "u".into(),
            message: "created".into(),
            state: None,
            datasets: None,
            checks: None,
            caller: None,
            model: None,
        };
        assert_eq!(
            s.to_json(),
            r#"{"service_url":"https://h/pipelines/p","pipeline_id":"p","update_id":"u","message":"created"}"#
        );
        if let Success::Pipeline { state, .. } = &mut s {
            *state = Some("COMPLETED".into());
        }
        assert!(
            s.to_json()
                .ends_with(r#""message":"created","state":"COMPLETED"}"#)
        );
        if let Success::Pipeline { model, .. } = &mut s {
            *model = Some(ModelCost {
                calls: 2,
                prompt_tokens: 900,
                completion_tokens: 150,
            });
        }
        assert!(
            s.to_json().ends_with(
                r#""state":"COMPLETED","model":{"calls":2,"prompt_tokens":900,"completion_tokens":150}}"#
            ),
            "{}",
            s.to_json()
        );
    }
}
