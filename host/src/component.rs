//! The engine and the pre-instantiated component: built once, used for every call.

use crate::compile_cache::{cache_dir, cache_file_name, write_atomic};
use crate::epoch::EpochTicker;
use crate::store::AgentState;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// Typed bindings for `wit/agent.wit`'s `entry-points` (`predict` and `run`; the WASI imports
/// are linked from wasmtime-wasi, the HTTP export is `ProxyPre`'s). Exports are called
/// asynchronously because the guest's HTTP and clock imports are async host functions.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "entry-points",
        exports: { default: async },
    });
}

pub use bindings::EntryPointsPre;
pub use bindings::sdp::agent::types::{
    AgentError, PipelineResult, PlannedCall, SubmittedRun, TableChecks,
};
#[cfg(test)]
pub use bindings::sdp::agent::types::{ColumnCount, ExpectationCount};

/// Which of the component's `entry-points` exports to call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    Predict,
    Run,
}

impl Export {
    pub fn name(self) -> &'static str {
        match self {
            Export::Predict => "predict",
            Export::Run => "run",
        }
    }
}

/// The component built with this binary (see build.rs).
pub static EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("SDP_AGENT_GUEST_WASM"));

/// How a runtime's engine allocates instances.
pub enum Allocation {
    /// On demand: one-shot calls (`predict`, `run`, `demo`).
    OnDemand,
    /// From slots reserved up front and recycled (`serve`, see `serve::pool`); each linear
    /// memory slot is `memory_reservation` bytes (and so its limit).
    Pooling {
        pool: PoolingAllocationConfig,
        memory_reservation: u64,
    },
}

/// Everything that is expensive to set up and safe to share between calls (and threads).
pub struct Runtime {
    engine: Engine,
    pre: EntryPointsPre<AgentState>,
    /// `wasi:http/incoming-handler`, when the component exports it (for `serve`).
    proxy: Option<ProxyPre<AgentState>>,
    _ticker: EpochTicker,
}

impl Runtime {
    /// Compiles (or loads from cache) `wasm` and links it against WASI + wasi-http.
    #[cfg(test)]
    pub fn new(wasm: &[u8]) -> anyhow::Result<Self> {
        Self::with_engine(new_engine()?, wasm)
    }

    /// Like `new`, on an engine configured by the caller (e.g. pooling for `serve`).
    pub fn with_engine(engine: Engine, wasm: &[u8]) -> anyhow::Result<Self> {
        let component = load_component(&engine, wasm)?;
        let linker = linker(&engine)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(to_anyhow)
            .context("the component's imports cannot be satisfied (WASI 0.2 + wasi:http only)")?;
        // Optional: a component without the HTTP export still runs `predict` and `run`.
        let proxy = ProxyPre::new(pre.clone()).ok();
        let pre = EntryPointsPre::new(pre)
            .map_err(to_anyhow)
            .context("the component does not export sdp:agent/agent@0.1.0")?;
        let ticker = EpochTicker::start(&engine);
        Ok(Self {
            engine,
            pre,
            proxy,
            _ticker: ticker,
        })
    }

    /// The component of `--component PATH` (else the embedded one) on a new engine, compiled
    /// off the async workers: compiling is CPU-bound.
    pub async fn load(path: Option<PathBuf>, allocation: Allocation) -> anyhow::Result<Arc<Self>> {
        tokio::task::spawn_blocking(move || {
            let engine = match allocation {
                Allocation::OnDemand => new_engine()?,
                Allocation::Pooling {
                    pool,
                    memory_reservation,
                } => new_pooling_engine(pool, memory_reservation)?,
            };
            Self::from_source_on(engine, path.as_deref()).map(Arc::new)
        })
        .await
        .context("loading the component")?
    }

    /// From `--component PATH` when given, else the embedded component.
    #[cfg(test)]
    pub fn from_source(path: Option<&Path>) -> anyhow::Result<Self> {
        Self::from_source_on(new_engine()?, path)
    }

