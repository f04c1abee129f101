//! The WebSocket endpoints: `GET /stream/{stream}/{group}[?since=SEQ&epoch=E]` (subscribed at
//! once) and `GET /streams` (subscriptions by join/leave messages). This file checks the page's
//! origin, that the streams a socket joins are ones a loaded plugin declares, and does the HTTP
//! upgrade on the shared port; the protocol itself lives in [`crate::streams`]
//! (`docs/streams.md`).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::identity::{TOKEN_PARAM, identify, request_token};
use super::response::Body;
use super::settings::EdgeSettings;
use crate::auth::{Authenticator, Identity};
use crate::calls::Invocation;
use crate::error::{Error, ErrorCode};
use crate::host::Host;
use crate::plugins::manifest::RouteAuth;
use crate::streams::{self, Access, Authorize, Subscription, Verify};

/// Whether `path` is one of the stream endpoints.
pub fn is_stream_path(path: &str) -> bool {
    path == "/streams" || path.starts_with("/stream/")
}

/// Upgrades the request and hands the socket to the streams hub. A browser page of a foreign
/// origin is refused (403) before anything else: the browser would have sent the user's cookies.
/// A token (a bearer header, or `access_token` in the query) must be valid (401 otherwise) and
/// makes the socket's identity, until the token expires.
pub async fn upgrade(
    host: &Host,
    settings: &EdgeSettings,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, Error> {
    if !settings.cors.allows_socket(request.headers()) {
        return Err(Error::new(
            ErrorCode::Forbidden,
            "WebSocket connections from this origin are not allowed: add it to [cors] \
             allow_origins in eddy.toml",
        ));
    }
    let initial = initial_subscription(request.uri().path(), request.uri().query())?;
    if let Some(initial) = &initial {
        host.streams().check_names(&initial.stream_name, &initial.group_id)?;
        if !host.registry().snapshot().declares_stream(&initial.stream_name) {
            return Err(undeclared(&initial.stream_name));
        }
    }
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = request.headers().get(header::SEC_WEBSOCKET_KEY).cloned();
    let (true, Some(key)) = (is_upgrade, key) else {
        return Err(Error::bad_request(
            "this endpoint speaks WebSocket: connect with a WebSocket client",
        ));
    };
    let query: Vec<(String, String)> =
        form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let query_token = query.iter().find(|(k, _)| k == TOKEN_PARAM).map(|(_, v)| v.as_str());
    let token = request_token(request.headers(), query_token);
    let identity = identify(&settings.auth, token, RouteAuth::Optional).await?;
    let streams = host.streams().clone();
    let max_message = host.streams().config().max_message_bytes;
    let declaring = host.clone();
    let access = Access {
        declared: Some(Arc::new(move |stream: &str| {
            declaring.registry().snapshot().declares_stream(stream)
        })),
        authorize: Some(authorizer(host, &request, query)),
        verify: settings.auth.is_configured().then(|| verifier(&settings.auth)),
        identity,
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                // tungstenite's own cap sits above ours so an oversized message reaches the
                // protocol loop, which closes with 1009 and a reason instead of just dropping.
                // A small read buffer: tungstenite keeps it resident per socket (128 KiB by
                // default), and stream clients send little; bigger messages still arrive.
                let config = WebSocketConfig::default()
                    .read_buffer_size(4096)
                    .max_message_size(Some(max_message * 2))
                    .max_frame_size(Some(max_message * 2));
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                streams::serve_socket(streams, socket, initial, access).await;
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    let accept = derive_accept_key(key.as_bytes());
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).map_err(|_| Error::internal("bad accept key"))?,
    );
    Ok(response)
}

/// A join to a stream no loaded plugin declares.
fn undeclared(stream: &str) -> Error {
    Error::not_found(format!("no loaded plugin declares stream {stream:?}"))
}

/// Checks the tokens of `auth` messages with the host's providers.
fn verifier(auth: &Authenticator) -> Verify {
    let auth = auth.clone();
    Arc::new(move |token: String| {
        let auth = auth.clone();
        Box::pin(async move { auth.verify(&token).await.map_err(|why| why.to_string()) })
    })
}

