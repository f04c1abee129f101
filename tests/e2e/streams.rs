//! Streams over real WebSockets: both endpoints, the exact frames, per-group `seq`, join/leave
//! and `since` replay, within a run of the host and across a restart.

use eddy::plugins::watch::Mode;
use serde_json::{Value, json};

use crate::harness::{TestHost, rust_plugins};

fn assert_frame_shape(frame: &Value, stream: &str, group: &str) {
    let keys: Vec<&str> =
        frame.as_object().expect("an object").keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["epoch", "event", "groupId", "id", "seq", "streamName", "timestamp", "type"],
        "{frame}"
    );
    assert_eq!(frame["type"], "stream");
    assert_eq!(frame["streamName"], stream);
    assert_eq!(frame["groupId"], group);
    assert!(frame["timestamp"].as_u64().is_some_and(|t| t > 1_600_000_000_000), "{frame}");
}

#[tokio::test]
async fn a_group_socket_gets_a_sync_then_every_todo_change_in_order() {
    let host = TestHost::start();
    let mut ws = host.ws("/stream/todos-live/all").await;
    let sync = ws.next_json().await;
    assert_frame_shape(&sync, "todos-live", "all");
    assert_eq!(sync["event"], json!({ "type": "sync", "data": [] }));
    let start = sync["seq"].as_u64().expect("a seq");

    let (_, todo) = host.post("/todos", json!({ "title": "watch me" })).await;
    let id = todo["id"].clone();
    let created = ws.next_json().await;
    assert_frame_shape(&created, "todos-live", "all");
    assert_eq!(created["seq"], start + 1);
    assert_eq!(
        created["event"],
        json!({ "type": "event", "event": { "type": "todo_changed", "data": { "action": "created", "key": id, "todo": todo } } })
    );

    host.post("/todos/toggle", json!({ "id": id })).await;
    let updated = ws.next_json().await;
    assert_eq!(updated["seq"], start + 2);
    assert_eq!(updated["event"]["event"]["data"]["action"], "updated");
    assert_eq!(updated["event"]["event"]["data"]["todo"]["completed"], true);

    host.post("/todos/delete", json!({ "id": id })).await;
    let deleted = ws.next_json().await;
    assert_eq!(deleted["seq"], start + 3);
    assert_eq!(deleted["event"]["event"]["data"]["action"], "deleted");
    assert_eq!(deleted["event"]["event"]["data"]["todo"]["id"], id, "the deleted todo is sent");
}

#[tokio::test]
async fn the_multiplexed_socket_joins_leaves_and_replays_since() {
    let host = TestHost::start();
    let mut ws = host.ws("/streams").await;
    let join = |sub: &str, group: &str, since: Option<(u64, &Value)>| {
        let mut data =
            json!({ "subscriptionId": sub, "streamName": "todos-live", "groupId": group });
        if let Some((since, epoch)) = since {
            data["since"] = json!(since);
            data["epoch"] = epoch.clone();
        }
        json!({ "type": "join", "data": data })
    };

    ws.send_json(join("s1", "all", None)).await;
    let sync = ws.next_json().await;
    assert_frame_shape(&sync, "todos-live", "all");
    assert_eq!(sync["event"]["type"], "sync");

    host.post("/todos", json!({ "title": "one" })).await;
    let first = ws.next_json().await;
    assert_eq!(first["event"]["event"]["data"]["todo"]["title"], "one");
    let seen = first["seq"].as_u64().expect("a seq");

    // Leave, and prove the host processed it: a later join's sync arrives before anything else.
    ws.send_json(json!({ "type": "leave", "data": { "subscriptionId": "s1", "streamName": "todos-live", "groupId": "all" } })).await;
    ws.send_json(join("s2", "elsewhere", None)).await;
    let other = ws.next_json().await;
    assert_eq!(
        (other["groupId"].as_str(), other["event"]["type"].as_str()),
        (Some("elsewhere"), Some("sync"))
    );

    host.post("/todos", json!({ "title": "two" })).await;
    // Rejoin with `since`: exactly the missed frame is replayed, no sync, no gap.
    ws.send_json(join("s3", "all", Some((seen, &first["epoch"])))).await;
    let replayed = ws.next_json().await;
    assert_eq!(replayed["seq"], seen + 1);
    assert_eq!(replayed["event"]["event"]["data"]["todo"]["title"], "two");
}

#[tokio::test]
async fn a_malformed_join_gets_an_error_frame_and_the_socket_stays_usable() {
    let host = TestHost::start();
    let mut ws = host.ws("/streams").await;
    ws.send_json(json!({ "type": "join", "data": { "streamName": 5 } })).await;
    let error = ws.next_json().await;
    assert_eq!(error["type"], "error", "{error}");
    ws.send_json(json!({ "type": "join", "data": { "subscriptionId": "a", "streamName": "todos-live", "groupId": "all" } })).await;
    assert_eq!(ws.next_json().await["event"]["type"], "sync");
}

