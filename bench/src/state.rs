//! Durable state: writes per second and their latency at concurrency 1 and 64, in process (the
//! state service over the redb engine, every acknowledged write fsynced) and through
//! `POST /todos` (which also runs both todo triggers); reads in process; and trigger delivery
//! latency, from a create's acknowledgement to the `todos-live` frame its `on-change` handler
//! sends after committing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy::cause::Cause;
use eddy::client::Client;
use eddy::state::State;
use eddy::state::engine::Engine;
use eddy::state::redb::RedbEngine;
use futures_util::StreamExt;
use hyper::Method;
use serde_json::json;

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
    reads().await?;
    over_http(plugins).await
}

/// (ops/s, latencies) of one run.
type Run = (f64, Vec<Duration>);

fn report(name: &str, concurrency: usize, mut runs: Vec<Run>) {
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (rate, latencies) = &runs[runs.len() / 2];
    println!(
        "| {name} | {concurrency} | {rate:.0} | {} | {} |",
        ms(median(latencies)),
        ms(percentile(latencies, 99.0))
    );
}

fn open_state(dir: &std::path::Path) -> anyhow::Result<State> {
    let engine: Box<dyn Engine> = Box::new(RedbEngine::open(&dir.join("state.redb"))?);
    let (state, _) = State::open(engine, Arc::new(|_| {}), Arc::new(|_: &str, _: &str| false))?;
    Ok(state)
}

async fn in_process_writes(concurrency: usize) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let state = open_state(dir.path())?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let state = state.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0;
                while started.elapsed() < RUN {
                    let began = Instant::now();
                    let value = json!({ "task": task, "i": i, "title": "a todo of ordinary size" });
                    state.set("bench", &format!("{task}-{i}"), value, Cause::ROOT).await?;
                    latencies.push(began.elapsed());
                    i += 1;
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    state.close().await?;
    Ok((rate, latencies))
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
            std::hint::black_box(state.get("bench", &format!("k{}", i % 1000))?);
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
    let todos = dir.path().join("plugins/todos");
    std::fs::create_dir_all(&todos)?;
    for file in ["plugin.toml", "todos.wasm"] {
        std::fs::copy(plugins.join("todos").join(file), todos.join(file))?;
    }
    let options = eddy::ServeOptions::new(dir.path().join("plugins"), dir.path().join("data"));
    let server = eddy::Server::start(options).await?;
    let addr = server.local_addr()?;
    let serving = tokio::spawn(server.run(std::future::pending()));

    for concurrency in [1, 64] {
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            runs.push(http_creates(addr, concurrency).await?);
        }
        report("`POST /todos` (write + 2 triggers + stream push)", concurrency, runs);
    }

    // Delivery latency: a create sent → the frame its on-change handler sends after committing
    // (the write and the handler's transaction are two group commits).
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/stream/todos-live/all")).await?;
    socket.next().await; // the sync frame
    let mut client = Client::connect(addr).await?;
    let (mut acks, mut frames) = (Vec::new(), Vec::new());
    for i in 0..500 {
        let body = json!({ "title": format!("latency {i}") }).to_string();
        let sent = Instant::now();
        let (status, _) = client.request(Method::POST, "/todos", Some(&body)).await?;
        anyhow::ensure!(status == 200, "create failed: {status}");
        acks.push(sent.elapsed());
        tokio::time::timeout(Duration::from_secs(10), socket.next()).await?;
        frames.push(sent.elapsed());
    }
    println!(
        "\nTrigger delivery (500 sequential creates): create sent → acknowledged p50 {} / p99 {} ms; \
         create sent → `on-change` committed and its frame arrived p50 {} / p99 {} ms",
        ms(median(&acks)),
        ms(percentile(&acks, 99.0)),
        ms(median(&frames)),
        ms(percentile(&frames, 99.0))
    );
    serving.abort();
    Ok(())
}

async fn http_creates(addr: std::net::SocketAddr, concurrency: usize) -> anyhow::Result<Run> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            tokio::spawn(async move {
                let mut client = Client::connect(addr).await?;
                let mut latencies = Vec::new();
                let mut i = 0;
                while started.elapsed() < RUN {
                    let body = json!({ "title": format!("bench {task}-{i}") }).to_string();
                    let began = Instant::now();
                    let (status, _) = client.request(Method::POST, "/todos", Some(&body)).await?;
                    anyhow::ensure!(status == 200, "create failed: {status}");
                    latencies.push(began.elapsed());
                    i += 1;
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok((latencies.len() as f64 / started.elapsed().as_secs_f64(), latencies))
}
