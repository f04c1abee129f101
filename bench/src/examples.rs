//! The example app as a whole: `POST /todos` at c=32 with titles of three words drawn from a
//! 64-word vocabulary (so todos share words, as real titles do), served with the todos plugin
//! alone and beside each example plugin whose trigger fires on every create, then with all of
//! them. Per configuration: req/s, and the host's CPU per create until every trigger handler
//! of every create is done (the host is let go idle after the run); the difference to todos
//! alone is what the example's trigger costs per state event. The floor under that: the same
//! with a trigger on `todos` that does nothing (the `hello` function of each language, bound to
//! state changes instead of a route), which costs only the delivery and the call.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use serde_json::json;

use crate::fixtures::{self, build_guest};
use crate::load::{self, MakeRequest};
use crate::process::{self, HostProcess};
use crate::stats::median_f64;

const RUN: Duration = Duration::from_secs(3);
const RUNS: usize = 3;
const WORDS: [&str; 64] = [
    "buy", "milk", "eggs", "bread", "call", "mom", "fix", "bike", "pay", "rent", "book", "flight",
    "clean", "kitchen", "write", "report", "read", "paper", "plan", "trip", "water", "plants",
    "walk", "dog", "send", "email", "renew", "passport", "cook", "dinner", "wash", "car", "learn",
    "rust", "review", "code", "order", "pizza", "visit", "doctor", "update", "resume", "cancel",
    "gym", "pick", "kids", "check", "mail", "bake", "cake", "paint", "fence", "sort", "photos",
    "tidy", "garage", "meet", "team", "print", "tickets", "charge", "phone", "water", "lawn",
];

pub async fn run(plugins: &Path) -> anyhow::Result<()> {
    let Some(binary) = process::binary() else {
        println!("{}", process::missing_binary("examples"));
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let mut sources: Vec<(&str, PathBuf)> = vec![("todo-summary", plugins.to_path_buf())];
    for name in ["todo-search", "todo-digest"] {
        match build_guest(&plugins.join(name))? {
            Ok(built) => sources.push((name, built)),
            Err(why) => println!("({name} left out: {why})"),
        }
    }
    let mut idle_triggers: Vec<(&str, PathBuf)> = vec![("hello", plugins.to_path_buf())];
    for name in ["hello-js", "hello-py"] {
        match build_guest(&crate::repo().join("bench").join(name))? {
            Ok(built) => idle_triggers.push((name, built)),
            Err(why) => println!("({name} left out: {why})"),
        }
    }
    let with = |names: &[&str]| -> anyhow::Result<PathBuf> {
        let folder = dir.path().join(names.join("+"));
        fixtures::copy_plugin(plugins, "todos", &folder, "todos", fixtures::same)?;
        for name in names {
            if let Some((_, from)) = idle_triggers.iter().find(|(n, _)| n == name) {
                fixtures::copy_plugin(from, name, &folder, name, bound_to_todos)?;
                continue;
            }
            let (_, from) = sources.iter().find(|(n, _)| n == name).expect("a built example");
            fixtures::copy_plugin(from, name, &folder, name, fixtures::same)?;
        }
        Ok(folder)
    };
    let mut configurations: Vec<(String, Vec<&str>)> = vec![("todos alone".into(), vec![])];
    for (name, _) in &idle_triggers {
        configurations.push((format!("todos + a trigger doing nothing ({name})"), vec![name]));
    }
    let triggered: Vec<&str> =
        sources.iter().map(|(n, _)| *n).filter(|n| *n != "todo-summary").collect();
    for name in &triggered {
        configurations.push((format!("todos + {name}"), vec![name]));
    }
    configurations
        .push(("todos + every example".into(), sources.iter().map(|(n, _)| *n).collect()));

    println!("\n## The example app (`eddy serve` in its own process, durable store)\n");
    println!(
        "`POST /todos` at c=32, titles of 3 words from 64, median of {RUNS} runs of {} s. Host CPU \
         per create until every trigger handler is done.\n",
        RUN.as_secs()
    );
    println!("| plugins | req/s | host CPU µs/create | over todos alone, µs/create |");
    println!("|---|---|---|---|");
    let mut alone = None;
    for (label, names) in configurations {
        let folder = with(&names)?;
        let data = dir.path().join(format!("data-{}", names.join("+")));
        let host = HostProcess::start(&binary, &folder, &data).await?;
        load::closed_loop(host.addr, 32, Duration::from_millis(500), titles()).await?;
        idle(&host).await?;
        let (mut rates, mut cpus) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let before = host.cpu()?;
            let run = load::closed_loop(host.addr, 32, RUN, titles()).await?;
            idle(&host).await?;
            let cpu = host.cpu()?.saturating_sub(before);
            rates.push(run.rate());
            cpus.push(cpu.as_secs_f64() * 1e6 / run.requests as f64);
        }
        host.stop().await?;
        let (rate, cpu) = (median_f64(&rates), median_f64(&cpus));
        let over = match alone {
            None => {
                alone = Some((rate, cpu));
                "-".to_string()
            }
            Some((_, base)) => format!("{:.0}", cpu - base),
        };
        let share =
            alone.map_or(String::new(), |(base, _)| format!(" ({:.0} %)", 100.0 * rate / base));
        println!("| {label} | {rate:.0}{share} | {cpu:.0} | {over} |");
    }
    Ok(())
}

/// The manifest of a `hello` plugin with its function bound to every change of `todos`
/// instead of its route, reading that scope: a trigger that does nothing.
fn bound_to_todos(manifest: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in manifest.lines() {
        if line.starts_with("triggers = ") {
            lines.push(r#"triggers = [{ type = "state", scope = "todos" }]"#.into());
        } else {
            lines.push(line.into());
        }
    }
    // A state trigger reads the values of its scope.
    lines.join("\n") + "\n\n[capabilities]\nstate_read = [\"todos\"]\n"
}

/// `POST /todos` titled with three words of [`WORDS`], drawn by a fixed pseudo-random sequence.
fn titles() -> MakeRequest {
    Arc::new(|task, n| {
        let mut x = (task as u64) << 32 | n as u64;
        let mut word = || {
            // splitmix64
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            WORDS[((z ^ (z >> 31)) % WORDS.len() as u64) as usize]
        };
        let body = json!({ "title": format!("{} {} {}", word(), word(), word()) }).to_string();
        (Method::POST, "/todos".to_string(), Some(body))
    })
}

/// Waits until the host has used under 2 ms of CPU in 200 ms: every trigger handler is done.
async fn idle(host: &HostProcess) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    loop {
        let before = host.cpu()?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if host.cpu()?.saturating_sub(before) < Duration::from_millis(2) {
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(180), "the host never went idle");
    }
}
