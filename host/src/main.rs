//! The `eddy` command line: `build` plugin sources, `serve` a plugins directory, or `dev` (both);
//! `new` makes a plugin.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use eddy::plugins::watch::Mode;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc: under load the host spent about a fifth of its CPU in
/// glibc's malloc and free (many small, short-lived JSON and request buffers from several
/// threads, and the store's page buffers); mimalloc's thread-local free lists make those cheap.
/// Built without transparent huge pages (`no_thp`): with them, its eagerly committed arenas
/// became 2 MiB pages at first touch, and an idle host held 92 MiB of memory instead of 22.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "eddy",
    version,
    about = "A reactive backend whose functions are WebAssembly plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build every plugin source in DIR into a component next to its plugin.toml.
    Build {
        #[arg(default_value = "plugins")]
        dir: PathBuf,
    },
    /// Serve the plugins of a directory over HTTP and WebSocket, reloading them when they change.
    Serve(ServeArgs),
    /// Create a plugin that builds and serves as it is: `GET /NAME` says hello and counts its
    /// calls in the state scope NAME.
    New {
        /// The plugin's name (lowercase kebab-case): also its folder, route and state scope.
        name: String,
        /// The language of its sources: rust, js or python.
        #[arg(long)]
        lang: eddy::tools::scaffold::Lang,
        /// The plugins directory to create it in.
        #[arg(long, default_value = "plugins")]
        dir: PathBuf,
    },
    /// Build the plugins, serve them, and rebuild and reload a plugin when its sources change.
    Dev(ServeArgs),
    /// See and replay trigger deliveries that failed every retry (the dead-letter list) of a
    /// running host.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
        /// The running host's address.
        #[arg(long, global = true, default_value = "127.0.0.1:3111")]
        host: SocketAddr,
        /// The host's admin token ([admin] in its eddy.toml).
        #[arg(long, global = true, env = "EDDY_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List the parked deliveries.
    List,
    /// Deliver parked events again: one by id, or all.
    Replay {
        /// The dead letter's id (from `list`).
        id: Option<u64>,
        /// Replay every dead letter.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

/// `serve` and `dev`: each flag overrides `eddy.toml`, which overrides the defaults.
#[derive(Args)]
struct ServeArgs {
    /// The host's settings file [default: eddy.toml in the working directory, if there is one].
    #[arg(long)]
    config: Option<PathBuf>,
    /// The plugins directory: one folder per plugin, each with a plugin.toml [default: plugins].
    #[arg(long)]
    plugins: Option<PathBuf>,
    /// Address for HTTP and WebSocket (one port serves both) [default: 127.0.0.1:3111].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Directory for the host's data: the state database and the compiled-component cache
    /// [default: .eddy].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Keep state in memory only: nothing survives a restart (tests, demos).
    #[arg(long)]
    memory: bool,
    /// Keep state in a PostgreSQL database that other hosts may share:
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DB [default: the embedded store under --data].
    #[arg(long, env = "EDDY_STATE", hide_env_values = true)]
    state: Option<String>,
    /// Attempts of a failing trigger delivery before it is parked in the dead-letter list
    /// [default: 5].
    #[arg(long)]
    max_attempts: Option<u32>,
    /// Wait before the first retry of a failed delivery, in milliseconds; doubled each retry
    /// [default: 100].
    #[arg(long)]
    retry_backoff_ms: Option<u64>,
}

impl ServeArgs {
    /// The options to serve with: the defaults, then `eddy.toml`, then the flags given.
    fn options(&self, watch: Mode) -> anyhow::Result<eddy::ServeOptions> {
        let config = eddy::config::Config::find(self.config.as_deref())?;
        let mut options = eddy::ServeOptions::new("plugins", ".eddy");
        options.listen = SocketAddr::from(([127, 0, 0, 1], 3111));
        options.watch = watch;
        config.apply(&mut options);
        if let Some(plugins) = &self.plugins {
            options.plugins = plugins.clone();
        }
        if let Some(listen) = self.listen {
            options.listen = listen;
        }
        if let Some(data) = &self.data {
            options.data = data.clone();
        }
        options.memory |= self.memory;
        if let Some(state) = &self.state {
            options.state = Some(state.clone());
        }
        if options.memory && options.state.is_some() {
            anyhow::bail!("--memory and --state (a PostgreSQL database) cannot both hold state");
        }
        if let Some(attempts) = self.max_attempts {
            options.delivery.max_attempts = attempts;
        }
        if let Some(ms) = self.retry_backoff_ms {
            options.delivery.first_backoff = std::time::Duration::from_millis(ms);
        }
        Ok(options)
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("EDDY_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build { dir } => eddy::tools::build::build_all(&dir),
        Command::Serve(args) => args.options(Mode::Components).and_then(serve),
        Command::New { name, lang, dir } => eddy::tools::scaffold::run(&dir, &name, lang),
        Command::Dlq { command, host, token } => {
            let operator = eddy::tools::dlq::Operator { host, token };
            match command {
                DlqCommand::List => run(eddy::tools::dlq::list(&operator)),
                DlqCommand::Replay { id: None, all: false } => {
                    Err(anyhow::anyhow!("name a dead letter id, or --all"))
                }
                DlqCommand::Replay { id, .. } => run(eddy::tools::dlq::replay(&operator, id)),
            }
        }
        Command::Dev(args) => args.options(Mode::Sources).and_then(|options| {
            eddy::tools::build::build_for_dev(&options.plugins)?;
            serve(options)
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(task)
}

fn serve(options: eddy::ServeOptions) -> anyhow::Result<()> {
    run(eddy::serve(options, shutdown_signal()))
}

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
