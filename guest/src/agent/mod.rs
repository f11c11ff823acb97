//! The two entry points, as async functions over the service modules.

mod predict;
mod run;
mod sources;
mod staging;

pub use predict::{SubmittedRun, predict, submit};
pub use run::run;
