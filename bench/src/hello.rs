//! A hello route through a wasm function, Eddy against `wasmtime serve`: Eddy's `GET /hello`
//! (`plugins/hello`, warm instances) served by the release binary, and the same answer from a
//! `wasi:http/proxy` component (`bench/hello-http/`, built here) served by `wasmtime serve` at
//! the wasmtime version Eddy embeds. Each server runs in its own process; one load generator
//! drives both in the same run, their runs alternating so machine noise hits both alike.
//! Without `wasmtime` on PATH, Eddy's side is measured alone and the table says how to install
//! it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use hyper::Method;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::fixtures;
use crate::load;
use crate::process::{self, HostProcess};
use crate::stats::{Runs, median, ms, thousands, us};
use eddy::tools::client::Client;

/// The wasmtime version Eddy embeds (Cargo.lock): the comparison is fair only against it.
const WASMTIME_VERSION: &str = "48.0.8";
/// How long each run lasts.
const RUN: Duration = Duration::from_secs(2);
/// Runs per figure and server; each figure is the median over them.
const RUNS: usize = 3;
const CONCURRENCY: [usize; 2] = [1, 32];
/// What both answer.
const HELLO: &[u8] = br#"{"hello":"world"}"#;

/// A server under load: where it listens, what to ask, and how to read its CPU time.
struct Target {
    name: String,
    addr: SocketAddr,
    path: &'static str,
    pid: u32,
}

pub async fn run(plugins: &Path) -> anyhow::Result<()> {
    let Some(binary) = process::binary() else {
        println!("{}", process::missing_binary("hello"));
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let served = dir.path().join("plugins");
    fixtures::copy_plugin(plugins, "hello", &served, "hello", fixtures::same)?;
    // The same plugin without warm instances: what `wasmtime serve` does for a WASIp2
    // component (a fresh instance per request), for a like-for-like row.
    fixtures::copy_plugin(plugins, "hello", &served, "hello-fresh", |manifest| {
        fixtures::fresh_instances(&fixtures::renamed(manifest, "hello", "hello-fresh"))
    })?;
    let eddy = HostProcess::start(&binary, &served, &dir.path().join("data")).await?;
    let (addr, pid) = (eddy.addr, eddy.pid());
    let mut targets = vec![
        Target { name: "Eddy `GET /hello` (warm instances)".into(), addr, path: "/hello", pid },
        Target {
            name: "Eddy `GET /hello-fresh` (a fresh instance per request)".into(),
            addr,
            path: "/hello-fresh",
            pid,
        },
    ];
    for target in &targets {
        check_hello(target.addr, target.path)
            .await
            .with_context(|| format!("{} is not serving", target.name))?;
    }
    let mut missing = None;
    let mut wasmtime = None;
    match find_wasmtime() {
        None => missing = Some("`wasmtime` is not on PATH".to_string()),
        Some(path) => match start_wasmtime(&path).await {
            Ok((child, addr, version)) => {
                let pid = child.id().context("wasmtime's pid")?;
                targets.push(Target {
                    name: format!("`{version} serve`"),
                    addr,
                    path: "/hello",
                    pid,
                });
                wasmtime = Some(child);
            }
            Err(e) => missing = Some(format!("`wasmtime serve` could not be used: {e:#}")),
        },
    }
    for target in &targets {
        load::closed_loop(target.addr, 8, Duration::from_millis(300), hello(target.path)).await?;
    }

    println!("\n## Hello through a wasm function: Eddy vs `wasmtime serve`\n");
    println!(
        "Same load generator, same run, alternating; median of {RUNS} runs of {} s. CPU per \
         request: the server process's, from /proc/<pid>/stat.\n",
        RUN.as_secs()
    );
    println!(
        "| server | concurrency | req/s | p50 ms | p99 ms | server CPU µs/req | generator CPU µs/req |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut rates_at_32 = Vec::new();
    for concurrency in CONCURRENCY {
        let mut figures: Vec<(Runs, Vec<Duration>, Vec<Duration>)> =
            targets.iter().map(|_| Default::default()).collect();
        for _ in 0..RUNS {
            for (target, (runs, server_cpu, generator_cpu)) in targets.iter().zip(&mut figures) {
                let cpu = || process::cpu_of_pid(target.pid);
                let (server0, own0) = (cpu()?, process::own_cpu()?);
                let run =
                    load::closed_loop(target.addr, concurrency, RUN, hello(target.path)).await?;
                let (server1, own1) = (cpu()?, process::own_cpu()?);
                let n = run.requests.max(1) as u32;
                runs.push(run.rate(), &run.latencies);
                server_cpu.push((server1 - server0) / n);
                generator_cpu.push((own1 - own0) / n);
            }
        }
        for (target, (runs, server_cpu, generator_cpu)) in targets.iter().zip(&figures) {
            println!(
                "| {} | {concurrency} | {} | {} | {} | {} | {} |",
                target.name,
                thousands(runs.rate()),
                ms(runs.p50()),
                ms(runs.p99()),
                us(median(server_cpu)),
                us(median(generator_cpu)),
            );
            if concurrency == 32 {
                rates_at_32.push(runs.rate());
            }
        }
    }
    match (&missing, rates_at_32.as_slice()) {
        (None, [warm, fresh, wasmtime]) => println!(
            "\nAt concurrency 32 Eddy serves {:.0} % of `wasmtime serve`'s requests per second \
             with warm instances, {:.0} % with a fresh instance per request.",
            100.0 * warm / wasmtime,
            100.0 * fresh / wasmtime
        ),
        (Some(why), _) => println!(
            "\n(No `wasmtime serve` figures: {why}. Install it with `cargo install wasmtime-cli \
             --version {WASMTIME_VERSION} --locked` — about 16 minutes of both cores here — and \
             rerun `cargo run --release -p eddy-bench hello`.)"
        ),
        _ => {}
    }
    if let Some(mut child) = wasmtime {
        child.kill().await?;
    }
    eddy.stop().await
}

fn hello(path: &str) -> load::MakeRequest {
    load::fixed(Method::GET, path)
}

async fn check_hello(addr: SocketAddr, path: &str) -> anyhow::Result<()> {
    let mut client = Client::connect(addr).await?;
    let (status, body) = client.get(path).await?;
    anyhow::ensure!(
        status == 200 && body.as_ref() == HELLO,
        "GET {path} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(())
}

/// `wasmtime` on PATH (or in cargo's bin folder, where `cargo install` puts it).
fn find_wasmtime() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    } else if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|dir| dir.join("wasmtime")).find(|path| path.is_file())
}

