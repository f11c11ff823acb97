//! The two entry points, as async functions over the service modules.

mod predict;
mod progress;
mod run;
mod sources;
pub(crate) mod staging;
mod validate;

pub use predict::{SubmittedRun, predict, submit};
pub use run::run;
