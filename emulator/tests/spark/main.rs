//! The Spark engine behind the emulator (needs `scripts/setup --spark`, which `scripts/setup
//! --test` runs): a syntax error, a wrong column and a missing table each come back as the
//! error event a workspace would write, the fixed pipeline validates, and a real update writes
//! tables with rows; the demo model's pipeline, flawed first, is repaired and runs.
//! `cdc.rs`: AUTO CDC flows (SQL and Python, SCD types 1 and 2) run into their targets' rows.
//! `warm.rs`: one server per engine, pipelines isolated on it.
//! Slow: each test's engine starts a Spark Connect server (~5-40 s), then updates run warm.
//!
//! Without the engine these tests skip with a message, unless `SDP_REQUIRE_SPARK` is set (as
//! `scripts/test`, hence CI, does): then a missing engine fails them.

#[allow(dead_code)]
#[path = "../api/client.rs"]
mod client;
#[path = "../api/plans.rs"]
mod plans;
use client::Client;

mod cdc;
mod events;
mod pipelines;
mod rules;
mod statements;
mod support;
mod warm;
