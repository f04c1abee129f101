//! Frames, joins and leaves, and `since` replay.

use super::*;

#[tokio::test]
async fn a_socket_opened_on_a_group_gets_a_sync_and_then_every_frame_in_the_documented_shape() {
    let streams = hub(StreamsConfig::default());
    streams.set("s", "g", "b", json!({"n": 2}), Cause::ROOT).await.unwrap();
    streams.set("s", "g", "a", json!({"n": 1}), Cause::ROOT).await.unwrap();
    let mut client = TestClient::connect(&streams, subscription(&streams, "g", None, None));

    let sync = client.next_frame().await;
    let keys: Vec<&str> = sync.as_object().unwrap().keys().map(String::as_str).collect();
    let documented = ["type", "timestamp", "streamName", "groupId", "id", "seq", "epoch", "event"];
    assert_eq!(keys, documented);
    assert!(sync["timestamp"].is_u64());
    assert_eq!(sync["epoch"], streams.epoch());
    assert_eq!(sync["streamName"], "s");
    assert_eq!(sync["groupId"], "g");
    assert_eq!(sync["id"], Value::Null);
    assert_sync(&sync, 2, json!([{"n": 1}, {"n": 2}]));

    streams.set("s", "g", "c", json!(3), Cause::ROOT).await.unwrap();
    streams.set("s", "g", "c", json!(4), Cause::ROOT).await.unwrap();
    streams.delete("s", "g", "c", Cause::ROOT).await.unwrap();
    send(&streams, "g", Some("e"), json!({"hello": true})).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let frame = client.next_frame().await;
        seen.push((frame["seq"].clone(), frame["id"].clone(), frame["event"].clone()));
    }
    assert_eq!(
        seen,
        [
            (json!(3), json!("c"), json!({"type": "create", "data": 3})),
            (json!(4), json!("c"), json!({"type": "update", "data": 4})),
            (json!(5), json!("c"), json!({"type": "delete", "data": 4})),
            (
                json!(6),
                json!("e"),
                json!({"type": "event", "event": {"type": "t", "data": {"hello": true}}})
            ),
        ]
    );
    client.hang_up().await;
}

#[tokio::test]
async fn one_socket_joins_and_leaves_several_groups_by_subscription_id() {
    let streams = hub(StreamsConfig::default());
    let mut client = TestClient::connect(&streams, None);
    client.join("a", "g1", json!({}));
    assert_sync(&client.next_frame().await, 0, json!([]));
    client.join("b", "g2", json!({}));
    assert_sync(&client.next_frame().await, 0, json!([]));

    send(&streams, "g1", None, json!(1)).await;
    send(&streams, "g2", None, json!(2)).await;
    let first = client.next_frame().await;
    let second = client.next_frame().await;
    assert_eq!((&first["groupId"], &first["event"]["event"]["data"]), (&json!("g1"), &json!(1)));
    assert_eq!((&second["groupId"], &second["event"]["event"]["data"]), (&json!("g2"), &json!(2)));

    client.send_json(json!({"type": "leave", "data": {"subscriptionId": "a"}}));
    // Messages are handled in order: once this join's sync is back, the leave is done.
    client.join("c", "g3", json!({}));
    assert_sync(&client.next_frame().await, 0, json!([]));
    send(&streams, "g1", None, json!("gone")).await;
    send(&streams, "g2", None, json!("here")).await;
    let next = client.next_frame().await;
    assert_eq!(next["groupId"], "g2");
    assert_event(&next, 2, json!("here"));
    client.hang_up().await;
}

#[tokio::test]
async fn a_join_with_since_replays_exactly_the_missed_frames_without_a_sync() {
    let streams = hub(StreamsConfig::default());
    for n in 1..=5 {
        send(&streams, "g", None, json!(n)).await;
    }
    let mut client = TestClient::connect(&streams, subscription(&streams, "g", None, Some(2)));
    for seq in 3..=5 {
        assert_event(&client.next_frame().await, seq, json!(seq));
    }
    send(&streams, "g", None, json!(6)).await;
    assert_event(&client.next_frame().await, 6, json!(6));
    client.hang_up().await;
}

#[tokio::test]
async fn a_join_with_since_in_a_join_message_replays_too() {
    let streams = hub(StreamsConfig::default());
    for n in 1..=3 {
        send(&streams, "g", None, json!(n)).await;
    }
    let mut client = TestClient::connect(&streams, None);
    client.join("a", "g", json!({"since": 1, "epoch": streams.epoch()}));
    assert_event(&client.next_frame().await, 2, json!(2));
    assert_event(&client.next_frame().await, 3, json!(3));
    client.hang_up().await;
}

#[tokio::test]
async fn a_join_with_since_out_of_the_window_or_ahead_gets_a_sync() {
    let streams = hub(StreamsConfig { replay_window: 3, ..StreamsConfig::default() });
    streams.set("s", "g", "x", json!("item"), Cause::ROOT).await.unwrap();
    for n in 2..=10 {
        send(&streams, "g", None, json!(n)).await;
    }
    let mut old = TestClient::connect(&streams, subscription(&streams, "g", None, Some(2)));
    assert_sync(&old.next_frame().await, 10, json!(["item"]));
    let mut ahead = TestClient::connect(&streams, subscription(&streams, "g", None, Some(99)));
    assert_sync(&ahead.next_frame().await, 10, json!(["item"]));
    send(&streams, "g", None, json!(11)).await;
    assert_event(&old.next_frame().await, 11, json!(11));
    assert_event(&ahead.next_frame().await, 11, json!(11));
    old.hang_up().await;
    ahead.hang_up().await;
}

#[tokio::test]
async fn a_join_that_is_up_to_date_gets_nothing_before_the_next_frame() {
    let streams = hub(StreamsConfig::default());
    for n in 1..=3 {
        send(&streams, "g", None, json!(n)).await;
    }
    let mut client = TestClient::connect(&streams, subscription(&streams, "g", None, Some(3)));
    // Whether this lands before or after the join, the client's first frame is seq 4.
    send(&streams, "g", None, json!(4)).await;
    assert_event(&client.next_frame().await, 4, json!(4));
    client.hang_up().await;
}

#[tokio::test]
async fn a_subscription_with_an_id_receives_only_frames_with_that_id() {
    let streams = hub(StreamsConfig::default());
    streams.set("s", "g", "x", json!({"v": 1}), Cause::ROOT).await.unwrap();
    streams.set("s", "g", "y", json!({"v": 2}), Cause::ROOT).await.unwrap();
    let mut client = TestClient::connect(&streams, subscription(&streams, "g", Some("x"), None));
    let sync = client.next_frame().await;
    assert_eq!(sync["id"], "x");
    assert_sync(&sync, 2, json!({"v": 1}));

    streams.set("s", "g", "y", json!({"v": 3}), Cause::ROOT).await.unwrap();
    send(&streams, "g", None, json!("no id")).await;
    send(&streams, "g", Some("y"), json!("other id")).await;
    streams.set("s", "g", "x", json!({"v": 4}), Cause::ROOT).await.unwrap();
    let next = client.next_frame().await;
    assert_eq!((&next["seq"], &next["id"]), (&json!(6), &json!("x")));
    assert_eq!(next["event"], json!({"type": "update", "data": {"v": 4}}));

    // A join naming a missing item syncs null.
    client.join("missing", "g", json!({"id": "nope"}));
    assert_sync(&client.next_frame().await, 6, Value::Null);
    client.hang_up().await;
}
