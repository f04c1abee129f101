//! What `eddy serve` and `eddy dev` run: a [`Server`] is a host with its plugins loaded, its
//! plugins directory watched and its port bound; [`serve`] runs one until shutdown, then
//! drains it. Tests and benchmarks start the same [`Server`] in process.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::auth::{Authenticator, ProviderConfig};
use crate::edge::{self, AdminAccess, CorsPolicy, EdgeSettings, HttpLimits};
use crate::host::{Host, HostConfig, Storage};
use crate::plugins::watch::{self, Mode};
use crate::runtime::InstanceLimits;
use crate::state::QuotaLimits;
use crate::state::engine::MemoryEngine;
use crate::state::redb::RedbEngine;
use crate::streams::StreamsConfig;
use crate::tools;
use crate::triggers::DeliveryPolicy;

/// What `eddy serve` needs to know.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub plugins: PathBuf,
    pub listen: SocketAddr,
    pub data: PathBuf,
    /// What to watch for hot reload: components (`serve`) or sources too (`dev`).
    pub watch: Mode,
    /// Keep state in memory only (tests, demos): nothing survives a restart.
    pub memory: bool,
    /// Each stream group's replay window, and more of the hub's limits.
    pub streams: StreamsConfig,
    /// Keep state in this PostgreSQL database (`postgres://USER@HOST/DB`), which other hosts
    /// may share; none: the embedded store under `data`.
    pub state: Option<String>,
    /// How failed trigger deliveries are retried before they are parked.
    pub delivery: DeliveryPolicy,
    /// How many bytes the embedded store may hold.
    pub quota: QuotaLimits,
    /// Limits of the HTTP edge.
    pub http: HttpLimits,
    /// Which browser origins may call the routes and open sockets.
    pub cors: CorsPolicy,
    /// Who may use the operator endpoints (`/_eddy/...`).
    pub admin: AdminAccess,
    /// The identity providers whose tokens callers may present.
    pub auth: Vec<ProviderConfig>,
    /// Deadlines, memory caps and instance counts of plugin calls.
    pub instances: InstanceLimits,
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
            watch: Mode::Components,
            memory: false,
            state: None,
            streams: StreamsConfig::default(),
            delivery: Default::default(),
            quota: Default::default(),
            http: Default::default(),
            cors: Default::default(),
            admin: Default::default(),
            auth: Vec::new(),
            instances: Default::default(),
            cache: None,
        }
    }
}

/// A host with its plugins loaded and its port bound, ready to serve.
pub struct Server {
    host: Host,
    /// What the edge enforces on clients.
    edge: EdgeSettings,
    listener: tokio::net::TcpListener,
    _watch: watch::Watch,
    /// On the shared store: the lock on the data directory, which names this host.
    _data_lock: Option<std::fs::File>,
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
        config.quota = options.quota.clone();
        config.limits = options.instances.clone();
        config.streams = options.streams.clone();
        if options.watch == Mode::Sources
            && let Some(cache) = &config.cache_dir
        {
            config.engines = Some(Arc::new(tools::engine::Engines::new(cache)));
        }
        let mut data_lock = None;
        let storage = match &options.state {
            Some(url) => {
                let (host, lock) = host_name(&options.data)?;
                data_lock = Some(lock);
                Storage::Postgres { url: url.clone(), host }
            }
            None if options.memory => {
                tracing::warn!("--memory: state is kept in memory only and is lost on exit");
                Storage::Embedded(Box::new(MemoryEngine))
            }
            None => {
                Storage::Embedded(Box::new(RedbEngine::open(&options.data.join("state.redb"))?))
            }
        };
        let host = Host::start(config, storage).await?;
        host.loader().load_all().await?;
        host.start_triggers();
        let rebuild: watch::Rebuild = Arc::new(|dir| tools::build::build_one(dir).map(drop));
        let watch = watch::start(host.loader().clone(), options.watch, rebuild)?;
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let auth = Authenticator::new(&options.auth).map_err(anyhow::Error::msg)?;
        let edge =
            EdgeSettings { limits: options.http, cors: options.cors, admin: options.admin, auth };
        Ok(Server { host, edge, listener, _watch: watch, _data_lock: data_lock })
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
        edge::serve(self.host.clone(), self.edge, self.listener, shutdown).await;
        self.host.shut_down().await;
    }
}

/// This host's name among the hosts of a shared store: kept in its data directory
/// (`host-id`), so a host restarted after a crash is the same host and takes its trigger lanes
/// back at once. The directory is locked (`host.lock`) for as long as the returned file is
/// open (the server keeps it), so two running hosts never share a name.
fn host_name(data: &std::path::Path) -> anyhow::Result<(String, std::fs::File)> {
    std::fs::create_dir_all(data)
        .with_context(|| format!("creating the data directory {}", data.display()))?;
    let lock = std::fs::File::create(data.join("host.lock"))?;
    lock.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "{} is in use by another eddy (each host needs its own --data)",
            data.display()
        )
    })?;
    let file = data.join("host-id");
    if let Ok(id) = std::fs::read_to_string(&file)
        && !id.trim().is_empty()
    {
        return Ok((id.trim().to_owned(), lock));
    }
    let id = crate::clock::unique_name();
    std::fs::write(&file, &id).with_context(|| format!("writing {}", file.display()))?;
    Ok((id, lock))
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
