//! The wasm side of the host: one wasmtime `Engine` and `Linker` for the process, components
//! compiled and pre-linked once when a plugin loads (`PluginPre`), and a fresh `Store` and
//! instance per call so calls never share guest state — unless the plugin opts into reuse
//! (`[instances] reuse = true`), when idle instances wait warm for the next call (see
//! [`WarmPool`]). The guest's imports (`state`, `streams`, `invoke`, `log`) are implemented in
//! [`imports`] on [`CallCtx`], the data of each call's store. WASI is linked so components built
//! by ordinary toolchains instantiate, but the context grants nothing: no files, no
//! environment, no network; stdout and stderr go to a small buffer that is logged.

mod cache;
mod imports;
mod limits;

use limits::MemoryCap;
pub use limits::{DeadlineExceeded, EPOCH_TICK, InstanceLimits};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
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

/// Clears what a store holds for a call, before it waits as a warm instance.
fn disarm(store: &mut Store<CallCtx>) {
    let ctx = store.data_mut();
    ctx.host = None;
    ctx.invocation = Invocation::root();
}

/// Bytes of guest stdout/stderr kept per call; more is dropped (the guest sees a closed pipe).
const GUEST_OUTPUT_LIMIT: usize = 16 * 1024;

/// The process-wide engine and linker, and the compiled-component cache.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<CallCtx>>,
    cache: Option<Arc<cache::CompileCache>>,
    limits: InstanceLimits,
    /// Idle warm instances of every plugin together (at most [`InstanceLimits::warm_total`]).
    warm_total: Arc<AtomicUsize>,
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
    /// Idle instances of this component, ready for the next call.
    warm: WarmPool,
}

/// An instantiated component between calls.
struct Warm {
    store: Store<CallCtx>,
    instance: Plugin,
    /// When it went idle.
    since: Instant,
}

/// The idle instances of one component, most recently used on top: a call takes the top one,
/// so under a steady load the same few stay hot in the caches and the bottom ones age out.
/// Bounded per component and across components (the pool's other slots stay free for calls in
/// flight); an instance idle longer than [`InstanceLimits::warm_idle`] is dropped at the next
/// call. They go with the component when a reload replaces it.
struct WarmPool {
    idle: std::sync::Mutex<Vec<Warm>>,
    /// Idle instances of all components, this one's included.
    total: Arc<AtomicUsize>,
}

