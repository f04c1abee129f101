//! Tests of the hub: items, seq numbering, `on_event`, idle groups. They subscribe through the
//! hub's own client handles and read the queues directly; `socket_tests` covers the protocol.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serde_json::{Value, json};

use super::*;
use crate::streams::client::ClientReceivers;
use crate::streams::locked::{IDLE_GROUP_TTL, SWEEP_INTERVAL};
use crate::streams::{MAX_GROUP_NAME_BYTES, MAX_NAME_BYTES};

type Recorded = Arc<Mutex<Vec<StreamEvent>>>;

fn hub_with_config(config: StreamsConfig) -> (Streams, Recorded) {
    let recorded: Recorded = Arc::default();
    let sink = Arc::clone(&recorded);
    let streams = Streams::new(config, Arc::new(move |event| sink.lock().unwrap().push(event)));
    (streams, recorded)
}

fn hub() -> (Streams, Recorded) {
    hub_with_config(StreamsConfig::default())
}

/// A subscription to `group` of stream `s`, from its start.
fn in_group(group: &str) -> Subscription {
    Subscription {
        stream_name: "s".into(),
        group_id: group.into(),
        id: None,
        since: None,
        epoch: None,
    }
}

async fn subscribe(
    streams: &Streams,
    group: &str,
    id: Option<&str>,
    since: Option<u64>,
) -> ClientReceivers {
    let (client, receivers) = streams.connect();
    let target = Subscription {
        id: id.map(str::to_owned),
        since,
        epoch: Some(streams.epoch().to_owned()),
        ..in_group(group)
    };
    assert!(streams.join(&client, "sub", &target).await.unwrap());
    receivers
}

fn frames(receivers: &mut ClientReceivers) -> Vec<Value> {
    let mut frames = Vec::new();
    while let Ok(text) = receivers.queue.try_recv() {
        frames.push(serde_json::from_str(text.as_str()).unwrap());
    }
    frames
}

fn events(frames: &[Value]) -> Vec<(u64, Value)> {
    frames.iter().map(|f| (f["seq"].as_u64().unwrap(), f["event"].clone())).collect()
}

const CAUSE: Cause = Cause { depth: 2 };

#[tokio::test]
async fn seq_grows_by_one_per_group_and_each_group_counts_on_its_own() {
    let (streams, _) = hub();
    let mut a = subscribe(&streams, "a", None, Some(0)).await;
    let mut b = subscribe(&streams, "b", None, Some(0)).await;
    for n in 0..3 {
        streams.send("s", "a", None, "t", json!(n), CAUSE).await.unwrap();
    }
    streams.set("s", "b", "x", json!(1), CAUSE).await.unwrap();
    streams.send("s", "a", None, "t", json!(3), CAUSE).await.unwrap();
    let seqs = |frames: Vec<Value>| -> Vec<u64> {
        frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect()
    };
    assert_eq!(seqs(frames(&mut a)), [1, 2, 3, 4]);
    assert_eq!(seqs(frames(&mut b)), [1]);
    // A sync carries the current seq and does not take one.
    let mut late = subscribe(&streams, "a", None, None).await;
    let sync = frames(&mut late);
    assert_eq!(sync[0]["seq"], 4);
    assert_eq!(sync[0]["event"]["type"], "sync");
    streams.send("s", "a", None, "t", json!(4), CAUSE).await.unwrap();
    assert_eq!(seqs(frames(&mut late)), [5]);
}

#[tokio::test]
async fn send_broadcasts_an_event_frame_with_its_type_data_and_id() {
    let (streams, _) = hub();
    let mut rx = subscribe(&streams, "g", None, Some(0)).await;
    streams.send("s", "g", Some("e1"), "todo_changed", json!({"a": 1}), CAUSE).await.unwrap();
    let frame = &frames(&mut rx)[0];
    assert_eq!(frame["type"], "stream");
    assert_eq!(frame["streamName"], "s");
    assert_eq!(frame["groupId"], "g");
    assert_eq!(frame["id"], "e1");
    assert_eq!(
        frame["event"],
        json!({"type": "event", "event": {"type": "todo_changed", "data": {"a": 1}}})
    );
}

