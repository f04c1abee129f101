//! Cluster chaos (`docs/cluster.md`): three `eddy` processes on one PostgreSQL database take
//! creates, toggles and deletes spread over all of them for a minute, while every few seconds a
//! random one is killed with SIGKILL and restarted. One WebSocket client per host follows
//! `todos-live`, resuming with `since` whenever its host dies. At the end every acknowledged
//! create is there and no acknowledged delete undone, the metrics equal the truth, every
//! client's frames came in seq order with no gap and no duplicate (or a `sync` covered the gap),
//! and no delivery was dead-lettered.
//!
//! The kills and the clients' choices come from one seed, printed by the test
//! (`EDDY_CRASH_SEED` replays it); `EDDY_CHAOS_SECS` changes how long it runs (default 60).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::crash::{
    Fate, Rng, check_and_learn, http_client, list, metrics_reach_the_truth_within, todos_plugins,
    write_once,
};
use crate::engines::fresh_database;
use crate::process::HostProcess;

const HOSTS: usize = 3;
const WRITERS: usize = 6;
/// How long the trigger handlers may take to catch up once the kills stop.
const CATCH_UP: Duration = Duration::from_secs(90);

/// The hosts, their addresses (none while one restarts) and the logs of their past lives.
struct Cluster {
    plugins: PathBuf,
    url: String,
    data: Vec<tempfile::TempDir>,
    hosts: Vec<Mutex<Option<HostProcess>>>,
    /// Each host's address; none while it restarts.
    addrs: watch::Sender<Vec<Option<SocketAddr>>>,
    logs: Vec<Mutex<String>>,
}

impl Cluster {
    fn start(plugins: &Path, url: &str) -> Cluster {
        let data: Vec<_> = (0..HOSTS).map(|_| tempfile::tempdir().expect("a data dir")).collect();
        let hosts: Vec<HostProcess> =
            data.iter().map(|d| HostProcess::start(plugins, d.path(), &["--state", url])).collect();
        Cluster {
            plugins: plugins.to_owned(),
            url: url.to_owned(),
            addrs: watch::Sender::new(hosts.iter().map(|h| Some(h.addr)).collect()),
            hosts: hosts.into_iter().map(|h| Mutex::new(Some(h))).collect(),
            logs: (0..HOSTS).map(|_| Mutex::new(String::new())).collect(),
            data,
        }
    }

    fn addr(&self, slot: usize) -> Option<SocketAddr> {
        self.addrs.borrow()[slot]
    }

    /// Host `slot`'s address once it is up (at once, unless it is restarting).
    async fn live_addr(&self, slot: usize) -> SocketAddr {
        let mut addrs = self.addrs.subscribe();
        let up = addrs.wait_for(|addrs| addrs[slot].is_some()).await.expect("the cluster");
        up[slot].expect("up")
    }

    /// Waits (up to a second) until host `slot` is no longer at `addr`: it was killed, and is
    /// being restarted.
    async fn moved_from(&self, slot: usize, addr: SocketAddr) {
        let mut addrs = self.addrs.subscribe();
        let moved = addrs.wait_for(|addrs| addrs[slot] != Some(addr));
        let _ = tokio::time::timeout(Duration::from_secs(1), moved).await;
    }

    /// Kills host `slot` with SIGKILL, keeps its log, and starts it again.
    fn kill_and_restart(&self, slot: usize) {
        self.addrs.send_modify(|addrs| addrs[slot] = None);
        let mut host = self.hosts[slot].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut dead) = host.take() {
            dead.kill9();
            let mut log = self.logs[slot].lock().unwrap_or_else(|e| e.into_inner());
            log.push_str(&dead.log());
            log.push_str("\n---- killed with SIGKILL ----\n");
        }
        let restarted =
            HostProcess::start(&self.plugins, self.data[slot].path(), &["--state", &self.url]);
        self.addrs.send_modify(|addrs| addrs[slot] = Some(restarted.addr));
        *host = Some(restarted);
    }

    /// Every host's log, past lives included.
    fn all_logs(&self) -> String {
        let mut all = String::new();
        for slot in 0..HOSTS {
            all.push_str(&format!("==== host {slot} ====\n"));
            all.push_str(&self.logs[slot].lock().unwrap_or_else(|e| e.into_inner()));
            if let Some(host) = &*self.hosts[slot].lock().unwrap_or_else(|e| e.into_inner()) {
                all.push_str(&host.log());
            }
        }
        all
    }
}

