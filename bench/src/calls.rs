//! In process: what a call into a wasm function costs, per language, on a fresh instance
//! (instantiate + call: the plugin's manifest says `reuse = false`) and on a warm one (`reuse =
//! true`); and what the state service's get, set and update cost on the durable store. Calls go
//! through `Host::call` with the HTTP event the router would build, so no network is involved.
//!
//! Each language has a `hello` function, which answers `{"hello":"world"}` and touches nothing
//! else, so its call costs what the host, the wasm boundary and the language's runtime cost per
//! call: Rust's is `plugins/hello`, JavaScript's and Python's are `bench/hello-js` and
//! `bench/hello-py`. The real functions of the example plugins follow, for comparison:
//! JavaScript's `todo-search::search` (`GET /todo-search?q=milk`: parses the query into words,
//! reads the index key of each) and Python's `todo-digest::summaries` (`GET /todo-digest`:
//! lists a scope), both on empty state. The JavaScript and Python plugins are built here, with
//! `eddy build` and the toolchains of `plugins/` ([`fixtures::build_guest`]); a language whose
//! toolchain is missing is skipped with a note. Compiled components are cached in
//! `target/eddy-bench/cache`, so only the first run pays for compiling the large JavaScript and
//! Python components.
//!
//! Warm calls are measured twice more with a buffer written between calls (not timed): 2 MiB
//! takes the instance's code and data out of the per-core caches (L2 is 512 KiB here), 64 MiB out
//! of the shared one too. That is what a call costs on a busy host, where the kernel, the HTTP
//! stack and other instances run between two calls of one instance.
//!
//! A warm JavaScript instance (componentize-js 0.23.0, and 0.19.3 alike) grows its linear memory
//! by about 470 bytes per call, whatever the function does, and a warm Python one
//! (componentize-py 0.25.1) by about 30: after about 120,000 calls (JavaScript) or 1.8 million
//! (Python) on one instance, a call fails at the 64 MiB memory cap and the host drops the
//! instance. A run here makes fewer calls than that, but a failed call is counted and reported
//! below the table rather than ending the scenario.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use eddy::Host;
use eddy::calls::Invocation;
use eddy::cause::Cause;
use eddy::runtime::wit;

use crate::fixtures;
use crate::load::{self, Op};
use crate::stats::{Runs, thousands, us};

/// How long each run lasts.
const RUN: Duration = Duration::from_secs(1);
/// Runs per figure; each figure is the median over them.
const RUNS: usize = 3;
/// Most operations of one task in a state run (a `get` takes well under a microsecond: this
/// bounds the samples kept, not the time).
const MAX_OPS: usize = 1_000_000;

/// A function measured, in the language it stands for, and the HTTP request that calls it.
struct Subject {
    language: &'static str,
    /// How the table names the function.
    label: &'static str,
    /// Where the plugin's sources are, from the repository root. Rust plugins are built by
    /// `main` before the scenarios; the others here.
    source: &'static str,
    plugin: &'static str,
    function: &'static str,
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
}

const SUBJECTS: [Subject; 5] = [
    Subject {
        language: "Rust",
        label: "`hello`",
        source: "plugins/hello",
        plugin: "hello",
        function: "hello",
        path: "/hello",
        query: &[],
    },
    Subject {
        language: "JavaScript",
        label: "`hello`",
        source: "bench/hello-js",
        plugin: "hello-js",
        function: "hello",
        path: "/hello-js",
        query: &[],
    },
    Subject {
        language: "Python",
        label: "`hello`",
        source: "bench/hello-py",
        plugin: "hello-py",
        function: "hello",
        path: "/hello-py",
        query: &[],
    },
    Subject {
        language: "JavaScript",
        label: "real: `todo-search::search` (a state read)",
        source: "plugins/todo-search",
        plugin: "todo-search",
        function: "search",
        path: "/todo-search",
        query: &[("q", "milk")],
    },
    Subject {
        language: "Python",
        label: "real: `todo-digest::summaries` (a state list)",
        source: "plugins/todo-digest",
        plugin: "todo-digest",
        function: "summaries",
        path: "/todo-digest",
        query: &[],
    },
];

/// The plugins directory holding the built plugin of `subject`, or why there is none.
fn built(plugins: &Path, subject: &Subject) -> anyhow::Result<Result<PathBuf, String>> {
    let source = crate::repo().join(subject.source);
    if eddy::tools::build::detect(&source) == eddy::tools::build::Language::Rust {
        return Ok(if fixtures::is_built(plugins, subject.plugin) {
            Ok(plugins.to_path_buf())
        } else {
            Err(format!("{} is not built", subject.source))
        });
    }
    fixtures::build_guest(&source)
}

