//! The wasm side of the host: one wasmtime `Engine` and `Linker` for the process, components
//! compiled (or loaded from the cache, `cache.rs`) and pre-linked once when a plugin loads
//! ([`LoadedComponent`]), and a call that runs a function on an instance. By default every call
//! gets a fresh instance, so calls never share guest state; a plugin that opts into reuse
//! (`[instances] reuse = true`) gets its idle instances kept warm for the next call
//! (`pool.rs`). Each call is bounded by a deadline and a memory cap (`limits.rs`), and each
//! plugin by its fair share of instances and cores (`share.rs`).
//!
//! The runtime knows nothing of the host: a call is given a [`HostView`] (`view.rs`), and the
//! guest's imports (`imports.rs`) turn into requests to it. The data of each store is
//! `store.rs`; the types generated from the WIT world are in `bindings.rs`.

mod bindings;
mod cache;
mod dev;
mod imports;
mod limits;
mod pool;
mod share;
mod sources;
mod store;
mod view;

pub use bindings::wit;
pub use limits::{CallLimits, DeadlineExceeded, EPOCH_TICK, InstanceLimits};
pub use sources::Sources;
pub use view::{HostView, Pending, Reply, Request};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use bindings::{Plugin, PluginPre};
use limits::MemoryCap;
use pool::{Warm, WarmPool};
use share::Share;
use store::{CallCtx, arm, disarm, new_store};

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
    /// Hex sha256 of the component file (for a development engine, of the engine and the
    /// plugin's sources): identifies exactly which build is serving.
    pub sha256: String,
    /// The function names the component says it implements (`handler.functions`).
    pub exports: Vec<String>,
    /// Whether the compiled code came from the on-disk cache instead of the compiler.
    pub from_cache: bool,
    /// Whether instances are reused between calls (the plugin opted in).
    reuse: bool,
    /// Idle instances of this component, ready for the next call.
    warm: WarmPool,
    /// The plugin's share of instances and cores.
    share: Share,
    /// The plugin's sources when this is its development engine (`dev.rs`).
    sources: Option<Arc<Sources>>,
}

/// A component to load: its bytes, and what identifies them.
pub struct Loadable {
    pub bytes: Vec<u8>,
    /// Hex sha256 of `bytes`: the compiled-code cache's key.
    pub cache_key: String,
    /// Hex sha256 of what serves: of `bytes`, or for a development engine of the engine and
    /// the plugin's sources together.
    pub sha256: String,
    /// The plugin's sources, when `bytes` are its language's development engine.
    pub sources: Option<Arc<Sources>>,
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
    /// The plugin had as many calls in flight as it may (the cap) for longer than a call
    /// waits: this one never ran.
    Busy(u32),
}

