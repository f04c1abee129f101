//! Eddy: a reactive backend whose functions are WebAssembly components.
//!
//! The native host owns the data ([`state`]), the live channels ([`streams`]) and the network
//! ([`server`], [`http`], [`websocket`]). User functions live in plugins: a folder with a
//! `plugin.toml` ([`manifest`]) and a wasm component built against the WIT world in `wit/`. At
//! start the host loads every plugin ([`host`]), compiles and pre-links its component
//! ([`runtime`]) and freezes plugins, routes and trigger bindings into one immutable snapshot
//! ([`registry`]). An HTTP request is routed through the snapshot ([`routes`]) to a function,
//! which runs on a fresh wasm instance and calls back into the host through its imports
//! ([`runtime`]'s `imports`, [`builtins`]). Every committed state change and stream event is
//! queued, in order, for the functions bound to it ([`triggers`]); their writes fire further
//! triggers up to a cascade limit ([`cause`]). Failures become one error type with one mapping
//! to HTTP statuses ([`error`]).
//!
//! # Layout
//! - `main.rs` — the `eddy` CLI: `build`, `serve`, `dev`.
//! - [`serve`] — wires a host to a listener; what `eddy serve` runs.
//! - [`host`] — the shared handle; loading plugins; calling functions by id.
//! - [`manifest`] — `plugin.toml` parsing and validation.
//! - [`registry`] — the immutable snapshot of loaded plugins.
//! - [`runtime`] — wasmtime engine, components, per-call stores, guest imports.
//! - [`builtins`] — `state::*` and `stream::*` callable by id.
//! - [`state`] — scoped JSON storage and update ops.
//! - [`streams`] — stream groups, items, frames and the WebSocket protocol.
//! - [`triggers`] — delivery of state changes and stream events to bound functions.
//! - [`server`], [`http`], [`websocket`], [`admin`], [`routes`], [`error`] — the network edge.
//! - [`toolchain`] — `eddy build`: compiling plugin sources into components.

pub mod admin;
pub mod builtins;
pub mod cause;
pub mod client;
pub mod context;
pub mod error;
pub mod host;
pub mod http;
#[cfg(test)]
mod http_props;
pub mod manifest;
#[cfg(test)]
mod manifest_props;
pub mod operator;
pub mod registry;
pub mod reload;
pub mod routes;
pub mod runtime;
pub mod scaffold;
pub mod server;
pub mod state;
pub mod streams;
pub mod toolchain;
pub mod triggers;
pub mod watch;
pub mod websocket;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

pub use host::{Host, HostConfig, HttpLimits};

/// What `eddy serve` needs to know.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub plugins: PathBuf,
    pub listen: SocketAddr,
    pub data: PathBuf,
    /// What to watch for hot reload: components (`serve`) or sources too (`dev`).
    pub watch: watch::Mode,
    /// Keep state in memory only (tests, demos): nothing survives a restart.
    pub memory: bool,
    /// How failed trigger deliveries are retried before they are parked.
    pub delivery: triggers::DeliveryPolicy,
    /// Limits of the HTTP edge.
    pub http: HttpLimits,
    /// Where compiled components are cached; `None`: `<data>/cache`. Hosts may share one.
    pub cache: Option<PathBuf>,
}

impl ServeOptions {
    /// Options with every default: the given plugins and data directories, a free port on
    /// 127.0.0.1, components watched, durable state, default retries and HTTP limits.
    pub fn new(plugins: impl Into<PathBuf>, data: impl Into<PathBuf>) -> ServeOptions {
        ServeOptions {
            plugins: plugins.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data: data.into(),
            watch: watch::Mode::Components,
            memory: false,
            delivery: Default::default(),
            http: Default::default(),
            cache: None,
        }
    }
}

/// A host with its plugins loaded and its port bound, ready to serve.
pub struct Server {
    host: Host,
    listener: tokio::net::TcpListener,
    _watch: watch::Watch,
}

impl Server {
    /// Starts the host, loads the plugins, starts watching them and binds the listener (port 0
    /// picks a free port).
    pub async fn start(options: ServeOptions) -> anyhow::Result<Server> {
        let plugins = std::fs::canonicalize(&options.plugins).with_context(|| {
            format!("the plugins directory {} is not there", options.plugins.display())
        })?;
        let mut config = HostConfig::new(plugins);
        config.cache_dir =
            Some(options.cache.clone().unwrap_or_else(|| options.data.join("cache")));
        config.delivery = options.delivery.clone();
        config.http = options.http.clone();
        let engine: Box<dyn state::engine::Engine> = if options.memory {
            tracing::warn!("--memory: state is kept in memory only and is lost on exit");
            Box::new(state::engine::MemoryEngine)
        } else {
            Box::new(state::redb::RedbEngine::open(&options.data.join("state.redb"))?)
        };
        let host = Host::start(config, engine)?;
        reload::load_all(&host).await?;
        host.start_triggers();
        let watch = watch::start(host.clone(), options.watch)?;
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        Ok(Server { host, listener, _watch: watch })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Serves until `shutdown` resolves, then drains: in-flight requests finish, trigger
    /// deliveries under way finish, and everything acknowledged is committed.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        server::serve(self.host.clone(), self.listener, shutdown).await;
        self.host.shut_down().await;
    }
}

/// What `eddy serve` runs: start, print the address (one line, `eddy listening on
/// http://ADDR`, which tools and tests read), serve until `shutdown`.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let server = Server::start(options).await?;
    println!("eddy listening on http://{}", server.local_addr()?);
    server.run(shutdown).await;
    Ok(())
}
