//! The shared store: the todo app on one, two and three release hosts sharing one PostgreSQL
//! database (same machine), beside the embedded store, and both with a million stored keys.
//!
//! - `POST /todos` at concurrency 32 in all (split evenly over the hosts): requests per second,
//!   p50/p99, and CPU per create of the hosts and of the database server (the postmaster and
//!   its backends, from /proc), counted until every create's trigger handlers are done.
//! - Write on one host → frame on another: `POST /todos` sequentially on host A, a WebSocket
//!   client of `todos-live` on host B; the time from sending to the matching frame.
//! - Start-up and resident memory with 1,000,000 stored keys, on each engine.
//!
//! PostgreSQL: `EDDY_BENCH_POSTGRES` (a server URL; CPU of the server is then not measured), or
//! a throwaway server started with `examples/cluster/postgres.sh` (needs its binaries).
//! `EDDY_BENCH_CLUSTER` picks parts (comma-separated: `throughput`, `frames`, `million`; all by
//! default), and `EDDY_BENCH_HOSTS` the largest host count of the throughput rows (3).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;

use crate::fixtures;
use crate::http::{creates, write_to_frame_between};
use crate::load;
use crate::process::{self, HostProcess};
use crate::stats::{Runs, median, ms, thousands, us};
use eddy::tools::client::Client;

/// How long each throughput run lasts, and runs per figure.
const RUN: Duration = Duration::from_secs(3);
const RUNS: usize = 3;
/// Connections in all, spread over the hosts.
const CONCURRENCY: usize = 32;
/// Sequential creates per write → frame run.
const CREATES: usize = 500;
/// Keys stored for the start-up and memory figures.
const KEYS: u64 = 1_000_000;

/// A PostgreSQL server for the scenario.
struct Server {
    url: String,
    /// The postmaster's pid, when this scenario started the server (for its CPU time).
    postmaster: Option<u32>,
    /// The server's directory, when this scenario started it (stopped at the end).
    dir: Option<tempfile::TempDir>,
}

impl Server {
    fn start() -> anyhow::Result<Server> {
        if let Ok(url) = std::env::var("EDDY_BENCH_POSTGRES") {
            return Ok(Server { url, postmaster: None, dir: None });
        }
        let dir = tempfile::tempdir()?;
        let script = crate::repo().join("examples/cluster/postgres.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir.path())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout)?.trim().to_owned();
        let pid = std::fs::read_to_string(dir.path().join("data/postmaster.pid"))?;
        let postmaster = pid.lines().next().and_then(|l| l.trim().parse().ok());
        Ok(Server { url, postmaster, dir: Some(dir) })
    }

    /// A new, empty database on the server.
    async fn database(&self, name: &str) -> anyhow::Result<String> {
        let (client, connection) =
            tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await?;
        client.batch_execute(&format!("CREATE DATABASE {name}")).await?;
        let (base, _) = self.url.rsplit_once('/').context("a URL ending in /DB")?;
        Ok(format!("{base}/{name}"))
    }

    fn cpu(&self) -> Option<Duration> {
        self.postmaster.and_then(|pid| process::cpu_of_tree(pid).ok())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let script = crate::repo().join("examples/cluster/postgres.sh");
            let _ =
                std::process::Command::new("bash").arg(script).arg("stop").arg(dir.path()).status();
        }
    }
}

pub async fn run(plugins: &Path) -> anyhow::Result<()> {
    let Some(binary) = process::binary() else {
        println!("{}", process::missing_binary("cluster"));
        return Ok(());
    };
    let server = match Server::start() {
        Ok(server) => server,
        Err(e) => {
            println!("\n(cluster: no PostgreSQL server: {e:#})");
            return Ok(());
        }
    };
    let dir = tempfile::tempdir()?;
    let served = dir.path().join("plugins");
    fixtures::copy_plugin(plugins, "todos", &served, "todos", fixtures::same)?;
    let parts = std::env::var("EDDY_BENCH_CLUSTER").unwrap_or_default();
    let wants = |part: &str| parts.is_empty() || parts.split(',').any(|p| p.trim() == part);
    let most_hosts: usize =
        std::env::var("EDDY_BENCH_HOSTS").ok().and_then(|h| h.parse().ok()).unwrap_or(3);
    if wants("throughput") {
        throughputs(&binary, &served, dir.path(), &server, most_hosts).await?;
    }
    if wants("frames") {
        frames(&binary, &served, dir.path(), &server).await?;
    }
    if wants("million") {
        million(&binary, &served, dir.path(), &server).await?;
    }
    Ok(())
}

