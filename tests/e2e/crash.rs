//! Durability (`docs/state.md`, `docs/triggers.md`): the real `eddy` binary killed with SIGKILL at a random moment
//! under load keeps every acknowledged write and catches its metrics up to the truth; a graceful
//! stop keeps everything; `--memory` keeps nothing.
//!
//! The kill moments and the clients' choices come from one seed, printed by the test (set
//! `EDDY_CRASH_SEED` to replay it; the interleaving of requests still varies from run to run).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::harness::{DEADLINE, copy_plugin};
use crate::process::HostProcess;

/// Concurrent clients writing while the host is killed.
const CLIENTS: u64 = 8;
/// Kill-and-restart rounds on one data directory.
const ROUNDS: u64 = 4;
/// The kill comes this long after the clients start, plus up to `KILL_SPREAD`.
const KILL_AFTER: Duration = Duration::from_millis(300);
const KILL_SPREAD: Duration = Duration::from_millis(1200);

/// A plugins directory holding a copy of the built `todos` plugin.
pub(crate) fn todos_plugins() -> tempfile::TempDir {
    let plugins = tempfile::tempdir().expect("a plugins dir");
    copy_plugin("todos", &plugins.path().join("todos"));
    plugins
}

pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client")
}

/// A small PRNG (SplitMix64), so that one printed seed names a run.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn from_env_or_clock() -> Rng {
        let seed =
            std::env::var("EDDY_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(
                || SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
            );
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A new generator for a client, derived from this one.
    pub(crate) fn fork(&mut self) -> Rng {
        Rng(self.next())
    }
}

/// What the clients were promised about one todo.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Fate {
    /// Created (or seen after a restart) and not deleted: it must be listed, `completed` as
    /// known (`None`: a toggle was in flight at the kill, either value is right).
    Live(Option<bool>),
    /// A delete was in flight at the kill: listed or not.
    Doomed,
    /// An acknowledged delete: it must never come back.
    Deleted,
}

/// What one client saw in a round: the fates of the todos it touched, and anything a running
/// host must never do (answer a well-formed request with an error, drop a connection).
#[derive(Default)]
struct ClientReport {
    fates: HashMap<String, Fate>,
    /// The ids of acknowledged creates.
    created: Vec<String>,
    acknowledged: usize,
    violations: Vec<String>,
}