#[tokio::test]
async fn set_broadcasts_create_then_update_and_nothing_when_the_value_is_unchanged() {
    let (streams, _) = hub();
    let mut rx = subscribe(&streams, "g", None, Some(0)).await;
    let first = streams.set("s", "g", "x", json!({"n": 1}), CAUSE).await.unwrap();
    assert_eq!((first.old_value, first.new_value), (None, Some(json!({"n": 1}))));
    let same = streams.set("s", "g", "x", json!({"n": 1}), CAUSE).await.unwrap();
    assert_eq!(same.old_value, Some(json!({"n": 1})));
    streams.set("s", "g", "x", json!({"n": 2}), CAUSE).await.unwrap();
    let frames = frames(&mut rx);
    assert_eq!(
        events(&frames),
        [
            (1, json!({"type": "create", "data": {"n": 1}})),
            (2, json!({"type": "update", "data": {"n": 2}})),
        ]
    );
    assert!(frames.iter().all(|f| f["id"] == "x"));
    assert_eq!(streams.get("s", "g", "x").await.unwrap(), Some(json!({"n": 2})));
}

#[tokio::test]
async fn delete_broadcasts_the_old_value_and_a_missing_item_broadcasts_nothing() {
    let (streams, _) = hub();
    streams.set("s", "g", "x", json!(1), CAUSE).await.unwrap();
    let mut rx = subscribe(&streams, "g", None, Some(1)).await;
    assert_eq!(streams.delete("s", "g", "x", CAUSE).await.unwrap(), Some(json!(1)));
    assert_eq!(streams.delete("s", "g", "x", CAUSE).await.unwrap(), None);
    assert_eq!(streams.delete("s", "nowhere", "x", CAUSE).await.unwrap(), None);
    let frames = frames(&mut rx);
    assert_eq!(events(&frames), [(2, json!({"type": "delete", "data": 1}))]);
    assert_eq!(frames[0]["id"], "x");
    assert_eq!(streams.get("s", "g", "x").await.unwrap(), None);
}

#[tokio::test]
async fn update_applies_ops_atomically_and_reports_the_ops_that_failed() {
    let (streams, _) = hub();
    let mut rx = subscribe(&streams, "g", None, Some(0)).await;
    let ops = json!([
        {"type": "increment", "path": "n", "by": 2},
        {"type": "increment", "path": "title", "by": 1},
        {"type": "set", "path": "title", "value": "hi"},
    ]);
    let outcome = streams.update("s", "g", "x", &ops, CAUSE).await.unwrap();
    assert_eq!(outcome.old_value, None);
    assert_eq!(outcome.new_value, Some(json!({"n": 2, "title": "hi"})));
    assert_eq!(outcome.errors.len(), 0);
    let outcome = streams.update("s", "g", "x", &ops, CAUSE).await.unwrap();
    assert_eq!(outcome.new_value, Some(json!({"n": 4, "title": "hi"})));
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].op_index, 1);
    assert_eq!(
        events(&frames(&mut rx)),
        [
            (1, json!({"type": "create", "data": {"n": 2, "title": "hi"}})),
            (2, json!({"type": "update", "data": {"n": 4, "title": "hi"}})),
        ]
    );
}

#[tokio::test]
async fn update_with_ops_that_are_not_an_array_is_invalid_and_changes_nothing() {
    let (streams, recorded) = hub();
    let error = streams.update("s", "g", "x", &json!({"type": "set"}), CAUSE).await.unwrap_err();
    assert!(matches!(error, StreamError::Invalid(_)));
    assert_eq!(streams.get("s", "g", "x").await.unwrap(), None);
    assert!(recorded.lock().unwrap().is_empty());
}

#[tokio::test]
async fn list_returns_the_items_in_item_id_order() {
    let (streams, _) = hub();
    for id in ["b", "c", "a"] {
        streams.set("s", "g", id, json!(id), CAUSE).await.unwrap();
    }
    assert_eq!(streams.list("s", "g").await.unwrap(), [json!("a"), json!("b"), json!("c")]);
    assert_eq!(streams.list("s", "empty").await.unwrap(), Vec::<Value>::new());
    assert_eq!(streams.get("s", "g", "b").await.unwrap(), Some(json!("b")));
}

#[tokio::test]
async fn empty_overlong_or_control_names_are_invalid() {
    let (streams, _) = hub();
    let long = "x".repeat(MAX_NAME_BYTES + 1);
    let ok = "x".repeat(MAX_NAME_BYTES);
    let long_group = "x".repeat(MAX_GROUP_NAME_BYTES + 1);
    let group = "x".repeat(MAX_GROUP_NAME_BYTES);
    assert!(streams.send("", "g", None, "t", json!(1), CAUSE).await.is_err());
    assert!(streams.send("s", "", None, "t", json!(1), CAUSE).await.is_err());
    assert!(streams.send("s", "g", Some(&long), "t", json!(1), CAUSE).await.is_err());
    assert!(streams.set(&long_group, "g", "x", json!(1), CAUSE).await.is_err());
    assert!(streams.get("s", &long_group, "x").await.is_err());
    assert!(streams.send("s\u{0}", "g", None, "t", json!(1), CAUSE).await.is_err());
    assert!(streams.list("s", "a\tb").await.is_err());
    assert!(streams.delete("s", "g", "", CAUSE).await.is_err());
    assert!(streams.list("", "g").await.is_err());
    assert!(streams.set(&group, &group, &ok, json!(1), CAUSE).await.is_ok());
    assert!(streams.set("caf\u{e9}", "\u{1f600} ..", "x", json!(1), CAUSE).await.is_ok());
}