/// The throughput rows: the embedded store, then one to `most_hosts` hosts on PostgreSQL.
async fn throughputs(
    binary: &Path,
    served: &Path,
    dir: &Path,
    server: &Server,
    most_hosts: usize,
) -> anyhow::Result<()> {
    println!(
        "\n## The shared store: hosts on one PostgreSQL database (release binaries, same machine)\n"
    );
    println!(
        "`POST /todos`, {CONCURRENCY} connections in all spread over the hosts, median of {RUNS} \
         runs of {} s. CPU per create until its trigger handlers are done: all hosts together, \
         and the database server (postmaster and backends).\n",
        RUN.as_secs()
    );
    println!(
        "| store | hosts | req/s | p50 ms | p99 ms | hosts CPU µs/create | database CPU µs/create |"
    );
    println!("|---|---|---|---|---|---|---|");
    let embedded = throughput(binary, served, &dir.join("embedded"), None, 1, None).await?;
    println!("| embedded (redb) | 1 | {embedded} |");
    for hosts in 1..=most_hosts {
        let url = server.database(&format!("bench_cluster_{hosts}")).await?;
        let row = throughput(
            binary,
            served,
            &dir.join(format!("pg{hosts}")),
            Some(&url),
            hosts,
            Some(server),
        )
        .await?;
        println!("| PostgreSQL | {hosts} | {row} |");
    }
    Ok(())
}

/// Write on one host → frame on the same host and on another.
async fn frames(binary: &Path, served: &Path, dir: &Path, server: &Server) -> anyhow::Result<()> {
    let url = server.database("bench_frames").await?;
    let (a, b) = (
        start(binary, served, &dir.join("fa"), Some(&url)).await?,
        start(binary, served, &dir.join("fb"), Some(&url)).await?,
    );
    let (mut same, mut cross) = (Runs::default(), Runs::default());
    for _ in 0..RUNS {
        same.push(0.0, &write_to_frame_between(a.addr, a.addr, CREATES).await?.1);
        cross.push(0.0, &write_to_frame_between(a.addr, b.addr, CREATES).await?.1);
    }
    println!(
        "\n## Write → frame on the shared store ({CREATES} sequential creates, median of {RUNS} runs)\n"
    );
    println!("| the `POST /todos` on | the WebSocket client on | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    println!("| host A | host A | {} | {} |", ms(same.p50()), ms(same.p99()));
    println!("| host A | host B | {} | {} |", ms(cross.p50()), ms(cross.p99()));
    a.stop().await?;
    b.stop().await?;
    Ok(())
}

/// Start-up and memory with [`KEYS`] stored keys, on each engine.
async fn million(binary: &Path, served: &Path, dir: &Path, server: &Server) -> anyhow::Result<()> {
    println!("\n## Start-up and memory with {} stored keys\n", thousands(KEYS as f64));
    println!("| store | start-up to the first answer, ms | resident memory after start, MiB |");
    println!("|---|---|---|");
    let redb = dir.join("million");
    fill_redb(&redb, KEYS)?;
    let (took, rss) = start_measured(binary, served, &redb, None).await?;
    println!("| embedded (redb) | {} | {} |", ms(took), rss >> 20);
    let url = server.database("bench_million").await?;
    start(binary, served, &dir.join("migrate"), Some(&url)).await?.stop().await?;
    fill_postgres(&url, KEYS).await?;
    let (took, rss) = start_measured(binary, served, &dir.join("pgmillion"), Some(&url)).await?;
    println!("| PostgreSQL | {} | {} |", ms(took), rss >> 20);
    Ok(())
}

async fn start(
    binary: &Path,
    plugins: &Path,
    data: &Path,
    url: Option<&str>,
) -> anyhow::Result<HostProcess> {
    let extra: Vec<&str> = url.map(|url| vec!["--state", url]).unwrap_or_default();
    if let Some(parent) = data.parent() {
        std::fs::create_dir_all(parent)?;
    }
    HostProcess::start_with(binary, plugins, data, &extra).await
}

/// One throughput row: `req/s | p50 | p99 | hosts CPU/create | database CPU/create`.
async fn throughput(
    binary: &Path,
    plugins: &Path,
    data: &Path,
    url: Option<&str>,
    hosts: usize,
    server: Option<&Server>,
) -> anyhow::Result<String> {
    let mut running = Vec::new();
    for h in 0..hosts {
        running.push(start(binary, plugins, &data.join(format!("host-{h}")), url).await?);
    }
    let addrs: Vec<SocketAddr> = running.iter().map(|h| h.addr).collect();
    let mut probe = Client::connect(addrs[0]).await?;
    // Warm up every host.
    spread(&addrs, Duration::from_millis(500)).await?;
    let mut runs = Runs::default();
    let (mut host_cpu, mut db_cpu) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        drained(&mut probe, None).await?;
        let before = total(&mut probe).await?;
        let cpu0: Duration = running.iter().map(|h| h.cpu().unwrap_or_default()).sum();
        let db0 = server.and_then(Server::cpu);
        let run = spread(&addrs, RUN).await?;
        drained(&mut probe, Some(before + run.requests as u64)).await?;
        let cpu1: Duration = running.iter().map(|h| h.cpu().unwrap_or_default()).sum();
        let n = run.requests.max(1) as u32;
        runs.push(run.rate(), &run.latencies);
        host_cpu.push((cpu1 - cpu0) / n);
        if let (Some(db0), Some(db1)) = (db0, server.and_then(Server::cpu)) {
            db_cpu.push((db1 - db0) / n);
        }
    }
    for host in running {
        host.stop().await?;
    }
    let db = if db_cpu.is_empty() { "-".to_owned() } else { us(median(&db_cpu)) };
    Ok(format!(
        "{} | {} | {} | {} | {db}",
        thousands(runs.rate()),
        ms(runs.p50()),
        ms(runs.p99()),
        us(median(&host_cpu))
    ))
}

