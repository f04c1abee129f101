//! The HTTP request → `http-request` event mapping: the request's head, the route it matched,
//! its body and its caller, as the typed event a function gets (`docs/http.md`). Pure, so the
//! fuzz target `request_event` drives it with any head and body.

use hyper::header;
use hyper::http::request::Parts;

use super::body::{body_json, is_json_content_type};
use crate::auth::Identity;
use crate::error::Error;
use crate::runtime::wit;

/// The event of a request with head `head` that matched `route` (its pattern) with
/// `path_params`, carrying `body` from `caller`. A body that claims to be JSON and is not is a
/// bad request.
pub fn http_event(
    head: &Parts,
    (route, path_params): (String, Vec<(String, String)>),
    body: &[u8],
    caller: Option<Identity>,
) -> Result<wit::Event, Error> {
    let query_params = head
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let headers = head
        .headers
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())
        })
        .collect();
    let is_json = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(is_json_content_type);
    Ok(wit::Event::Http(wit::HttpRequest {
        method: head.method.as_str().to_string(),
        path: head.uri.path().to_string(),
        route,
        path_params,
        query_params,
        headers,
        body: body_json(body, is_json)?,
        identity: caller.map(|caller| wit::Identity {
            provider: caller.provider,
            subject: caller.subject,
            issuer: caller.issuer,
            expires_at: caller.expires_at,
            claims: caller.claims.to_string(),
        }),
    }))
}
