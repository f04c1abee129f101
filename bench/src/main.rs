//! Eddy's benchmarks. Every load targets 127.0.0.1, and every scenario is bounded in count and
//! time and stops by itself. Figures are medians (and percentiles) over repeated runs; the
//! machine is shared and noisy, so compare ratios and medians, not single numbers.
//!
//! Run: `cargo build --release -p eddy && cargo run --release -p eddy-bench [SCENARIO...]`
//! Scenarios: `reload` (hot reload and restart with a warm compile cache), `state` (durable
//! writes and reads in process and through HTTP, trigger delivery latency). Without arguments,
//! all of them.

mod reload;
mod state;
mod stats;

use std::path::{Path, PathBuf};

fn main() -> anyhow::Result<()> {
    let scenarios: Vec<String> = std::env::args().skip(1).collect();
    let wants = |name: &str| scenarios.is_empty() || scenarios.iter().any(|s| s == name);
    let runtime = tokio::runtime::Runtime::new()?;
    let plugins = repo().join("plugins");
    // The scenarios use the todos plugin only; building just it keeps the other languages'
    // toolchains optional here.
    println!("building {} ...", plugins.join("todos").display());
    eddy::toolchain::build_one(&plugins.join("todos"))?;
    if wants("reload") {
        runtime.block_on(reload::run(&plugins))?;
    }
    if wants("state") {
        runtime.block_on(state::run(&plugins))?;
    }
    Ok(())
}

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
