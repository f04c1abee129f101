//! Clients that read too slowly, send too much or send binary; how sockets close.

use super::*;

#[tokio::test]
async fn a_slow_client_is_closed_while_another_on_the_same_group_receives_every_frame() {
    let streams = hub(StreamsConfig { client_queue: 4, ..StreamsConfig::default() });
    // The slow client's socket holds one unread message; it never reads until the end.
    let mut slow =
        TestClient::connect_with_buffer(&streams, subscription(&streams, "g", None, None), 1);
    let mut fast = TestClient::connect(&streams, subscription(&streams, "g", None, None));
    assert_sync(&slow.next_frame().await, 0, json!([]));
    assert_sync(&fast.next_frame().await, 0, json!([]));

    for n in 1..=50 {
        send(&streams, "g", None, json!(n)).await;
        assert_event(&fast.next_frame().await, n, json!(n));
    }

    let (code, reason) = slow.next_close().await;
    assert_eq!(code, CloseCode::Again);
    assert_eq!(reason, "too slow");
    fast.hang_up().await;
    slow.hang_up().await;
}

#[tokio::test]
async fn a_malformed_join_gets_an_error_frame_and_the_socket_stays_usable() {
    let streams = hub(StreamsConfig::default());
    let mut client = TestClient::connect(&streams, None);
    let long = "x".repeat(MAX_NAME_BYTES + 1);
    for bad in [
        Message::text("not json"),
        Message::text(json!({"type": "join", "data": {"streamName": "s"}}).to_string()),
        Message::text(json!({"type": "subscribe", "data": {}}).to_string()),
        Message::text(
            json!({"type": "join", "data": {"subscriptionId": "a", "streamName": "", "groupId": "g"}})
                .to_string(),
        ),
        Message::text(
            json!({"type": "join", "data": {"subscriptionId": "a", "streamName": "s", "groupId": long}})
                .to_string(),
        ),
    ] {
        client.send(bad);
        let frame = client.next_frame().await;
        assert_eq!(frame["type"], "error");
        assert_eq!(frame["error"]["code"], "bad_request");
        assert!(frame["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    client.join("a", "g", json!({}));
    assert_sync(&client.next_frame().await, 0, json!([]));
    client.hang_up().await;
}

#[tokio::test]
async fn a_binary_message_closes_the_socket_with_1003() {
    let streams = hub(StreamsConfig::default());
    let mut client = TestClient::connect(&streams, None);
    client.send(Message::binary(vec![1, 2, 3]));
    let (code, _) = client.next_close().await;
    assert_eq!(code, CloseCode::Unsupported);
    client.hang_up().await;
}

#[tokio::test]
async fn a_message_over_the_limit_closes_the_socket_with_1009() {
    let streams = hub(StreamsConfig { max_message_bytes: 100, ..StreamsConfig::default() });
    let mut client = TestClient::connect(&streams, None);
    client.send(Message::text("x".repeat(101)));
    let (code, reason) = client.next_close().await;
    assert_eq!(code, CloseCode::Size);
    assert!(!reason.is_empty());
    client.hang_up().await;
}

#[tokio::test]
async fn a_closed_socket_leaves_its_groups() {
    let streams = hub(StreamsConfig::default());
    let mut client = TestClient::connect(&streams, subscription(&streams, "g", None, None));
    assert_sync(&client.next_frame().await, 0, json!([]));
    client.join("quiet", "nothing-here", json!({}));
    assert_sync(&client.next_frame().await, 0, json!([]));
    send(&streams, "g", None, json!(1)).await;
    assert_event(&client.next_frame().await, 1, json!(1));
    client.send(Message::Close(None));
    client.hang_up().await;
    let hub = streams.lock();
    // A group with frames to replay is kept a while for clients that resume; one with nothing
    // goes at once.
    let group = &hub.streams["s"]["g"];
    assert!(group.is_idle(std::time::Instant::now() + IDLE_GROUP_TTL, IDLE_GROUP_TTL, false));
    assert!(!hub.streams["s"].contains_key("nothing-here"));
    assert_eq!(hub.group_count(), 1);
}

#[tokio::test]
async fn a_real_websocket_gets_its_frames_its_pongs_and_a_clean_close() {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
    let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
    let streams = hub(StreamsConfig::default());
    let task = tokio::spawn(serve_socket(
        streams.clone(),
        server,
        subscription(&streams, "g", None, None),
        Access::default(),
    ));
    async fn next<S: Stream + Unpin>(socket: &mut S) -> Option<S::Item> {
        tokio::time::timeout(DEADLINE, socket.next())
            .await
            .expect("the host answers before the deadline")
    }
    let text = |message: Option<Result<Message, _>>| -> Value {
        match message {
            Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    };
    assert_sync(&text(next(&mut client).await), 0, json!([]));
    send(&streams, "g", None, json!(1)).await;
    assert_event(&text(next(&mut client).await), 1, json!(1));

    client.send(Message::Ping("hi".into())).await.unwrap();
    match next(&mut client).await {
        Some(Ok(Message::Pong(data))) => assert_eq!(&data[..], b"hi"),
        other => panic!("expected a pong, got {other:?}"),
    }

    client.send(Message::binary(vec![0])).await.unwrap();
    match next(&mut client).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Unsupported),
        other => panic!("expected a close, got {other:?}"),
    }
    // Reading on sends our answering close; then the connection is over on both sides.
    assert!(matches!(next(&mut client).await, None | Some(Err(_))));
    tokio::time::timeout(DEADLINE, task)
        .await
        .expect("serve_socket returns after the close handshake")
        .unwrap();
}

#[tokio::test]
async fn a_real_websocket_closed_by_the_client_ends_the_session_and_leaves_the_group() {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
    let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
    let streams = hub(StreamsConfig::default());
    let task = tokio::spawn(serve_socket(
        streams.clone(),
        server,
        subscription(&streams, "g", None, None),
        Access::default(),
    ));
    let first = tokio::time::timeout(DEADLINE, client.next()).await.unwrap();
    assert!(matches!(first, Some(Ok(Message::Text(_)))));
    client.close(None).await.unwrap();
    // The host answers the close; the client's stream then ends.
    let rest: Vec<_> = tokio::time::timeout(DEADLINE, client.collect::<Vec<_>>())
        .await
        .expect("the close handshake completes");
    assert!(rest.iter().all(|m| matches!(m, Ok(Message::Close(_)))), "{rest:?}");
    tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap();
    let hub = streams.lock();
    assert_eq!(hub.group_count(), 0, "the group, left with no subscriber and nothing, is gone");
    assert!(hub.streams.is_empty());
}
