//! End-to-end tests live in `tests/`; see README.md.
//!
//! The library only carries fixtures that other crates' tests need too.

/// The sandbox probe component (`tests/components/probe`), built for wasm32-wasip2 by
/// `build.rs`. The host's own tests use it to call a hostile guest in-process.
pub const PROBE_WASM: &str = env!("SDP_PROBE_WASM");
