//! Resource limits of one call's store: the guest's linear memory (`--max-memory`), and fixed
//! caps on instances, memories and tables.
//!
//! Counts and per-memory sizes are enforced by wasmtime's [`StoreLimits`]; around it,
//! [`Limiter`] budgets the *sum* of all linear memories (a component has several) and records
//! which limit refused a request, so a guest that then traps gets an error naming the limit
//! instead of a bare "unreachable executed".

use std::fmt;
use wasmtime::{ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};

/// `--max-memory` when not given, in MiB: ample for the agent (a few MiB), small enough that a
/// runaway guest cannot take the machine with it.
pub const DEFAULT_MAX_MEMORY_MIB: u64 = 256;

const MIB: usize = 1 << 20;
/// Core instances, memories and tables one component may create. The agent needs a handful
/// of each (its module plus the WASI adapter and shims); the caps only stop a pathological one.
const MAX_INSTANCES: usize = 100;
const MAX_MEMORIES: usize = 16;
const MAX_TABLES: usize = 100;
/// Table elements cost host memory (a pointer or more each) outside the linear-memory budget.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The limits of one store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of linear memory, all memories of the component together.
    pub max_memory: usize,
}

impl Limits {
    pub fn from_mib(mib: u64) -> Self {
        let bytes = usize::try_from(mib)
            .ok()
            .and_then(|m| m.checked_mul(MIB))
            .unwrap_or(usize::MAX);
        Self { max_memory: bytes }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::from_mib(DEFAULT_MAX_MEMORY_MIB)
    }
}

/// A request the limiter refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breach {
    /// Linear memory would have grown to `wanted` bytes in total; `limit` is `--max-memory`.
    Memory { wanted: usize, limit: usize },
    /// A table would have grown to `wanted` elements.
    TableElements { wanted: usize, limit: usize },
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Breach::Memory { wanted, limit } => write!(
                f,
                "the memory limit of {} (--max-memory): it asked for {} of linear memory",
                mib(limit),
                mib(wanted)
            ),
            Breach::TableElements { wanted, limit } => write!(
                f,
                "the table limit of {limit} elements: it asked for {wanted}"
            ),
        }
    }
}

impl Breach {
    /// How a call that ran into this limit is reported, by `run`/`predict` and by `serve`
    /// alike: the limit is the cause; the guest's trap (`then`) was only its reaction.
    pub fn stopped(self, who: &str, then: impl fmt::Display) -> String {
        format!("{who} exceeded {self}; it then stopped: {then}")
    }
}

fn mib(bytes: usize) -> String {
    let value = bytes as f64 / MIB as f64;
    if value.fract() == 0.0 {
        format!("{value} MiB")
    } else {
        format!("{value:.2} MiB")
    }
}

/// The `ResourceLimiter` of one store.
pub struct Limiter {
    inner: StoreLimits,
    max_memory: usize,
    /// Linear memory granted so far (memories never shrink).
    used: usize,
    /// The last memory grant, taken back if wasmtime then fails to grow.
    last_grant: usize,
    breach: Option<Breach>,
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        let inner = StoreLimitsBuilder::new()
            .memory_size(limits.max_memory)
            .memories(MAX_MEMORIES)
            .instances(MAX_INSTANCES)
            .tables(MAX_TABLES)
            .table_elements(MAX_TABLE_ELEMENTS)
            .build();
        Self {
            inner,
            max_memory: limits.max_memory,
            used: 0,
            last_grant: 0,
            breach: None,
        }
    }

    /// The first request refused in this store, if any.
    pub fn breach(&self) -> Option<Breach> {
        self.breach
    }

    fn refuse(&mut self, breach: Breach) -> wasmtime::Result<bool> {
        self.breach.get_or_insert(breach);
        // `false` makes `memory.grow` return -1, as the spec allows; the guest may cope.
        Ok(false)
    }
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl ResourceLimiter for Limiter {
    // Called with `current == 0` when a memory is created, so the total covers every memory.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grant = desired.saturating_sub(current);
        let wanted = self.used.saturating_add(grant);
        if wanted > self.max_memory {
            let limit = self.max_memory;
            return self.refuse(Breach::Memory { wanted, limit });
        }
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.used = wanted;
            self.last_grant = grant;
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.used -= std::mem::take(&mut self.last_grant);
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            let limit = MAX_TABLE_ELEMENTS;
            return self.refuse(Breach::TableElements {
                wanted: desired,
                limit,
            });
        }
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// Store data that carries a [`Limiter`].
pub trait HasLimiter {
    fn limiter(&mut self) -> &mut Limiter;
}