pub async fn run(plugins: &Path) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let served = dir.path().join("plugins");
    let mut measured = Vec::new();
    let mut skipped = Vec::new();
    for subject in &SUBJECTS {
        let from = match built(plugins, subject)? {
            Ok(from) => from,
            Err(why) => {
                skipped.push((subject, why));
                continue;
            }
        };
        let name = subject.plugin;
        fixtures::copy_plugin(&from, name, &served, name, fixtures::same)?;
        let fresh = format!("{name}-fresh");
        fixtures::copy_plugin(&from, name, &served, &fresh, |manifest| {
            fixtures::fresh_instances(&fixtures::renamed(manifest, name, &fresh))
        })?;
        measured.push(subject);
    }
    let mut options = eddy::ServeOptions::new(&served, dir.path().join("data"));
    options.cache = Some(crate::compile_cache());
    let loading = Instant::now();
    let server = eddy::Server::start(options).await?;
    let loaded_in = loading.elapsed();
    let host = server.host().clone();

    println!("\n## Calls and state, in process\n");
    println!(
        "One call at a time through `Host::call` with an HTTP event; median of {RUNS} runs of {} s, \
         and the lowest and highest p50 of the runs.\n",
        RUN.as_secs()
    );
    // Calls that fail are counted, not fatal: a warm JavaScript or Python instance grows its
    // memory with every call (see the module's docs) and its call fails at the cap.
    let mut failures = Vec::new();
    println!("| language | function | instance | calls/s | p50 µs | p50 range µs | p99 µs |");
    println!("|---|---|---|---|---|---|---|");
    for subject in measured {
        for (instance, plugin, scrub) in [
            ("fresh (instantiate + call)", format!("{}-fresh", subject.plugin), 0),
            ("warm (call)", subject.plugin.to_string(), 0),
            ("warm, 2 MiB written between calls", subject.plugin.to_string(), 2 << 20),
            ("warm, 64 MiB written between calls", subject.plugin.to_string(), 64 << 20),
        ] {
            let mut scrubbed = vec![0u8; scrub];
            let id = format!("{plugin}::{}", subject.function);
            let function =
                host.registry().snapshot().function(&id).cloned().with_context(|| id.clone())?;
            let event = http_event(subject, &plugin);
            let mut runs = Runs::default();
            let (mut calls, mut failed, mut first_failure) = (0, 0, None);
            for _ in 0..RUNS {
                let mut latencies = Vec::new();
                let started = Instant::now();
                while started.elapsed() < RUN {
                    scrub_caches(&mut scrubbed);
                    let began = Instant::now();
                    let result = host.calls().call(&function, &event, &Invocation::root()).await;
                    latencies.push(began.elapsed());
                    if let Err(e) = result {
                        failed += 1;
                        first_failure.get_or_insert_with(|| e.to_string());
                    }
                }
                calls += latencies.len();
                runs.push(latencies.len() as f64 / started.elapsed().as_secs_f64(), &latencies);
            }
            if failed == calls {
                anyhow::bail!("every call to {id} failed: {}", first_failure.unwrap_or_default());
            }
            if let Some(failure) = first_failure {
                failures.push(format!(
                    "{} {} {instance}: {failed} of {} calls failed ({failure})",
                    subject.language,
                    subject.label,
                    thousands(calls as f64)
                ));
            }
            // With writes between calls, the rate would count their time too.
            let rate = if scrub == 0 { thousands(runs.rate()) } else { "-".into() };
            println!(
                "| {} | {} | {instance} | {rate} | {} | {} | {} |",
                subject.language,
                subject.label,
                us(runs.p50()),
                runs.p50_spread(),
                us(runs.p99())
            );
        }
    }
    for (subject, why) in &skipped {
        println!("| {} | {} | skipped: {why} | - | - | - | - |", subject.language, subject.label);
    }
    for failure in &failures {
        println!("\n(Failed calls: {failure}.)");
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

/// Writes every cache line of `buffer`, so a call after it finds what it touched before in
/// no cache smaller than the buffer: as on a busy host, where other requests, the kernel and
/// the load itself run between two calls of one instance.
fn scrub_caches(buffer: &mut [u8]) {
    for line in buffer.chunks_mut(64) {
        line[0] = line[0].wrapping_add(1);
    }
    std::hint::black_box(buffer);
}

/// The event the router builds for `GET <path>?<query>` routed to `plugin`.
fn http_event(subject: &Subject, plugin: &str) -> wit::Event {
    let path = subject.path.replace(subject.plugin, plugin);
    wit::Event::Http(wit::HttpRequest {
        method: "GET".into(),
        path: path.clone(),
        route: path,
        path_params: Vec::new(),
        query_params: subject.query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        headers: vec![("host".into(), "127.0.0.1".into())],
        body: "null".into(),
        identity: None,
    })
}

async fn state_ops(host: &Host) -> anyhow::Result<()> {
    let state = host.state().clone();
    for i in 0..1000 {
        let value = json!({ "i": i, "title": "a todo of ordinary size" });
        state.set("bench", &format!("k{i}"), value, Cause::ROOT).await?;
    }
    let get: Op = {
        let state = state.clone();
        Arc::new(move |_, n| {
            let state = state.clone();
            Box::pin(
                async move { Ok(state.get("bench", &format!("k{}", n % 1000)).await.map(drop)?) },
            )
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
            let run = load::in_process(concurrency, RUN, MAX_OPS, op.clone()).await?;
            runs.push(run.rate(), &run.latencies);
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