#[tokio::test]
async fn a_group_nobody_needs_goes_when_its_last_member_leaves() {
    let (streams, _) = hub();
    let (client, _rx) = streams.connect();
    for group in ["empty", "items", "frames"] {
        assert!(streams.join(&client, group, &in_group(group)).await.unwrap());
    }
    streams.set("s", "items", "x", json!(1), CAUSE).await.unwrap();
    streams.send("s", "frames", None, "t", json!(1), CAUSE).await.unwrap();
    assert_eq!(streams.group_count(), 3);
    for group in ["empty", "items", "frames"] {
        streams.leave(client.id, group, "s", group);
    }
    let hub = streams.lock();
    assert_eq!(hub.group_count(), 2, "only the group with nothing went");
    assert!(!hub.streams["s"].contains_key("empty"));
}

#[tokio::test]
async fn joins_create_groups_within_the_sockets_cap_and_the_hosts() {
    let config = StreamsConfig { max_groups_per_socket: 3, max_groups: 5, ..Default::default() };
    let (streams, _) = hub_with_config(config);
    let (a, _a_rx) = streams.connect();
    let (b, _b_rx) = streams.connect();
    for group in ["a0", "a1", "a2"] {
        assert!(streams.join(&a, group, &in_group(group)).await.unwrap());
    }
    let error = streams.join(&a, "a3", &in_group("a3")).await.unwrap_err();
    assert!(matches!(&error, StreamError::Limit(m) if m.contains("max_groups_per_socket")));
    // Joining a group that exists creates nothing, so it is not capped.
    streams.send("s", "sent", None, "t", json!(1), CAUSE).await.unwrap();
    assert!(streams.join(&a, "sent", &in_group("sent")).await.unwrap());
    assert!(streams.join(&b, "b0", &in_group("b0")).await.unwrap());
    let error = streams.join(&b, "b1", &in_group("b1")).await.unwrap_err();
    assert!(matches!(&error, StreamError::Limit(m) if m.contains("max_groups")), "{error}");
    // A plugin's write is never refused.
    streams.send("s", "more", None, "t", json!(1), CAUSE).await.unwrap();
    assert_eq!(streams.group_count(), 6);
    // Leaving drops the groups with nothing in them, which frees both caps.
    streams.leave(a.id, "a0", "s", "a0");
    streams.leave(a.id, "a1", "s", "a1");
    assert_eq!(streams.group_count(), 4);
    assert!(streams.join(&a, "a4", &in_group("a4")).await.unwrap());
    assert!(streams.join(&b, "b1", &in_group("b1")).await.is_err(), "the host is full again");
    streams.leave(b.id, "b0", "s", "b0");
    streams.disconnect(b.id);
    assert_eq!(streams.group_count(), 4);
}

#[tokio::test]
async fn on_event_is_called_for_each_broadcast_with_the_callers_cause() {
    let (streams, recorded) = hub();
    streams.send("s", "g", Some("e"), "ping", json!(1), CAUSE).await.unwrap();
    streams.set("s", "g", "x", json!(1), Cause::ROOT).await.unwrap();
    streams.set("s", "g", "x", json!(1), CAUSE).await.unwrap(); // unchanged: no event
    streams
        .update("s", "g", "x", &json!([{"type": "set", "path": "", "value": 2}]), CAUSE)
        .await
        .unwrap();
    streams.delete("s", "g", "x", CAUSE).await.unwrap();
    streams.delete("s", "g", "x", CAUSE).await.unwrap(); // missing: no event
    let recorded = recorded.lock().unwrap();
    let summary: Vec<_> = recorded
        .iter()
        .map(|e| (e.change, e.id.clone(), e.event_type.clone(), e.data.clone(), e.cause))
        .collect();
    assert_eq!(
        summary,
        [
            (StreamChange::Event, Some("e".into()), Some("ping".into()), json!(1), CAUSE),
            (StreamChange::Create, Some("x".into()), None, json!(1), Cause::ROOT),
            (StreamChange::Update, Some("x".into()), None, json!(2), CAUSE),
            (StreamChange::Delete, Some("x".into()), None, json!(2), CAUSE),
        ]
    );
    assert!(recorded.iter().all(|e| e.stream_name == "s" && e.group_id == "g"));
}

