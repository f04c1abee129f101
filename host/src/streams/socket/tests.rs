//! Tests of the socket protocol: [`serve_socket`] driven through channels standing in for a
//! WebSocket, the way axum's `testing-websockets` example does it. No network.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::*;
use crate::cause::Cause;
use crate::streams::hub::IDLE_GROUP_TTL;
use crate::streams::*;

/// How long a test waits for something the host should do promptly.
const DEADLINE: Duration = Duration::from_secs(5);

/// The error of the fake socket: the test side hung up.
#[derive(Debug)]
struct HungUp;

impl fmt::Display for HungUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("test side hung up")
    }
}

/// The host's end of a fake WebSocket: client messages come in through an unbounded channel,
/// host messages go out through a bounded one (a client that never reads fills it).
struct FakeSocket {
    incoming: mpsc::UnboundedReceiver<Message>,
    outgoing: Pin<Box<dyn Sink<Message, Error = HungUp> + Send>>,
}

impl Stream for FakeSocket {
    type Item = Result<Message, HungUp>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_recv(cx).map(|message| message.map(Ok))
    }
}

impl Sink<Message> for FakeSocket {
    type Error = HungUp;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), HungUp>> {
        self.outgoing.as_mut().poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), HungUp> {
        self.outgoing.as_mut().start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), HungUp>> {
        self.outgoing.as_mut().poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), HungUp>> {
        self.outgoing.as_mut().poll_close(cx)
    }
}

/// The client's end: what a test sends and reads.
struct TestClient {
    to_host: Option<mpsc::UnboundedSender<Message>>,
    from_host: mpsc::Receiver<Message>,
    task: JoinHandle<()>,
}

impl TestClient {
    /// Connects with a socket buffer of 64 messages.
    fn connect(streams: &Streams, initial: Option<Subscription>) -> TestClient {
        TestClient::connect_with_buffer(streams, initial, 64)
    }

    /// Connects with a socket that holds `buffer` unread messages before the host's writes wait.
    fn connect_with_buffer(
        streams: &Streams,
        initial: Option<Subscription>,
        buffer: usize,
    ) -> TestClient {
        TestClient::connect_with_access(streams, initial, buffer, Access::default())
    }

    /// Connects as `access` says (its identity, its authoriser and token check).
    fn connect_with_access(
        streams: &Streams,
        initial: Option<Subscription>,
        buffer: usize,
        access: Access,
    ) -> TestClient {
        let (to_host, incoming) = mpsc::unbounded_channel();
        let (out_tx, from_host) = mpsc::channel(buffer);
        let outgoing = futures_util::sink::unfold(out_tx, |tx, message: Message| async move {
            tx.send(message).await.map_err(|_| HungUp)?;
            Ok::<_, HungUp>(tx)
        });
        let socket = FakeSocket { incoming, outgoing: Box::pin(outgoing) };
        let task = tokio::spawn(serve_socket(streams.clone(), socket, initial, access));
        TestClient { to_host: Some(to_host), from_host, task }
    }

    fn send(&self, message: Message) {
        let to_host = self.to_host.as_ref().expect("still connected");
        to_host.send(message).expect("host reads");
    }

    fn send_json(&self, value: Value) {
        self.send(Message::text(value.to_string()));
    }

    fn join(&self, subscription_id: &str, group: &str, extra: Value) {
        let mut data =
            json!({"subscriptionId": subscription_id, "streamName": "s", "groupId": group});
        if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        self.send_json(json!({"type": "join", "data": data}));
    }

    async fn next_message(&mut self) -> Message {
        tokio::time::timeout(DEADLINE, self.from_host.recv())
            .await
            .expect("the host answers before the deadline")
            .expect("the socket is still open")
    }

