//! The composition root: [`Host`] builds every part and wires them together — the wasm
//! runtime, the registry of loaded plugins and their loader, state, streams, the calls that run
//! functions, and the trigger dispatcher — and is the one cheap handle (an `Arc`) the network
//! edge serves with. Only the edge and `serve` import this module; every other part is handed
//! what it needs here, so the imports between parts run one way (`ARCHITECTURE.md`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::calls::Calls;
use crate::plugins::engines::DevEngines;
use crate::plugins::registry::Registry;
use crate::plugins::reload::Loader;
use crate::runtime::{InstanceLimits, Runtime};
use crate::state::engine::Engine;
use crate::state::postgres::Postgres;
use crate::state::{QuotaLimits, Recovered, State};
use crate::streams::{Streams, StreamsConfig};
use crate::triggers::{Delivery, DeliveryPolicy, Dispatcher, Queues, Triggers};

/// Settings of one host process.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where plugin folders live.
    pub plugins_dir: PathBuf,
    /// Where compiled components are cached (none: compile on every load).
    pub cache_dir: Option<PathBuf>,
    /// A trigger cascade deeper than this (a handler's write firing a handler whose write fires
    /// ...) is stopped and logged: it is almost always a plugin bug, and unbounded it never ends.
    pub max_cascade_depth: u32,
    /// `invoke` calls nested deeper than this fail, so a function calling itself cannot exhaust
    /// the host's memory.
    pub max_invoke_depth: u32,
    pub streams: StreamsConfig,
    /// Retries of failed trigger deliveries.
    pub delivery: DeliveryPolicy,
    /// Deadlines, memory caps and the instance pool.
    pub limits: InstanceLimits,
    /// In development mode, the engines that serve JavaScript and Python plugins from source.
    pub engines: Option<Arc<dyn DevEngines>>,
    /// How many bytes the embedded store may hold (`[quota]`).
    pub quota: QuotaLimits,
}

impl HostConfig {
    pub fn new(plugins_dir: impl Into<PathBuf>) -> HostConfig {
        HostConfig {
            plugins_dir: plugins_dir.into(),
            cache_dir: None,
            max_cascade_depth: 8,
            max_invoke_depth: 16,
            streams: StreamsConfig::default(),
            delivery: DeliveryPolicy::default(),
            limits: InstanceLimits::default(),
            engines: None,
            quota: QuotaLimits::default(),
        }
    }
}

/// Where a host keeps its state.
pub enum Storage {
    /// The embedded store over `engine` (redb on disk, or memory): this host alone.
    Embedded(Box<dyn Engine>),
    /// The shared store in the PostgreSQL database at `url`, which other hosts may share.
    /// `host` names this host among them (see `serve.rs`): a host restarted under the same
    /// name takes its trigger lanes back at once instead of waiting for their leases.
    Postgres { url: String, host: String },
}

/// A handle to the running host. Clone it freely.
#[derive(Clone)]
pub struct Host(Arc<Shared>);

struct Shared {
    registry: Arc<Registry>,
    loader: Loader,
    state: State,
    streams: Streams,
    calls: Calls,
    triggers: Triggers,
    /// What the dispatcher needs to start, until [`Host::start_triggers`] starts it (once
    /// plugins are loaded, or recovered events would find no subscribers and be retired
    /// undelivered).
    pending: std::sync::Mutex<Option<PendingDispatch>>,
}

/// What the trigger dispatcher starts with: the lanes' work, their queues, what the outbox held
/// at start (embedded store), and the shared store (whose outbox the lanes read).
type PendingDispatch = (Dispatcher, Queues, Recovered, Option<(Postgres, String)>);

impl Host {
    /// Starts a host over `storage` with no plugins loaded yet. Trigger delivery starts with
    /// [`Host::start_triggers`].
    pub async fn start(config: HostConfig, storage: Storage) -> anyhow::Result<Host> {
        let (triggers, queues) = Triggers::new(matches!(storage, Storage::Postgres { .. }));
        let registry = Arc::new(Registry::new());
        let on_event = {
            let triggers = triggers.clone();
            Arc::new(move |event| triggers.push(Delivery::state(event)))
        };
        let bound_to = {
            let registry = registry.clone();
            Arc::new(move |scope: &str, key: &str| registry.snapshot().bound_to(scope, key))
        };
        let on_stream = {
            let triggers = triggers.clone();
            Arc::new(move |event| triggers.push(Delivery::Stream(event)))
        };
        let (state, recovered, postgres) = match storage {
            Storage::Embedded(engine) => {
                let quota = config.quota.clone();
                let (state, recovered) = State::open(engine, on_event, bound_to, quota)?;
                (state, recovered, None)
            }
            Storage::Postgres { url, host } => {
                let (state, postgres) = State::open_postgres(&url, on_event, bound_to).await?;
                (state, Recovered::default(), Some((postgres, host)))
            }
        };
        let streams = match &postgres {
            Some((postgres, _)) => {
                Streams::shared(config.streams.clone(), on_stream, postgres.clone()).await?
            }
            None => Streams::new(config.streams.clone(), on_stream),
        };
        let runtime = Runtime::new(config.cache_dir.clone(), &config.limits)?;
        let mut loader = Loader::new(runtime.clone(), registry.clone(), config.plugins_dir.clone());
        if let Some(engines) = config.engines.clone() {
            loader = loader.with_engines(engines);
        }
        let calls = Calls::new(
            runtime,
            registry.clone(),
            state.clone(),
            streams.clone(),
            config.max_invoke_depth,
        );
        let dispatcher = Dispatcher {
            calls: calls.clone(),
            registry: registry.clone(),
            state: state.clone(),
            policy: config.delivery.clone(),
            max_cascade_depth: config.max_cascade_depth,
            absent: Default::default(),
        };
        Ok(Host(Arc::new(Shared {
            registry,
            loader,
            state,
            streams,
            calls,
            triggers,
            pending: std::sync::Mutex::new(Some((dispatcher, queues, recovered, postgres))),
        })))
    }

    /// Starts the trigger dispatcher on the current tokio runtime; it first delivers what the
    /// outbox held from before a restart. Call it once the plugins are loaded.
    pub fn start_triggers(&self) {
        let pending = self.0.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((dispatcher, queues, recovered, postgres)) = pending {
            self.0.triggers.start(dispatcher, queues, recovered, postgres);
        }
    }

    pub fn state(&self) -> &State {
        &self.0.state
    }

    pub fn streams(&self) -> &Streams {
        &self.0.streams
    }

    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    /// Loads, reloads and unloads the plugins of the plugins directory.
    pub fn loader(&self) -> &Loader {
        &self.0.loader
    }

    /// Runs functions by id or reference: the path of HTTP requests, triggers and `invoke`.
    pub fn calls(&self) -> &Calls {
        &self.0.calls
    }

    /// Finishes trigger deliveries under way (within a grace period; the outbox keeps the rest
    /// for the next start), commits everything queued and closes the state store.
    pub async fn shut_down(&self) {
        self.0.triggers.drain(Duration::from_secs(10)).await;
        match self.0.state.close().await {
            Ok(()) => tracing::info!("state committed and closed"),
            Err(e) => tracing::error!(error = %e, "the last commit before closing failed"),
        }
    }
}
