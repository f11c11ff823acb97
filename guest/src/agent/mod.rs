//! The two entry points, as async functions over the service modules.

mod predict;
mod run;

pub use predict::predict;
pub use run::run;
