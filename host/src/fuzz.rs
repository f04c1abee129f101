//! Entry points for the coverage-guided fuzz targets in `fuzz/` (built only with `--cfg
//! fuzzing`, which cargo-fuzz sets): each takes arbitrary bytes to one parser or mapping that
//! untrusted input reaches, and checks what must hold whatever the input — above all, that
//! nothing panics. `fuzz/README.md` says how to run them.

use std::path::Path;

use serde_json::Value;

use crate::auth::{Authenticator, KeySource, ProviderConfig, bearer_token};
use crate::plugins::manifest::{Manifest, validate_route_path};
use crate::plugins::routes::{RouteMatch, Routes};

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A `plugin.toml`: parsed or refused with a line inside the file.
pub fn manifest(data: &[u8]) {
    let Some(text) = text(data) else { return };
    if let Err(error) = Manifest::parse(Path::new("/fuzz/plugin.toml"), text) {
        assert!(error.line <= text.lines().count().max(1), "{error}");
    }
}

/// An `eddy.toml`: parsed or refused with a line inside the file.
pub fn config(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let env = |name: &str| (name == "FUZZ_SECRET").then(|| "x".repeat(40));
    if let Err(error) = crate::config::Config::parse(Path::new("/fuzz/eddy.toml"), text, env) {
        assert!(error.line <= text.lines().count().max(1), "{error}");
    }
}

/// Update ops on a value: `[value, ops]` as JSON. Applying is deterministic, and an op list
/// that applies yields one error at most per op.
pub fn update_ops(data: &[u8]) {
    let Ok(Value::Array(pair)) = serde_json::from_slice::<Value>(data) else { return };
    let [value, ops] = pair.as_slice() else { return };
    let current = (!value.is_null()).then_some(value);
    let first = crate::state::ops::apply(current, ops);
    let again = crate::state::ops::apply(current, ops);
    assert_eq!(format!("{first:?}"), format!("{again:?}"));
    if let (Ok((_, errors)), Value::Array(list)) = (&first, ops) {
        assert!(errors.len() <= list.len());
    }
}

/// A routing table from lines `METHOD PATTERN`, then every line as a request path: valid
/// patterns build a table (or a clash), and looking anything up never panics; a pattern
/// without parameters finds itself.
pub fn routes(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let bindings: Vec<(String, String, String, usize)> = text
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(_, path)| validate_route_path(path).is_ok())
        .enumerate()
        .map(|(n, (method, path))| (method.to_string(), path.to_string(), format!("p{n}"), n))
        .collect();
    let Ok(table) = Routes::build(bindings.clone()) else { return };
    for line in text.lines() {
        let _ = table.find("GET", line);
        let _ = table.methods(line);
    }
    for (method, path, _, _) in &bindings {
        if !path.contains(':') {
            assert!(matches!(table.find(method, path), RouteMatch::Found { .. }), "{path}");
        }
    }
}

/// A WebSocket client's message, and a stream URL with its query.
pub fn client_message(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let _ = crate::streams::parse_client_message(text);
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let _ = crate::edge::websocket::initial_subscription(path, Some(query));
}

/// An `Authorization` header and a token: refused (no provider signed it) without a panic.
pub fn token(data: &[u8]) {
    let _ = bearer_token(data);
    let Some(token) = text(data) else { return };
    let provider = ProviderConfig {
        name: "fuzz".into(),
        issuer: "https://id.fuzz/".into(),
        audiences: vec!["fuzz".into()],
        keys: KeySource::Hs256("a-fuzzing-secret-of-thirty-two-bytes".into()),
        leeway: std::time::Duration::from_secs(30),
    };
    let auth = Authenticator::new(&[provider]).expect("an HS256 provider");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    assert!(runtime.block_on(auth.verify(token)).is_err(), "an unsigned input passed");
}

/// An HTTP request head and body → the event a function gets: the head is split from the input
/// (`METHOD URI`, header lines, a blank line, the body) and routed through a small table.
pub fn request_event(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let Some((method, uri)) = lines.next().and_then(|l| l.split_once(' ')) else { return };
    let mut builder = hyper::Request::builder().method(method).uri(uri);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            builder = builder.header(name.trim(), value.trim());
        }
    }
    let Ok(request) = builder.body(()) else { return };
    let (head, ()) = request.into_parts();
    let table = Routes::build([
        ("GET".to_string(), "/todos/:id".to_string(), "t".to_string(), ()),
        ("POST".to_string(), "/todos".to_string(), "t".to_string(), ()),
    ])
    .expect("a table");
    let params = match table.find(head.method.as_str(), head.uri.path()) {
        RouteMatch::Found { params, route, .. } => (route.to_string(), params),
        _ => ("/".to_string(), Vec::new()),
    };
    let _ = crate::edge::event::http_event(&head, params, body.as_bytes(), None);
}
