//! Start-up with 10 plugins: the release binary, from process start to its first served
//! request, serving ten copies of `todos` under distinct names and routes (`todos-0` …
//! `todos-9`). Cold: a new data directory, so every component compiles — each copy carries a
//! distinct custom section, so they are ten different components, as ten real plugins would
//! be. Warm: the same data directory again, compiled code from its cache.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::fixtures;
use crate::process::{self, HostProcess};
use crate::stats::{median, ms, percentile};
use eddy::tools::client::Client;

/// Plugins served.
const PLUGINS: usize = 10;
/// Cold starts (each compiles everything).
const COLD: usize = 3;
/// Warm starts.
const WARM: usize = 11;

pub async fn run(plugins: &Path) -> anyhow::Result<()> {
    let Some(binary) = process::binary() else {
        println!("{}", process::missing_binary("startup"));
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let served = dir.path().join("plugins");
    for k in 0..PLUGINS {
        let name = format!("todos-{k}");
        let copy = fixtures::copy_plugin(plugins, "todos", &served, &name, |manifest| {
            fixtures::renamed(manifest, "todos", &name)
        })?;
        let wasm = copy.join("todos.wasm");
        std::fs::write(&wasm, fixtures::with_custom_section(&std::fs::read(&wasm)?, k as u8))?;
    }
    let mut cold = Vec::new();
    for i in 0..COLD {
        cold.push(start_once(&binary, &served, &dir.path().join(format!("cold-{i}"))).await?);
    }
    let warm_data = dir.path().join("cold-0");
    let mut warm = Vec::new();
    for _ in 0..WARM {
        warm.push(start_once(&binary, &served, &warm_data).await?);
    }
    println!("\n## Start-up to the first served request, {PLUGINS} plugins (real binary)\n");
    println!("| compile cache | starts | median ms | p90 ms |");
    println!("|---|---|---|---|");
    println!("| cold (compiles all {PLUGINS}) | {COLD} | {} | - |", ms(median(&cold)));
    println!("| warm | {WARM} | {} | {} |", ms(median(&warm)), ms(percentile(&warm, 90.0)));
    Ok(())
}

/// Starts the host, sends `GET /todos-9/metrics` (the last plugin loaded), stops it: the time
/// from spawning the process to the answer.
async fn start_once(binary: &Path, plugins: &Path, data: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let host = HostProcess::start(binary, plugins, data).await?;
    let mut client = Client::connect(host.addr).await?;
    let path = format!("/todos-{}/metrics", PLUGINS - 1);
    let (status, _) = client.get(&path).await?;
    anyhow::ensure!(status == 200, "GET {path} answered {status}");
    let elapsed = started.elapsed();
    host.stop().await?;
    Ok(elapsed)
}
