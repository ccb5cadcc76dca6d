//! The node's one wasmtime [`Engine`]: the pooling allocator sized from the node's
//! capacity, copy-on-write memory images, and epoch interruption driven by a ticker
//! thread, which is how CPU limits and deadlines reach running guests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::Error;

/// Address space the pool's linear-memory slots may reserve in all.
const ADDRESS_BUDGET: u64 = 64 << 40;

/// How big the node's instance pool is.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Guest instances that may exist at once, across every pod.
    pub instances: u32,
    /// The most linear memory one instance may have (the largest `limits.memory` a pod
    /// may ask for).
    pub max_memory_bytes: u64,
    /// How often running guests are interrupted to check their CPU share and deadline.
    pub tick: Duration,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            instances: 1000,
            max_memory_bytes: 4 << 30,
            tick: Duration::from_millis(5),
        }
    }
}

/// The engine, and the thread that advances its epoch. Dropping it stops the thread.
/// Bytes of a pooled memory or table kept resident (and zeroed) when its slot is freed.
const KEEP_RESIDENT: usize = 1 << 20;

pub struct Host {
    engine: Engine,
    tick: Duration,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Host {
    pub fn new(config: &HostConfig) -> Result<Host, Error> {
        let n = config.instances.max(1);
        // Each memory slot of the pool reserves address space: 4 GiB lets Cranelift drop
        // bounds checks; a very large pool gets less per slot (explicit checks), so the
        // whole pool stays within ADDRESS_BUDGET of the process's 128 TiB.
        let memories = n.saturating_mul(2);
        let reservation =
            ((ADDRESS_BUDGET / u64::from(memories)).min(4 << 30) / (64 << 10)).max(1) * (64 << 10);
        let max_memory = config.max_memory_bytes.min(reservation);
        let mut pool = PoolingAllocationConfig::default();
        // A component instance holds several core instances (its own, WASI adapters),
        // each with a memory and tables: room for a few of each per instance.
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(8))
            .total_memories(memories)
            .total_tables(n.saturating_mul(4))
            .total_stacks(n)
            .max_memory_size(usize::try_from(max_memory).unwrap_or(usize::MAX))
            // A slot given back is reset by zeroing the pages the instance dirtied (found
            // with PAGEMAP_SCAN on Linux 6.7+), up to this much, instead of madvise: no
            // TLB shootdown across the agent's threads for each request's instance. What
            // stays resident is bounded by slots × this.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut c = Config::new();
        c.memory_reservation(reservation)
            .wasm_component_model(true)
            .epoch_interruption(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&c).map_err(|e| Error::Engine {
            reason: format!("{e:#}"),
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (engine, stop, tick) = (engine.clone(), stop.clone(), config.tick);
            std::thread::Builder::new()
                .name("wasm-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| Error::Engine {
                    reason: format!("starting the epoch thread: {e}"),
                })?
        };
        Ok(Host {
            engine,
            tick: config.tick,
            stop,
            ticker: Some(ticker),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The epoch period: the granularity of CPU accounting and deadlines.
    pub fn tick(&self) -> Duration {
        self.tick
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}
