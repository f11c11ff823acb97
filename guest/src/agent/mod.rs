//! The two entry points, as async functions over the service modules.

mod predict;
mod run;
mod staging;

pub use predict::{SubmittedRun, predict, submit};
pub use run::run;
