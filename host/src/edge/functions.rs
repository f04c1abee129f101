//! HTTP functions: a request routed through the current snapshot to the function bound to its
//! method and path (or, where none is, to a plugin's static file: `assets.rs`), turned into the typed `http-request` event, called, and its output (plain
//! JSON or a full response) turned into the response, with the CORS headers its origin gets. A
//! browser's preflight of a bound route is answered here without calling anything. What a
//! function may rely on: `docs/http.md`.

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::{Request, Response};

use super::assets;
use super::body::read_body;
use super::cors::AllowedOrigins;
use super::event::http_event;
use super::identity::{identify, request_token};
use super::response::{Body, error_response, output_response};
use super::settings::EdgeSettings;
use crate::calls::Invocation;
use crate::error::{Error, ErrorCode};
use crate::host::Host;
use crate::plugins::routes::RouteMatch;

/// A failed route call, with the `Allow` header a 405 carries.
type RouteError = (Error, Option<String>);

/// Answers a request for a plugin route: a preflight itself, anything else by calling the
/// function bound to it; the answer carries the CORS headers the request's origin gets.
pub async fn handle(
    host: &Host,
    settings: &EdgeSettings,
    request: Request<Incoming>,
) -> Response<Body> {
    // The CORS headers are decided after the request is consumed: keep its headers for that,
    // but only when some origin could get them (no copy per request otherwise).
    let request_headers = match settings.cors.allow_origins {
        AllowedOrigins::None => HeaderMap::new(),
        _ => request.headers().clone(),
    };
    if is_preflight(&request) {
        let snapshot = host.registry().snapshot();
        let methods = snapshot.routes.methods(request.uri().path());
        if !methods.is_empty() {
            let mut response = Response::new(Body::default());
            *response.status_mut() = hyper::StatusCode::NO_CONTENT;
            *response.headers_mut() = settings.cors.preflight_headers(&request_headers, &methods);
            return response;
        }
    }
    let mut response = match call_route(host, settings, request).await {
        Ok(response) => response,
        Err((error, allow)) => error_response(&error, allow.as_deref()),
    };
    settings.cors.response_headers(&request_headers, response.headers_mut());
    response
}

/// A browser asking whether it may send a cross-origin request: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
fn is_preflight(request: &Request<Incoming>) -> bool {
    request.method() == hyper::Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Calls the function bound to the request's method and path.
async fn call_route(
    host: &Host,
    settings: &EdgeSettings,
    request: Request<Incoming>,
) -> Result<Response<Body>, RouteError> {
    let snapshot = host.registry().snapshot();
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let matched = snapshot.routes.find(&method, &path);
    if !matches!(matched, RouteMatch::Found { .. })
        && let Some(file) =
            assets::serve(&snapshot, request.method(), request.uri(), request.headers())
    {
        return Ok(file);
    }
    let (target, route, path_params) = match matched {
        RouteMatch::Found { target, route, params } => (target.clone(), route.to_string(), params),
        RouteMatch::MethodNotAllowed { allow } => {
            let allow = allow.join(", ");
            let message = format!("{method} is not allowed on {path}; allowed: {allow}");
            return Err((Error::new(ErrorCode::MethodNotAllowed, message), Some(allow)));
        }
        RouteMatch::NotFound => {
            return Err((Error::not_found(format!("no route for {method} {path}")), None));
        }
    };
    drop(snapshot);
    let token = request_token(request.headers(), None);
    let identity = identify(&settings.auth, token, target.auth).await.map_err(|e| (e, None))?;

    let (head, body) = request.into_parts();
    let body = read_body(body, settings.limits.max_body_bytes).await.map_err(|e| (e, None))?;
    let event = http_event(&head, (route, path_params), &body, identity).map_err(|e| (e, None))?;
    let output = host.calls().call(&target.function, &event, &Invocation::root()).await;
    let output = output.map_err(|e| (e, None))?;
    output_response(output).map_err(|e| (e, None))
}
