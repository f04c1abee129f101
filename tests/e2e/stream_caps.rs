//! What one WebSocket client can make the host hold (`docs/streams.md`, "Bounded by
//! configuration"): joins only to streams a loaded plugin declares, with valid names; groups
//! within the per-socket and host-wide caps; and nothing left behind once the socket is gone —
//! counted on the operator endpoint `/_eddy/streams`.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{DEADLINE, TestHost, copy_plugin, eventually};

/// Joins the test sends in each round.
const JOINS: usize = 10_000;

/// `max_groups_per_socket`'s default.
const GROUPS_PER_SOCKET: u64 = 64;

async fn group_count(host: &TestHost) -> u64 {
    let (status, body) = host.get("/_eddy/streams").await;
    assert_eq!(status, 200, "{body}");
    body["groups"].as_u64().unwrap_or_else(|| panic!("no group count: {body}"))
}

fn join(subscription: &str, stream: &str, group: &str) -> Message {
    let data = json!({ "subscriptionId": subscription, "streamName": stream, "groupId": group });
    Message::text(json!({ "type": "join", "data": data }).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_joins_ten_thousand_groups_stays_under_the_caps_and_leaves_nothing() {
    let host = TestHost::start();
    let baseline = group_count(&host).await;
    let url = format!("ws://{}/streams", host.addr);
    let (socket, _) = tokio_tungstenite::connect_async(url).await.expect("a WebSocket");
    let (mut sink, mut incoming) = socket.split();
    // Joins awaiting their reply: a client with more in flight than its queue in the host
    // holds (1,024 frames) would be closed as too slow, which is not what this test is about.
    let in_flight = Arc::new(Semaphore::new(256));
    let replied = in_flight.clone();
    // The replies, read while the joins go out: (syncs, limit errors).
    let reader = tokio::spawn(async move {
        let (mut syncs, mut limited) = (0, 0);
        while syncs + limited < 2 * JOINS {
            let message = tokio::time::timeout(DEADLINE, incoming.next())
                .await
                .expect("a reply before the deadline")
                .expect("the socket to stay open")
                .expect("a valid frame");
            let Message::Text(text) = message else { continue };
            replied.add_permits(1);
            let frame: Value = serde_json::from_str(&text).expect("JSON frames");
            match (frame["type"].as_str(), frame["event"]["type"].as_str()) {
                (Some("stream"), Some("sync")) => syncs += 1,
                (Some("error"), _) if frame["error"]["code"] == "limit_exceeded" => limited += 1,
                _ => panic!("unexpected frame {frame}"),
            }
        }
        (syncs, limited, incoming)
    });
    // Names of the length the finding used, within the 128 bytes a group id may have.
    let group = |round: &str, n: usize| format!("{round}-{n:0>120}");
    // Round one: one subscription id, a new group each time (each join replaces the last).
    for n in 0..JOINS {
        in_flight.acquire().await.expect("open").forget();
        sink.send(join("same", "todos-live", &group("same", n))).await.expect("sent");
    }
    // Round two: a new subscription id and a new group each time.
    for n in 0..JOINS {
        in_flight.acquire().await.expect("open").forget();
        sink.send(join(&format!("s{n}"), "todos-live", &group("new", n))).await.expect("sent");
    }
    let (syncs, limited, incoming) =
        tokio::time::timeout(DEADLINE * 6, reader).await.expect("every reply").expect("read");
    let held = GROUPS_PER_SOCKET as usize;
    assert_eq!(syncs, JOINS + held - 1, "round one's group counts against the cap too");
    assert_eq!(limited, JOINS - (held - 1), "every join past the cap got an error frame");
    let while_open = group_count(&host).await;
    assert!(
        while_open <= baseline + GROUPS_PER_SOCKET,
        "{while_open} groups while the socket is open (baseline {baseline})"
    );
    // Gone with the socket.
    let _ = sink.send(Message::Close(None)).await;
    drop((sink, incoming));
    eventually("the host to forget the socket's groups", || async {
        (group_count(&host).await == baseline).then_some(())
    })
    .await;
}

#[tokio::test]
async fn joins_go_only_to_streams_a_loaded_plugin_declares_and_names_are_checked() {
    // Only the todos example: no plugin granted every stream (the probe fixture is).
    let plugins = tempfile::tempdir().expect("a plugins dir");
    copy_plugin("todos", &plugins.path().join("todos"));
    let host = TestHost::start_with(plugins.path());
    let mut ws = host.ws("/streams").await;
    let long = "x".repeat(129);
    for (stream, group, code) in [
        ("..", "all", "not_found"),
        ("todos-live\u{0}", "all", "bad_request"),
        ("todos-live", "\u{0}", "bad_request"),
        ("todos-live", long.as_str(), "bad_request"),
        ("no-such-stream", "all", "not_found"),
    ] {
        let data = json!({ "subscriptionId": "a", "streamName": stream, "groupId": group });
        ws.send_json(json!({ "type": "join", "data": data })).await;
        let frame = ws.next_json().await;
        assert_eq!(frame["type"], "error", "{stream:?}/{group:?}: {frame}");
        assert_eq!(frame["error"]["code"], code, "{stream:?}/{group:?}: {frame}");
        assert!(frame["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{frame}");
    }
    let data = json!({ "subscriptionId": "a", "streamName": "todos-live", "groupId": "all" });
    ws.send_json(json!({ "type": "join", "data": data })).await;
    assert_eq!(ws.next_json().await["event"]["type"], "sync");
    // The URL form is refused before the upgrade, with the error envelope.
    let (status, body) = host.get("/stream/no-such-stream/all").await;
    assert_eq!((status.as_u16(), &body["error"]["code"]), (404, &json!("not_found")), "{body}");
    let (status, body) = host.get("/stream/todos-live/a%00b").await;
    assert_eq!((status.as_u16(), &body["error"]["code"]), (400, &json!("bad_request")), "{body}");
}
