//! The sdp-agent component: exports `predict` and `run` (see `wit/agent.wit`).
//!
//! The logic is async (wstd over wasi-http); the exported functions are synchronous, so each
//! call runs its future to completion on wstd's reactor.

mod agent;
mod config;
mod databricks;
mod error;
mod payload;
mod planner;

wit_bindgen::generate!({ path: "../wit", world: "sdp-agent" });

use exports::sdp::agent::agent::Guest;
use sdp::agent::types as wit;

struct Component;

impl Guest for Component {
    fn predict(payload: String) -> Result<wit::SubmittedRun, wit::AgentError> {
        wstd::runtime::block_on(agent::predict(&payload))
            .map(|r| wit::SubmittedRun {
                run_id: r.run_id,
                run_url: r.run_url,
            })
            .map_err(Into::into)
    }

    fn run(payload: String) -> Result<wit::PipelineResult, wit::AgentError> {
        wstd::runtime::block_on(agent::run(&payload))
            .map(|r| wit::PipelineResult {
                service_url: r.service_url,
                pipeline_id: r.pipeline_id,
                update_id: r.update_id,
                message: r.message,
                state: r.state,
            })
            .map_err(Into::into)
    }
}

impl From<error::Error> for wit::AgentError {
    fn from(e: error::Error) -> Self {
        use error::Error as E;
        match e {
            E::InvalidPayload(fields) => wit::AgentError::InvalidPayload(
                fields
                    .into_iter()
                    .map(|f| wit::FieldError {
                        path: f.path,
                        message: f.message,
                    })
                    .collect(),
            ),
            E::MissingConfig(keys) => wit::AgentError::MissingConfig(keys),
            E::Upstream(u) => wit::AgentError::Upstream(wit::UpstreamError {
                status: u.status,
                error_code: u.error_code,
                message: u.message,
                request: u.request,
            }),
            E::LlmUnusable(m) => wit::AgentError::LlmUnusable(m),
            E::Timeout(m) => wit::AgentError::Timeout(m),
            E::UpdateActive(id) => wit::AgentError::UpdateActive(id),
            E::Transport(m) => wit::AgentError::Transport(m),
        }
    }
}

export!(Component);
