//! The host's own endpoints under `/_eddy/`: whether the host is up (`GET /_eddy/health`, open
//! to all), and, for operators only ([`AdminAccess`]), what is loaded (`GET /_eddy/plugins`),
//! how many stream groups the host holds against its caps (`GET /_eddy/streams`), and the
//! dead-letter list (`GET /_eddy/dlq`, `POST /_eddy/dlq/replay`). Plugins can never bind
//! routes here.

use std::net::IpAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::body::read_json_body;
use super::response::{Body, json_response};
use crate::clock::millis;
use crate::error::{Error, ErrorCode};
use crate::host::Host;
use crate::plugins::manifest::{RouteAuth, Trigger};
use crate::plugins::registry::Rejection;

/// Who may use the operator endpoints: callers with the admin token, or — when no token is
/// configured — callers on the host's own machine (a loopback peer).
#[derive(Clone, Default)]
pub struct AdminAccess {
    /// The token operators send as `Authorization: Bearer TOKEN` (`[admin] token` in
    /// `eddy.toml`).
    pub token: Option<String>,
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token, not even in a debug dump of the settings.
        let token = self.token.as_ref().map(|_| "<set>");
        f.debug_struct("AdminAccess").field("token", &token).finish()
    }
}

impl AdminAccess {
    /// Whether a request from `peer` with `authorization` (the header's value) may use the
    /// operator endpoints. The token is compared in constant time, so its bytes cannot be
    /// guessed one at a time from response times.
    pub fn check(&self, peer: IpAddr, authorization: Option<&[u8]>) -> Result<(), Error> {
        let Some(token) = &self.token else {
            if peer.is_loopback() || peer.to_canonical().is_loopback() {
                return Ok(());
            }
            return Err(Error::new(
                ErrorCode::Forbidden,
                "the operator endpoints answer this machine only: set [admin] token in \
                 eddy.toml to reach them from elsewhere",
            ));
        };
        let presented = authorization.and_then(|value| value.strip_prefix(b"Bearer "));
        match presented {
            Some(presented) if bool::from(presented.ct_eq(token.as_bytes())) => Ok(()),
            _ => Err(Error::new(
                ErrorCode::Unauthorized,
                "the operator endpoints need the admin token: Authorization: Bearer TOKEN",
            )),
        }
    }
}

