//! In process: what a call into a wasm function costs, per language, on a fresh instance
//! (instantiate + call: the plugin's manifest says `reuse = false`) and on a warm one (`reuse =
//! true`); and what the state service's get, set and update cost on the durable store. Calls go
//! through `Host::call` with the HTTP event the router would build, so no network is involved.
//!
//! The languages are Rust (`plugins/hello`), JavaScript (`plugins/todo-search`, `GET
//! /todo-search?q=milk`) and Python (`plugins/todo-digest`, `GET /todo-digest`); a language
//! whose component is not built is skipped with a note. Compiled components are cached in
//! `target/eddy-bench/cache`, so only the first run pays for compiling the large JavaScript and
//! Python components.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use eddy::Host;
use eddy::cause::Cause;
use eddy::context::Invocation;
use eddy::runtime::wit;

use crate::fixtures;
use crate::stats::{Runs, thousands, us};

/// How long each run lasts.
const RUN: Duration = Duration::from_secs(1);
/// Runs per figure; each figure is the median over them.
const RUNS: usize = 3;
/// Most operations of one task in a state run (a `get` takes well under a microsecond: this
/// bounds the samples kept, not the time).
const MAX_OPS: usize = 1_000_000;

/// A language, and the plugin and HTTP function that stand for it.
struct Language {
    name: &'static str,
    plugin: &'static str,
    function: &'static str,
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
}

const LANGUAGES: [Language; 3] = [
    Language { name: "Rust", plugin: "hello", function: "hello", path: "/hello", query: &[] },
    Language {
        name: "JavaScript",
        plugin: "todo-search",
        function: "search",
        path: "/todo-search",
        query: &[("q", "milk")],
    },
    Language {
        name: "Python",
        plugin: "todo-digest",
        function: "summaries",
        path: "/todo-digest",
        query: &[],
    },
];

pub async fn run(plugins: &Path) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let served = dir.path().join("plugins");
    let mut skipped = Vec::new();
    for language in &LANGUAGES {
        if !fixtures::is_built(plugins, language.plugin) {
            skipped.push(format!(
                "{} (plugins/{} is not built: `cargo run -p eddy -- build plugins`)",
                language.name, language.plugin
            ));
            continue;
        }
        let name = language.plugin;
        fixtures::copy_plugin(plugins, name, &served, name, fixtures::same)?;
        let fresh = format!("{name}-fresh");
        fixtures::copy_plugin(plugins, name, &served, &fresh, |manifest| {
            fixtures::fresh_instances(&fixtures::renamed(manifest, name, &fresh))
        })?;
    }
    let mut options = eddy::ServeOptions::new(&served, dir.path().join("data"));
    options.cache = Some(crate::compile_cache());
    let loading = Instant::now();
    let server = eddy::Server::start(options).await?;
    let loaded_in = loading.elapsed();
    let host = server.host().clone();

    println!("\n## Calls and state, in process\n");
    println!(
        "One call at a time through `Host::call` with an HTTP event; median of {RUNS} runs of {} s.\n",
        RUN.as_secs()
    );
    println!("| language | instance | calls/s | p50 µs | p99 µs |");
    println!("|---|---|---|---|---|");
    for language in LANGUAGES.iter().filter(|l| fixtures::is_built(plugins, l.plugin)) {
        for (instance, plugin) in [
            ("fresh (instantiate + call)", format!("{}-fresh", language.plugin)),
            ("warm (call)", language.plugin.to_string()),
        ] {
            let id = format!("{plugin}::{}", language.function);
            let function =
                host.registry().snapshot().function(&id).cloned().with_context(|| id.clone())?;
            let event = http_event(language, &plugin);
            let mut runs = Runs::default();
            for _ in 0..RUNS {
                let mut latencies = Vec::new();
                let started = Instant::now();
                while started.elapsed() < RUN {
                    let began = Instant::now();
                    host.call(&function, &event, &Invocation::root())
                        .await
                        .with_context(|| format!("calling {id}"))?;
                    latencies.push(began.elapsed());
                }
                runs.push(latencies.len() as f64 / started.elapsed().as_secs_f64(), &latencies);
            }
            println!(
                "| {} | {instance} | {} | {} | {} |",
                language.name,
                thousands(runs.rate()),
                us(runs.p50()),
                us(runs.p99())
            );
        }
    }
    for skip in &skipped {
        println!("| {skip} | skipped | - | - | - |");
    }
    println!(
        "\n(Loading the plugins took {:.2} s; compiled code comes from target/eddy-bench/cache \
         after the first run.)",
        loaded_in.as_secs_f64()
    );

    state_ops(&host).await?;
    host.shut_down().await;
    Ok(())
}

