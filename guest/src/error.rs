//! The agent's error type: one variant per `agent-error` case in `wit/agent.wit`.
//!
//! Kept separate from the generated WIT type so the logic (and its `Display` text, used in
//! logs and HTTP answers) does not depend on the bindings.

use std::fmt;

/// One problem found in a payload or a model answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A non-success answer from the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub status: u16,
    pub error_code: String,
    pub message: String,
    /// `METHOD /path` of the failed request.
    pub request: String,
}

/// A pipeline the agent will not edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub pipeline_id: String,
    pub creator: String,
    pub reason: String,
}

/// A request the deployment's policy does not allow (`policy::Policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRefusal {
    /// The payload field or config key that broke the rule.
    pub field: String,
    /// The rule, in words, with the value that broke it.
    pub rule: String,
}

impl PolicyRefusal {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

/// One error a validation update reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateError {
    /// The dataset (flow) it is about, when the event says.
    pub dataset: Option<String>,
    /// The pipeline's source file it is in, when the event names one.
    pub file: Option<String>,
    pub message: String,
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.file.as_ref().or(self.dataset.as_ref()) {
            Some(place) => write!(f, "{place}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Sources that stayed invalid: no real update was started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub pipeline_id: String,
    /// The last validation update.
    pub update_id: String,
    pub repair_rounds: u32,
    pub errors: Vec<UpdateError>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("invalid payload: {}", join(.0))]
    InvalidPayload(Vec<FieldError>),
    #[error("missing config: {}", .0.join(", "))]
    MissingConfig(Vec<String>),
    #[error("{} answered {} {}: {}", .0.request, .0.status, .0.error_code, .0.message)]
    Upstream(Upstream),
    #[error("the model's answer is unusable: {0}")]
    LlmUnusable(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("an update of pipeline {0} is already running; no new update was started")]
    UpdateActive(String),
    #[error("{0}")]
    Transport(String),
    #[error("{}", .0.reason)]
    PipelineRefused(Refused),
    #[error(
        "the sources of pipeline {} failed validation (update {}, {} repair round(s)); no update \
         was started: {}",
        .0.pipeline_id, .0.update_id, .0.repair_rounds, join(&.0.errors)
    )]
    ValidationFailed(Invalid),
    #[error("refused by the deployment's policy: {}: {}", .0.field, .0.rule)]
    PolicyRefused(PolicyRefusal),
}

fn join<T: fmt::Display>(errors: &[T]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
