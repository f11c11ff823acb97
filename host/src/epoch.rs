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

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Instance, Module, Trap};

    /// `(module (func (export "spin") (loop (br 0))))`, hand-assembled (no WAT parser here).
    const SPIN: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
        0x03, 0x02, 0x01, 0x00, // func 0 has type 0
        0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // export "spin"
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop { br 0 }
    ];

    #[tokio::test]
    async fn busy_guest_is_interrupted_at_the_deadline() {
        let engine = crate::component::new_engine().unwrap();
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
