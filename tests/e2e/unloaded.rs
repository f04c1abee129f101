//! Events owed to a function that is not loaded (`docs/triggers.md`): they wait for it, and
//! after the wait they are parked as dead letters with the reason; never taken out of the
//! outbox unhandled. Found by a kill under load followed by a restart with a broken component.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::crash::{http_client, list, metrics_reach_the_truth, post, todos_plugins, undelivered};
use crate::engines::{shared_outbox_len, shared_store};
use crate::harness::{TestHost, copy_plugin, eventually, install};
use crate::process::HostProcess;

/// Concurrent clients creating todos until the kill.
const CLIENTS: usize = 8;
/// Kill-and-restart rounds at most, and how many of them must have left events in the outbox.
const ROUNDS: usize = 6;
const AT_RISK: usize = 2;

/// Creates todos at `url` from `CLIENTS` clients until the host dies, counting the answered
/// creates in `created`.
async fn create_until_killed(url: String, created: Arc<AtomicUsize>) {
    let clients = (0..CLIENTS).map(|c| {
        let (http, url, created) = (http_client(), url.clone(), created.clone());
        tokio::spawn(async move {
            for i in 0.. {
                let title = format!("client {c} todo {i}");
                if post(&http, &url, json!({ "title": title })).await.is_err() {
                    return;
                }
                created.fetch_add(1, Ordering::SeqCst);
            }
        })
    });
    let clients: Vec<_> = clients.collect();
    futures_util::future::join_all(clients).await;
}

#[tokio::test]
async fn events_left_at_a_kill_wait_for_their_plugin_rejected_at_restart_and_the_metrics_end_exact()
{
    let plugins = todos_plugins();
    let component = plugins.path().join("todos/todos.wasm");
    let good = std::fs::read(&component).expect("the todos component");
    let data = tempfile::tempdir().expect("a data dir");
    let http = http_client();
    let mut at_risk = 0;

    for round in 1..=ROUNDS {
        let mut host = HostProcess::start(plugins.path(), data.path(), &[]);
        // Kill under load, a little later each round.
        let created = Arc::new(AtomicUsize::new(0));
        let load = tokio::spawn(create_until_killed(host.url("/todos"), created.clone()));
        eventually("the clients to be creating", || async {
            (created.load(Ordering::SeqCst) >= 100 * round).then_some(())
        })
        .await;
        assert!(!load.is_finished(), "the clients stopped before the kill");
        host.kill9();
        load.await.expect("the clients not to panic");
        // The shared store's hosts read its outbox themselves: count what the kill left there.
        let shared = match shared_store(data.path()) {
            Some(url) => Some(shared_outbox_len(&url).await),
            None => None,
        };

        // The restarted host finds the component broken: the plugin is rejected.
        install(&component, b"not a wasm component");
        let host = HostProcess::start(plugins.path(), data.path(), &[]);
        // (The log comes through a pipe of its own: it may trail the address line.)
        eventually("the broken plugin to be rejected", || async {
            host.log().contains("plugin rejected").then_some(())
        })
        .await;
        let logged = undelivered(&host.log()).and_then(|n| n.parse::<u64>().ok());
        let left = shared.or(logged).unwrap_or(0);
        if left > 0 {
            eventually("the events left to wait for their plugin", || async {
                host.log().contains("a bound function is not loaded").then_some(())
            })
            .await;
        }
        install(&component, &good);
        eventually("the plugin to be back", || async {
            let response = http.get(host.url("/todos")).send().await.ok()?;
            (response.status() == 200).then_some(())
        })
        .await;

        let listed = list(&http, &host).await;
        let context = format!("round {round}, {left} events left at the kill: ");
        metrics_reach_the_truth(&http, &host, &listed, &context).await;
        let dead: Value =
            http.get(host.url("/_eddy/dlq")).send().await.unwrap().json().await.unwrap();
        assert_eq!(dead["dead_letters"], json!([]), "{context}{}", host.log());
        println!("round {round}: {left} events left at the kill, {} todos", listed.len());
        if left > 0 {
            at_risk += 1;
            if at_risk == AT_RISK {
                return;
            }
        }
    }
    assert!(
        at_risk > 0,
        "no kill in {ROUNDS} rounds left an event undelivered: nothing was tested"
    );
}

#[tokio::test]
async fn a_function_removed_while_its_event_waits_gets_it_as_a_dead_letter_and_a_replay_delivers_it()
 {
    let plugins = tempfile::tempdir().expect("a plugins dir");
    let probe = plugins.path().join("probe");
    copy_plugin("probe", &probe);
    let data = tempfile::tempdir().expect("a data dir");
    let host = TestHost::start_configured(plugins.path(), data, |options| {
        options.delivery.max_attempts = 100;
        options.delivery.first_backoff = Duration::from_millis(50);
        options.delivery.max_backoff = Duration::from_millis(100);
        options.delivery.plugin_wait = Duration::from_millis(500);
    });
    let write = async |scope: &str, key: &str, value: Value| {
        let (status, body) = host.post(&format!("/probe/state/{scope}/{key}"), value).await;
        assert_eq!(status, 200, "{body}");
    };
    // `flaky` fails while the mode is "fail": its delivery is retried, or still queued, when the
    // plugin goes; either way the event is owed to it.
    write("flaky-mode", "mode", json!("fail")).await;
    write("flaky", "a", json!({ "v": 1 })).await;
    std::fs::remove_dir_all(&probe).expect("the plugin removed");

    let letter = eventually("the waiting delivery to be parked", || async {
        let (_, body) = host.get("/_eddy/dlq").await;
        body["dead_letters"].as_array()?.iter().find(|l| l["function"] == "probe::flaky").cloned()
    })
    .await;
    let error = letter["error"].as_str().unwrap_or_default();
    assert!(error.contains("probe::flaky is not loaded"), "{letter}");
    assert_eq!(letter["event"]["new_value"], json!({ "v": 1 }), "{letter}");

    // The plugin comes back (working this time), and the operator replays the event.
    copy_plugin("probe", &probe);
    eventually("the plugin to be back", || async {
        let (status, _) = host.get("/probe/state/flaky-seen/a").await;
        (status == 200).then_some(())
    })
    .await;
    write("flaky-mode", "mode", json!("ok")).await;
    let (status, reply) = host.post("/_eddy/dlq/replay", json!({ "id": letter["id"] })).await;
    assert_eq!(status, 200, "{reply}");
    eventually("the replayed event to be handled", || async {
        let (_, seen) = host.get("/probe/state/flaky-seen/a").await;
        (seen == json!({ "v": 1 })).then_some(())
    })
    .await;
    let (_, body) = host.get("/_eddy/dlq").await;
    assert_eq!(body["dead_letters"], json!([]), "{body}");
}
