//! A slow WebSocket client against a busy group (`docs/streams.md`: a slow client never stalls
//! others; its bounded queue overflows into a clean close). The slow client is a raw TCP socket with a tiny
//! receive buffer that does the WebSocket handshake by hand and then never reads, so the host's
//! send buffer fills, then the client's queue in the hub (`client_queue`, 1024 frames), and the
//! next frame closes it. Meanwhile a normal client must get every frame, in seq order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::{DEADLINE, TestHost, rust_plugins};

/// Frames the hub queues per client before closing it as too slow (`StreamsConfig` default).
const CLIENT_QUEUE: usize = 1024;

/// Title length of each todo: big frames fill the kernel's buffers in few creates, small enough
/// that the whole run stays quick.
const TITLE_BYTES: usize = 16 * 1024;

/// Requests in flight at once.
const WORKERS: usize = 16;

/// How long the host may take to close the slow client once it reads again: the close frame is
/// sent at once, then the host waits up to 5 s for the answering close (we answer at once).
const CLOSE_DEADLINE: Duration = Duration::from_secs(30);

/// The most the kernel can hold between the hub's queue and the slow client: the host's send
/// buffer (auto-tuned up to `tcp_wmem`'s maximum) plus slack for the client's receive buffer and
/// the WebSocket library's write buffer.
fn bytes_in_flight() -> usize {
    let wmem_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2).and_then(|n| n.parse::<usize>().ok()))
        .unwrap_or(4 << 20);
    wmem_max + (1 << 20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_never_reads_is_disconnected_while_another_keeps_receiving_every_frame() {
    let host = Arc::new(TestHost::start_configured(
        rust_plugins(),
        tempfile::tempdir().expect("a data dir"),
        |options| options.memory = true,
    ));
    // Enough creates to fill everything between the hub and the slow client, then its queue,
    // then overflow it, with a margin.
    let frame_bytes = TITLE_BYTES + 512;
    let creates = CLIENT_QUEUE + bytes_in_flight().div_ceil(frame_bytes) + 200;

    let mut slow = slow_client(&host).await;
    let mut reader = host.ws("/stream/todos-live/all").await;
    let sync = reader.next_json().await;
    assert_eq!(sync["event"]["type"], "sync", "{sync}");
    let start = sync["seq"].as_u64().expect("a seq");

    // The reading client: every frame, checked as it comes.
    let reading = tokio::spawn(async move {
        let mut ids = Vec::with_capacity(creates);
        for n in 1..=creates as u64 {
            let frame = reader.next_json().await;
            assert_eq!(frame["seq"], start + n, "frame {n} out of order or after a gap");
            let data = &frame["event"]["event"]["data"];
            assert_eq!(data["action"], "created", "{}", data["action"]);
            ids.push(data["key"].as_str().expect("a key").to_owned());
        }
        ids
    });

    // The writers: many big creates, WORKERS at a time.
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (host, next) = (host.clone(), next.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < creates {
                    let title = "x".repeat(TITLE_BYTES);
                    let (status, todo) = host.post("/todos", json!({ "title": title })).await;
                    assert!(status.is_success(), "create failed: {status}");
                    ids.push(todo["id"].as_str().expect("an id").to_owned());
                }
                ids
            })
        })
        .collect();
    let mut created = Vec::new();
    for worker in workers {
        created.extend(worker.await.expect("a worker to finish"));
    }
    assert_eq!(created.len(), creates);

    let mut received = tokio::time::timeout(DEADLINE * 6, reading)
        .await
        .expect("the reading client to get every frame in time")
        .expect("the reading client to see every frame in order");
    received.sort();
    created.sort();
    assert_eq!(received, created, "the reading client got exactly one frame per create");

    // Now the slow client reads at last: a prefix of the frames, a close, the end.
    let (seqs, close) = drain(&mut slow).await;
    assert!(
        seqs.len() < creates,
        "the slow client got all {creates} frames: it was never closed as too slow"
    );
    let first = seqs.first().copied().unwrap_or(start);
    let expected: Vec<u64> = (first..first + seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "the slow client's frames have a gap");
    if let Some((code, reason)) = close {
        assert_eq!((code, reason.as_str()), (1013, "too slow"));
    }
}

/// Connects with a 4 KiB receive buffer and upgrades to WebSocket on `/stream/todos-live/all` by
/// hand, reading the 101 response byte by byte so no frame is consumed.
async fn slow_client(host: &TestHost) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("a small receive buffer");
    let mut stream = socket.connect(host.addr).await.expect("a connection");
    let request = format!(
        "GET /stream/todos-live/all HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        host.addr
    );
    stream.write_all(request.as_bytes()).await.expect("the handshake to be sent");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tokio::time::timeout(DEADLINE, stream.read_u8())
            .await
            .expect("the handshake answer in time")
            .expect("the handshake answer");
        head.push(byte);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    // RFC 6455's own example key and its accept value.
    assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
    stream
}

/// Reads the slow client's socket until the host ends the connection: the seqs of the stream
/// frames it got, and the close frame's code and reason if one came. Answers a close at once so
/// the host need not wait for it. Fails if the host never ends the connection.
async fn drain(stream: &mut TcpStream) -> (Vec<u64>, Option<(u16, String)>) {
    let deadline = tokio::time::Instant::now() + CLOSE_DEADLINE;
    let mut buffer = Vec::new();
    let mut seqs = Vec::new();
    let mut close = None;
    let mut chunk = vec![0; 64 * 1024];
    loop {
        while let Some((opcode, payload, used)) = next_frame(&buffer) {
            match opcode {
                0x1 => {
                    let frame: Value = serde_json::from_slice(&payload).expect("a JSON frame");
                    if frame["event"]["type"] != "sync" {
                        seqs.push(frame["seq"].as_u64().expect("a seq"));
                    }
                }
                0x8 if close.is_none() => {
                    let code = payload.get(..2).map_or(0, |c| u16::from_be_bytes([c[0], c[1]]));
                    let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or(&[]));
                    close = Some((code, reason.into_owned()));
                    // A masked close frame with code 1000, as a client must send.
                    let mask = [1, 2, 3, 4];
                    let body = 1000u16.to_be_bytes();
                    let answer = [0x88, 0x82, 1, 2, 3, 4, body[0] ^ mask[0], body[1] ^ mask[1]];
                    let _ = stream.write_all(&answer).await;
                }
                _ => {}
            }
            buffer.drain(..used);
        }
        let read =
            tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await.unwrap_or_else(|_| {
                panic!(
                    "the host never closed the slow client ({} frames read, close {close:?})",
                    seqs.len()
                )
            });
        match read {
            Ok(0) | Err(_) => return (seqs, close),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The first complete (unmasked, server-sent) WebSocket frame in `buffer`: its opcode, payload
/// and length in bytes.
fn next_frame(buffer: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (&b0, &b1) = (buffer.first()?, buffer.get(1)?);
    let (len, header) = match b1 & 0x7f {
        126 => (u16::from_be_bytes(buffer.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(buffer.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    assert_eq!(b1 & 0x80, 0, "a server frame must not be masked");
    assert_ne!(b0 & 0x80, 0, "the host does not fragment its frames");
    let payload = buffer.get(header..header + len)?;
    Some((b0 & 0x0f, payload.to_vec(), header + len))
}
