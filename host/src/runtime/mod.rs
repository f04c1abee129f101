//! The wasm side of the host: one wasmtime `Engine` and `Linker` for the process, components
//! compiled and pre-linked once when a plugin loads (`PluginPre`), and a fresh `Store` per call
//! so calls never share guest state. The guest's imports (`state`, `streams`, `invoke`, `log`)
//! are implemented in [`imports`] on [`CallCtx`], the data of each call's store. WASI is linked
//! so components built by ordinary toolchains instantiate, but the context grants nothing: no
//! files, no environment, no network; stdout and stderr go to a small buffer that is logged.

mod cache;
mod imports;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    UpdateDeadline,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::context::Invocation;
use crate::host::Host;
use crate::registry::FunctionRef;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: { default: async },
    exports: { default: async },
});

pub use self::eddy::plugin::types as wit;

/// Bytes of guest stdout/stderr kept per call; more is dropped (the guest sees a closed pipe).
const GUEST_OUTPUT_LIMIT: usize = 16 * 1024;

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
    /// Instances alive at once (calls in flight, nested invokes included): sizes the pool.
    pub concurrent_instances: u32,
}

impl Default for InstanceLimits {
    fn default() -> Self {
        InstanceLimits {
            timeout: Duration::from_secs(5),
            memory_bytes: 64 << 20,
            max_memory_bytes: 1 << 30,
            concurrent_instances: 256,
        }
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

/// The memory cap of one call's instance; remembers whether the guest hit it.
struct MemoryCap {
    bytes: usize,
    hit: bool,
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

/// The process-wide engine and linker, and the compiled-component cache.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<CallCtx>>,
    cache: Option<Arc<cache::CompileCache>>,
    limits: InstanceLimits,
}

/// A compiled, pre-linked component, ready to instantiate.
pub struct LoadedComponent {
    pre: PluginPre<CallCtx>,
    /// Hex sha256 of the component file: identifies exactly which build is serving.
    pub sha256: String,
    /// The function names the component says it implements (`handler.functions`).
    pub exports: Vec<String>,
    /// Whether the compiled code came from the on-disk cache instead of the compiler.
    pub from_cache: bool,
}

/// The data of one call's store: who is running, why, and the host to call back into.
pub struct CallCtx {
    host: Host,
    /// The plugin whose function runs in this store.
    plugin: Arc<str>,
    /// The function's id (`todos::create`), for logs.
    function: Arc<str>,
    /// Why this call happens and where its writes go.
    invocation: Invocation,
    wasi: WasiCtx,
    table: ResourceTable,
    output: MemoryOutputPipe,
    memory: MemoryCap,
}

impl WasiView for CallCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// How a call failed on the wasm side.
#[derive(Debug)]
pub enum CallFailure {
    /// The function returned an error: shown to the caller as is.
    Guest(wit::Error),
    /// The guest trapped (panic, unreachable, out of bounds...) or could not be instantiated.
    Trap(wasmtime::Error),
    /// The call ran past its deadline and was stopped.
    Timeout(Duration),
    /// The guest asked for more memory than its cap and failed.
    OutOfMemory(usize),
}

impl Runtime {
    /// A runtime; compiled components are cached in `cache_dir` when given. Starts the epoch
    /// ticker thread, which stops when the engine is dropped.
    pub fn new(cache_dir: Option<PathBuf>, limits: &InstanceLimits) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // Instances come from a pool of pre-reserved slots: instantiation is a few page-table
        // operations, not an mmap, and the pool caps how many run at once.
        let n = limits.concurrent_instances;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            .total_stacks(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .max_memory_size(limits.max_memory_bytes)
            .max_component_instance_size(16 << 20)
            .max_core_instance_size(16 << 20)
            .table_elements(100_000)
            .max_memories_per_module(2)
            .max_tables_per_module(8);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |ctx| ctx)
            .map_err(anyhow::Error::from)?;
        let cache = cache_dir.map(|dir| Arc::new(cache::CompileCache::new(dir, &engine)));
        let weak = engine.weak();
        std::thread::Builder::new().name("eddy-epoch".into()).spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
        Ok(Runtime { engine, linker: Arc::new(linker), cache, limits: limits.clone() })
    }

    /// Compiles (or loads from the cache) the component `bytes` (read from `path`, with hash
    /// `sha256`), links it against the world and asks it which functions it implements. Fails
    /// on anything that is not a component of the `plugin` world.
    pub async fn load(
        &self,
        host: &Host,
        path: &Path,
        bytes: Vec<u8>,
        sha256: String,
    ) -> anyhow::Result<LoadedComponent> {
        let (engine, cache, key) = (self.engine.clone(), self.cache.clone(), sha256.clone());
        // Compiling takes milliseconds to seconds: keep it off the async workers.
        let (component, from_cache) = tokio::task::spawn_blocking(move || {
            if let Some(component) = cache.as_ref().and_then(|c| c.load(&engine, &key)) {
                return Ok((component, true));
            }
            let component = Component::new(&engine, &bytes)?;
            if let Some(cache) = &cache {
                cache.store(&key, &component);
            }
            Ok::<_, wasmtime::Error>((component, false))
        })
        .await?
        .map_err(|e| anyhow::anyhow!("not a valid wasm component: {e}"))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow::anyhow!("does not fit the eddy plugin world: {e}"))?;
        let pre = PluginPre::new(pre)
            .map_err(|e| anyhow::anyhow!("does not export eddy:plugin/handler: {e}"))?;
        let limits = (self.limits.timeout, self.limits.memory_bytes);
        let mut store =
            self.store(host, "<load>".into(), "<load>".into(), Invocation::root(), limits);
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow::anyhow!("failed to instantiate: {e}"))?;
        let exports = instance
            .eddy_plugin_handler()
            .call_functions(&mut store)
            .await
            .map_err(|e| anyhow::anyhow!("handler.functions() failed: {e}"))?;
        tracing::debug!(path = %path.display(), "component loaded");
        Ok(LoadedComponent { pre, sha256, exports, from_cache })
    }

    /// A fresh store for one call: its own WASI context (granting nothing), memory cap and
    /// deadline. Past the deadline the guest is stopped at the next epoch tick; before it, the
    /// guest yields to other tasks at every tick so a busy guest cannot starve them.
    fn store(
        &self,
        host: &Host,
        plugin: Arc<str>,
        function: Arc<str>,
        invocation: Invocation,
        (timeout, memory_bytes): (Duration, usize),
    ) -> Store<CallCtx> {
        let output = MemoryOutputPipe::new(GUEST_OUTPUT_LIMIT);
        let wasi = WasiCtx::builder().stdout(output.clone()).stderr(output.clone()).build();
        let ctx = CallCtx {
            host: host.clone(),
            plugin,
            function,
            invocation,
            wasi,
            table: ResourceTable::new(),
            output,
            memory: MemoryCap { bytes: memory_bytes, hit: false },
        };
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|ctx| &mut ctx.memory);
        let deadline = Instant::now() + timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// The deadline and memory cap of `function`: its own, its plugin's, or the host's.
    fn limits_of(&self, function: &FunctionRef) -> (Duration, usize) {
        let manifest = &function.plugin.manifest;
        let timeout_ms = manifest.functions.get(&*function.name).and_then(|f| f.timeout_ms);
        let timeout = timeout_ms
            .or(manifest.limits.timeout_ms)
            .map_or(self.limits.timeout, Duration::from_millis);
        let memory = manifest
            .limits
            .memory_mib
            .map_or(self.limits.memory_bytes, |mib| (mib as usize).saturating_mul(1 << 20));
        (timeout, memory)
    }

    /// Runs `function` on a fresh instance of its plugin's component.
    pub async fn call(
        &self,
        host: &Host,
        function: &FunctionRef,
        event: &wit::Event,
        invocation: &Invocation,
    ) -> Result<wit::Output, CallFailure> {
        let id = function.id.clone();
        let plugin = function.plugin.name.clone();
        // The guest's own imports run with its plugin's capabilities, whoever called it.
        let invocation = Invocation { plugin: Some(function.plugin.clone()), ..invocation.clone() };
        let limits = self.limits_of(function);
        let mut store = self.store(host, plugin, id.clone(), invocation, limits);
        let call = async {
            let instance = function.plugin.component.pre.instantiate_async(&mut store).await?;
            let handler = instance.eddy_plugin_handler();
            handler.call_handle(&mut store, &function.name, event).await
        };
        // The epoch stops a guest that computes too long; this stops one that waits too long
        // in the host (a slow nested call).
        let result = tokio::time::timeout(limits.0 + EPOCH_TICK, call).await;
        let output = store.data().output.contents();
        if !output.is_empty() {
            tracing::info!(function = %id, output = %String::from_utf8_lossy(&output).trim_end(), "guest output");
        }
        match result {
            Ok(Ok(Ok(output))) => Ok(output),
            Ok(Ok(Err(error))) => Err(CallFailure::Guest(error)),
            Ok(Err(trap)) if trap.is::<DeadlineExceeded>() => Err(CallFailure::Timeout(limits.0)),
            Ok(Err(_)) if store.data().memory.hit => Err(CallFailure::OutOfMemory(limits.1)),
            Ok(Err(trap)) => Err(CallFailure::Trap(trap)),
            Err(_elapsed) => Err(CallFailure::Timeout(limits.0)),
        }
    }
}
