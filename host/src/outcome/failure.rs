//! A failed call's line: `{"error": {"kind", "message", …details}}`.

use crate::component::AgentError;
use serde::Serialize;

/// One problem with a payload (`path` is a JSON path, or a CLI argument name).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldProblem {
    pub path: String,
    pub message: String,
}

/// One error a validation update reported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValidationProblem {
    pub dataset: Option<String>,
    pub file: Option<String>,
    pub message: String,
}

/// Why a call failed: the WIT `agent-error` cases plus what can go wrong in the host.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    InvalidPayload(Vec<FieldProblem>),
    MissingConfig(Vec<String>),
    Upstream {
        status: u16,
        error_code: String,
        message: String,
        request: String,
    },
    LlmUnusable(String),
    Timeout(String),
    UpdateActive(String),
    Transport(String),
    /// The pipeline of that name is not the agent's to edit.
    PipelineRefused {
        pipeline_id: String,
        creator: String,
        reason: String,
    },
    /// The sources stayed invalid; no update was started.
    ValidationFailed {
        pipeline_id: String,
        update_id: String,
        repair_rounds: u32,
        errors: Vec<ValidationProblem>,
    },
    /// The guest trapped (a bug in it, or the engine stopped it).
    Trap(String),
    /// Host-side setup: environment, flags, credentials config, loading the component.
    Config(String),
    /// The workspace credentials were refused or could not be obtained (OAuth token request).
    Auth(String),
}

impl From<AgentError> for Failure {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::InvalidPayload(fields) => Failure::InvalidPayload(
                fields
                    .into_iter()
                    .map(|f| FieldProblem {
                        path: f.path,
                        message: f.message,
                    })
                    .collect(),
            ),
            AgentError::MissingConfig(keys) => Failure::MissingConfig(keys),
            AgentError::Upstream(u) => Failure::Upstream {
                status: u.status,
                error_code: u.error_code,
                message: u.message,
                request: u.request,
            },
            AgentError::LlmUnusable(m) => Failure::LlmUnusable(m),
            AgentError::Timeout(m) => Failure::Timeout(m),
            AgentError::UpdateActive(id) => Failure::UpdateActive(id),
            AgentError::Transport(m) => Failure::Transport(m),
            AgentError::PipelineRefused(r) => Failure::PipelineRefused {
                pipeline_id: r.pipeline_id,
                creator: r.creator,
                reason: r.reason,
            },
            AgentError::ValidationFailed(v) => Failure::ValidationFailed {
                pipeline_id: v.pipeline_id,
                update_id: v.update_id,
                repair_rounds: v.repair_rounds,
                errors: v
                    .errors
                    .into_iter()
                    .map(|e| ValidationProblem {
                        dataset: e.dataset,
                        file: e.file,
                        message: e.message,
                    })
                    .collect(),
            },
        }
    }
}

impl Failure {
    /// One invalid field, for payload problems the host finds itself.
    pub fn invalid_field(path: &str, message: impl Into<String>) -> Self {
        Failure::InvalidPayload(vec![FieldProblem {
            path: path.to_string(),
            message: message.into(),
        }])
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Failure::InvalidPayload(_) => "invalid_payload",
            Failure::MissingConfig(_) => "missing_config",
            Failure::Upstream { .. } => "upstream",
            Failure::LlmUnusable(_) => "llm_unusable",
            Failure::Timeout(_) => "timeout",
            Failure::UpdateActive(_) => "update_active",
            Failure::Transport(_) => "transport",
            Failure::PipelineRefused { .. } => "pipeline_refused",
            Failure::ValidationFailed { .. } => "validation_failed",
            Failure::Trap(_) => "trap",
            Failure::Config(_) => "config",
            Failure::Auth(_) => "auth",
        }
    }

    /// A sentence that makes sense without the details.
    pub fn message(&self) -> String {
        match self {
            Failure::InvalidPayload(fields) => {
                let each: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{}: {}", f.path, f.message))
                    .collect();
                format!("invalid payload: {}", each.join("; "))
            }
            Failure::MissingConfig(keys) => format!("missing config: {}", keys.join(", ")),
            Failure::Upstream {
                status,
                error_code,
                message,
                request,
            } => {
                let code = if error_code.is_empty() {
                    String::new()
                } else {
                    format!(" {error_code}")
                };
                format!("{request} answered {status}{code}: {message}")
            }
            Failure::UpdateActive(id) => {
                format!("an update of pipeline {id} is already running; nothing new was started")
            }
            Failure::PipelineRefused { reason, .. } => reason.clone(),
            Failure::ValidationFailed {
                pipeline_id,
                update_id,
                repair_rounds,
                errors,
            } => {
                let each: Vec<String> = errors
                    .iter()
                    .map(|e| match e.file.as_ref().or(e.dataset.as_ref()) {
                        Some(place) => format!("{place}: {}", e.message),
                        None => e.message.clone(),
                    })
                    .collect();
                format!(
                    "the sources of pipeline {pipeline_id} failed validation (update \
                     {update_id}, {repair_rounds} repair round(s)); no update was started: {}",
                    each.join(" | ")
                )
            }
            Failure::LlmUnusable(m)
            | Failure::Timeout(m)
            | Failure::Transport(m)
            | Failure::Trap(m)
            | Failure::Config(m)
            | Failure::Auth(m) => m.clone(),
        }
    }

    /// `{"error": {"kind", "message", …details}}`.
    pub fn to_json(&self) -> String {
        let details = match self {
            Failure::InvalidPayload(fields) => Details::Fields { fields },
            Failure::MissingConfig(missing) => Details::Missing { missing },
            Failure::Upstream {
                status,
                error_code,
                request,
                ..
            } => Details::Upstream {
                status: *status,
                error_code,
                request,
            },
            Failure::UpdateActive(pipeline_id) => Details::Pipeline { pipeline_id },
            Failure::PipelineRefused {
                pipeline_id,
                creator,
                ..
            } => Details::Refused {
                pipeline_id,
                creator,
            },
            Failure::ValidationFailed {
                pipeline_id,
                update_id,
                repair_rounds,
                errors,
            } => Details::Invalid {
                pipeline_id,
                update_id,
                repair_rounds: *repair_rounds,
                errors,
            },
            _ => Details::None {},
        };
        let envelope = Envelope {
            error: ErrorBody {
                kind: self.kind(),
                message: self.message(),
                details,
            },
        };
        serde_json::to_string(&envelope).expect("error JSON serialises")
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: &'static str,
    message: String,
    #[serde(flatten)]
    details: Details<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Details<'a> {
    Fields {
        fields: &'a [FieldProblem],
    },
    Missing {
        missing: &'a [String],
    },
    Upstream {
        status: u16,
        error_code: &'a str,
        request: &'a str,
    },
    Pipeline {
        pipeline_id: &'a str,
    },
    Refused {
        pipeline_id: &'a str,
        creator: &'a str,
    },
    Invalid {
        pipeline_id: &'a str,
        update_id: &'a str,
        repair_rounds: u32,
        errors: &'a [ValidationProblem],
    },
    None {},
}

#[cfg(test)]
mod tests {
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
}