/// Asks the function a plugin declared as the stream's join authoriser (`[streams.NAME] join`)
/// before each join; streams nobody guards are open. The function gets `{streamName, groupId,
/// id, identity, headers, query_params}` — the socket's caller (or null) and the WebSocket
/// request's headers and query, its token left out — and must return `true`: any other
/// answer, or an error, refuses the join (fail closed).
fn authorizer(host: &Host, request: &Request<Incoming>, query: Vec<(String, String)>) -> Authorize {
    let headers: serde_json::Map<String, Value> = request
        .headers()
        .iter()
        .filter(|(k, _)| *k != header::AUTHORIZATION)
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let query: serde_json::Map<String, Value> = query
        .into_iter()
        .filter(|(k, _)| k != TOKEN_PARAM)
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let (host, context) = (host.clone(), Arc::new((headers, query)));
    Arc::new(move |target: Subscription, caller: Option<Arc<Identity>>| {
        let (host, context) = (host.clone(), context.clone());
        Box::pin(async move {
            let Some(function) = host
                .registry()
                .snapshot()
                .stream_authorizer(&target.stream_name)
                .map(str::to_owned)
            else {
                return true;
            };
            let payload = json!({
                "streamName": target.stream_name,
                "groupId": target.group_id,
                "id": target.id,
                "identity": caller.map(|caller| caller.to_json()),
                "headers": context.0,
                "query_params": context.1,
            });
            match host.calls().invoke(&function, payload, &Invocation::root()).await {
                Ok(Value::Bool(true)) => true,
                Ok(answer) => {
                    tracing::debug!(%function, %answer, "stream join refused");
                    false
                }
                Err(e) => {
                    tracing::warn!(%function, error = %e, "stream join authoriser failed: join refused");
                    false
                }
            }
        })
    })
}

/// The subscription named by a `/stream/{stream}/{group}` path, none for `/streams`.
pub(crate) fn initial_subscription(
    path: &str,
    query: Option<&str>,
) -> Result<Option<Subscription>, Error> {
    if path == "/streams" {
        return Ok(None);
    }
    let rest = path.strip_prefix("/stream/").unwrap_or_default();
    let parts: Vec<String> =
        rest.split('/').map(|p| percent_decode_str(p).decode_utf8_lossy().into_owned()).collect();
    let [stream_name, group_id] = parts.as_slice() else {
        return Err(Error::not_found(format!("no stream endpoint {path}; use /stream/NAME/GROUP")));
    };
    if stream_name.is_empty() || group_id.is_empty() {
        return Err(Error::not_found(format!("no stream endpoint {path}; use /stream/NAME/GROUP")));
    }
    let (mut since, mut epoch) = (None, None);
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name == "epoch" {
            epoch = Some(value.into_owned());
        } else if name == "since" {
            since = Some(value.parse::<u64>().map_err(|_| {
                Error::bad_request(format!("since must be a sequence number, got {value:?}"))
            })?);
        }
    }
    Ok(Some(Subscription {
        stream_name: stream_name.clone(),
        group_id: group_id.clone(),
        id: None,
        since,
        epoch,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_path_names_the_stream_group_since_and_epoch() {
        let query = Some("since=7&epoch=4f2a");
        let s = initial_subscription("/stream/todos-live/all", query).unwrap().unwrap();
        assert_eq!(
            (s.stream_name.as_str(), s.group_id.as_str(), s.since, s.epoch.as_deref()),
            ("todos-live", "all", Some(7), Some("4f2a"))
        );
        assert!(initial_subscription("/streams", None).unwrap().is_none());
    }

    #[test]
    fn a_malformed_stream_path_or_since_is_refused() {
        assert!(initial_subscription("/stream/only-one", None).is_err());
        assert!(initial_subscription("/stream/a/b/c", None).is_err());
        assert!(initial_subscription("/stream/a/b", Some("since=x")).is_err());
    }
}
