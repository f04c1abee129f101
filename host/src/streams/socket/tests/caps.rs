//! What one client can make the host hold: only streams a plugin declares, names within the
//! rules, groups within the caps, and nothing left behind when it goes.

use super::*;

#[tokio::test]
async fn a_socket_that_joins_ten_thousand_groups_stays_under_its_caps_and_leaves_nothing() {
    let config = StreamsConfig { max_groups_per_socket: 8, ..StreamsConfig::default() };
    let streams = hub(config);
    let mut client = TestClient::connect(&streams, None);
    // One subscription id, a new group each time: each join replaces the last, whose group
    // (with nothing in it) goes with it.
    for n in 0..10_000 {
        client.join("same", &format!("g-{n}"), json!({}));
        assert_sync(&client.next_frame().await, 0, json!([]));
        assert!(streams.group_count() <= 1, "join {n}: {} groups", streams.group_count());
    }
    // A new subscription id each time: past the socket's cap on the groups it creates, each
    // join is refused with an error frame naming the cap.
    let mut refused = 0;
    for n in 0..10_000 {
        client.join(&format!("sub-{n}"), &format!("h-{n}"), json!({}));
        let frame = client.next_frame().await;
        if frame["type"] == "error" {
            assert_eq!(frame["error"]["code"], "limit_exceeded", "{frame}");
            let message = frame["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("max_groups_per_socket"), "{message}");
            refused += 1;
        }
    }
    assert_eq!(refused, 10_000 - 7, "one group is still held by subscription \"same\"");
    assert_eq!(streams.group_count(), 8);
    client.hang_up().await;
    assert_eq!(streams.group_count(), 0, "the socket's groups went with it");
}

#[tokio::test]
async fn a_socket_holds_at_most_its_subscription_cap() {
    let config = StreamsConfig { max_subscriptions_per_socket: 3, ..StreamsConfig::default() };
    let streams = hub(config);
    for n in 0..5 {
        send(&streams, &format!("g{n}"), None, json!(n)).await;
    }
    let mut client = TestClient::connect(&streams, None);
    for n in 0..5 {
        client.join(&format!("sub-{n}"), &format!("g{n}"), json!({}));
        let frame = client.next_frame().await;
        match n {
            0..3 => assert_eq!(frame["event"]["type"], "sync", "{frame}"),
            _ => assert_eq!(frame["error"]["code"], "limit_exceeded", "{frame}"),
        }
    }
    client.hang_up().await;
}

#[tokio::test]
async fn joins_only_to_declared_streams_with_valid_names() {
    let streams = hub(StreamsConfig::default());
    let declared: Declared = Arc::new(|stream: &str| stream == "s");
    let access = Access { declared: Some(declared), ..Access::default() };
    let mut client = TestClient::connect_with_access(&streams, None, 64, access);
    let join = |stream: &str, group: &str| json!({"type": "join", "data": {"subscriptionId": "a", "streamName": stream, "groupId": group}});
    for (stream, group, code) in [
        ("..", "g", "not_found"),
        ("other", "g", "not_found"),
        ("s", "\u{0}", "bad_request"),
        ("s", "a\nb", "bad_request"),
        ("s\u{7f}", "g", "bad_request"),
        ("s", &"x".repeat(MAX_GROUP_NAME_BYTES + 1), "bad_request"),
    ] {
        client.send_json(join(stream, group));
        let frame = client.next_frame().await;
        assert_eq!(frame["type"], "error", "{stream:?}/{group:?}: {frame}");
        assert_eq!(frame["error"]["code"], code, "{stream:?}/{group:?}: {frame}");
    }
    assert_eq!(streams.group_count(), 0, "no refused join made a group");
    client.send_json(join("s", &"x".repeat(MAX_GROUP_NAME_BYTES)));
    assert_sync(&client.next_frame().await, 0, json!([]));
    client.hang_up().await;
}
