//! Wall-clock deadlines for guest code via epoch interruption.
//!
//! A background thread bumps the engine's epoch every [`TICK`]; each store checks its own
//! deadline at every tick, yielding to the executor in between so one busy guest cannot
//! starve others sharing the runtime (e.g. a future `serve`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::{Engine, Store, UpdateDeadline};

pub const TICK: Duration = Duration::from_millis(100);

/// Stops its thread when dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("sdp-agent-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Traps guest code (with `Trap::Interrupt`) once `deadline` has passed.
///
/// This only fires while wasm runs; time spent blocked in host calls (HTTP, sleeps) is bounded
/// by the caller's `tokio::time::timeout` around the whole call.
pub fn arm<T: 'static>(store: &mut Store<T>, deadline: Instant) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
}
