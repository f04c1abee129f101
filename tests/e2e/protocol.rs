//! HTTP/1.1 and WebSocket rules a client can rely on, tested with raw bytes over TCP: the request
//! head's size limit holds for one big header, transfer codings other than `chunked` are refused
//! (501), HTTP/1.1 without `Host` is a 400, HEAD answers like GET without a body, and a
//! WebSocket client that breaks the protocol gets a close frame with the right code before the
//! connection ends.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{DEADLINE, TestHost};

/// Sends `request` on a fresh connection and reads until the host closes it: the status code
/// and the body (the requests ask for `Connection: close`, or are ones the host ends).
pub async fn exchange(host: &TestHost, request: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(host.addr).await.expect("a connection");
    stream.write_all(request).await.expect("the request to be sent");
    let mut received = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut received))
        .await
        .expect("the host to answer and close in time")
        .expect("an answer");
    let text = String::from_utf8_lossy(&received);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = match received.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => received[end + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}

pub fn envelope_code(body: &[u8]) -> String {
    let body: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)));
    body["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_single_header_over_64_kib_is_a_431() {
    let host = TestHost::start();
    let big = "x".repeat(100 * 1024);
    let response = host.http.get(host.url("/todos")).header("x-big", big).send().await;
    let response = response.expect("an answer");
    assert_eq!(response.status(), 431);
    let just_under = "x".repeat(60 * 1024);
    let response = host.http.get(host.url("/todos")).header("x-big", just_under).send().await;
    assert_eq!(response.expect("an answer").status(), 200, "a head under the limit is served");
}

#[tokio::test]
async fn a_transfer_coding_other_than_chunked_is_a_501() {
    let host = TestHost::start();
    let body = "{\"title\":\"zipped?\"}";
    let request = format!(
        "POST /todos HTTP/1.1\r\nHost: eddy\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let (status, reply) = exchange(&host, request.as_bytes()).await;
    assert_eq!(status, 501, "{}", String::from_utf8_lossy(&reply));
    assert_eq!(envelope_code(&reply), "not_implemented");
    let (_, todos) = host.get("/todos").await;
    assert_eq!(todos, serde_json::json!([]), "nothing was created");
    // The same body, chunked alone, is served.
    let request = request.replace("gzip, chunked", "chunked");
    let (status, _) = exchange(&host, request.as_bytes()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_http_1_1_request_without_host_is_a_400() {
    let host = TestHost::start();
    let (status, reply) =
        exchange(&host, b"GET /todos HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 400);
    assert_eq!(envelope_code(&reply), "bad_request");
    let (status, _) =
        exchange(&host, b"GET /todos HTTP/1.1\r\nHost: eddy\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let host = TestHost::start();
    let (status, _) = host.post("/todos", serde_json::json!({ "title": "head me" })).await;
    assert_eq!(status, 200);
    for path in ["/todos", "/todos/metrics", "/_eddy/health", "/_eddy/plugins"] {
        let get = host.http.get(host.url(path)).send().await.expect("GET answered");
        let head = host.http.head(host.url(path)).send().await.expect("HEAD answered");
        assert_eq!(head.status(), get.status(), "{path}");
        for name in ["content-type", "content-length"] {
            assert_eq!(head.headers().get(name), get.headers().get(name), "{path}: {name}");
        }
        assert!(get.headers().contains_key("content-length"), "{path}");
        assert!(head.bytes().await.expect("a body").is_empty(), "{path}: HEAD has no body");
    }
    // A path bound only for POST still refuses HEAD, and a GET path lists HEAD as allowed.
    let refused = host.http.head(host.url("/todos/toggle")).send().await.expect("answered");
    assert_eq!(refused.status(), 405);
    let put = host.http.put(host.url("/todos")).send().await.expect("answered");
    let allow = put.headers()["allow"].to_str().expect("ascii").to_owned();
    assert!(allow.split(", ").any(|m| m == "HEAD"), "{allow}");
}

/// Opens `/streams` with a hand-made handshake, sends `frame` (raw bytes) and reads until the
/// host ends the connection: the code of the close frame it sent first, if any.
async fn close_code_after(host: &TestHost, frame: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(host.addr).await.expect("a connection");
    let handshake = format!(
        "GET /streams HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        host.addr
    );
    stream.write_all(handshake.as_bytes()).await.expect("the handshake to be sent");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tokio::time::timeout(DEADLINE, stream.read_u8()).await.expect("in time");
        head.push(byte.expect("the handshake answer"));
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    stream.write_all(frame).await.expect("the frame to be sent");
    let mut received = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut received))
        .await
        .expect("the host to end the connection in time")
        .expect("a clean end");
    // The first frame the host sent: opcode 0x8 (close), unmasked, code in the first 2 bytes.
    match received.as_slice() {
        [0x88, len, code @ ..] if *len >= 2 => Some(u16::from_be_bytes([code[0], code[1]])),
        _ => None,
    }
}

/// A client frame: FIN set, `opcode`, `payload` masked with `mask` (or not, when `None`).
fn client_frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => frame.push(mask_bit | n as u8),
        n => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    match mask {
        Some(mask) => {
            frame.extend_from_slice(&mask);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        }
        None => frame.extend_from_slice(payload),
    }
    frame
}

#[tokio::test]
async fn a_websocket_protocol_breach_gets_a_close_frame_with_its_code() {
    let host = TestHost::start();
    let mask = Some([7, 1, 9, 3]);
    let bad_utf8 = client_frame(0x1, &[b'{', 0xff, 0xfe, b'}'], mask);
    assert_eq!(close_code_after(&host, &bad_utf8).await, Some(1007), "invalid UTF-8");
    let big_ping = client_frame(0x9, &[b'p'; 126], mask);
    assert_eq!(close_code_after(&host, &big_ping).await, Some(1002), "control frame > 125");
    let unmasked = client_frame(0x1, br#"{"type":"leave","data":{"subscriptionId":"a"}}"#, None);
    assert_eq!(close_code_after(&host, &unmasked).await, Some(1002), "unmasked frame");
    assert_eq!(host.get("/todos/metrics").await.0, 200, "the host keeps serving");
}
