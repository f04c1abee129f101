//! The todo app over real HTTP: the release binary (`eddy serve`, durable redb store, every
//! acknowledged write fsynced) in its own process, the load generator in this one, so the
//! host's CPU time per request comes from `/proc/<pid>/stat` and the generator's from
//! `/proc/self/stat`.
//!
//! - `POST /todos` at concurrency 1 and 32, `GET /todos/metrics` at 32: requests per second,
//!   p50/p99 latency, CPU per request. A create's two trigger handlers (`on-change`,
//!   `update-metrics`) run after its answer; a create run ends when the metrics count every
//!   todo it created, and the host's CPU is counted until then, so it includes the handlers.
//! - Write → stream: the time from sending `POST /todos` to the matching `todo_changed` frame on
//!   a WebSocket client connected beforehand, over sequential creates.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hyper::Method;
use serde_json::{Value, json};

use crate::fixtures;
use crate::load::{self, MakeRequest};
use crate::process::{self, HostProcess};
use crate::stats::{Runs, median, median_f64, ms, thousands, us};
use eddy::tools::client::Client;

/// How long each throughput run lasts.
const RUN: Duration = Duration::from_secs(3);
/// Runs per figure; each figure is the median over them.
const RUNS: usize = 3;
/// Sequential creates per write → stream run.
const CREATES: usize = 1_000;

