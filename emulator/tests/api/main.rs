//! HTTP-level tests of the emulator: one binary, a module per service.

mod chat;
mod client;
mod engine;
mod events;
mod gate;
mod jobs;
mod named_jobs;
mod oauth;
mod pipelines;
mod plans;
mod scim;
mod sql_statements;
mod unity_catalog;
mod workspace;

use sdp_emulator::{Emulator, EmulatorConfig};

pub use client::{Client, encode};

/// An emulator in the test's runtime plus a client carrying the right token.
pub async fn start(config: EmulatorConfig) -> (Emulator, Client) {
    let emulator = Emulator::start(config).await.expect("emulator starts");
    let client = Client::new(&emulator);
    (emulator, client)
}

pub async fn start_default() -> (Emulator, Client) {
    start(EmulatorConfig::default()).await
}