    /// From `--component PATH` when given, else the embedded component, on `engine`.
    fn from_source_on(engine: Engine, path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            Some(path) => {
                let wasm = std::fs::read(path)
                    .with_context(|| format!("reading component {}", path.display()))?;
                Self::with_engine(engine, &wasm)
                    .with_context(|| format!("loading component {}", path.display()))
            }
            None => Self::with_engine(engine, EMBEDDED_COMPONENT)
                .context("loading the embedded component"),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn pre(&self) -> &EntryPointsPre<AgentState> {
        &self.pre
    }

    /// `None` when the component does not export `wasi:http/incoming-handler`.
    pub fn proxy(&self) -> Option<&ProxyPre<AgentState>> {
        self.proxy.as_ref()
    }
}

/// WASI 0.2 plus wasi-http's types and outgoing handler: everything the component may import.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<AgentState>> {
    let mut linker = Linker::<AgentState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(to_anyhow)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(to_anyhow)?;
    Ok(linker)
}

/// Async host calls and epoch-based deadlines; instances allocated on demand (one-shot calls).
pub(crate) fn new_engine() -> anyhow::Result<Engine> {
    Engine::new(&base_config()).map_err(to_anyhow)
}

/// The same engine settings with the pooling allocator, for a server that instantiates per
/// request: slots are reserved once and recycled instead of mapped and unmapped each time.
/// `memory_reservation` is the virtual size of each linear memory slot (and so its limit).
pub(crate) fn new_pooling_engine(
    pool: PoolingAllocationConfig,
    memory_reservation: u64,
) -> anyhow::Result<Engine> {
    let mut config = base_config();
    config.memory_reservation(memory_reservation);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(to_anyhow)
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}

/// `Component::new` with an on-disk cache of the compiled artifact.
pub fn load_component(engine: &Engine, wasm: &[u8]) -> anyhow::Result<Component> {
    let path = cache_dir().join(cache_file_name(wasm, engine));
    if path.is_file() {
        // SAFETY: the file is one we wrote with `Component::serialize` for an engine with the
        // same compatibility hash (part of its name), renamed into place atomically; wasmtime
        // also checks the header. A cache directory writable by an attacker would already let
        // them replace this binary.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                tracing::debug!(path = %path.display(), "loaded compiled component from cache");
                return Ok(component);
            }
            Err(e) => tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e}"),
        }
    }
    let component = Component::new(engine, wasm)
        .map_err(to_anyhow)
        .context("not a valid WebAssembly component")?;
    match component.serialize() {
        Ok(bytes) => match write_atomic(&path, &bytes) {
            Ok(()) => tracing::debug!(path = %path.display(), "cached compiled component"),
            Err(e) => tracing::debug!(path = %path.display(), "cache not writable: {e}"),
        },
        Err(e) => tracing::debug!("cannot serialize compiled component: {e}"),
    }
    Ok(component)
}

/// wasmtime 48 has its own error type; keep its cause chain when moving to `anyhow`.
pub fn to_anyhow(e: wasmtime::Error) -> anyhow::Error {
    anyhow::Error::from_boxed(e.into_boxed_dyn_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epoch::arm;
    use std::time::{Duration, Instant};
    use wasmtime::{Instance, Module, Store, Trap};

    /// `(module (func (export "spin") (loop (br 0))))`, hand-assembled (no WAT parser here).
    const SPIN: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
        0x03, 0x02, 0x01, 0x00, // func 0 has type 0
        0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // export "spin"
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop { br 0 }
    ];

    /// The engine `new_engine` builds, with `epoch`'s ticker, traps a busy guest at its deadline.
    #[tokio::test]
    async fn busy_guest_is_interrupted_at_the_deadline() {
        let engine = new_engine().unwrap();
        let _ticker = EpochTicker::start(&engine);
        let module = Module::new(&engine, SPIN).unwrap();
        let mut store = Store::new(&engine, ());
        let started = Instant::now();
        arm(&mut store, started + Duration::from_millis(300));
        let instance = Instance::new_async(&mut store, &module, &[]).await.unwrap();
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        let err = spin.call_async(&mut store, ()).await.unwrap_err();
        assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::Interrupt));
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    }
}
