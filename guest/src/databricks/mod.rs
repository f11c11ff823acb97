//! One module per Databricks service the agent uses, over a shared JSON client.

pub mod client;
pub mod jobs;
pub mod pipelines;
pub mod plan;
pub mod serving;
pub mod workspace;

pub use client::Workspace;
