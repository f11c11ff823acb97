//! The sdp-agent component: exports `predict` and `run` (see `wit/agent.wit`).
//!
//! The logic is async (wstd over wasi-http); the exported functions are synchronous, so each
//! call runs its future to completion on wstd's reactor. The component also exports
//! `wasi:http/incoming-handler` (the MLflow scoring protocol, see `scoring`), whose handler
//! awaits the same async functions directly.
//!
//! Bindings come from the whole world `sdp-agent`, so the checked-in WIT is what gets built.
//! The WASI interfaces it imports are those of the `wasip2` crate under wstd (`with`), so the
//! HTTP handler's request and response types are the ones wstd's server helpers take.

mod agent;
mod databricks;
mod error;
mod fields;
mod model_fill;
mod payload;
mod pipeline_config;
mod policy;
mod scoring;

#[cfg(test)]
mod properties;

wit_bindgen::generate!({
    path: "../wit",
    world: "sdp-agent",
    with: {
        "wasi:cli/environment@0.2.12": wstd::__internal::wasip2::cli::environment,
        "wasi:cli/exit@0.2.12": wstd::__internal::wasip2::cli::exit,
        "wasi:cli/stdin@0.2.12": wstd::__internal::wasip2::cli::stdin,
        "wasi:cli/stdout@0.2.12": wstd::__internal::wasip2::cli::stdout,
        "wasi:cli/stderr@0.2.12": wstd::__internal::wasip2::cli::stderr,
        "wasi:cli/terminal-input@0.2.12": wstd::__internal::wasip2::cli::terminal_input,
        "wasi:cli/terminal-output@0.2.12": wstd::__internal::wasip2::cli::terminal_output,
        "wasi:cli/terminal-stdin@0.2.12": wstd::__internal::wasip2::cli::terminal_stdin,
        "wasi:cli/terminal-stdout@0.2.12": wstd::__internal::wasip2::cli::terminal_stdout,
        "wasi:cli/terminal-stderr@0.2.12": wstd::__internal::wasip2::cli::terminal_stderr,
        "wasi:clocks/monotonic-clock@0.2.12": wstd::__internal::wasip2::clocks::monotonic_clock,
        "wasi:clocks/wall-clock@0.2.12": wstd::__internal::wasip2::clocks::wall_clock,
        "wasi:io/error@0.2.12": wstd::__internal::wasip2::io::error,
        "wasi:io/poll@0.2.12": wstd::__internal::wasip2::io::poll,
        "wasi:io/streams@0.2.12": wstd::__internal::wasip2::io::streams,
        "wasi:random/random@0.2.12": wstd::__internal::wasip2::random::random,
        "wasi:random/insecure@0.2.12": wstd::__internal::wasip2::random::insecure,
        "wasi:random/insecure-seed@0.2.12": wstd::__internal::wasip2::random::insecure_seed,
        "wasi:http/types@0.2.12": wstd::__internal::wasip2::http::types,
        "wasi:http/outgoing-handler@0.2.12": wstd::__internal::wasip2::http::outgoing_handler,
    },
});

use exports::sdp::agent::agent::Guest;
use sdp::agent::types as wit;

struct Component;

impl Guest for Component {
    fn predict(payload: String) -> Result<wit::SubmittedRun, wit::AgentError> {
        wstd::runtime::block_on(agent::predict(&payload))
            .map(|r| wit::SubmittedRun {
                run_id: r.run_id,
                run_url: r.run_url,
                plan: r.plan.map(planned),
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
                datasets: r.datasets.map(|all| {
                    all.into_iter()
                        .map(|d| wit::Dataset {
                            name: d.name,
                            inputs: d.inputs,
                        })
                        .collect()
                }),
                checks: r
                    .checks
                    .map(|all| all.into_iter().map(table_checks).collect()),
                plan: r.plan.map(planned),
                model: wit::ModelUsage {
                    calls: r.model.calls,
                    prompt_tokens: r.model.prompt_tokens,
                    completion_tokens: r.model.completion_tokens,
                },
            })
            .map_err(Into::into)
    }
}

fn table_checks(t: agent::TableChecks) -> wit::TableChecks {
    wit::TableChecks {
        table: t.table,
        rows: t.rows,
        null_keys: t.null_keys.map(|all| {
            all.into_iter()
                .map(|(column, count)| wit::ColumnCount { column, count })
                .collect()
        }),
        duplicate_keys: t.duplicate_keys,
        expectations: t.expectations.map(|all| {
            all.into_iter()
                .map(|(name, e)| wit::ExpectationCount {
                    name,
                    passed: e.passed,
                    failed: e.failed,
                    dropped: e.dropped,
                })
                .collect()
        }),
    }
}

fn planned(calls: Vec<databricks::plan::PlannedCall>) -> Vec<wit::PlannedCall> {
    calls
        .into_iter()
        .map(|c| wit::PlannedCall {
            method: c.method,
            path: c.path,
            body: c.body.map(|b| b.to_string()),
        })
        .collect()
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
            E::PipelineRefused(r) => wit::AgentError::PipelineRefused(wit::RefusedPipeline {
                pipeline_id: r.pipeline_id,
                creator: r.creator,
                reason: r.reason,
            }),
            E::ValidationFailed(v) => wit::AgentError::ValidationFailed(wit::InvalidPipeline {
                pipeline_id: v.pipeline_id,
                update_id: v.update_id,
                repair_rounds: v.repair_rounds,
                errors: v
                    .errors
                    .into_iter()
                    .map(|e| wit::ValidationError {
                        dataset: e.dataset,
                        file: e.file,
                        message: e.message,
                    })
                    .collect(),
            }),
            E::PolicyRefused(r) => wit::AgentError::PolicyRefused(wit::PolicyRefusal {
                field: r.field,
                rule: r.rule,
            }),
        }
    }
}

/// `wasi:http/incoming-handler`: the MLflow scoring protocol (`scoring::handle`), wrapped the
/// way wstd's `http_server` macro does it.
impl exports::wasi::http::incoming_handler::Guest for Component {
    fn handle(
        request: wstd::__internal::wasip2::http::types::IncomingRequest,
        response_out: wstd::__internal::wasip2::http::types::ResponseOutparam,
    ) {
        let responder = wstd::http::server::Responder::new(response_out);
        wstd::runtime::block_on(async move {
            match wstd::http::request::try_from_incoming(request) {
                Ok(request) => {
                    let response = scoring::handle(request).await;
                    if let Err(e) = responder.respond(response).await {
                        eprintln!("sdp-agent: cannot send the response: {e}");
                    }
                }
                Err(e) => responder.fail(e),
            }
        })
    }
}

export!(Component);
