//! The load generator: closed loops of keep-alive HTTP/1.1 connections to 127.0.0.1, each
//! sending its next request as soon as the previous answer is in, for a fixed time. Every
//! scenario that measures HTTP throughput uses this one, so Eddy and `wasmtime serve` are driven
//! the same way. [`in_process`] is the same loop over calls into the host in this process.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;

use eddy::tools::client::Client;

/// One run: how many requests were answered, in how long, and each one's latency.
pub struct Run {
    pub requests: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// What to send: `(method, path, body)` for a connection's `n`-th request.
pub type MakeRequest = Arc<dyn Fn(usize, usize) -> (Method, String, Option<String>) + Send + Sync>;

/// `concurrency` connections, each sending requests back to back for `duration`. The
/// connections are opened before the clock starts. Any answer but 200 fails the run.
pub async fn closed_loop(
    addr: SocketAddr,
    concurrency: usize,
    duration: Duration,
    make: MakeRequest,
) -> anyhow::Result<Run> {
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        clients.push(Client::connect(addr).await?);
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(task, mut client)| {
            let make = make.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0;
                while started.elapsed() < duration {
                    let (method, path, body) = make(task, n);
                    let began = Instant::now();
                    let (status, answer) = client.request(method, &path, body.as_deref()).await?;
                    anyhow::ensure!(
                        status == 200,
                        "{path} answered {status}: {}",
                        String::from_utf8_lossy(&answer)
                    );
                    latencies.push(began.elapsed());
                    n += 1;
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    gather(started, tasks).await
}

/// The same `method path` with no body, for every request.
pub fn fixed(method: Method, path: &str) -> MakeRequest {
    let path = path.to_string();
    Arc::new(move |_, _| (method.clone(), path.clone(), None))
}

/// One in-process operation of task `task`, its `n`-th (a state write, a call...).
pub type Op = Arc<
    dyn Fn(usize, usize) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send + Sync,
>;

/// `concurrency` tasks each running `op` back to back for `duration` (and at most `max_ops`
/// times). Any error fails the run.
pub async fn in_process(
    concurrency: usize,
    duration: Duration,
    max_ops: usize,
    op: Op,
) -> anyhow::Result<Run> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0;
                while started.elapsed() < duration && n < max_ops {
                    let began = Instant::now();
                    op(task, n).await?;
                    latencies.push(began.elapsed());
                    n += 1;
                    if n % 256 == 0 {
                        // An op that never waits (a read): let the other tasks and the runtime in.
                        tokio::task::yield_now().await;
                    }
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    gather(started, tasks).await
}

/// Waits for the tasks of a run started at `started` and puts their latencies together.
async fn gather(
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Vec<Duration>>>>,
) -> anyhow::Result<Run> {
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(Run { requests: latencies.len(), elapsed: started.elapsed(), latencies })
}