/// Answers a request under `/_eddy/` from `peer`.
pub async fn handle(
    host: &Host,
    access: &AdminAccess,
    peer: IpAddr,
    request: Request<Incoming>,
) -> Result<Response<Body>, Error> {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    // HEAD is GET without the body, which hyper leaves out of the response.
    let routed = if method == Method::HEAD { Method::GET } else { method.clone() };
    if (&routed, path.as_str()) == (&Method::GET, "/_eddy/health") {
        let state = host.state();
        let body = match state.outage() {
            None => json!({ "status": "ok", "state": state.engine() }),
            Some(outage) => json!({
                "status": "degraded",
                "state": state.engine(),
                "state_writes": { "refused": outage.reason, "since_ms": outage.since_ms },
            }),
        };
        return Ok(json_response(StatusCode::OK, body.to_string()));
    }
    let authorization = request.headers().get(hyper::header::AUTHORIZATION);
    access.check(peer, authorization.map(|value| value.as_bytes()))?;
    let body = match (&routed, path.as_str()) {
        (&Method::GET, "/_eddy/plugins") => plugins(host),
        (&Method::GET, "/_eddy/streams") => {
            let config = host.streams().config();
            json!({
                "groups": host.streams().group_count(),
                "max_groups": config.max_groups,
                "max_groups_per_socket": config.max_groups_per_socket,
                "max_subscriptions_per_socket": config.max_subscriptions_per_socket,
            })
        }
        (&Method::GET, "/_eddy/dlq") => dead_letters(host).await?,
        (&Method::POST, "/_eddy/dlq/replay") => {
            let body = read_json_body(request, 64 * 1024).await?;
            let id = match body.get("id") {
                None | Some(Value::Null) => None,
                Some(id) => Some(id.as_u64().ok_or_else(|| {
                    Error::bad_request(
                        "id must be a dead letter id (a number); leave it out to replay all",
                    )
                })?),
            };
            let replayed = host.state().replay(id).await?;
            if let (Some(id), true) = (id, replayed.is_empty()) {
                return Err(Error::not_found(format!("no dead letter {id}")));
            }
            json!({ "replayed": replayed })
        }
        (_, "/_eddy/health" | "/_eddy/plugins" | "/_eddy/streams" | "/_eddy/dlq")
        | (_, "/_eddy/dlq/replay") => {
            return Err(Error::new(
                ErrorCode::MethodNotAllowed,
                format!("{method} is not allowed on {path}"),
            ));
        }
        _ => return Err(Error::not_found(format!("no host endpoint {path}"))),
    };
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// The parked deliveries, oldest first.
async fn dead_letters(host: &Host) -> Result<Value, Error> {
    let letters: Vec<Value> = host
        .state()
        .dead_letters()
        .await?
        .into_iter()
        .map(|letter| {
            json!({
                "id": letter.id,
                "function": letter.function,
                "error": letter.error,
                "attempts": letter.attempts,
                "parked_at": letter.parked_at_ms,
                "event": letter.event.change.to_json(),
            })
        })
        .collect();
    Ok(json!({ "dead_letters": letters }))
}

fn rejection_json(rejection: &Rejection) -> Value {
    json!({
        "file": rejection.file.display().to_string(),
        "reason": rejection.reason,
        "at": millis(rejection.at),
    })
}

/// Loaded plugins with their routes, functions and triggers, and the folders whose last load
/// was rejected (a plugin that still serves its previous version shows it as `last_rejection`).
fn plugins(host: &Host) -> Value {
    let snapshot = host.registry().snapshot();
    let rejections = host.registry().rejections();
    let plugins: Vec<Value> = snapshot
        .plugins
        .values()
        .map(|plugin| {
            let functions: Vec<Value> = plugin
                .manifest
                .functions
                .iter()
                .map(|(name, spec)| {
                    let triggers: Vec<Value> = spec.triggers.iter().map(trigger_json).collect();
                    json!({ "id": format!("{}::{name}", plugin.name), "triggers": triggers })
                })
                .collect();
            let loaded_at = millis(plugin.loaded_at);
            let routes: Vec<Value> = snapshot
                .routes
                .iter()
                .filter(|(_, _, r)| Arc::ptr_eq(&r.function.plugin, plugin))
                .map(|(method, path, r)| json!({ "method": method, "path": path, "function": &*r.function.id }))
                .collect();
            let rejection = rejections.iter().find(|(dir, _)| *dir == plugin.dir).map(|(_, r)| rejection_json(r));
            json!({
                "name": &*plugin.name,
                "dir": plugin.dir.display().to_string(),
                "sha256": plugin.component.sha256,
                "loaded_at": loaded_at,
                "compile_ms": plugin.compile_time.as_secs_f64() * 1e3,
                "from_cache": plugin.component.from_cache,
                "swap_us": plugin.swap_time.get().map(|d| d.as_secs_f64() * 1e6),
                "functions": functions,
                "routes": routes,
                "last_rejection": rejection,
            })
        })
        .collect();
    let rejected: Vec<Value> = rejections
        .iter()
        .map(|(dir, r)| {
            let mut value = rejection_json(r);
            value["dir"] = json!(dir.display().to_string());
            value
        })
        .collect();
    json!({ "plugins": plugins, "rejected": rejected })
}

fn trigger_json(trigger: &Trigger) -> Value {
    match trigger {
        Trigger::Http(t) => json!({
            "type": "http",
            "method": t.method,
            "path": t.path,
            "auth": if t.auth == RouteAuth::Required { "required" } else { "optional" },
        }),
        Trigger::State(t) => {
            json!({ "type": "state", "scope": t.scope, "key": t.key, "condition": t.condition })
        }
        Trigger::Stream(t) => {
            json!({ "type": "stream", "stream_name": t.stream_name, "group_id": t.group_id })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const ELSEWHERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7));

    #[test]
    fn without_a_token_only_this_machine_is_let_in() {
        let open = AdminAccess::default();
        assert!(open.check(LOOPBACK, None).is_ok());
        assert!(open.check("::1".parse().unwrap(), None).is_ok());
        assert!(open.check("::ffff:127.0.0.1".parse().unwrap(), None).is_ok());
        assert_eq!(open.check(ELSEWHERE, None).unwrap_err().code, ErrorCode::Forbidden);
    }

    #[test]
    fn with_a_token_everyone_needs_it_loopback_included() {
        let access = AdminAccess { token: Some("s3cret-operator-token".into()) };
        for peer in [LOOPBACK, ELSEWHERE] {
            assert!(access.check(peer, Some(b"Bearer s3cret-operator-token")).is_ok());
            for wrong in [None, Some(&b"Bearer s3cret"[..]), Some(b"s3cret-operator-token")] {
                let error = access.check(peer, wrong).unwrap_err();
                assert_eq!(error.code, ErrorCode::Unauthorized);
            }
        }
    }

    #[test]
    fn the_token_never_shows_in_a_debug_print() {
        let access = AdminAccess { token: Some("s3cret-operator-token".into()) };
        assert!(!format!("{access:?}").contains("s3cret"));
    }
}