/// `POST path` → (status, JSON body); `Err` when no whole answer came (the host died).
pub(crate) async fn post(
    http: &reqwest::Client,
    url: &str,
    body: Value,
) -> Result<(u16, Value), reqwest::Error> {
    let response = http.post(url).json(&body).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

/// One random write of a client that owns the todos `owned`: a create (always, while it owns
/// none), a toggle or a delete of one of its own, through `base`. Records in `fates` what the
/// answer promises (a write cut short by a kill promises nothing). Returns what it tried, the
/// outcome, and the id of an acknowledged create.
pub(crate) async fn write_once(
    http: &reqwest::Client,
    base: &str,
    title: String,
    owned: &mut Vec<String>,
    rng: &mut Rng,
    fates: &mut HashMap<String, Fate>,
) -> (&'static str, Result<(u16, Value), reqwest::Error>, Option<String>) {
    let choice = if owned.is_empty() { 0 } else { rng.below(10) };
    match choice {
        0..=3 => {
            let outcome = post(http, &format!("{base}/todos"), json!({ "title": title })).await;
            // Any other outcome: the todo may or may not exist; a restart will show it.
            let created = match &outcome {
                Ok((200, todo)) if todo["completed"] == false => {
                    todo["id"].as_str().map(str::to_owned)
                }
                _ => None,
            };
            if let Some(id) = &created {
                fates.insert(id.clone(), Fate::Live(Some(false)));
                owned.push(id.clone());
            }
            ("create", outcome, created)
        }
        4..=7 => {
            let id = owned[rng.below(owned.len() as u64) as usize].clone();
            let outcome = post(http, &format!("{base}/todos/toggle"), json!({ "id": id })).await;
            let fate = match &outcome {
                Ok((200, body)) => Fate::Live(body["completed"].as_bool()),
                _ => Fate::Live(None),
            };
            fates.insert(id, fate);
            ("toggle", outcome, None)
        }
        _ => {
            let id = owned.swap_remove(rng.below(owned.len() as u64) as usize);
            let outcome = post(http, &format!("{base}/todos/delete"), json!({ "id": id })).await;
            let fate = match &outcome {
                Ok((200, body)) if body["deleted"] == id.as_str() => Fate::Deleted,
                _ => Fate::Doomed,
            };
            fates.insert(id, fate);
            ("delete", outcome, None)
        }
    }
}

/// One client: creates, toggles and deletes todos until the host is killed. It toggles and
/// deletes only the todos it owns, so each todo has at most one request in flight and the
/// acknowledged answers say exactly what its state must be.
async fn client(
    http: reqwest::Client,
    base: String,
    mut owned: Vec<String>,
    mut rng: Rng,
    killed: Arc<AtomicBool>,
) -> ClientReport {
    let mut report = ClientReport::default();
    // A bound on the loop in case the kill never comes.
    for n in 0..100_000 {
        if killed.load(Ordering::SeqCst) {
            break;
        }
        let title = format!("todo {n} of {base}");
        let (what, outcome, created) =
            write_once(&http, &base, title, &mut owned, &mut rng, &mut report.fates).await;
        report.created.extend(created);
        if let Ok((200, answer)) = &outcome
            && what == "create"
            && (answer["id"].as_str().is_none() || answer["completed"] != false)
        {
            report.violations.push(format!("create answered {answer}"));
        }
        match outcome {
            Ok((200, _)) => report.acknowledged += 1,
            Ok((status, body)) => {
                report
                    .violations
                    .push(format!("a running host answered a {what} with {status} {body}"));
            }
            Err(e) => {
                if !killed.load(Ordering::SeqCst) {
                    report.violations.push(format!("a {what} failed before the kill: {e}"));
                }
                break;
            }
        }
    }
    report
}

/// Checks a restarted host against what was promised, then learns its state: from now on what
/// it lists is the truth (it was read back from disk). Returns the violations found.
pub(crate) fn check_and_learn(model: &mut HashMap<String, Fate>, listed: &[Value]) -> Vec<String> {
    let mut violations = Vec::new();
    let mut seen: HashMap<String, bool> = HashMap::new();
    for todo in listed {
        let id = todo["id"].as_str().unwrap_or_default().to_string();
        let completed = todo["completed"].as_bool();
        if completed.is_none() || seen.insert(id.clone(), todo["completed"] == true).is_some() {
            violations.push(format!("a malformed or repeated todo is listed: {todo}"));
        }
    }
    for (id, fate) in model.iter_mut() {
        let now = seen.get(id).copied();
        match (*fate, now) {
            (Fate::Live(_), None) => {
                violations.push(format!("acknowledged todo {id} is lost ({fate:?})"));
            }
            (Fate::Live(Some(expected)), Some(completed)) if expected != completed => {
                violations.push(format!(
                    "todo {id}: an acknowledged toggle is undone (completed {completed}, \
                     acknowledged {expected})"
                ));
            }
            (Fate::Deleted, Some(_)) => {
                violations.push(format!("todo {id}: an acknowledged delete is undone"));
            }
            _ => {}
        }
        *fate = now.map_or(Fate::Deleted, |completed| Fate::Live(Some(completed)));
    }
    // Todos whose create was in flight at the kill and did commit.
    for (id, completed) in seen {
        model.entry(id).or_insert(Fate::Live(Some(completed)));
    }
    violations
}

/// Waits (up to [`DEADLINE`]) until `GET /todos/metrics` equals the counts of `listed`; `context`
/// goes into the failure message.
pub(crate) async fn metrics_reach_the_truth(
    http: &reqwest::Client,
    host: &HostProcess,
    listed: &[Value],
    context: &str,
) {
    metrics_reach_the_truth_within(DEADLINE, http, host, listed, context).await;
}

/// [`metrics_reach_the_truth`], waiting up to `within`.
pub(crate) async fn metrics_reach_the_truth_within(
    within: Duration,
    http: &reqwest::Client,
    host: &HostProcess,
    listed: &[Value],
    context: &str,
) {
    let completed = listed.iter().filter(|t| t["completed"] == true).count();
    let expected = json!({ "total": listed.len(), "completed": completed });
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match http.get(host.url("/todos/metrics")).send().await {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        if last == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{context}the metrics never reached {expected}: last {last}; the host's log:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn list(http: &reqwest::Client, host: &HostProcess) -> Vec<Value> {
    let response = http.get(host.url("/todos")).send().await.expect("GET /todos to be answered");
    let status = response.status();
    let body = response.text().await.expect("a body");
    assert_eq!(status, 200, "GET /todos answered {body}; the host's log:\n{}", host.log());
    serde_json::from_str(&body).expect("the list to be a JSON array")
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_and_metrics_equal_the_truth() {
    let mut rng = Rng::from_env_or_clock();
    let seed = rng.0;
    println!("crash test seed: {seed} (EDDY_CRASH_SEED={seed} replays it)");
    let plugins = todos_plugins();
    let data = tempfile::tempdir().expect("a data dir");
    let mut model: HashMap<String, Fate> = HashMap::new();
    let mut acknowledged = 0;

    for round in 1..=ROUNDS {
        let mut host = HostProcess::start(plugins.path(), data.path(), &[]);
        let http = http_client();
        let base = format!("http://{}", host.addr);

        // Share the live todos out among the clients, and let them write.
        let live: Vec<&String> =
            model.iter().filter(|(_, f)| matches!(f, Fate::Live(_))).map(|(id, _)| id).collect();
        let killed = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let owned = live.iter().skip(c as usize).step_by(CLIENTS as usize);
                tokio::spawn(client(
                    http.clone(),
                    base.clone(),
                    owned.map(|id| id.to_string()).collect(),
                    rng.fork(),
                    Arc::clone(&killed),
                ))
            })
            .collect();

        let kill_at = KILL_AFTER + KILL_SPREAD.mul_f64(rng.below(1000) as f64 / 1000.0);
        tokio::time::sleep(kill_at).await;
        killed.store(true, Ordering::SeqCst);
        host.kill9();
        let killed_log = host.log();

        let mut violations = Vec::new();
        let mut acknowledged_this_round = 0;
        let mut created = HashSet::new();
        for report in futures_util::future::join_all(clients).await {
            let report = report.expect("a client not to panic");
            acknowledged_this_round += report.acknowledged;
            violations.extend(report.violations);
            for id in &report.created {
                if model.contains_key(id) || !created.insert(id.clone()) {
                    violations.push(format!("create returned id {id}, which was already used"));
                }
            }
            // Every client owns different todos, so these never overlap.
            model.extend(report.fates);
        }
        acknowledged += acknowledged_this_round;

        let host = HostProcess::start(plugins.path(), data.path(), &[]);
        let listed = list(&http, &host).await;
        violations.extend(check_and_learn(&mut model, &listed));
        assert!(
            violations.is_empty(),
            "seed {seed}, round {round} (killed {kill_at:?} in, after {acknowledged_this_round} \
             acknowledged writes): {violations:#?}\nthe killed host's log:\n{killed_log}\n\
             the restarted host's log:\n{}",
            host.log()
        );
        let context = format!(
            "seed {seed}, round {round} (killed {kill_at:?} in, after {acknowledged_this_round} \
             acknowledged writes): the killed host's log:\n{killed_log}\n"
        );
        metrics_reach_the_truth(&http, &host, &listed, &context).await;
        println!(
            "round {round}: killed {kill_at:?} in, {acknowledged_this_round} acknowledged writes, \
             {} todos after the restart, which found {} undelivered events",
            listed.len(),
            undelivered(&host.log()).unwrap_or("?"),
        );
    }
    assert!(
        acknowledged > 0,
        "seed {seed}: no write was ever acknowledged; the test tested nothing"
    );
}

/// How many outbox events a restarted host found, from its `state opened` log line.
pub(crate) fn undelivered(log: &str) -> Option<&str> {
    let rest = log.lines().find(|l| l.contains("state opened"))?.split("undelivered=").nth(1)?;
    rest.split_whitespace().next()
}

/// Creates `n` todos and returns their ids.
async fn create_todos(http: &reqwest::Client, host: &HostProcess, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let (status, todo) = post(http, &host.url("/todos"), json!({ "title": format!("t{i}") }))
            .await
            .expect("POST /todos to be answered");
        assert_eq!(status, 200, "{todo}");
        ids.push(todo["id"].as_str().expect("an id").to_string());
    }
    ids
}