/// Puts a fresh `limits` limiter in charge of `store`. Call before instantiating.
pub fn apply<T: HasLimiter + 'static>(store: &mut Store<T>, limits: Limits) {
    *store.data_mut().limiter() = Limiter::new(limits);
    store.limiter(|data| data.limiter());
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 64 * 1024;

    #[test]
    fn budget_is_the_sum_of_all_memories() {
        let mut l = Limiter::new(Limits::from_mib(1));
        // Two memories created at 8 pages each: 1 MiB = 16 pages in total.
        assert!(l.memory_growing(0, 8 * PAGE, None).unwrap());
        assert!(l.memory_growing(0, 8 * PAGE, None).unwrap());
        assert_eq!(l.breach(), None);
        // One more page anywhere is over budget, although each memory alone is small.
        assert!(!l.memory_growing(8 * PAGE, 9 * PAGE, None).unwrap());
        assert_eq!(
            l.breach(),
            Some(Breach::Memory {
                wanted: MIB + PAGE,
                limit: MIB
            })
        );
        assert_eq!(
            l.breach().unwrap().to_string(),
            "the memory limit of 1 MiB (--max-memory): it asked for 1.06 MiB of linear memory"
        );
    }

    #[test]
    fn a_failed_grow_is_given_back_and_the_first_breach_kept() {
        let mut l = Limiter::new(Limits::from_mib(1));
        assert!(l.memory_growing(0, 8 * PAGE, None).unwrap());
        assert!(l.memory_growing(8 * PAGE, 16 * PAGE, None).unwrap());
        l.memory_grow_failed(wasmtime::format_err!("mmap failed"))
            .unwrap();
        // The 8 pages that did not materialise are available again.
        assert!(l.memory_growing(8 * PAGE, 16 * PAGE, None).unwrap());
        assert!(!l.memory_growing(16 * PAGE, 32 * PAGE, None).unwrap());
        assert!(!l.memory_growing(16 * PAGE, 17 * PAGE, None).unwrap());
        assert_eq!(
            l.breach(),
            Some(Breach::Memory {
                wanted: 2 * MIB,
                limit: MIB
            })
        );
    }

    #[test]
    fn a_memory_maximum_still_applies_and_is_no_breach() {
        let mut l = Limiter::new(Limits::from_mib(1));
        // The module's own declared maximum refuses it: the guest's business, not ours.
        assert!(!l.memory_growing(0, 4 * PAGE, Some(2 * PAGE)).unwrap());
        assert_eq!(l.breach(), None);
        assert!(l.memory_growing(0, 16 * PAGE, None).unwrap());
    }

    #[test]
    fn tables_and_counts_are_capped() {
        let mut l = Limiter::default();
        assert!(l.table_growing(0, 1000, None).unwrap());
        assert!(!l.table_growing(1000, MAX_TABLE_ELEMENTS + 1, None).unwrap());
        assert!(matches!(l.breach(), Some(Breach::TableElements { .. })));
        assert_eq!(l.instances(), MAX_INSTANCES);
        assert_eq!(l.memories(), MAX_MEMORIES);
        assert_eq!(l.tables(), MAX_TABLES);
        assert_eq!(Limits::default().max_memory, 256 * MIB);
    }

    #[test]
    fn a_breach_is_reported_as_the_cause_and_the_trap_as_its_reaction() {
        let breach = Breach::TableElements {
            wanted: 20,
            limit: 10,
        };
        assert_eq!(
            breach.stopped("run", "wasm trap: unreachable"),
            "run exceeded the table limit of 10 elements: it asked for 20; it then stopped: \
             wasm trap: unreachable"
        );
    }
}
