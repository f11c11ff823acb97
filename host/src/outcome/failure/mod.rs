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
    /// The deployment's policy refuses the request; nothing was written or started.
    PolicyRefused {
        field: String,
        rule: String,
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
            AgentError::PolicyRefused(r) => Failure::PolicyRefused {
                field: r.field,
                rule: r.rule,
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
            Failure::PolicyRefused { .. } => "policy_refused",
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
            Failure::PolicyRefused { field, rule } => {
                format!("refused by the deployment's policy: {field}: {rule}")
            }
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
            Failure::PolicyRefused { field, rule } => Details::Policy { field, rule },
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
    Policy {
        field: &'a str,
        rule: &'a str,
    },
    None {},
}

#[cfg(test)]
mod tests;
