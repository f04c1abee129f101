//! The network edge: one port serves HTTP and WebSocket. `accept.rs` takes connections and runs
//! each under the edge's limits ([`HttpLimits`]); `dispatch.rs` sends each request where it
//! goes: a WebSocket upgrade (`websocket.rs`, handing the socket to the streams hub), the host's
//! own endpoints (`admin.rs`), or a plugin function (`functions.rs`, through the routing table).
//! `body.rs` reads request bodies, `response.rs` makes responses and the one error envelope.
//! What clients can rely on: `docs/http.md` and `docs/streams.md`.

mod accept;
pub mod admin;
pub mod body;
mod dispatch;
mod functions;
pub mod response;
pub mod websocket;

pub use accept::serve;

use std::time::Duration;

use crate::host::Host;

/// What the edge serves with: the host behind it and its own limits. Cheap to clone.
#[derive(Clone)]
pub struct Edge {
    pub host: Host,
    pub limits: HttpLimits,
}

/// Limits of the HTTP edge against slow or abusive clients.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest request body accepted; larger gets 413.
    pub max_body_bytes: usize,
    /// Headers per request; more gets 431.
    pub max_headers: usize,
    /// Bytes of a request's head (request line and headers); more gets 431.
    pub max_header_bytes: usize,
    /// Time a client gets to send a request's head, counted from when the connection starts
    /// waiting for it: closes both slow-header (slowloris) and idle keep-alive connections.
    pub header_read_timeout: Duration,
    /// Longest a request may take from its head to its response (504 after).
    pub request_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_body_bytes: 1024 * 1024,
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}