    /// The next message, which must be a JSON text frame.
    async fn next_frame(&mut self) -> Value {
        match self.next_message().await {
            Message::Text(text) => serde_json::from_str(text.as_str()).expect("frames are JSON"),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Reads past text frames to the close frame; returns its code and reason.
    async fn next_close(&mut self) -> (CloseCode, String) {
        loop {
            match self.next_message().await {
                Message::Text(_) => continue,
                Message::Close(Some(frame)) => return (frame.code, frame.reason.to_string()),
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Hangs up and waits for `serve_socket` to return.
    async fn hang_up(mut self) {
        self.to_host = None;
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("serve_socket returns once the client is gone")
            .expect("serve_socket does not panic");
    }
}

fn hub(config: StreamsConfig) -> Streams {
    Streams::new(config, Arc::new(|_| {}))
}

/// A subscription to group `group` of stream `s` of `streams`, resuming after `since` in its
/// epoch.
fn subscription(
    streams: &Streams,
    group: &str,
    id: Option<&str>,
    since: Option<u64>,
) -> Option<Subscription> {
    Some(Subscription {
        stream_name: "s".into(),
        group_id: group.into(),
        id: id.map(str::to_owned),
        since,
        epoch: Some(streams.epoch().to_owned()),
    })
}

fn send(streams: &Streams, group: &str, id: Option<&str>, data: Value) {
    streams.send("s", group, id, "t", data, Cause::ROOT).expect("valid names");
}

fn assert_sync(frame: &Value, seq: u64, data: Value) {
    assert_eq!(frame["type"], "stream");
    assert_eq!(frame["seq"], seq);
    assert_eq!(frame["event"], json!({"type": "sync", "data": data}), "{frame}");
}

fn assert_event(frame: &Value, seq: u64, data: Value) {
    assert_eq!(frame["seq"], seq, "{frame}");
    assert_eq!(frame["event"], json!({"type": "event", "event": {"type": "t", "data": data}}));
}

#[tokio::test]
async fn a_socket_opened_on_a_group_gets_a_sync_and_then_every_frame_in_the_documented_shape() {
    let streams = hub(StreamsConfig::default());
    streams.set("s", "g", "b", json!({"n": 2}), Cause::ROOT).unwrap();
    streams.set("s", "g", "a", json!({"n": 1}), Cause::ROOT).unwrap();
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

    streams.set("s", "g", "c", json!(3), Cause::ROOT).unwrap();
    streams.set("s", "g", "c", json!(4), Cause::ROOT).unwrap();
    streams.delete("s", "g", "c", Cause::ROOT).unwrap();
    send(&streams, "g", Some("e"), json!({"hello": true}));
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

    send(&streams, "g1", None, json!(1));
    send(&streams, "g2", None, json!(2));
    let first = client.next_frame().await;
    let second = client.next_frame().await;
    assert_eq!((&first["groupId"], &first["event"]["event"]["data"]), (&json!("g1"), &json!(1)));
    assert_eq!((&second["groupId"], &second["event"]["event"]["data"]), (&json!("g2"), &json!(2)));

    client.send_json(json!({"type": "leave", "data": {"subscriptionId": "a"}}));
    // Messages are handled in order: once this join's sync is back, the leave is done.
    client.join("c", "g3", json!({}));
    assert_sync(&client.next_frame().await, 0, json!([]));
    send(&streams, "g1", None, json!("gone"));
    send(&streams, "g2", None, json!("here"));
    let next = client.next_frame().await;
    assert_eq!(next["groupId"], "g2");
    assert_event(&next, 2, json!("here"));
    client.hang_up().await;
}

#[tokio::test]
async fn a_join_with_since_replays_exactly_the_missed_frames_without_a_sync() {
    let streams = hub(StreamsConfig::default());
    for n in 1..=5 {
        send(&streams, "g", None, json!(n));
    }
    let mut client = TestClient::connect(&streams, subscription(&streams, "g", None, Some(2)));
    for seq in 3..=5 {
        assert_event(&client.next_frame().await, seq, json!(seq));
    }
    send(&streams, "g", None, json!(6));
    assert_event(&client.next_frame().await, 6, json!(6));
    client.hang_up().await;
}

#[tokio::test]
async fn a_join_with_since_in_a_join_message_replays_too() {
    let streams = hub(StreamsConfig::default());
    for n in 1..=3 {
        send(&streams, "g", None, json!(n));
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
    streams.set("s", "g", "x", json!("item"), Cause::ROOT).unwrap();
    for n in 2..=10 {
        send(&streams, "g", None, json!(n));
    }
    let mut old = TestClient::connect(&streams, subscription(&streams, "g", None, Some(2)));
    assert_sync(&old.next_frame().await, 10, json!(["item"]));
    let mut ahead = TestClient::connect(&streams, subscription(&streams, "g", None, Some(99)));
    assert_sync(&ahead.next_frame().await, 10, json!(["item"]));
    send(&streams, "g", None, json!(11));
    assert_event(&old.next_frame().await, 11, json!(11));
    assert_event(&ahead.next_frame().await, 11, json!(11));
    old.hang_up().await;
    ahead.hang_up().await;
}

#[tokio::test]
async fn a_join_that_is_up_to_date_gets_nothing_before_the_next_frame() {
    let streams = hub(StreamsConfig::default());
    for n in 1..=3 {
        send(&streams, "g", None, json!(n));
    }
    let mut client = TestClient::connect(&streams, subscription(&streams, "g", None, Some(3)));
    // Whether this lands before or after the join, the client's first frame is seq 4.
    send(&streams, "g", None, json!(4));
    assert_event(&client.next_frame().await, 4, json!(4));
    client.hang_up().await;
}

#[tokio::test]
async fn a_subscription_with_an_id_receives_only_frames_with_that_id() {
    let streams = hub(StreamsConfig::default());
    streams.set("s", "g", "x", json!({"v": 1}), Cause::ROOT).unwrap();
    streams.set("s", "g", "y", json!({"v": 2}), Cause::ROOT).unwrap();
    let mut client = TestClient::connect(&streams, subscription(&streams, "g", Some("x"), None));
    let sync = client.next_frame().await;
    assert_eq!(sync["id"], "x");
    assert_sync(&sync, 2, json!({"v": 1}));

    streams.set("s", "g", "y", json!({"v": 3}), Cause::ROOT).unwrap();
    send(&streams, "g", None, json!("no id"));
    send(&streams, "g", Some("y"), json!("other id"));
    streams.set("s", "g", "x", json!({"v": 4}), Cause::ROOT).unwrap();
    let next = client.next_frame().await;
    assert_eq!((&next["seq"], &next["id"]), (&json!(6), &json!("x")));
    assert_eq!(next["event"], json!({"type": "update", "data": {"v": 4}}));

    // A join naming a missing item syncs null.
    client.join("missing", "g", json!({"id": "nope"}));
    assert_sync(&client.next_frame().await, 6, Value::Null);
    client.hang_up().await;
}

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
        send(&streams, "g", None, json!(n));
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
    client.send(Message::Close(None));
    client.hang_up().await;
    let hub = streams.lock();
    let group = &hub.streams["s"]["g"];
    assert!(group.is_idle(std::time::Instant::now() + IDLE_GROUP_TTL, IDLE_GROUP_TTL));
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
    send(&streams, "g", None, json!(1));
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
    assert!(
        hub.streams["s"]["g"].is_idle(std::time::Instant::now() + IDLE_GROUP_TTL, IDLE_GROUP_TTL),
        "the group has no subscriber left"
    );
}

/// An identity of `subject` whose token expires `secs` seconds from now.
fn identity(subject: &str, secs: u64) -> crate::auth::Identity {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    crate::auth::Identity {
        provider: "test".into(),
        subject: subject.into(),
        issuer: "https://id.example/".into(),
        expires_at: now + secs,
        claims: json!({"sub": subject}),
    }
}

/// A token check that takes `SUBJECT:SECONDS` for a token and refuses anything else.
fn fake_verify() -> Verify {
    Arc::new(|token: String| {
        Box::pin(async move {
            let (subject, secs) = token.split_once(':').ok_or("not a token")?;
            Ok(identity(subject, secs.parse().map_err(|_| "not a token")?))
        })
    })
}

/// Admits joins of group `own-SUBJECT` by that subject only, and records who asked.
fn own_group_only() -> Authorize {
    Arc::new(|target: Subscription, caller: Option<Arc<crate::auth::Identity>>| {
        Box::pin(
            async move { caller.is_some_and(|c| target.group_id == format!("own-{}", c.subject)) },
        )
    })
}

#[tokio::test]
async fn a_socket_whose_token_expires_is_closed_and_a_refresh_keeps_it_open() {
    let streams = hub(StreamsConfig::default());
    let access = Access {
        verify: Some(fake_verify()),
        identity: Some(identity("ada", 1)),
        ..Access::default()
    };
    let mut refreshed = TestClient::connect_with_access(&streams, None, 64, access);
    refreshed.send_json(json!({"type": "auth", "data": {"token": "ada:3600"}}));
    let access = Access { identity: Some(identity("ada", 1)), ..Access::default() };
    let mut expiring = TestClient::connect_with_access(&streams, None, 64, access);
    let (code, reason) = expiring.next_close().await;
    assert_eq!((code, reason.as_str()), (CloseCode::Policy, "token expired"));

    // The refreshed socket outlived its first token: it still answers.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    refreshed.join("a", "g", json!({}));
    assert_eq!(refreshed.next_frame().await["event"]["type"], "sync");
    // Its caller may not change, and a bad token is refused; it stays open.
    refreshed.send_json(json!({"type": "auth", "data": {"token": "bob:3600"}}));
    assert_eq!(refreshed.next_frame().await["error"]["code"], "forbidden");
    refreshed.send_json(json!({"type": "auth", "data": {"token": "garbage"}}));
    assert_eq!(refreshed.next_frame().await["error"]["code"], "unauthorized");
    refreshed.hang_up().await;
    expiring.hang_up().await;
}

#[tokio::test]
async fn the_join_authoriser_sees_the_sockets_identity() {
    let streams = hub(StreamsConfig::default());
    let access =
        Access { authorize: Some(own_group_only()), verify: Some(fake_verify()), identity: None };
    let mut client = TestClient::connect_with_access(&streams, None, 64, access);
    client.join("a", "own-ada", json!({}));
    assert_eq!(client.next_frame().await["error"]["code"], "forbidden", "no identity yet");
    client.send_json(json!({"type": "auth", "data": {"token": "ada:3600"}}));
    client.join("b", "own-bob", json!({}));
    assert_eq!(client.next_frame().await["error"]["code"], "forbidden", "not ada's group");
    client.join("c", "own-ada", json!({}));
    let sync = client.next_frame().await;
    assert_eq!(
        (sync["groupId"].as_str(), sync["event"]["type"].as_str()),
        (Some("own-ada"), Some("sync"))
    );
    client.hang_up().await;
}