/// Which function a call runs, named for the logs.
pub struct Target<'a> {
    pub component: &'a LoadedComponent,
    /// The plugin's name.
    pub plugin: &'a Arc<str>,
    /// The function's short name, as the component knows it (`create`).
    pub name: &'a str,
    /// The function's id (`todos::create`).
    pub id: &'a Arc<str>,
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
        bindings::engine::eddy::plugin::dev::add_to_linker::<_, HasSelf<_>>(&mut linker, |ctx| ctx)
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

    /// The limits this runtime was built with.
    pub fn limits(&self) -> &InstanceLimits {
        &self.limits
    }

    /// Compiles (or loads from the cache) a component (read from `path`), links it against the
    /// world and asks it which functions it implements. Fails on anything that is not a
    /// component of the `plugin` world. With `reuse`, its instances are kept warm between
    /// calls; `concurrency` caps its calls in flight (none: the host's default).
    pub async fn load(
        &self,
        path: &Path,
        loadable: Loadable,
        (reuse, concurrency): (bool, Option<u32>),
    ) -> anyhow::Result<LoadedComponent> {
        let Loadable { bytes, cache_key, sha256, sources } = loadable;
        let (engine, cache) = (self.engine.clone(), self.cache.clone());
        // Compiling takes milliseconds to seconds: keep it off the async workers.
        let (component, from_cache) = tokio::task::spawn_blocking(move || {
            if let Some(component) = cache.as_ref().and_then(|c| c.load(&engine, &cache_key)) {
                return Ok((component, true));
            }
            let component = Component::new(&engine, &bytes)?;
            if let Some(cache) = &cache {
                cache.store(&cache_key, &component);
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
        let mut store = new_store(&self.engine, self.limits.memory_bytes, sources.clone());
        // No view: a guest that calls the host while listing its functions gets an error.
        let unthrottled = Default::default();
        let names = ("<load>".into(), "<load>".into());
        arm(&mut store, None, names, self.limits.call_defaults(), unthrottled);
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow::anyhow!("failed to instantiate: {e}"))?;
        let exports = match instance.eddy_plugin_handler().call_functions(&mut store).await {
            Ok(exports) => exports,
            Err(e) => {
                // A development engine says on stderr why the plugin's code did not load, ended
                // by a blank line (what its language's runtime prints after it is noise here).
                let said = String::from_utf8_lossy(&store.data().output.contents()).into_owned();
                match said.split("\n\n").next().unwrap_or_default().trim() {
                    "" => anyhow::bail!("handler.functions() failed: {e}"),
                    said => anyhow::bail!("{said}"),
                }
            }
        };
        tracing::debug!(path = %path.display(), "component loaded");
        let warm = WarmPool::new(self.warm_total.clone());
        let share = Share::new(concurrency, &self.limits);
        let loaded =
            LoadedComponent { pre, sha256, exports, from_cache, reuse, warm, share, sources };
        if reuse {
            // The instance that answered `functions()` serves the first call.
            loaded.warm.put(store, instance, &self.limits);
        }
        Ok(loaded)
    }

    /// Runs `target` for `event` within `limits`, its imports answered by `view`: on a warm
    /// instance when the plugin reuses them and one is idle, else on a fresh one.
    pub async fn call(
        &self,
        target: Target<'_>,
        event: &wit::Event,
        view: Arc<dyn HostView>,
        limits: CallLimits,
    ) -> Result<wit::Output, CallFailure> {
        let component = target.component;
        let Some(_slot) = component.share.admit().await else {
            return Err(CallFailure::Busy(component.share.concurrency));
        };
        let (mut store, instance) = match component.warm.take(&self.limits) {
            Some(Warm { store, instance, .. }) => (store, Some(instance)),
            None => (new_store(&self.engine, limits.memory_bytes, component.sources.clone()), None),
        };
        let names = (target.plugin.clone(), target.id.clone());
        let lane = component.share.gate(self.limits.long_call);
        arm(&mut store, Some(view), names, limits, lane);
        let mut reusable = None;
        let call = async {
            let instance = match instance {
                Some(instance) => instance,
                None => component.pre.instantiate_async(&mut store).await?,
            };
            let handler = instance.eddy_plugin_handler();
            let result = handler.call_handle(&mut store, target.name, event).await;
            reusable = Some(instance);
            result
        };
        // The epoch stops a guest that computes too long; this stops one that waits too long
        // in the host (a slow nested call).
        let result = tokio::time::timeout(limits.timeout + EPOCH_TICK, call).await;
        let output = store.data().output.contents();
        if !output.is_empty() {
            tracing::info!(function = %target.id, output = %String::from_utf8_lossy(&output).trim_end(), "guest output");
        }
        // Reuse the instance only if the plugin opted in, after a clean return (an error
        // result is clean; a trap, a timeout or a hit memory cap is not), only while its
        // output pipe is empty, and only while it uses at most half its memory cap: a guest
        // whose heap creeps up call after call (componentize-js instances were measured
        // growing ~470 bytes a call) is retired and replaced by a fresh one long before a
        // call of its could fail at the cap.
        let MemoryCap { hit: memory_hit, peak, bytes } = store.data().memory;
        if let (Ok(Ok(_)), Some(instance)) = (&result, reusable)
            && component.reuse
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
            Ok(Err(trap)) if trap.is::<DeadlineExceeded>() => {
                Err(CallFailure::Timeout(limits.timeout))
            }
            Ok(Err(_)) if memory_hit => Err(CallFailure::OutOfMemory(limits.memory_bytes)),
            Ok(Err(trap)) => Err(CallFailure::Trap(trap)),
            Err(_elapsed) => Err(CallFailure::Timeout(limits.timeout)),
        }
    }
}
