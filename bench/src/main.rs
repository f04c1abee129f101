//! Eddy's benchmarks. Every load targets 127.0.0.1, and every scenario is bounded in count and
//! time and stops by itself. Figures are medians (and percentiles) over repeated runs; the
//! machine is shared and noisy, so compare ratios and medians, not single numbers.
//!
//! Run: `cargo run --release -p eddy-bench [SCENARIO...]` (it builds `target/release/eddy`
//! first); without arguments, all of them, in a few minutes. Scenarios:
//! - `reload` — hot reload, and restart of the real binary with a warm compile cache;
//! - `state` — durable writes and reads in process and through HTTP, trigger delivery latency;
//! - `http` — the todo app over HTTP against the real binary: throughput, latency, CPU per
//!   request of host and load generator, write → stream latency;
//! - `hello` — a hello route through a wasm function, Eddy against `wasmtime serve`;
//! - `calls` — in process: instantiate + call of a hello function per language (and of a real
//!   function in JavaScript and Python), state get/set/update;
//! - `triggers` — in process: one write fanned out to 1, 8 and 32 bound functions;
//! - `sockets` — 10,000 idle WebSocket clients (host memory), one event to 1,000 clients;
//! - `startup` — start-up to the first served request with 10 plugins, cold and warm;
//! - `fairness` — a quiet plugin's latency while another is flooded with runaway calls;
//! - `cluster` — one to three hosts on one PostgreSQL database: throughput and CPU (hosts and
//!   database), write on one host → frame on another, start-up and memory with 1M stored keys.
//! - `dev` — the edit loop of `eddy dev`: save → first response of the new version, per
//!   language;
//! - `examples` — `POST /todos` with every example plugin loaded, beside the todos alone, and
//!   the host CPU each example's trigger costs per create.
//!
//! The scenarios that measure the host's own CPU time or memory run the release binary
//! (`target/release/eddy serve`) as a separate process ([`process`]).

mod calls;
mod cluster;
mod dev;
mod examples;
mod fairness;
mod fixtures;
mod hello;
mod http;
mod load;
mod process;
mod reload;
mod sockets;
mod startup;
mod state;
mod stats;
mod triggers;

use std::path::{Path, PathBuf};
use std::time::Instant;

const SCENARIOS: [&str; 12] = [
    "reload", "state", "http", "hello", "calls", "triggers", "sockets", "startup", "fairness",
    "cluster", "dev", "examples",
];

fn main() -> anyhow::Result<()> {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = wanted.iter().find(|w| !SCENARIOS.contains(&w.as_str())) {
        anyhow::bail!("no scenario {unknown:?}; the scenarios are: {}", SCENARIOS.join(", "));
    }
    let wants = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let runtime = tokio::runtime::Runtime::new()?;
    let plugins = repo().join("plugins");
    // The Rust plugins the scenarios use are built here; the JavaScript and Python ones by the
    // scenario that uses them, when their toolchains are installed (they stay optional).
    for plugin in ["todos", "hello", "todo-summary"] {
        println!("building {} ...", plugins.join(plugin).display());
        eddy::tools::build::build_one(&plugins.join(plugin))?;
    }
    build_host();
    prune_compile_cache();
    println!("\n{}", machine());
    let started = Instant::now();
    for name in SCENARIOS.iter().filter(|name| wants(name)) {
        let scenario_started = Instant::now();
        runtime.block_on(async {
            match *name {
                "reload" => reload::run(&plugins).await,
                "state" => state::run(&plugins).await,
                "http" => http::run(&plugins).await,
                "hello" => hello::run(&plugins).await,
                "calls" => calls::run(&plugins).await,
                "triggers" => triggers::run(&plugins).await,
                "sockets" => sockets::run(&plugins).await,
                "startup" => startup::run(&plugins).await,
                "fairness" => fairness::run(&plugins).await,
                "cluster" => cluster::run(&plugins).await,
                "dev" => dev::run(&plugins).await,
                "examples" => examples::run(&plugins).await,
                _ => unreachable!("checked above"),
            }
        })?;
        eprintln!("({name}: {:.0} s)", scenario_started.elapsed().as_secs_f64());
    }
    println!("\n(The whole run took {:.0} s.)", started.elapsed().as_secs_f64());
    Ok(())
}

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds `target/release/eddy`, which the out-of-process scenarios run, so they never measure
/// a stale binary. It is built only when a source of the host is newer: cargo builds the host
/// library for the binary with other features than for this bench, so asking it every run
/// would rebuild both, minutes each time. On failure the binary there (if any) is used, and
/// the scenarios say when there is none.
fn build_host() {
    let binary = repo().join("target/release/eddy");
    let built_at = std::fs::metadata(&binary).and_then(|m| m.modified()).ok();
    let sources = ["host", "Cargo.toml", "Cargo.lock", "wit"].map(|p| repo().join(p));
    if built_at.is_some_and(|at| sources.iter().all(|p| newest(p).is_none_or(|t| t <= at))) {
        return;
    }
    println!("building target/release/eddy ...");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = std::process::Command::new(cargo)
        .args(["build", "--quiet", "--release", "-p", "eddy", "--bin", "eddy", "--manifest-path"])
        .arg(repo().join("Cargo.toml"))
        .status();
    if !built.is_ok_and(|status| status.success()) {
        println!("(building target/release/eddy failed: using the binary there, if any)");
    }
}

/// The newest modification time of `path` and everything under it.
fn newest(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    let own = meta.modified().ok();
    if !meta.is_dir() {
        return own;
    }
    std::fs::read_dir(path).ok()?.filter_map(|entry| newest(&entry.ok()?.path())).chain(own).max()
}

/// Where the in-process scenarios cache compiled components between runs (keyed by content
/// and engine, like the host's own cache), so the large JavaScript and Python components are
/// compiled once, not on every run.
fn compile_cache() -> PathBuf {
    repo().join("target/eddy-bench/cache")
}

/// Entries kept in [`compile_cache`]: every rebuild of a plugin adds one (tens of MiB for
/// JavaScript and Python), so the oldest beyond these are removed at start.
const CACHE_ENTRIES: usize = 16;

fn prune_compile_cache() {
    let Ok(entries) = std::fs::read_dir(compile_cache()) else { return };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            Some((entry.metadata().ok()?.modified().ok()?, entry.path()))
        })
        .collect();
    files.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, path) in files.into_iter().skip(CACHE_ENTRIES) {
        let _ = std::fs::remove_file(path);
    }
}

/// One line on the machine: CPU model, cores, memory.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("**Machine**: {model}, {cores} cores, {mem_gib:.0} GiB")
}