pub async fn run(plugins: &Path) -> anyhow::Result<()> {
    let Some(binary) = process::binary() else {
        println!("{}", process::missing_binary("http"));
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    fixtures::copy_plugin(plugins, "todos", &dir.path().join("plugins"), "todos", fixtures::same)?;
    let host =
        HostProcess::start(&binary, &dir.path().join("plugins"), &dir.path().join("data")).await?;
    let addr = host.addr;
    let mut probe = Client::connect(addr).await?;
    // Warm up: the instance pool, the store's file, the allocator's arenas.
    load::closed_loop(addr, 32, Duration::from_millis(500), creates()).await?;
    let created = total(&mut probe).await?;
    drained(&mut probe, created).await?;

    println!("\n## The todo app over HTTP (`eddy serve` in its own process, durable store)\n");
    println!(
        "Median of {RUNS} runs of {} s. CPU per request: the host's from /proc/<pid>/stat \
         (for creates, until their trigger handlers are done), the load generator's from \
         /proc/self/stat.\n",
        RUN.as_secs()
    );
    println!(
        "| workload | concurrency | req/s | p50 ms | p99 ms | host CPU µs/req | host cores busy | generator CPU µs/req | handlers done after |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let workloads: [(&str, usize, MakeRequest, bool); 3] = [
        ("`POST /todos`", 1, creates(), true),
        ("`POST /todos`", 32, creates(), true),
        ("`GET /todos/metrics`", 32, load::fixed(Method::GET, "/todos/metrics"), false),
    ];
    let (mut spreads, mut by_thread) = (Vec::new(), Vec::new());
    for (name, concurrency, make, is_create) in workloads {
        let mut runs = Runs::default();
        let (mut host_cpu, mut cores, mut generator_cpu, mut drains) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut threads: [Vec<Duration>; 3] = Default::default();
        for _ in 0..RUNS {
            let before = if is_create { total(&mut probe).await? } else { 0 };
            let threads0 = host.cpu_by_thread()?;
            let (host0, own0, started) = (host.cpu()?, process::own_cpu()?, Instant::now());
            let run = load::closed_loop(addr, concurrency, RUN, make.clone()).await?;
            let drain = if is_create {
                drained(&mut probe, before + run.requests as u64).await?
            } else {
                Duration::ZERO
            };
            let (host1, own1, wall) = (host.cpu()?, process::own_cpu()?, started.elapsed());
            let threads1 = host.cpu_by_thread()?;
            let n = run.requests.max(1) as u32;
            for (samples, cpu) in threads.iter_mut().zip(split(&threads0, &threads1, host1 - host0))
            {
                samples.push(cpu / n);
            }
            runs.push(run.rate(), &run.latencies);
            host_cpu.push((host1 - host0) / n);
            cores.push((host1 - host0).as_secs_f64() / wall.as_secs_f64());
            generator_cpu.push((own1 - own0) / n);
            drains.push(drain);
        }
        println!(
            "| {name} | {concurrency} | {} | {} | {} | {} | {:.2} | {} | {} |",
            thousands(runs.rate()),
            ms(runs.p50()),
            ms(runs.p99()),
            us(median(&host_cpu)),
            median_f64(&cores),
            us(median(&generator_cpu)),
            if is_create { format!("{} ms", ms(median(&drains))) } else { "-".into() },
        );
        spreads.push(format!("{name} c={concurrency} {}", runs.rate_spread()));
        by_thread.push(format!(
            "| {name} | {concurrency} | {} | {} | {} |",
            us(median(&threads[0])),
            us(median(&threads[1])),
            us(median(&threads[2]))
        ));
    }
    println!("\nreq/s of the single runs: {}.", spreads.join("; "));
    println!("\nThe host's CPU per request by thread (/proc/<pid>/task/*/stat):\n");
    println!(
        "| workload | concurrency | async workers + blocking pool µs/req | state writer µs/req | other (main thread: accept loop; epoch ticker; exited threads) µs/req |"
    );
    println!("|---|---|---|---|---|");
    by_thread.iter().for_each(|row| println!("{row}"));

    let mut acks = Runs::default();
    let mut frames = Runs::default();
    for _ in 0..RUNS {
        let (ack, frame) = write_to_frame(addr, CREATES).await?;
        acks.push(0.0, &ack);
        frames.push(0.0, &frame);
    }
    println!("\n## Write → stream ({CREATES} sequential creates, median of {RUNS} runs)\n");
    println!("| from sending `POST /todos` to | p50 ms | p99 ms |");
    println!("|---|---|---|");
    println!("| its answer | {} | {} |", ms(acks.p50()), ms(acks.p99()));
    println!(
        "| the matching frame on a connected WebSocket | {} | {} |",
        ms(frames.p50()),
        ms(frames.p99())
    );
    host.stop().await
}

/// The host's CPU time between two per-thread readings, split into [async workers and the
/// blocking pool, the state writer, everything else (the main thread, the epoch ticker,
/// threads that exited)]; `total` is the process's own figure over the same time.
fn split(
    before: &BTreeMap<String, Duration>,
    after: &BTreeMap<String, Duration>,
    total: Duration,
) -> [Duration; 3] {
    let delta = |name: &str| {
        let get = |map: &BTreeMap<String, Duration>| map.get(name).copied().unwrap_or_default();
        get(after).saturating_sub(get(before))
    };
    let (workers, writer) = (delta("tokio-rt-worker"), delta("eddy-state-writ"));
    [workers, writer, total.saturating_sub(workers + writer)]
}

/// `POST /todos` with a distinct title per request.
pub fn creates() -> MakeRequest {
    Arc::new(|task, n| {
        let body = json!({ "title": format!("bench {task}-{n}") }).to_string();
        (Method::POST, "/todos".to_string(), Some(body))
    })
}

/// The todo count of `GET /todos/metrics`.
async fn total(client: &mut Client) -> anyhow::Result<u64> {
    let (status, body) = client.get("/todos/metrics").await?;
    anyhow::ensure!(status == 200, "GET /todos/metrics answered {status}");
    let metrics: Value = serde_json::from_slice(&body)?;
    Ok(metrics["total"].as_u64().unwrap_or(0))
}

/// Waits until the metrics count `expected` todos: every create's `update-metrics` handler has
/// committed (and `on-change` ran beside it). Returns how long that took.
async fn drained(client: &mut Client, expected: u64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while total(client).await? < expected {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "the trigger handlers did not catch up within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(started.elapsed())
}

/// `creates` sequential creates: for each, (send → answer, send → matching frame).
pub async fn write_to_frame(
    addr: SocketAddr,
    creates: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    write_to_frame_between(addr, addr, creates).await
}

/// [`write_to_frame`] with the creates sent to `write` and the frames read from `watch` (two
/// hosts of one shared store).
pub async fn write_to_frame_between(
    write: SocketAddr,
    watch: SocketAddr,
    creates: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut stream = fixtures::TodoFrames::connect(watch).await?;
    let mut client = Client::connect(write).await?;
    let (mut acks, mut frames) = (Vec::new(), Vec::new());
    for i in 0..creates {
        let body = json!({ "title": format!("latency {i}") }).to_string();
        let sent = Instant::now();
        let (status, answer) = client.request(Method::POST, "/todos", Some(&body)).await?;
        acks.push(sent.elapsed());
        anyhow::ensure!(status == 200, "create failed: {status}");
        let todo: Value = serde_json::from_slice(&answer)?;
        let id = todo["id"].as_str().context("a todo id")?;
        loop {
            let (key, arrived) = stream.next().await?;
            if key == id {
                frames.push(arrived - sent);
                break;
            }
        }
    }
    Ok((acks, frames))
}