/// The event the router builds for `GET <path>?<query>` routed to `plugin`.
fn http_event(language: &Language, plugin: &str) -> wit::Event {
    let path = language.path.replace(language.plugin, plugin);
    wit::Event::Http(wit::HttpRequest {
        method: "GET".into(),
        path: path.clone(),
        route: path,
        path_params: Vec::new(),
        query_params: language.query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        headers: vec![("host".into(), "127.0.0.1".into())],
        body: "null".into(),
    })
}

/// One state operation of task `task`, its `n`-th.
type Op = Arc<
    dyn Fn(usize, usize) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send + Sync,
>;

async fn state_ops(host: &Host) -> anyhow::Result<()> {
    let state = host.state().clone();
    for i in 0..1000 {
        let value = json!({ "i": i, "title": "a todo of ordinary size" });
        state.set("bench", &format!("k{i}"), value, Cause::ROOT).await?;
    }
    let get: Op = {
        let state = state.clone();
        Arc::new(move |_, n| {
            let result = state.get("bench", &format!("k{}", n % 1000)).map(drop);
            Box::pin(async move { Ok(result?) })
        })
    };
    let set: Op = {
        let state = state.clone();
        Arc::new(move |task, n| {
            let state = state.clone();
            Box::pin(async move {
                let value = json!({ "task": task, "n": n, "title": "a todo of ordinary size" });
                state.set("bench", &format!("set-{task}-{n}"), value, Cause::ROOT).await?;
                Ok(())
            })
        })
    };
    let update: Op = {
        let state = state.clone();
        Arc::new(move |task, _| {
            let state = state.clone();
            Box::pin(async move {
                let ops = json!([{ "type": "increment", "path": "n", "by": 1 }]);
                state.update("bench", &format!("counter-{task}"), &ops, Cause::ROOT).await?;
                Ok(())
            })
        })
    };

    println!("\n| state (durable store) | concurrency | ops/s | p50 µs | p99 µs |");
    println!("|---|---|---|---|---|");
    for (name, concurrency, op) in [
        ("`get` (from memory)", 1, get),
        ("`set` (group commit, fsync)", 1, set.clone()),
        ("`set`", 32, set),
        ("`update` (increment)", 1, update.clone()),
        ("`update` (increment, a key per task)", 32, update),
    ] {
        let mut runs = Runs::default();
        for _ in 0..RUNS {
            let (rate, latencies) = ops(concurrency, op.clone()).await?;
            runs.push(rate, &latencies);
        }
        println!(
            "| {name} | {concurrency} | {} | {} | {} |",
            thousands(runs.rate()),
            us(runs.p50()),
            us(runs.p99())
        );
    }
    Ok(())
}

/// `concurrency` tasks running `op` back to back for [`RUN`]: (ops/s, latencies).
async fn ops(concurrency: usize, op: Op) -> anyhow::Result<(f64, Vec<Duration>)> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0;
                while started.elapsed() < RUN && n < MAX_OPS {
                    let began = Instant::now();
                    op(task, n).await?;
                    latencies.push(began.elapsed());
                    n += 1;
                    if n % 256 == 0 {
                        // `get` never waits: let the other tasks and the runtime in.
                        tokio::task::yield_now().await;
                    }
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
