//! Tests of the socket protocol: [`serve_socket`] driven through channels standing in for a
//! WebSocket, the way axum's `testing-websockets` example does it (no network), and over a real
//! WebSocket on an in-memory pipe. This file is their harness; the tests are by topic:
//! `protocol.rs` (frames, joins, leaves, replay), `limits.rs` (slow, oversized and binary
//! clients, closes), `caps.rs` (what one client can make the host hold), `access.rs` (a
//! socket's caller: token expiry and refresh, authorised joins).

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
use crate::streams::locked::IDLE_GROUP_TTL;
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

impl SocketError for HungUp {}

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

async fn send(streams: &Streams, group: &str, id: Option<&str>, data: Value) {
    streams.send("s", group, id, "t", data, Cause::ROOT).await.expect("valid names");
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

mod access;
mod caps;
mod limits;
mod protocol;
