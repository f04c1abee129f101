//! The host's own endpoints under `/_eddy/`: what is loaded (`GET /_eddy/plugins`) and whether
//! the host is up (`GET /_eddy/health`). Plugins can never bind routes here.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::error::Error;
use crate::host::Host;
use crate::http::{Body, json_response};
use crate::registry::Rejection;

pub fn handle<B>(host: &Host, request: &Request<B>) -> Result<hyper::Response<Body>, Error> {
    let path = request.uri().path();
    if request.method() != Method::GET {
        return Err(Error::new(
            crate::error::ErrorCode::MethodNotAllowed,
            format!("{} is not allowed on {path}", request.method()),
        ));
    }
    let body = match path {
        "/_eddy/health" => json!({ "status": "ok" }),
        "/_eddy/plugins" => plugins(host),
        _ => return Err(Error::not_found(format!("no host endpoint {path}"))),
    };
    Ok(json_response(StatusCode::OK, body.to_string()))
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
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
                .filter(|(_, _, f)| Arc::ptr_eq(&f.plugin, plugin))
                .map(|(method, path, f)| json!({ "method": method, "path": path, "function": &*f.id }))
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

fn trigger_json(trigger: &crate::manifest::Trigger) -> Value {
    use crate::manifest::Trigger;
    match trigger {
        Trigger::Http(t) => json!({ "type": "http", "method": t.method, "path": t.path }),
        Trigger::State(t) => {
            json!({ "type": "state", "scope": t.scope, "key": t.key, "condition": t.condition })
        }
        Trigger::Stream(t) => {
            json!({ "type": "stream", "stream_name": t.stream_name, "group_id": t.group_id })
        }
    }
}
