//! One module per Databricks service the agent uses, over a shared JSON client.

pub mod client;
pub mod events;
pub mod jobs;
pub mod permissions;
pub mod pipelines;
pub mod plan;
pub mod run_now;
pub mod serving;
pub mod statements;
pub mod unity_catalog;
pub mod updates;
pub mod workspace;

pub use client::WorkspaceClient;
