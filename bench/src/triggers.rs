//! Trigger fan-out, in process: one state write with N functions bound to its scope (N = 1, 8,
//! 32), timed from the write until all N handlers are done. The handlers are N copies of the
//! `todos` component with only `on-change` bound (a small handler: it sends the change to the
//! stream `todos-live`). A handler is done when it has returned and its frame is sent: it
//! writes no state, so its frame goes out at once and its delivery mark is committed lazily
//! right after (README, "Handler commits don't wait for the disk"). The N-th frame a WebSocket
//! client receives for a write marks the moment all N are done.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::json;

use eddy::cause::Cause;

use crate::fixtures;
use crate::stats::{Runs, ms};

/// Bound functions per write.
const FANOUT: [usize; 3] = [1, 8, 32];
/// Sequential writes per run.
const WRITES: usize = 100;
/// Runs per figure; each figure is the median over them.
const RUNS: usize = 3;

pub async fn run(plugins: &Path) -> anyhow::Result<()> {
    println!("\n## Trigger fan-out, in process (durable store)\n");
    println!(
        "{WRITES} sequential writes per run, median of {RUNS} runs; a handler is done when its \
         frame arrives (it writes no state, so it sends when it returns; its delivery mark is \
         committed lazily right after).\n"
    );
    println!("| bound functions | write acknowledged p50 ms | all handlers done p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    for n in FANOUT {
        let (acks, done) = fan_out(plugins, n).await?;
        println!("| {n} | {} | {} | {} |", ms(acks.p50()), ms(done.p50()), ms(done.p99()));
    }
    Ok(())
}

/// The manifest of the `k`-th copy: `on-change` alone, bound to scope `todos`.
fn manifest(k: usize) -> String {
    format!(
        "name = \"fan-{k}\"\ncomponent = \"todos.wasm\"\n\n[capabilities]\nstate = [\"todos\"]\n\
         streams = [\"todos-live\"]\n\n[instances]\nreuse = true\n\n[functions.on-change]\n\
         triggers = [{{ type = \"state\", scope = \"todos\" }}]\n"
    )
}

/// Serves `n` copies and runs the writes: (write acknowledged, all `n` handlers done).
async fn fan_out(plugins: &Path, n: usize) -> anyhow::Result<(Runs, Runs)> {
    let dir = tempfile::tempdir()?;
    let served = dir.path().join("plugins");
    for k in 0..n {
        fixtures::copy_plugin(plugins, "todos", &served, &format!("fan-{k}"), |_| manifest(k))?;
    }
    let mut options = eddy::ServeOptions::new(&served, dir.path().join("data"));
    options.cache = Some(crate::compile_cache());
    let server = eddy::Server::start(options).await?;
    let addr = server.local_addr()?;
    let state = server.host().state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let mut stream = fixtures::TodoFrames::connect(addr).await?;

    let (mut acks, mut done) = (Runs::default(), Runs::default());
    // The first round warms the instances up and is not counted.
    for round in 0..=RUNS {
        let (mut ack_times, mut done_times) = (Vec::new(), Vec::new());
        for i in 0..WRITES {
            let key = format!("r{round}-{i:04}");
            let todo = json!({ "id": key, "title": "fan out", "completed": false });
            let written = Instant::now();
            state.set("todos", &key, todo, Cause::ROOT).await?;
            ack_times.push(written.elapsed());
            let mut seen = 0;
            while seen < n {
                let (frame_key, arrived) =
                    stream.next().await.with_context(|| format!("{seen} of {n} handlers done"))?;
                if frame_key == key {
                    seen += 1;
                    if seen == n {
                        done_times.push(arrived - written);
                    }
                }
            }
        }
        if round > 0 {
            acks.push(0.0, &ack_times);
            done.push(0.0, &done_times);
        }
    }
    drop(stream);
    let _ = stop.send(());
    serving.await?;
    Ok((acks, done))
}