/// Builds the hello component and starts `wasmtime serve` on a free port of 127.0.0.1, with
/// `-Scli` first (the component is built with Rust's std, whose runtime imports a few
/// `wasi:cli` interfaces beyond the proxy world; they cost nothing per request), then without.
/// Returns the child, once it answers `GET /hello` as Eddy does, its address and its version.
async fn start_wasmtime(
    wasmtime: &Path,
) -> anyhow::Result<(tokio::process::Child, SocketAddr, String)> {
    let version = tokio::process::Command::new(wasmtime).arg("--version").output().await?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    if !version.contains(WASMTIME_VERSION) {
        println!("(note: {version} is not the wasmtime Eddy embeds, {WASMTIME_VERSION})");
    }
    let component = build_component().await?;
    let mut failures = Vec::new();
    for flags in [&["-Scli"][..], &[]] {
        match serve_component(wasmtime, flags, &component).await {
            Ok((child, addr)) => match check_hello(addr, "/hello").await {
                Ok(()) => return Ok((child, addr, version)),
                Err(e) => failures.push(format!("with {flags:?}: {e:#}")),
            },
            Err(e) => failures.push(format!("with {flags:?}: {e:#}")),
        }
    }
    anyhow::bail!("{}", failures.join("; "))
}

async fn serve_component(
    wasmtime: &Path,
    flags: &[&str],
    component: &Path,
) -> anyhow::Result<(tokio::process::Child, SocketAddr)> {
    let mut child = tokio::process::Command::new(wasmtime)
        .arg("serve")
        .args(flags)
        .args(["--addr", "127.0.0.1:0"])
        .arg(component)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stderr = child.stderr.take().context("wasmtime's stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        let mut said = Vec::new();
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.split("Serving HTTP on http://").nth(1) {
                return Ok(rest.trim_end_matches('/').parse::<SocketAddr>()?);
            }
            said.push(line);
        }
        anyhow::bail!("it exited before listening: {}", said.join(" / "))
    })
    .await
    .context("it did not listen within 60 s")??;
    // Keep reading its stderr so a chatty server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, addr))
}

/// `cargo build` of bench/hello-http for wasm32-wasip2, into the workspace's target folder.
async fn build_component() -> anyhow::Result<PathBuf> {
    let repo = crate::repo();
    let target_dir = repo.join("target/hello-http");
    let status = tokio::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(repo.join("bench/hello-http/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .await?;
    anyhow::ensure!(status.success(), "building bench/hello-http failed");
    Ok(target_dir.join("wasm32-wasip2/release/hello_http.wasm"))
}
