//! The data of each instance's store ([`CallCtx`]): during a call, who runs, the host's view for
//! the guest's imports, the deadline and the memory cap; between calls (a warm instance),
//! nothing that keeps the host alive. WASI is linked so components built by ordinary toolchains
//! instantiate, but the context grants nothing: no files, no environment, no network; stdout
//! and stderr go to a small buffer that is logged.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::wit;
use super::limits::{CallLimits, DeadlineExceeded, MemoryCap};
use super::share::LaneGate;
use super::sources::Sources;
use super::view::HostView;

/// Bytes of guest stdout/stderr kept per call; more is dropped (the guest sees a closed pipe).
const GUEST_OUTPUT_LIMIT: usize = 16 * 1024;

/// What is known of one call, for its logs and the guest's imports.
pub struct CallCtx {
    /// The host, as the guest's imports reach it. Set for the length of a call only, so an
    /// idle instance holds no reference to the host (which holds the instance: a cycle).
    view: Option<Arc<dyn HostView>>,
    /// The plugin whose function runs in this store, for logs.
    pub(super) plugin: Arc<str>,
    /// The function's id (`todos::create`), for logs.
    pub(super) function: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) output: MemoryOutputPipe,
    pub(super) memory: MemoryCap,
    /// When the current call must end; checked at every epoch tick.
    deadline: Instant,
    /// The current call's turn on its plugin's lanes, once it runs long.
    pub(super) lane: LaneGate,
    /// The plugin's sources, when this store runs a development engine (`dev.rs`).
    pub(super) sources: Option<Arc<Sources>>,
}

impl CallCtx {
    /// The host's view, during a call.
    pub(super) fn view(&self) -> Result<&Arc<dyn HostView>, wit::Error> {
        self.view.as_ref().ok_or_else(|| wit::Error {
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

/// A fresh store: its own WASI context (granting nothing) and memory cap. Past a call's deadline
/// the guest is stopped at the next epoch tick; before it, the guest yields to other tasks at
/// every tick so a busy guest cannot starve them, and a long call without a lane waits for one
/// (`share.rs`).
pub fn new_store(
    engine: &Engine,
    memory_bytes: usize,
    sources: Option<Arc<Sources>>,
) -> Store<CallCtx> {
    let output = MemoryOutputPipe::new(GUEST_OUTPUT_LIMIT);
    let wasi = WasiCtx::builder().stdout(output.clone()).stderr(output.clone()).build();
    let ctx = CallCtx {
        view: None,
        plugin: "".into(),
        function: "".into(),
        wasi,
        table: ResourceTable::new(),
        output,
        memory: MemoryCap { bytes: memory_bytes, hit: false, peak: 0 },
        deadline: Instant::now(),
        lane: LaneGate::default(),
        sources,
    };
    let mut store = Store::new(engine, ctx);
    store.limiter(|ctx| &mut ctx.memory);
    store.epoch_deadline_callback(|ctx| {
        let (now, ctx) = (Instant::now(), ctx.data());
        if now >= ctx.deadline {
            return Err(wasmtime::Error::new(DeadlineExceeded));
        }
        Ok(match ctx.lane.wait(now, ctx.deadline) {
            Some(wait) => UpdateDeadline::YieldCustom(1, wait),
            None => UpdateDeadline::Yield(1),
        })
    });
    store
}

/// Prepares a store for one call of `function` (an id, for logs) of `plugin`, which takes its
/// turns on the lanes through `lane`.
pub fn arm(
    store: &mut Store<CallCtx>,
    view: Option<Arc<dyn HostView>>,
    (plugin, function): (Arc<str>, Arc<str>),
    limits: CallLimits,
    lane: LaneGate,
) {
    let ctx = store.data_mut();
    ctx.lane = lane;
    ctx.view = view;
    ctx.plugin = plugin;
    ctx.function = function;
    ctx.memory.hit = false;
    // A warm instance may come from a call with other limits (the one made at load time has
    // the host's): the cap is this call's.
    ctx.memory.bytes = limits.memory_bytes;
    ctx.deadline = Instant::now() + limits.timeout;
    store.set_epoch_deadline(1);
}

/// Clears what a store holds for a call (its view of the host, its lane), before it waits as a
/// warm instance.
pub fn disarm(store: &mut Store<CallCtx>) {
    let ctx = store.data_mut();
    ctx.view = None;
    ctx.lane = LaneGate::default();
}