#[tokio::test]
async fn joins_to_a_guarded_stream_are_decided_by_its_authoriser_and_fail_closed() {
    let host = TestHost::start();
    // Admitted: the authoriser sees the URL's query and says yes.
    let mut ws = host.ws("/stream/probe-guarded/g?token=let-me-in").await;
    assert_eq!(ws.next_json().await["event"]["type"], "sync");

    // Refused on the URL: the socket is closed with 1008.
    let close = host.ws("/stream/probe-guarded/g").await.next_close().await;
    assert_eq!(close, Some(1008));
    // The authoriser failing refuses too (fail closed).
    let close = host.ws("/stream/probe-guarded/boom?token=let-me-in").await.next_close().await;
    assert_eq!(close, Some(1008));

    // Refused on a join message: an error frame, and the socket stays usable.
    let mut ws = host.ws("/streams").await;
    ws.send_json(json!({ "type": "join", "data": { "subscriptionId": "a", "streamName": "probe-guarded", "groupId": "g" } })).await;
    let refused = ws.next_json().await;
    assert_eq!(
        (refused["type"].as_str(), refused["error"]["code"].as_str()),
        (Some("error"), Some("forbidden")),
        "{refused}"
    );
    ws.send_json(json!({ "type": "join", "data": { "subscriptionId": "b", "streamName": "todos-live", "groupId": "all" } })).await;
    assert_eq!(ws.next_json().await["event"]["type"], "sync", "unguarded streams stay open");
}

/// Creates todos titled `titles` and returns the frames `ws` gets for them.
async fn create_todos(
    host: &TestHost,
    ws: &mut crate::harness::WsClient,
    titles: &[&str],
) -> Vec<Value> {
    let mut frames = Vec::new();
    for title in titles {
        let (status, body) = host.post("/todos", json!({ "title": title })).await;
        assert_eq!(status, 200, "{body}");
        frames.push(ws.next_json().await);
    }
    frames
}

#[tokio::test]
async fn a_resume_across_a_restart_gets_a_sync_never_the_new_runs_frames_as_if_they_followed() {
    let data = tempfile::tempdir().expect("a data dir");
    let host = TestHost::start_in(rust_plugins(), data, Mode::Components);
    let mut ws = host.ws("/stream/todos-live/all").await;
    assert_eq!(ws.next_json().await["event"]["type"], "sync");
    let seen = create_todos(&host, &mut ws, &["a", "b", "c"]).await;
    let last = seen.last().expect("three frames");
    let (since, epoch) = (last["seq"].as_u64().expect("a seq"), last["epoch"].clone());
    drop(ws);

    let host = TestHost::start_in(rust_plugins(), host.stop(), Mode::Components);
    let mut watcher = host.ws("/stream/todos-live/all").await;
    let new_epoch = watcher.next_json().await["epoch"].clone();
    if crate::engines::on_shared_store() {
        // The shared store keeps seqs and the window in the database: one epoch for good, and
        // the resume replays exactly what the client missed, across the restart.
        assert_eq!(new_epoch, epoch, "the database's epoch outlives a restart");
        let created = create_todos(&host, &mut watcher, &["d", "e", "f", "g", "h"]).await;
        let stale =
            format!("/stream/todos-live/all?since={since}&epoch={}", epoch.as_str().unwrap());
        let mut resumed = host.ws(&stale).await;
        for expected in &created {
            let frame = resumed.next_json().await;
            assert_eq!((&frame["seq"], &frame["event"]), (&expected["seq"], &expected["event"]));
        }
        assert_eq!(created[0]["seq"].as_u64(), Some(since + 1), "no gap across the restart");
        return;
    }
    assert_ne!(new_epoch, epoch, "a restarted host numbers its frames in a new epoch");
    let created = create_todos(&host, &mut watcher, &["d", "e", "f", "g", "h"]).await;
    assert!(
        created.iter().any(|f| f["seq"].as_u64().is_some_and(|seq| seq > since)),
        "the new run reached the old seq numbers: the case that used to lose d, e, f"
    );

    // The client resuming with the old run's seq is told to sync (todos-live carries events,
    // so a sync has no items: the client reloads the list, which holds d to h).
    let stale = format!("/stream/todos-live/all?since={since}&epoch={}", epoch.as_str().unwrap());
    let mut resumed = host.ws(&stale).await;
    let first = resumed.next_json().await;
    assert_eq!(
        first["event"]["type"], "sync",
        "not frames that merely have higher numbers: {first}"
    );
    let mut no_epoch = host.ws(&format!("/stream/todos-live/all?since={since}")).await;
    assert_eq!(no_epoch.next_json().await["event"]["type"], "sync");
    let (_, list) = host.get("/todos").await;
    let mut titles: Vec<&str> =
        list.as_array().expect("the todos").iter().filter_map(|t| t["title"].as_str()).collect();
    titles.sort();
    assert_eq!(titles, ["a", "b", "c", "d", "e", "f", "g", "h"]);

    // Within the new run, resuming still replays exactly the missed frames.
    let after = created[1]["seq"].as_u64().expect("a seq");
    let fresh =
        format!("/stream/todos-live/all?since={after}&epoch={}", new_epoch.as_str().unwrap());
    let mut caught_up = host.ws(&fresh).await;
    for expected in &created[2..] {
        let frame = caught_up.next_json().await;
        assert_eq!((&frame["seq"], &frame["epoch"]), (&expected["seq"], &new_epoch));
        assert_eq!(frame["event"], expected["event"]);
    }
}
