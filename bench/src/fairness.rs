//! `fairness`: one plugin flooded with runaway calls, another plugin's latency meanwhile. The
//! release binary serves `hello` and the test fixture `hostile` (whose `loop` spins until its
//! 1 s deadline) with its default limits. Each run measures `GET /hello`, one request at a time
//! for [`WINDOW`], once on a quiet host and once while [`FLOOD`] concurrent `GET /hostile/loop`
//! are in flight; the figures are medians over [`RUNS`] runs. The host's promise
//! (`docs/http.md`): the quiet plugin's p99 stays within its baseline plus 25 ms, and it never
//! gets a 5xx.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use hyper::Method;

use crate::fixtures;
use crate::process::{self, HostProcess};
use crate::stats::{median, ms, percentile};
use eddy::tools::client::Client;

const FLOOD: usize = 400;
const WINDOW: Duration = Duration::from_millis(1000);
const RUNS: usize = 5;

pub async fn run(plugins: &Path) -> anyhow::Result<()> {
    let Some(binary) = process::binary() else {
        println!("{}", process::missing_binary("fairness"));
        return Ok(());
    };
    let fixtures_dir = crate::repo().join("tests/fixtures/plugins");
    eddy::tools::build::build_one(&fixtures_dir.join("hostile"))?;
    let dir = tempfile::tempdir()?;
    let served = dir.path().join("plugins");
    fixtures::copy_plugin(plugins, "hello", &served, "hello", fixtures::same)?;
    fixtures::copy_plugin(&fixtures_dir, "hostile", &served, "hostile", fixtures::same)?;
    let host = HostProcess::start(&binary, &served, &dir.path().join("data")).await?;

    println!("\n## Fairness: a flooded plugin and a quiet one\n");
    println!(
        "`GET /hello` one at a time for {} s, on a quiet host and while {FLOOD} concurrent \
         `GET /hostile/loop` (spinning to their 1 s deadline) are in flight; default limits \
         (64 calls in flight per plugin, half the cores for a plugin's long calls). Medians of \
         {RUNS} runs.\n",
        WINDOW.as_secs_f64()
    );
    let (mut quiet, mut flooded) = (Vec::new(), Vec::new());
    let mut flood_statuses = BTreeMap::new();
    for _ in 0..RUNS {
        quiet.push(victim(host.addr, None).await?);
        let mut statuses = BTreeMap::new();
        flooded.push(victim(host.addr, Some(&mut statuses)).await?);
        for (status, n) in statuses {
            *flood_statuses.entry(status).or_insert(0) += n;
        }
    }
    println!("| hello | p50 ms | p99 ms | requests | 5xx |");
    println!("|---|---|---|---|---|");
    for (label, runs) in [("quiet host", &quiet), ("hostile flooded", &flooded)] {
        let p50s: Vec<Duration> = runs.iter().map(|r| median(&r.latencies)).collect();
        let p99s: Vec<Duration> = runs.iter().map(|r| percentile(&r.latencies, 99.0)).collect();
        let requests: usize = runs.iter().map(|r| r.latencies.len()).sum();
        let errors: usize = runs.iter().map(|r| r.server_errors).sum();
        println!(
            "| {label} | {} | {} | {requests} | {errors} |",
            ms(median(&p50s)),
            ms(median(&p99s))
        );
    }
    let p99 = |runs: &[Victim]| {
        median(&runs.iter().map(|r| percentile(&r.latencies, 99.0)).collect::<Vec<_>>())
    };
    let added = p99(&flooded).saturating_sub(p99(&quiet));
    println!(
        "\nThe flood added {} ms to hello's p99 (the promise: at most 25 ms). The flood's own \
         answers, all runs: {flood_statuses:?} (503: over the plugin's cap, refused after a \
         brief wait with Retry-After; 504: ran to its deadline).",
        ms(added)
    );
    host.stop().await
}

/// One run of the quiet plugin's requests.
struct Victim {
    latencies: Vec<Duration>,
    server_errors: usize,
}

/// `GET /hello` back to back for [`WINDOW`]; with `flood`, while [`FLOOD`] runaway calls are in
/// flight (their statuses counted into it).
async fn victim(
    addr: std::net::SocketAddr,
    flood: Option<&mut BTreeMap<u16, usize>>,
) -> anyhow::Result<Victim> {
    let mut runaway = Vec::new();
    if flood.is_some() {
        for _ in 0..FLOOD {
            let mut client = Client::connect(addr).await?;
            runaway.push(tokio::spawn(async move { client.get("/hostile/loop").await }));
        }
        // Let the flood reach the host before measuring.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut client = Client::connect(addr).await?;
    let (mut latencies, mut server_errors) = (Vec::new(), 0);
    let started = Instant::now();
    while started.elapsed() < WINDOW {
        let began = Instant::now();
        let (status, _) = client.request(Method::GET, "/hello", None).await?;
        latencies.push(began.elapsed());
        server_errors += usize::from(status >= 500);
    }
    if let Some(statuses) = flood {
        for call in runaway {
            let (status, _) = call.await??;
            *statuses.entry(status).or_insert(0) += 1;
        }
    }
    Ok(Victim { latencies, server_errors })
}
