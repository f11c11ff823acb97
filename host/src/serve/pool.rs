//! Sizing the pooling allocator for a server that runs at most `n` instances at once.
//!
//! Every slot is reserved up front (virtual memory only) and recycled between requests, so
//! instantiation is a copy-on-write remap instead of fresh mappings. The pool holds exactly
//! what the admission bound lets run, so it cannot be exhausted by load.

use crate::limits::Limits;
use wasmtime::PoolingAllocationConfig;

/// Wasm32 memories cannot address more than this: a larger `--max-memory` changes nothing.
const MAX_MEMORY_SLOT: usize = 4 << 30;

/// Core instances, memories and tables one instance of a wasm32-wasip2 component needs at
/// most: its main module plus the small shim modules `wit-component` adds. Checked at start-up
/// (`serve` fills every slot once before it listens).
const CORE_INSTANCES_PER_INSTANCE: u32 = 8;
const MEMORIES_PER_INSTANCE: u32 = 2;
const TABLES_PER_INSTANCE: u32 = 4;

/// The pool configuration and the per-memory reservation for `n` concurrent instances under
/// `limits` (`--max-memory`, which the store's limiter enforces across all memories, with its
/// own error message: each slot is sized so that the limiter, not the pool, refuses first).
pub fn config(n: u32, limits: Limits) -> (PoolingAllocationConfig, u64) {
    let slot = limits.max_memory.min(MAX_MEMORY_SLOT);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n * CORE_INSTANCES_PER_INSTANCE)
        .total_memories(n * MEMORIES_PER_INSTANCE)
        .total_tables(n * TABLES_PER_INSTANCE)
        .total_stacks(n)
        .max_memory_size(slot)
        // Recycled slots of a finished request are reused first, so the set of touched pages
        // (the RSS) follows the concurrency actually reached, not the pool's size.
        .max_unused_warm_slots(0);
    (pool, slot as u64)
}
