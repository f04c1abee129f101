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

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
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

/// The process-wide engine and linker, and the compiled-component cache.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<CallCtx>>,
    cache: Option<Arc<cache::CompileCache>>,
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
}

impl Runtime {
    /// A runtime; compiled components are cached in `cache_dir` when given.
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |ctx| ctx)
            .map_err(anyhow::Error::from)?;
        let cache = cache_dir.map(|dir| Arc::new(cache::CompileCache::new(dir, &engine)));
        Ok(Runtime { engine, linker: Arc::new(linker), cache })
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
        let mut store = self.store(host, "<load>".into(), "<load>".into(), Invocation::root());
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

    fn store(
        &self,
        host: &Host,
        plugin: Arc<str>,
        function: Arc<str>,
        invocation: Invocation,
    ) -> Store<CallCtx> {
        let output = MemoryOutputPipe::new(GUEST_OUTPUT_LIMIT);
        let wasi = WasiCtx::builder().stdout(output.clone()).stderr(output.clone()).build();
        Store::new(
            &self.engine,
            CallCtx {
                host: host.clone(),
                plugin,
                function,
                invocation,
                wasi,
                table: ResourceTable::new(),
                output,
            },
        )
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
        let mut store = self.store(host, plugin, id.clone(), invocation.clone());
        let result = async {
            let instance = function.plugin.component.pre.instantiate_async(&mut store).await?;
            let handler = instance.eddy_plugin_handler();
            handler.call_handle(&mut store, &function.name, event).await
        }
        .await;
        let output = store.data().output.contents();
        if !output.is_empty() {
            tracing::info!(function = %id, output = %String::from_utf8_lossy(&output).trim_end(), "guest output");
        }
        match result {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(error)) => Err(CallFailure::Guest(error)),
            Err(trap) => Err(CallFailure::Trap(trap)),
        }
    }
}
