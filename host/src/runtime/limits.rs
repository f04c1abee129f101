//! What bounds a guest: the deadline of a call (epoch interruption), the memory cap of an
//! instance (a `ResourceLimiter`), the sizes of the instance pool, and a plugin's share of it
//! (`share.rs`).

use std::time::Duration;

use wasmtime::ResourceLimiter;

/// How often the epoch ticks. A running guest yields to other tasks at every tick, and a call
/// past its deadline ends within one tick of it.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Limits every instance runs under; plugins may lower or raise them within the host's bounds.
#[derive(Debug, Clone)]
pub struct InstanceLimits {
    /// Deadline of one call, unless the manifest says otherwise.
    pub timeout: Duration,
    /// Memory cap of one instance, unless the manifest says otherwise.
    pub memory_bytes: usize,
    /// Highest memory cap a manifest may ask for (sizes the pool's memory slots).
    pub max_memory_bytes: usize,
    /// Instances alive at once (calls in flight, nested invokes and warm idle instances
    /// included): sizes the pool.
    pub concurrent_instances: u32,
    /// Calls of one plugin in flight at once (unless its manifest sets `[limits] concurrency`):
    /// well below `concurrent_instances`, so a plugin that is flooded or stuck leaves the rest
    /// of the pool to the others. Calls over it wait briefly, then are refused as unavailable.
    pub plugin_concurrency: u32,
    /// How long a call over its plugin's cap waits for a slot before it is refused.
    pub queue_wait: Duration,
    /// A call running longer than this is a long call: it computes on only when it has one of
    /// its plugin's lanes.
    pub long_call: Duration,
    /// A plugin's long calls computing at once: half the machine's cores by default, so a
    /// plugin whose calls spin leaves the other half to everyone else.
    pub long_call_lanes: usize,
    /// Idle warm instances kept per plugin between calls (for plugins that opt into reuse).
    /// As many as the calls a plugin may have in flight at once (`plugin_concurrency`), so a
    /// steady load never throws away an instance it will need again: with 32, the todo
    /// example's requests and trigger handlers together made and dropped an instance for many
    /// calls (BENCHMARKS.md, the shared store).
    pub warm_per_plugin: usize,
    /// Idle warm instances kept across all plugins: the rest of the pool stays free for calls.
    pub warm_total: usize,
    /// A warm instance idle this long is dropped (its memory returned) when its plugin is next
    /// called.
    pub warm_idle: Duration,
}

impl Default for InstanceLimits {
    fn default() -> Self {
        let plugin_concurrency = 64;
        InstanceLimits {
            timeout: Duration::from_secs(5),
            memory_bytes: 64 << 20,
            max_memory_bytes: 1 << 30,
            concurrent_instances: 256,
            plugin_concurrency,
            queue_wait: Duration::from_millis(250),
            long_call: Duration::from_millis(20),
            long_call_lanes: std::thread::available_parallelism().map_or(1, |n| n.get() / 2).max(1),
            warm_per_plugin: plugin_concurrency as usize,
            warm_total: 128,
            warm_idle: Duration::from_secs(30),
        }
    }
}

/// The deadline and memory cap of one call (its function's, its plugin's or the host's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// How long the call may run, waits in the host included.
    pub timeout: Duration,
    /// How large the instance's memory may grow.
    pub memory_bytes: usize,
}

impl InstanceLimits {
    /// The host's own limits for a call whose plugin sets none.
    pub fn call_defaults(&self) -> CallLimits {
        CallLimits { timeout: self.timeout, memory_bytes: self.memory_bytes }
    }
}

/// Why a call was stopped from outside: its deadline passed.
#[derive(Debug)]
pub struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the call ran past its deadline")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// The memory cap of an instance; remembers whether the guest hit it during the current call,
/// and the largest size any of its memories has grown to.
pub struct MemoryCap {
    pub bytes: usize,
    pub hit: bool,
    pub peak: usize,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Refuse, don't trap: a guest that handles allocation failure may go on; one that
        // does not (most) traps, and the caller hears it ran out of memory.
        let allowed = desired <= self.bytes;
        self.hit |= !allowed;
        if allowed {
            self.peak = self.peak.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