impl WarmPool {
    fn take(&self, limits: &InstanceLimits) -> Option<Warm> {
        let (warm, stale) = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let stale = match idle.first() {
                Some(oldest) if oldest.since.elapsed() > limits.warm_idle => Some(idle.remove(0)),
                _ => None,
            };
            (idle.pop(), stale)
        };
        let taken = usize::from(warm.is_some()) + usize::from(stale.is_some());
        self.total.fetch_sub(taken, Ordering::Relaxed);
        // Dropped outside the lock: returning an instance's memory takes system calls.
        drop(stale);
        warm
    }

    fn put(&self, store: Store<CallCtx>, instance: Plugin, limits: &InstanceLimits) {
        let reserved = self
            .total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limits.warm_total).then_some(n + 1)
            })
            .is_ok();
        if !reserved {
            return;
        }
        let warm = Warm { store, instance, since: Instant::now() };
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < limits.warm_per_plugin {
            idle.push(warm);
        } else {
            drop(idle);
            self.total.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for WarmPool {
    fn drop(&mut self) {
        let idle = self.idle.get_mut().unwrap_or_else(|e| e.into_inner());
        self.total.fetch_sub(idle.len(), Ordering::Relaxed);
    }
}

/// The data of an instance's store: during a call, who is running, why, and the host to call
/// back into; between calls (a warm instance), nothing that keeps the host alive.
pub struct CallCtx {
    /// Set for the length of a call only, so an idle instance holds no reference to the host
    /// (which holds the instance: a cycle).
    host: Option<Host>,
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
    /// When the current call must end; checked at every epoch tick.
    deadline: Instant,
}

impl CallCtx {
    /// The host, during a call.
    fn host(&self) -> Result<&Host, wit::Error> {
        self.host.as_ref().ok_or_else(|| wit::Error {
            code: wit::ErrorCode::Internal,
            message: "host calls are only possible during a call".into(),
        })
    }
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
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            cache,
            limits: limits.clone(),
            warm_total: Default::default(),
        })
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
        reuse: bool,
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
        let mut store = self.store(self.limits.memory_bytes);
        self.arm(
            &mut store,
            host,
            "<load>".into(),
            "<load>".into(),
            Invocation::root(),
            (self.limits.timeout, self.limits.memory_bytes),
        );
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
        let warm = WarmPool { idle: Default::default(), total: self.warm_total.clone() };
        let loaded = LoadedComponent { pre, sha256, exports, from_cache, warm };
        if reuse {
            // The instance that answered `functions()` serves the first call.
            disarm(&mut store);
            loaded.warm.put(store, instance, &self.limits);
        }
        Ok(loaded)
    }

    /// A fresh store: its own WASI context (granting nothing) and memory cap. Past a call's
    /// deadline the guest is stopped at the next epoch tick; before it, the guest yields to
    /// other tasks at every tick so a busy guest cannot starve them.
    fn store(&self, memory_bytes: usize) -> Store<CallCtx> {
        let output = MemoryOutputPipe::new(GUEST_OUTPUT_LIMIT);
        let wasi = WasiCtx::builder().stdout(output.clone()).stderr(output.clone()).build();
        let ctx = CallCtx {
            host: None,
            plugin: "".into(),
            function: "".into(),
            invocation: Invocation::root(),
            wasi,
            table: ResourceTable::new(),
            output,
            memory: MemoryCap { bytes: memory_bytes, hit: false, peak: 0 },
            deadline: Instant::now(),
        };
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|ctx| &mut ctx.memory);
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// Prepares a store for one call.
    fn arm(
        &self,
        store: &mut Store<CallCtx>,
        host: &Host,
        plugin: Arc<str>,
        function: Arc<str>,
        invocation: Invocation,
        (timeout, memory_bytes): (Duration, usize),
    ) {
        let ctx = store.data_mut();
        ctx.host = Some(host.clone());
        ctx.plugin = plugin;
        ctx.function = function;
        ctx.invocation = invocation;
        ctx.memory.hit = false;
        // A warm instance may come from a call with other limits (the one made at load time
        // has the host's): the cap is this call's.
        ctx.memory.bytes = memory_bytes;
        ctx.deadline = Instant::now() + timeout;
        store.set_epoch_deadline(1);
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
        let component = &function.plugin.component;
        let (mut store, instance) = match component.warm.take(&self.limits) {
            Some(Warm { store, instance, .. }) => (store, Some(instance)),
            None => (self.store(limits.1), None),
        };
        self.arm(&mut store, host, plugin, id.clone(), invocation, limits);
        let mut reusable = None;
        let call = async {
            let instance = match instance {
                Some(instance) => instance,
                None => component.pre.instantiate_async(&mut store).await?,
            };
            let handler = instance.eddy_plugin_handler();
            let result = handler.call_handle(&mut store, &function.name, event).await;
            reusable = Some(instance);
            result
        };
        // The epoch stops a guest that computes too long; this stops one that waits too long
        // in the host (a slow nested call).
        let result = tokio::time::timeout(limits.0 + EPOCH_TICK, call).await;
        let output = store.data().output.contents();
        if !output.is_empty() {
            tracing::info!(function = %id, output = %String::from_utf8_lossy(&output).trim_end(), "guest output");
        }
        // Reuse the instance only if the plugin opted in, after a clean return (an error
        // result is clean; a trap, a timeout or a hit memory cap is not), only while its
        // output pipe is empty, and only while it uses at most half its memory cap: a guest
        // whose heap creeps up call after call (componentize-js instances were measured
        // growing ~470 bytes a call) is retired and replaced by a fresh one long before a
        // call of its could fail at the cap.
        let MemoryCap { hit: memory_hit, peak, bytes } = store.data().memory;
        if let (Ok(Ok(_)), Some(instance)) = (&result, reusable)
            && function.plugin.manifest.instances.reuse
            && output.is_empty()
            && !memory_hit
            && peak <= bytes / 2
        {
            disarm(&mut store);
            component.warm.put(store, instance, &self.limits);
        }
        match result {
            Ok(Ok(Ok(output))) => Ok(output),
            Ok(Ok(Err(error))) => Err(CallFailure::Guest(error)),
            Ok(Err(trap)) if trap.is::<DeadlineExceeded>() => Err(CallFailure::Timeout(limits.0)),
            Ok(Err(_)) if memory_hit => Err(CallFailure::OutOfMemory(limits.1)),
            Ok(Err(trap)) => Err(CallFailure::Trap(trap)),
            Err(_elapsed) => Err(CallFailure::Timeout(limits.0)),
        }
    }
}
