//! Where a request goes: the WebSocket endpoints (`/stream/...`, `/streams`) to the upgrade,
//! the host's own endpoints (`/_eddy/...`) to the admin handler, everything else to the
//! function its route binds. Every failure becomes the error envelope here, once.

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::limits::HttpLimits;
use super::response::{Body, error_response};
use super::{admin, functions, websocket};
use crate::host::Host;
use crate::plugins::manifest::RESERVED_PATH_PREFIX;

/// Answers one request. Never fails: every problem becomes an error response.
pub async fn handle(
    host: &Host,
    limits: &HttpLimits,
    request: Request<Incoming>,
) -> Response<Body> {
    let path = request.uri().path();
    if websocket::is_stream_path(path) {
        return websocket::upgrade(host, request).unwrap_or_else(|e| error_response(&e, None));
    }
    if path == RESERVED_PATH_PREFIX || path.starts_with("/_eddy/") {
        return admin::handle(host, request).await.unwrap_or_else(|e| error_response(&e, None));
    }
    match functions::call_route(host, limits, request).await {
        Ok(response) => response,
        Err((error, allow)) => error_response(&error, allow.as_deref()),
    }
}