#[tokio::test]
async fn on_event_may_call_back_into_the_hub_and_still_sees_events_in_order() {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let hub_cell: Arc<OnceLock<Streams>> = Arc::default();
    let (seen_in, cell_in) = (Arc::clone(&seen), Arc::clone(&hub_cell));
    let streams = Streams::new(
        StreamsConfig::default(),
        Arc::new(move |event: StreamEvent| {
            seen_in.lock().unwrap().push(event.data.clone());
            let streams = cell_in.get().unwrap();
            // A handler that sends another event: delivered after this one returns.
            if event.data == json!(1) {
                // An in-memory hub's futures are ready at once: no runtime needed here.
                let sent = streams.send("s", "g", None, "t", json!(2), CAUSE).now_or_never();
                sent.expect("an in-memory send is ready at once").unwrap();
                let listed = streams.list("s", "g").now_or_never();
                assert_eq!(listed.expect("an in-memory list is ready at once").unwrap().len(), 0);
            }
        }),
    );
    assert!(hub_cell.set(streams.clone()).is_ok());
    streams.send("s", "g", None, "t", json!(1), CAUSE).await.unwrap();
    streams.send("s", "g", None, "t", json!(3), CAUSE).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), [json!(1), json!(2), json!(3)]);
}

#[tokio::test]
async fn an_idle_group_is_forgotten_but_its_seqs_are_never_reused() {
    let (streams, _) = hub();
    for n in 0..5 {
        streams.send("s", "old", None, "t", json!(n), CAUSE).await.unwrap();
    }
    let later = Instant::now() + IDLE_GROUP_TTL + SWEEP_INTERVAL + Duration::from_secs(1);
    streams.lock().sweep(later, false);
    assert!(streams.lock().streams.is_empty());
    // A client holding since = 2 from the forgotten group must get a sync, not frames 3.. of a
    // new group that happens to reuse the numbers.
    streams.send("s", "old", None, "t", json!("new"), CAUSE).await.unwrap();
    let mut rx = subscribe(&streams, "old", None, Some(2)).await;
    let frames = frames(&mut rx);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["event"]["type"], "sync");
    assert_eq!(frames[0]["seq"], 6);
}

#[tokio::test]
async fn a_since_of_another_epoch_or_of_none_gets_a_sync_and_the_epoch_is_on_every_frame() {
    let (streams, _) = hub();
    let (other, _) = hub();
    assert_ne!(streams.epoch(), other.epoch(), "each hub is an epoch of its own");
    for n in 0..4 {
        streams.send("s", "g", None, "t", json!(n), CAUSE).await.unwrap();
    }
    for epoch in [None, Some(other.epoch().to_owned())] {
        let (client, mut receivers) = streams.connect();
        let target = Subscription {
            stream_name: "s".into(),
            group_id: "g".into(),
            id: None,
            since: Some(2),
            epoch,
        };
        assert!(streams.join(&client, "sub", &target).await.unwrap());
        let frames = frames(&mut receivers);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(frames[0]["event"]["type"], "sync");
        assert_eq!(frames[0]["epoch"], streams.epoch());
    }
    let mut same = subscribe(&streams, "g", None, Some(2)).await;
    let replayed = frames(&mut same);
    assert_eq!(replayed.iter().map(|f| f["seq"].as_u64().unwrap()).collect::<Vec<_>>(), [3, 4]);
    assert!(replayed.iter().all(|f| f["epoch"] == streams.epoch()));
}

#[tokio::test]
async fn a_group_with_items_or_subscribers_is_never_forgotten() {
    let (streams, _) = hub();
    streams.set("s", "items", "x", json!(1), CAUSE).await.unwrap();
    let _rx = subscribe(&streams, "watched", None, None).await;
    let later = Instant::now() + IDLE_GROUP_TTL + SWEEP_INTERVAL + Duration::from_secs(1);
    streams.lock().sweep(later, false);
    let hub = streams.lock();
    assert_eq!(hub.streams["s"].len(), 2);
}

#[tokio::test]
async fn a_replay_window_of_zero_keeps_nothing_and_always_syncs() {
    let (streams, _) =
        hub_with_config(StreamsConfig { replay_window: 0, ..StreamsConfig::default() });
    streams.send("s", "g", None, "t", json!(1), CAUSE).await.unwrap();
    streams.send("s", "g", None, "t", json!(2), CAUSE).await.unwrap();
    let mut rx = subscribe(&streams, "g", None, Some(1)).await;
    assert_eq!(events(&frames(&mut rx)), [(2, json!({"type": "sync", "data": []}))]);
}
