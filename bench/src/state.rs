//! Durable state: writes per second and their latency at concurrency 1 and 64, in process (the
//! state service over the redb engine, every acknowledged write fsynced) and through
//! `POST /todos` (which also runs both todo triggers); reads in process; and trigger delivery
//! latency, from sending a create to its answer and to the `todos-live` frame its `on-change`
//! handler sends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy::cause::Cause;
use eddy::state::State;
use eddy::state::engine::{Batch, Engine};
use eddy::state::redb::RedbEngine;
use serde_json::json;

use crate::http;
use crate::load::{self, Op, Run};
use crate::stats::{median, ms, percentile};

/// How long each throughput run lasts.
const RUN: Duration = Duration::from_secs(3);
/// Runs per figure; the median run is reported.
const RUNS: usize = 3;

pub async fn run(plugins: &std::path::Path) -> anyhow::Result<()> {
    println!("\n## Durable state (redb, fsync per group commit)\n");
    println!("| workload | concurrency | ops/s (median of {RUNS}) | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for concurrency in [1, 64] {
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            runs.push(in_process_writes(concurrency).await?);
        }
        report("`State::set`, in process", concurrency, runs);
    }
    engine_commits()?;
    reads().await?;
    over_http(plugins).await
}

/// The redb engine alone: what one commit (one fsync) of 1 and of 1,000 writes costs, the
/// floor under every durable write above.
fn engine_commits() -> anyhow::Result<()> {
    const ROUNDS: u32 = 20;
    let dir = tempfile::tempdir()?;
    let mut engine = RedbEngine::open(&dir.path().join("state.redb"))?;
    let mut time = |size: usize| -> anyhow::Result<Duration> {
        let mut times = Vec::new();
        for round in 0..ROUNDS {
            let writes = (0..size)
                .map(|i| {
                    let value = json!({ "title": "x", "i": i });
                    ("bench".to_owned(), format!("k{size}-{round}-{i}"), Some(value))
                })
                .collect();
            let started = Instant::now();
            engine.commit(&Batch { writes, ..Batch::default() })?;
            times.push(started.elapsed());
        }
        Ok(median(&times))
    };
    let (one, thousand) = (time(1)?, time(1_000)?);
    println!(
        "| redb commit (one fsync), engine alone: 1 write / 1,000 writes | - | - | {} / {} | - |",
        ms(one),
        ms(thousand)
    );
    Ok(())
}

fn report(name: &str, concurrency: usize, mut runs: Vec<Run>) {
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let median_run = &runs[runs.len() / 2];
    let (rate, latencies) = (median_run.rate(), &median_run.latencies);
    println!(
        "| {name} | {concurrency} | {rate:.0} | {} | {} |",
        ms(median(latencies)),
        ms(percentile(latencies, 99.0))
    );
}

fn open_state(dir: &std::path::Path) -> anyhow::Result<State> {
    let engine: Box<dyn Engine> = Box::new(RedbEngine::open(&dir.join("state.redb"))?);
    let (state, _) = State::open(
        engine,
        Arc::new(|_| {}),
        Arc::new(|_: &str, _: &str| Vec::new()),
        Default::default(),
    )?;
    Ok(state)
}

async fn in_process_writes(concurrency: usize) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let state = open_state(dir.path())?;
    let set: Op = {
        let state = state.clone();
        Arc::new(move |task, i| {
            let state = state.clone();
            Box::pin(async move {
                let value = json!({ "task": task, "i": i, "title": "a todo of ordinary size" });
                state.set("bench", &format!("{task}-{i}"), value, Cause::ROOT).await?;
                Ok(())
            })
        })
    };
    let run = load::in_process(concurrency, RUN, usize::MAX, set).await?;
    state.close().await?;
    Ok(run)
}

async fn reads() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let state = open_state(dir.path())?;
    for i in 0..1000 {
        state
            .set("bench", &format!("k{i}"), json!({ "i": i, "title": "read me" }), Cause::ROOT)
            .await?;
    }
    let mut per_read = Vec::new();
    for _ in 0..5 {
        let began = Instant::now();
        let reads = 200_000;
        for i in 0..reads {
            std::hint::black_box(state.get("bench", &format!("k{}", i % 1000)).await?);
        }
        per_read.push(began.elapsed() / reads);
    }
    println!(
        "| `State::get`, in process (median of 5 × 200,000) | 1 | {:.0} | {:.4} | - |",
        1.0 / median(&per_read).as_secs_f64(),
        median(&per_read).as_secs_f64() * 1e3
    );
    state.close().await?;
    Ok(())
}

async fn over_http(plugins: &std::path::Path) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    crate::fixtures::copy_plugin(
        plugins,
        "todos",
        &dir.path().join("plugins"),
        "todos",
        crate::fixtures::same,
    )?;
    let options = eddy::ServeOptions::new(dir.path().join("plugins"), dir.path().join("data"));
    let server = eddy::Server::start(options).await?;
    let addr = server.local_addr()?;
    let serving = tokio::spawn(server.run(std::future::pending()));

    for concurrency in [1, 64] {
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            runs.push(load::closed_loop(addr, concurrency, RUN, http::creates()).await?);
        }
        report("`POST /todos` (write + 2 triggers + stream push)", concurrency, runs);
    }

    // Delivery latency: a create sent → its answer, and → the frame its on-change handler sends.
    let (acks, frames) = http::write_to_frame(addr, 500).await?;
    println!(
        "\nTrigger delivery (500 sequential creates): create sent → acknowledged p50 {} / p99 {} ms; \
         create sent → `on-change`'s frame arrived p50 {} / p99 {} ms",
        ms(median(&acks)),
        ms(percentile(&acks, 99.0)),
        ms(median(&frames)),
        ms(percentile(&frames, 99.0))
    );
    serving.abort();
    Ok(())
}
