//! Where a request goes: the WebSocket endpoints (`/stream/...`, `/streams`) to the upgrade,
//! the host's own endpoints (`/_eddy/...`) to the admin handler, everything else to the
//! function its route binds. Every failure becomes the error envelope here, once.

use std::net::IpAddr;

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::response::{Body, error_response};
use super::settings::EdgeSettings;
use super::{admin, functions, websocket};
use crate::host::Host;
use crate::plugins::manifest::RESERVED_PATH_PREFIX;

/// Answers one request from `peer`. Never fails: every problem becomes an error response.
pub async fn handle(
    host: &Host,
    settings: &EdgeSettings,
    peer: IpAddr,
    request: Request<Incoming>,
) -> Response<Body> {
    let path = request.uri().path();
    if websocket::is_stream_path(path) {
        return websocket::upgrade(host, settings, request)
            .await
            .unwrap_or_else(|e| error_response(&e, None));
    }
    if path == RESERVED_PATH_PREFIX || path.starts_with("/_eddy/") {
        return admin::handle(host, &settings.admin, peer, request)
            .await
            .unwrap_or_else(|e| error_response(&e, None));
    }
    functions::handle(host, settings, request).await
}