/// Creates at [`CONCURRENCY`] in all, split evenly over `addrs`, for `duration`.
async fn spread(addrs: &[SocketAddr], duration: Duration) -> anyhow::Result<load::Run> {
    let each = CONCURRENCY / addrs.len();
    let runs = futures_util::future::try_join_all(
        addrs.iter().map(|&addr| load::closed_loop(addr, each, duration, creates())),
    )
    .await?;
    let mut all = load::Run { requests: 0, elapsed: Duration::ZERO, latencies: Vec::new() };
    for run in runs {
        all.requests += run.requests;
        all.elapsed = all.elapsed.max(run.elapsed);
        all.latencies.extend(run.latencies);
    }
    Ok(all)
}

async fn total(client: &mut Client) -> anyhow::Result<u64> {
    let (status, body) = client.get("/todos/metrics").await?;
    anyhow::ensure!(status == 200, "GET /todos/metrics answered {status}");
    Ok(serde_json::from_slice::<Value>(&body)?["total"].as_u64().unwrap_or(0))
}

/// Waits until the metrics count `expected` todos (none: until they stop moving).
async fn drained(client: &mut Client, expected: Option<u64>) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last = total(client).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(if expected.is_some() { 5 } else { 300 })).await;
        let now = total(client).await?;
        match expected {
            Some(expected) if now >= expected => return Ok(()),
            None if now == last => return Ok(()),
            _ => {}
        }
        last = now;
        anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "handlers never caught up");
    }
}

/// Starts the host on `data` (and `url`), times it to the first answer of `GET /todos/metrics`,
/// reads its resident memory, and stops it.
async fn start_measured(
    binary: &Path,
    plugins: &Path,
    data: &Path,
    url: Option<&str>,
) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let host = start(binary, plugins, data, url).await?;
    let mut client = Client::connect(host.addr).await?;
    let (status, _) = client.get("/todos/metrics").await?;
    anyhow::ensure!(status == 200, "GET /todos/metrics answered {status}");
    let took = started.elapsed();
    let rss = host.rss()?;
    host.stop().await?;
    Ok((took, rss))
}

/// `keys` todo-sized values in the redb file of data directory `data`.
fn fill_redb(data: &Path, keys: u64) -> anyhow::Result<PathBuf> {
    use eddy::state::engine::{Batch, Engine};
    std::fs::create_dir_all(data)?;
    let path = data.join("state.redb");
    let mut engine = eddy::state::redb::RedbEngine::open(&path)?;
    let mut next = 0;
    while next < keys {
        let mut batch = Batch::default();
        for k in next..(next + 50_000).min(keys) {
            batch.writes.push(("bench".into(), format!("k{k:08}"), Some(value(k))));
        }
        next += 50_000;
        engine.commit(&batch)?;
    }
    Ok(path)
}

/// `keys` todo-sized values in the database at `url` (whose schema the host made).
async fn fill_postgres(url: &str, keys: u64) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .execute(
            "INSERT INTO eddy_state (scope, key, value) \
             SELECT 'bench', 'k' || lpad(n::text, 8, '0'), \
                    json_build_object('id', n, 'title', 'a todo of ordinary size', 'completed', false) \
             FROM generate_series(0, $1::bigint - 1) AS n",
            &[&(keys as i64)],
        )
        .await?;
    Ok(())
}

fn value(k: u64) -> Value {
    serde_json::json!({ "id": k, "title": "a todo of ordinary size", "completed": false })
}
