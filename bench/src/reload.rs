//! Hot reload: the time from a component's final rename to the first response served by the new
//! version, split into detection (the watcher and its settle delay), compile and swap; and a
//! restart of the real `eddy` binary to its first served request, cold and with a warm cache.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::stats::{median, ms, percentile};
use eddy::tools::client::Client;

use crate::fixtures::with_custom_section;
use crate::process::HostProcess;

/// Reloads measured; the first is discarded as warm-up.
const RELOADS: usize = 13;
/// Warm restarts measured.
const RESTARTS: usize = 11;

pub async fn run(plugins: &Path) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let todos =
        crate::fixtures::copy_plugin(plugins, "todos", dir.path(), "todos", crate::fixtures::same)?;
    let original = std::fs::read(todos.join("todos.wasm"))?;

    reloads(dir.path(), &original).await?;
    restarts(dir.path()).await
}

async fn reloads(plugins: &Path, original: &[u8]) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let options = eddy::ServeOptions::new(plugins, data.path());
    let server = eddy::Server::start(options).await?;
    let addr = server.local_addr()?;
    let host = server.host().clone();
    let serving = tokio::spawn(server.run(std::future::pending()));
    let mut client = Client::connect(addr).await?;

    let (mut totals, mut compiles, mut swaps, mut detects) = (vec![], vec![], vec![], vec![]);
    for i in 0..RELOADS {
        // Each round is a new build: other bytes (a custom section), so nothing is cached.
        let bytes = with_custom_section(original, i as u8);
        let sha = sha256(&bytes);
        let path = plugins.join("todos").join("todos.wasm");
        let partial = path.with_extension("partial");
        std::fs::write(&partial, &bytes)?;
        std::fs::rename(&partial, &path)?;
        let renamed = Instant::now();
        let deadline = renamed + Duration::from_secs(10);
        // A request sent after the snapshot changed is served by the new version.
        loop {
            let new = host
                .registry()
                .snapshot()
                .plugins
                .get("todos")
                .is_some_and(|p| p.component.sha256 == sha);
            let (status, _) = client.get("/todos/metrics").await?;
            anyhow::ensure!(status == 200, "a request failed during the reload: {status}");
            if new {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "reload {i} did not happen within 10 s");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let total = renamed.elapsed();
        let snapshot = host.registry().snapshot();
        let plugin = snapshot.plugins.get("todos").context("todos is loaded")?;
        let (compile, swap) =
            (plugin.compile_time, plugin.swap_time.get().copied().unwrap_or_default());
        if i > 0 {
            totals.push(total);
            compiles.push(compile);
            swaps.push(swap);
            detects.push(total.saturating_sub(compile + swap));
        }
    }
    serving.abort();

    println!("\n## Hot reload of `todos` ({} reloads, release build)\n", totals.len());
    println!("| phase | median ms | p90 ms | max ms |");
    println!("|---|---|---|---|");
    for (name, samples) in [
        ("detect (watcher + settle)", &detects),
        ("compile + link + check", &compiles),
        ("swap", &swaps),
        ("rename → first response on new version", &totals),
    ] {
        let max = samples.iter().max().copied().unwrap_or_default();
        println!(
            "| {name} | {} | {} | {} |",
            ms(median(samples)),
            ms(percentile(samples, 90.0)),
            ms(max)
        );
    }
    Ok(())
}

/// Starts the release binary on the plugins and times process start → first 200.
async fn restarts(plugins: &Path) -> anyhow::Result<()> {
    let binary = crate::repo().join("target/release/eddy");
    if !binary.is_file() {
        println!(
            "\n(restart: {} is missing; run `cargo build --release -p eddy` first)",
            binary.display()
        );
        return Ok(());
    }
    let data = tempfile::tempdir()?;
    let cold = restart_once(&binary, plugins, data.path()).await?;
    let mut warm = Vec::new();
    for _ in 0..RESTARTS {
        warm.push(restart_once(&binary, plugins, data.path()).await?);
    }
    println!("\n## Restart to first served request (`todos`, real binary)\n");
    println!("| cache | median ms | p90 ms |");
    println!("|---|---|---|");
    println!("| cold (first start, compiles) | {} | - |", ms(cold));
    println!(
        "| warm ({} starts) | {} | {} |",
        warm.len(),
        ms(median(&warm)),
        ms(percentile(&warm, 90.0))
    );
    Ok(())
}

async fn restart_once(binary: &Path, plugins: &Path, data: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let host = HostProcess::start(binary, plugins, data).await?;
    let mut client = Client::connect(host.addr).await?;
    let (status, _) = client.get("/todos/metrics").await?;
    anyhow::ensure!(status == 200, "first request failed: {status}");
    let elapsed = started.elapsed();
    host.stop().await?;
    Ok(elapsed)
}

fn sha256(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(bytes);
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
