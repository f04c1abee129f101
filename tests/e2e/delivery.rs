//! Reliable trigger delivery (`docs/triggers.md`): a failing handler is retried with backoff,
//! then parked in the dead-letter list, and an operator's replay delivers it; a handler's writes
//! commit only with its successful delivery, so failed attempts leave nothing behind — neither
//! in state nor on a stream.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{TestHost, eventually, frames_before_marker, rust_plugins};

const PROBE_FLAKY: (&str, &str) = ("probe-flaky", "g");

/// A host on the repository's plugins that gives up on a delivery after 3 quick attempts.
fn host_with_quick_retries() -> TestHost {
    TestHost::start_configured(
        rust_plugins(),
        tempfile::tempdir().expect("a data dir"),
        |options| {
            options.delivery.max_attempts = 3;
            options.delivery.first_backoff = Duration::from_millis(10);
        },
    )
}

async fn state(host: &TestHost, scope: &str, key: &str) -> Value {
    host.get(&format!("/probe/state/{scope}/{key}")).await.1
}

async fn write(host: &TestHost, scope: &str, key: &str, value: Value) {
    let (status, body) = host.post(&format!("/probe/state/{scope}/{key}"), value).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_failing_handler_is_retried_then_dead_lettered_then_replayed() {
    let host = host_with_quick_retries();
    // `flaky` increments item `a` of stream probe-flaky before it fails.
    let mut ws = host.ws("/stream/probe-flaky/g").await;
    assert_eq!(ws.next_json().await["event"]["type"], "sync");
    write(&host, "flaky-mode", "mode", json!("fail")).await;
    write(&host, "flaky", "a", json!({ "v": 1 })).await;

    let letter = eventually("the failed delivery to be parked", || async {
        let (_, body) = host.get("/_eddy/dlq").await;
        body["dead_letters"].as_array()?.iter().find(|l| l["function"] == "probe::flaky").cloned()
    })
    .await;
    assert_eq!(letter["attempts"], 3, "{letter}");
    assert!(letter["error"].as_str().is_some_and(|e| e.contains("failing on purpose")), "{letter}");
    assert_eq!(letter["event"]["scope"], "flaky");
    assert_eq!(letter["event"]["new_value"], json!({ "v": 1 }));
    assert_eq!(state(&host, "flaky-seen", "a").await, Value::Null, "the handler never succeeded");
    assert_eq!(
        state(&host, "flaky-attempts", "a").await,
        Value::Null,
        "the writes of failed attempts were discarded"
    );
    assert_eq!(
        frames_before_marker(&host, &mut ws, PROBE_FLAKY, 1).await,
        [] as [Value; 0],
        "and broadcast nothing"
    );

    // Fixed: replaying the dead letter delivers it, once.
    write(&host, "flaky-mode", "mode", json!("ok")).await;
    let (status, reply) = host.post("/_eddy/dlq/replay", json!({ "id": letter["id"] })).await;
    assert_eq!((status.as_u16(), &reply["replayed"]), (200, &json!([letter["id"]])));
    eventually("the replayed delivery to succeed", || async {
        (state(&host, "flaky-seen", "a").await == json!({ "v": 1 })).then_some(())
    })
    .await;
    assert_eq!(state(&host, "flaky-attempts", "a").await, json!({ "n": 1 }));
    let change = ws.next_json().await["event"].clone();
    assert_eq!(change, json!({ "type": "create", "data": { "n": 1 } }), "the successful attempt's");
    assert_eq!(
        frames_before_marker(&host, &mut ws, PROBE_FLAKY, 2).await,
        [] as [Value; 0],
        "and only that one"
    );
    let (_, body) = host.get("/_eddy/dlq").await;
    assert_eq!(body["dead_letters"], json!([]));
}

#[tokio::test]
async fn replaying_an_unknown_dead_letter_is_a_404() {
    let host = host_with_quick_retries();
    let (status, body) = host.post("/_eddy/dlq/replay", json!({ "id": 999 })).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = host.post("/_eddy/dlq/replay", json!({ "id": "x" })).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_trigger_handler_past_its_deadline_fails_its_delivery_and_is_parked() {
    let host = host_with_quick_retries();
    write(&host, "hostile-spin", "x", json!(1)).await;
    let letter = eventually("the timed-out delivery to be parked", || async {
        let (_, body) = host.get("/_eddy/dlq").await;
        body["dead_letters"]
            .as_array()?
            .iter()
            .find(|l| l["function"] == "hostile::spin-on-change")
            .cloned()
    })
    .await;
    assert_eq!(letter["attempts"], 3, "{letter}");
    assert!(
        letter["error"].as_str().is_some_and(|e| e.contains("did not finish within 200 ms")),
        "{letter}"
    );
    assert_eq!(host.get("/todos/metrics").await.0, 200, "the host keeps serving");
}
