//! [`HttpLimits`]: what the edge allows a client, against slow or abusive ones.

use std::time::Duration;

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