/// What a writer was promised, and what must never happen.
#[derive(Default)]
struct Report {
    fates: HashMap<String, Fate>,
    acknowledged: usize,
    violations: Vec<String>,
}

/// Creates, toggles and deletes todos through a random live host until `stop`. A request cut
/// short by a kill leaves its todo's fate open (the restart shows it); a live host answering a
/// well-formed request with an error is a violation.
async fn writer(cluster: Arc<Cluster>, mut rng: Rng, stop: watch::Receiver<bool>) -> Report {
    let http = http_client();
    let mut report = Report::default();
    let mut owned: Vec<String> = Vec::new();
    while !*stop.borrow() {
        let slot = rng.below(HOSTS as u64) as usize;
        let addr = cluster.live_addr(slot).await;
        let base = format!("http://{addr}");
        let title = "chaos".to_owned();
        let (what, outcome, _) =
            write_once(&http, &base, title, &mut owned, &mut rng, &mut report.fates).await;
        match outcome {
            Ok((200, _)) => report.acknowledged += 1,
            Ok((status, body)) => {
                // A host dying mid-request drops the connection; it never answers an error.
                if cluster.addr(slot) == Some(addr) {
                    report
                        .violations
                        .push(format!("host {slot} answered a {what} with {status} {body}"));
                }
            }
            Err(_) => {} // the host was killed under the request
        }
    }
    report
}

