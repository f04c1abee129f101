//! Many WebSocket clients against the release binary in its own process (its memory is then
//! its own, in `/proc/<pid>/status`):
//!
//! - 10,000 idle clients subscribed to `todos-live/all`: the host's resident memory before and
//!   after they connect.
//! - One event fanned out to 1,000 clients: each `POST /todos` makes `on-change` send one frame
//!   to `todos-live/all`; a client's receive latency counts from sending the POST to that frame
//!   arriving, so it includes the write, the trigger and the handler's commit (the write →
//!   stream latency of the `http` scenario) plus the fan-out.
//!
//! Both ends need a file descriptor per client: the bench raises its soft limit toward the hard
//! one (the host, its child, inherits it) and connects fewer clients if the hard limit is lower.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::{StreamExt, stream};
use hyper::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::fixtures;
use crate::process::{self, HostProcess};
use crate::stats::{Runs, median, ms};
use eddy::tools::client::Client;

/// Idle clients.
const IDLE: usize = 10_000;
/// Clients an event is fanned out to.
const LISTENERS: usize = 1_000;
/// Events per fan-out run, sent one after the other.
const EVENTS: usize = 20;
/// Runs per figure; each figure is the median over them.
const RUNS: usize = 3;
/// Connections being opened at once (the listen backlog is 1,024).
const CONNECTING: usize = 64;
/// File descriptors kept for everything but the clients.
const SPARE_FDS: u64 = 512;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn run(plugins: &Path) -> anyhow::Result<()> {
    let Some(binary) = process::binary() else {
        println!("{}", process::missing_binary("sockets"));
        return Ok(());
    };
    let limit = process::raise_fd_limit(IDLE as u64 + SPARE_FDS);
    let idle = (limit.saturating_sub(SPARE_FDS) as usize).min(IDLE);
    let dir = tempfile::tempdir()?;
    fixtures::copy_plugin(plugins, "todos", &dir.path().join("plugins"), "todos", fixtures::same)?;
    let host =
        HostProcess::start(&binary, &dir.path().join("plugins"), &dir.path().join("data")).await?;
    let url = format!("ws://{}/stream/todos-live/all", host.addr);
    let mut client = Client::connect(host.addr).await?;
    create(&mut client).await?;
    let (before, own_before) = (host.rss()?, process::own_rss()?);

    let started = Instant::now();
    let sockets = connect_all(&url, idle).await?;
    let connected_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (after, own_after) = (host.rss()?, process::own_rss()?);
    drop(sockets);
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!("\n## WebSocket clients (`eddy serve` in its own process)\n");
    let per_client =
        |before: u64, after: u64| after.saturating_sub(before) as f64 / 1024.0 / idle.max(1) as f64;
    println!(
        "| idle clients | host RSS before | host RSS with them | host, per client | connected in | load generator, per client (4 KiB read buffers) |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {idle} | {:.1} MiB | {:.1} MiB | {:.1} KiB | {:.2} s | {:.1} KiB |",
        mib(before),
        mib(after),
        per_client(before, after),
        connected_in.as_secs_f64(),
        per_client(own_before, own_after),
    );
    if idle < IDLE {
        println!(
            "\n(Only {idle} clients: the open-files hard limit is {limit}; raise `ulimit -Hn`.)"
        );
    }
    // Let the host notice the closed sockets before the next measurement.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let listeners = connect_all(&url, LISTENERS).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let readers: Vec<_> = listeners
        .into_iter()
        .map(|socket| {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (_sink, mut read) = socket.split();
                while let Some(Ok(message)) = read.next().await {
                    let arrived = Instant::now();
                    if matches!(message, Message::Text(_)) && tx.send(arrived).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    create(&mut client).await?; // warm-up: every listener gets one frame
    for _ in 0..LISTENERS {
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await?.context("closed")?;
    }
    let (mut all, mut last) = (Runs::default(), Vec::new());
    let (mut host_cpu, mut generator_cpu) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let (host0, own0) = (host.cpu()?, process::own_cpu()?);
        let mut latencies = Vec::with_capacity(EVENTS * LISTENERS);
        let mut lasts = Vec::new();
        for _ in 0..EVENTS {
            let sent = Instant::now();
            create(&mut client).await?;
            let mut slowest = Duration::ZERO;
            for received in 0..LISTENERS {
                let arrived = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                    .await
                    .with_context(|| format!("{received} of {LISTENERS} clients got the frame"))?
                    .context("the listeners are gone")?;
                let latency = arrived - sent;
                slowest = slowest.max(latency);
                latencies.push(latency);
            }
            lasts.push(slowest);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        all.push(0.0, &latencies);
        last.push(median(&lasts));
        host_cpu.push((host.cpu()? - host0) / EVENTS as u32);
        generator_cpu.push((process::own_cpu()? - own0) / EVENTS as u32);
    }
    readers.iter().for_each(|reader| reader.abort());
    println!(
        "\n| one event to {LISTENERS} clients ({EVENTS} events × {RUNS} runs) | p50 ms | p99 ms | last client, median ms | host CPU ms/event | generator CPU ms/event |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| `POST /todos` sent → frame received | {} | {} | {} | {} | {} |",
        ms(all.p50()),
        ms(all.p99()),
        ms(median(&last)),
        ms(median(&host_cpu)),
        ms(median(&generator_cpu))
    );
    host.stop().await
}

async fn create(client: &mut Client) -> anyhow::Result<()> {
    let body = json!({ "title": "fan me out" }).to_string();
    let (status, _) = client.request(Method::POST, "/todos", Some(&body)).await?;
    anyhow::ensure!(status == 200, "create failed: {status}");
    Ok(())
}

/// Opens `count` clients on `url`, [`CONNECTING`] at a time, each past its sync frame.
async fn connect_all(url: &str, count: usize) -> anyhow::Result<Vec<Socket>> {
    // Small buffers: the bench holds thousands of these.
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    stream::iter(0..count)
        .map(|_| async move {
            let (mut socket, _) =
                tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
            tokio::time::timeout(Duration::from_secs(30), socket.next())
                .await
                .context("no sync frame within 30 s")?
                .context("closed before the sync frame")??;
            Ok::<_, anyhow::Error>(socket)
        })
        .buffer_unordered(CONNECTING)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}
