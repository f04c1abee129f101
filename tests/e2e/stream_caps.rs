//! What one WebSocket client can make the host hold (`docs/streams.md`, "Bounded by
//! configuration"): joins only to streams a loaded plugin declares, with valid names; groups
//! within the per-socket and host-wide caps; and nothing left behind once the socket is gone —
//! counted on the operator endpoint `/_eddy/streams`, and in the resident memory of a host
//! running as its own process.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::harness::{
    DEADLINE, TestHost, copy_plugin, eventually, eventually_within, rust_plugins,
};
use crate::process::HostProcess;

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

/// A client's WebSocket.
type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A socket open on `addr`'s `/streams`, with its joins' replies read as they come.
struct Flood {
    sink: SplitSink<Socket, Message>,
    /// Joins awaiting their reply: a client with more in flight than its queue in the host
    /// holds (1,024 frames) would be closed as too slow, which is not what these tests are about.
    in_flight: Arc<Semaphore>,
    /// (syncs, limit errors) once `expected` replies are in; the socket's other half.
    reader: JoinHandle<(usize, usize, SplitStream<Socket>)>,
}

impl Flood {
    /// Opens the socket; its reader stops after `expected` replies.
    async fn open(addr: SocketAddr, expected: usize) -> Flood {
        let url = format!("ws://{addr}/streams");
        let (socket, _) = tokio_tungstenite::connect_async(url).await.expect("a WebSocket");
        let (sink, mut incoming) = socket.split();
        let in_flight = Arc::new(Semaphore::new(256));
        let replied = in_flight.clone();
        let reader = tokio::spawn(async move {
            let (mut syncs, mut limited) = (0, 0);
            while syncs + limited < expected {
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
                    (Some("error"), _) if frame["error"]["code"] == "limit_exceeded" => {
                        limited += 1
                    }
                    _ => panic!("unexpected frame {frame}"),
                }
            }
            (syncs, limited, incoming)
        });
        Flood { sink, in_flight, reader }
    }

    /// Joins `count` new groups of `todos-live`, named `{round}-{n}` padded to 120 bytes (the
    /// length of the finding's names, within the 128 a group id may have): all with
    /// subscription id `round` when `same_id` (each join replaces the last), or each with its
    /// own.
    async fn join(&mut self, round: &str, count: usize, same_id: bool) {
        for n in 0..count {
            self.in_flight.acquire().await.expect("open").forget();
            let id = if same_id { round.to_owned() } else { format!("{round}{n}") };
            let group = format!("{round}-{n:0>120}");
            self.sink.send(join(&id, "todos-live", &group)).await.expect("sent");
        }
    }

    /// Waits for every reply, closes the socket: (syncs, limit errors).
    async fn close(mut self) -> (usize, usize) {
        let read = tokio::time::timeout(DEADLINE * 12, self.reader).await;
        let (syncs, limited, incoming) = read.expect("every reply in time").expect("replies read");
        let _ = self.sink.send(Message::Close(None)).await;
        drop((self.sink, incoming));
        (syncs, limited)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_joins_ten_thousand_groups_stays_under_the_caps_and_leaves_nothing() {
    let host = TestHost::start();
    let baseline = group_count(&host).await;
    let mut flood = Flood::open(host.addr, 2 * JOINS).await;
    // Round one: one subscription id, a new group each time (each join replaces the last).
    flood.join("same", JOINS, true).await;
    // Round two: a new subscription id and a new group each time.
    flood.join("new", JOINS, false).await;
    let while_open = group_count(&host).await;
    let (syncs, limited) = flood.close().await;
    let held = GROUPS_PER_SOCKET as usize;
    assert_eq!(syncs, JOINS + held - 1, "round one's group counts against the cap too");
    assert_eq!(limited, JOINS - (held - 1), "every join past the cap got an error frame");
    assert!(
        while_open <= baseline + GROUPS_PER_SOCKET,
        "{while_open} groups while the socket was open (baseline {baseline})"
    );
    // Gone with the socket.
    eventually("the host to forget the socket's groups", || async {
        (group_count(&host).await == baseline).then_some(())
    })
    .await;
}

/// The host's resident memory, from `/proc/PID/status`.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line");
    kib / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_memory_stays_flat_under_a_flood_of_joins_to_new_groups() {
    // The finding, against the real binary: one socket joining new groups under one
    // subscription id grew the host by 1.4 GB, kept after the socket closed.
    const FLOOD: usize = 100_000;
    let data = tempfile::tempdir().expect("a data dir");
    let host = HostProcess::start(rust_plugins(), data.path(), &["--memory"]);
    // A first, smaller flood warms up what any socket needs (buffers, allocator pages).
    let mut warm = Flood::open(host.addr, 2_000).await;
    warm.join("warm", 2_000, true).await;
    assert_eq!(warm.close().await, (2_000, 0));
    let baseline = rss_mib(host.pid());
    let mut flood = Flood::open(host.addr, FLOOD).await;
    flood.join("flood", FLOOD, true).await;
    assert_eq!(flood.close().await, (FLOOD, 0), "one subscription: never past a cap");
    // Generous: a hundred thousand groups kept would be several times this.
    let bound = baseline + 32.0;
    let after = eventually_within(DEADLINE, "the host's memory to settle", || async {
        let rss = rss_mib(host.pid());
        (rss <= bound).then_some(rss)
    })
    .await;
    assert!(after <= bound, "RSS {after:.0} MiB after the flood, {baseline:.0} MiB before");
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
