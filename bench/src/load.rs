//! The load generator: closed loops of keep-alive HTTP/1.1 connections to 127.0.0.1, each
//! sending its next request as soon as the previous answer is in, for a fixed time. Every
//! scenario that measures HTTP throughput uses this one, so Eddy and `wasmtime serve` are driven
//! the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;

use eddy::client::Client;

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
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(Run { requests: latencies.len(), elapsed: started.elapsed(), latencies })
}

/// The same `method path` with no body, for every request.
pub fn fixed(method: Method, path: &str) -> MakeRequest {
    let path = path.to_string();
    Arc::new(move |_, _| (method.clone(), path.clone(), None))
}