#[tokio::test]
async fn a_restart_keeps_all_data() {
    let plugins = todos_plugins();
    let data = tempfile::tempdir().expect("a data dir");
    let http = http_client();
    let mut host = HostProcess::start(plugins.path(), data.path(), &[]);

    let ids = create_todos(&http, &host, 6).await;
    for id in &ids[0..3] {
        let toggled = post(&http, &host.url("/todos/toggle"), json!({ "id": id })).await;
        assert_eq!(toggled.expect("an answer").0, 200);
    }
    let deleted = post(&http, &host.url("/todos/delete"), json!({ "id": ids[2] })).await;
    assert_eq!(deleted.expect("an answer").0, 200);
    let before = list(&http, &host).await;
    assert_eq!(before.len(), 5);

    // No waiting for the metrics first: a graceful stop drains the trigger deliveries too.
    let status = host.terminate();
    assert!(status.success(), "SIGTERM should stop the host cleanly: {status}\n{}", host.log());

    let host = HostProcess::start(plugins.path(), data.path(), &[]);
    assert_eq!(list(&http, &host).await, before, "the same todos after a restart");
    metrics_reach_the_truth(&http, &host, &before, "").await;
    let completed = before.iter().filter(|t| t["completed"] == true).count();
    assert_eq!(completed, 2, "two toggled todos survive");
}

#[tokio::test]
async fn memory_mode_keeps_nothing_across_a_restart() {
    let plugins = todos_plugins();
    let data = tempfile::tempdir().expect("a data dir");
    let http = http_client();
    let mut host = HostProcess::start(plugins.path(), data.path(), &["--memory"]);
    create_todos(&http, &host, 3).await;
    assert_eq!(list(&http, &host).await.len(), 3);
    let status = host.terminate();
    assert!(status.success(), "SIGTERM should stop the host cleanly: {status}\n{}", host.log());

    let host = HostProcess::start(plugins.path(), data.path(), &["--memory"]);
    assert_eq!(list(&http, &host).await, Vec::<Value>::new(), "nothing survives in memory mode");
    metrics_reach_the_truth(&http, &host, &[], "").await;
    assert!(!Path::new(&data.path().join("state.redb")).exists(), "memory mode writes no database");
}