/// Follows `todos-live` on host `slot`, resuming with `since` after each kill, until `stop`.
/// Records every violation of continuity, and the last seq seen.
async fn watcher(
    cluster: Arc<Cluster>,
    slot: usize,
    mut stop: watch::Receiver<bool>,
    last_seen: Arc<Mutex<Option<u64>>>,
) -> Vec<String> {
    let mut violations = Vec::new();
    let mut epoch: Option<String> = None;
    while !*stop.borrow() {
        let addr = cluster.live_addr(slot).await;
        let last = *last_seen.lock().unwrap_or_else(|e| e.into_inner());
        let resume = match (last, &epoch) {
            (Some(seq), Some(epoch)) => format!("?since={seq}&epoch={epoch}"),
            _ => String::new(),
        };
        let url = format!("ws://{addr}/stream/todos-live/all{resume}");
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url).await else {
            // Killed: try its next life.
            cluster.moved_from(slot, addr).await;
            continue;
        };
        loop {
            let next = tokio::select! {
                next = socket.next() => next,
                _ = stop.changed() => break,
            };
            let Some(Ok(Message::Text(text))) = next else { break };
            let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                violations.push(format!("host {slot}: an unreadable frame {text}"));
                continue;
            };
            let Some(seq) = frame["seq"].as_u64() else { continue };
            match (&epoch, frame["epoch"].as_str()) {
                (Some(known), Some(e)) if known != e => {
                    violations.push(format!("host {slot}: the epoch changed from {known} to {e}"));
                }
                (_, e) => epoch = e.map(str::to_owned),
            }
            let mut last = last_seen.lock().unwrap_or_else(|e| e.into_inner());
            let in_order = frame["event"]["type"] == "sync" || last.is_none_or(|l| seq == l + 1);
            if !in_order {
                violations.push(format!("host {slot}: frame {seq} after {last:?}: {frame}"));
            }
            *last = Some(seq);
        }
    }
    violations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_keep_every_promise_while_killed_at_random() {
    let mut rng = Rng::from_env_or_clock();
    let seed = rng.0;
    let run_for = Duration::from_secs(
        std::env::var("EDDY_CHAOS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60),
    );
    println!("chaos seed: {seed} (EDDY_CRASH_SEED={seed} replays it), running {run_for:?}");
    let plugins = todos_plugins();
    let url = fresh_database("chaos");
    let cluster = {
        let (plugins, url) = (plugins.path().to_owned(), url.clone());
        Arc::new(
            tokio::task::spawn_blocking(move || Cluster::start(&plugins, &url))
                .await
                .expect("the hosts to start"),
        )
    };

    let (stop, stopped) = watch::channel(false);
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| tokio::spawn(writer(cluster.clone(), rng.fork(), stopped.clone())))
        .collect();
    let seen: Vec<Arc<Mutex<Option<u64>>>> = (0..HOSTS).map(|_| Arc::default()).collect();
    let (stop_watching, watching_stopped) = watch::channel(false);
    let watchers: Vec<_> = (0..HOSTS)
        .map(|slot| {
            let (cluster, stop, seen) =
                (cluster.clone(), watching_stopped.clone(), seen[slot].clone());
            tokio::spawn(watcher(cluster, slot, stop, seen))
        })
        .collect();

    let mut kills = 0;
    let end = tokio::time::Instant::now() + run_for;
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(2000 + rng.below(3000))).await;
        let slot = rng.below(HOSTS as u64) as usize;
        let killing = cluster.clone();
        tokio::task::spawn_blocking(move || killing.kill_and_restart(slot))
            .await
            .expect("the host to restart");
        kills += 1;
    }
    stop.send_replace(true);
    let mut model = HashMap::new();
    let mut violations = Vec::new();
    let mut acknowledged = 0;
    for report in futures_util::future::join_all(writers).await {
        let report = report.expect("a writer not to panic");
        acknowledged += report.acknowledged;
        violations.extend(report.violations);
        model.extend(report.fates);
    }

    // Every host is up: what it lists is the truth, and the metrics must come to equal it.
    let http = http_client();
    let host = cluster.hosts[0].lock().unwrap_or_else(|e| e.into_inner()).take();
    let host = host.expect("host 0 is up");
    let failure = |violations: &[String]| {
        format!(
            "seed {seed}: {violations:#?}\nthe hosts' logs:\n{}\n==== host 0, last life ====\n{}",
            cluster.all_logs(),
            host.log()
        )
    };
    let host = &host;
    let listed = list(&http, host).await;
    violations.extend(check_and_learn(&mut model, &listed));
    assert!(violations.is_empty(), "{}", failure(&violations));
    // The lanes of a killed host wait for its leases to expire, so the handlers end the run
    // behind; they must catch up, and then agree with the truth.
    let catching_up = tokio::time::Instant::now();
    metrics_reach_the_truth_within(CATCH_UP, &http, host, &listed, &format!("seed {seed}: ")).await;
    let caught_up = catching_up.elapsed();
    let dead: Value = http
        .get(host.url("/_eddy/dlq"))
        .send()
        .await
        .expect("the dead letters")
        .json()
        .await
        .expect("JSON");
    assert_eq!(dead["dead_letters"], json!([]), "{}", failure(&[]));

    // Every client catches up with the group's last frame (handlers may still be sending: ask
    // the group again until the clients and it agree), and saw no gap on the way.
    let addr = host.addr;
    let group_seq = async move || {
        let url = format!("ws://{addr}/stream/todos-live/all");
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("a socket");
        let Some(Ok(Message::Text(sync))) = socket.next().await else { panic!("no sync") };
        serde_json::from_str::<Value>(sync.as_str()).expect("a frame")["seq"].as_u64()
    };
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    let mut last = group_seq().await;
    while tokio::time::Instant::now() < deadline
        && seen.iter().any(|s| *s.lock().unwrap_or_else(|e| e.into_inner()) != last)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = group_seq().await;
    }
    stop_watching.send_replace(true);
    for watched in futures_util::future::join_all(watchers).await {
        violations.extend(watched.expect("a watcher not to panic"));
    }
    let reached: Vec<Option<u64>> =
        seen.iter().map(|s| *s.lock().unwrap_or_else(|e| e.into_inner())).collect();
    if reached.iter().any(|r| *r != last) {
        violations.push(format!("the clients stopped at {reached:?}, the group is at {last:?}"));
    }
    assert!(violations.is_empty(), "{}", failure(&violations));
    assert!(acknowledged > 100 && kills >= 3, "seed {seed}: {acknowledged} writes, {kills} kills");
    println!(
        "chaos: {kills} kills, {acknowledged} acknowledged writes, {} todos, handlers caught up \
         {caught_up:?} after the last kill, clients at {last:?}",
        listed.len()
    );
}
