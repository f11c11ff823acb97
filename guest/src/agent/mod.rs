//! The two entry points, as async functions over the service modules.

mod attribute;
mod checks;
mod predict;
mod progress;
mod run;
mod sources;
pub(crate) mod staging;
mod validate;

pub use checks::TableChecks;
pub use predict::{SubmittedRun, predict, submit};
pub use run::run;

/// Set by the host to who asked (a user or application name, never a credential): `serve`'s
/// admitted caller, or `run --caller`. A payload cannot set it.
const CALLER_ENV: &str = "SDP_AGENT_CALLER";

/// Who asked for this call, when the host says.
fn caller() -> Option<String> {
    std::env::var(CALLER_ENV)
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
}
