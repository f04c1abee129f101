//! HTTP requests in, function calls out: routes a request through the current snapshot, turns
//! it into the typed `http-request` event, calls the bound function and turns its output (plain
//! JSON or a full response) or its error into the response. The host's own endpoints
//! (`/_eddy/...`) and the WebSocket endpoints are split off first.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use crate::context::Invocation;
use crate::error::{Error, ErrorCode};
use crate::host::Host;
use crate::manifest::RESERVED_PATH_PREFIX;
use crate::routes::RouteMatch;
use crate::runtime::wit;
use crate::{admin, websocket};

pub type Body = Full<Bytes>;

/// Answers one request. Never fails: every problem becomes an error response.
pub async fn handle(host: Host, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path();
    if websocket::is_stream_path(path) {
        return websocket::upgrade(&host, request).unwrap_or_else(|e| error_response(&e, None));
    }
    if path == RESERVED_PATH_PREFIX || path.starts_with("/_eddy/") {
        return admin::handle(&host, request).await.unwrap_or_else(|e| error_response(&e, None));
    }
    match call_route(&host, request).await {
        Ok(response) => response,
        Err((error, allow)) => error_response(&error, allow.as_deref()),
    }
}

type RouteError = (Error, Option<String>);

async fn call_route(host: &Host, request: Request<Incoming>) -> Result<Response<Body>, RouteError> {
    let snapshot = host.registry().snapshot();
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let (function, route, path_params) = match snapshot.routes.find(&method, &path) {
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

    let query_params = request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())
        })
        .collect();
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(is_json_content_type);
    let body = read_body(request.into_body(), host.config().max_body_bytes)
        .await
        .map_err(|e| (e, None))?;
    let body = body_json(&body, is_json).map_err(|e| (e, None))?;

    let event = wit::Event::Http(wit::HttpRequest {
        method,
        path,
        route,
        path_params,
        query_params,
        headers,
        body,
    });
    let output = host.call(&function, &event, &Invocation::root()).await.map_err(|e| (e, None))?;
    output_response(output).map_err(|e| (e, None))
}

/// Reads a request's JSON body (an empty body is `null`), up to `limit` bytes.
pub async fn read_json_body(request: Request<Incoming>, limit: usize) -> Result<Value, Error> {
    let body = read_body(request.into_body(), limit).await?;
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body)
        .map_err(|e| Error::bad_request(format!("request body is not valid JSON: {e}")))
}

async fn read_body(mut body: Incoming, limit: usize) -> Result<Bytes, Error> {
    let mut collected = Vec::new();
    let mut too_large = false;
    let mut received = 0usize;
    let drain_until = tokio::time::Instant::now() + DRAIN_TIME;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| Error::bad_request(format!("could not read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        received += data.len();
        if received > limit {
            // Over the limit: keep reading (and dropping) a while, so the client, which may
            // still be sending, reads the 413 instead of a reset connection.
            too_large = true;
            collected = Vec::new();
            if received > limit.saturating_mul(DRAIN_FACTOR)
                || tokio::time::Instant::now() > drain_until
            {
                break;
            }
        } else {
            collected.extend_from_slice(&data);
        }
    }
    if too_large {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        ));
    }
    Ok(Bytes::from(collected))
}

/// How much of a too-large body is read and dropped, as a multiple of the limit, before the 413.
const DRAIN_FACTOR: usize = 16;
/// How long a too-large body is read and dropped, at most, before the 413.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// The body as JSON text: parsed and re-encoded when it is JSON (a syntax error is a 400),
/// otherwise the text as a JSON string; `null` when empty.
pub(crate) fn body_json(body: &[u8], is_json: bool) -> Result<String, Error> {
    if body.is_empty() {
        return Ok("null".into());
    }
    if is_json {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Error::bad_request(format!("request body is not valid JSON: {e}")))?;
        Ok(value.to_string())
    } else {
        Ok(Value::String(String::from_utf8_lossy(body).into_owned()).to_string())
    }
}

pub(crate) fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// A function's output as an HTTP response.
fn output_response(output: wit::Output) -> Result<Response<Body>, Error> {
    match output {
        wit::Output::Json(text) => {
            check_json(&text)?;
            Ok(json_response(StatusCode::OK, text))
        }
        wit::Output::Http(response) => {
            let status = StatusCode::from_u16(response.status_code).map_err(|_| {
                Error::internal(format!("the function returned status {}", response.status_code))
            })?;
            let mut builder = Response::builder().status(status);
            let mut content_type = None;
            for (name, value) in &response.headers {
                if name.eq_ignore_ascii_case("content-type") {
                    content_type = Some(value.clone());
                }
                builder = builder.header(name.as_str(), value.as_str());
            }
            let body = match response.body {
                None => Bytes::new(),
                Some(text) => {
                    let value: Value = check_json(&text)?;
                    match (&content_type, value) {
                        (Some(ct), Value::String(s)) if !is_json_content_type(ct) => Bytes::from(s),
                        _ => {
                            if content_type.is_none() {
                                builder = builder.header(header::CONTENT_TYPE, "application/json");
                            }
                            Bytes::from(text)
                        }
                    }
                }
            };
            builder.body(Full::new(body)).map_err(|e| {
                Error::internal(format!("the function returned an invalid header: {e}"))
            })
        }
    }
}

fn check_json(text: &str) -> Result<Value, Error> {
    serde_json::from_str(text)
        .map_err(|e| Error::internal(format!("the function returned invalid JSON: {e}")))
}

/// `200 application/json` with `body`.
pub fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The error envelope with the status its code maps to (and `Allow` for a 405).
pub fn error_response(error: &Error, allow: Option<&str>) -> Response<Body> {
    let status =
        StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, error.to_json().to_string());
    if let Some(allow) = allow.and_then(|a| HeaderValue::from_str(a).ok()) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_are_parsed_and_malformed_ones_are_bad_requests() {
        assert_eq!(body_json(br#"{ "title" : "x" }"#, true).unwrap(), r#"{"title":"x"}"#);
        let e = body_json(b"{nope", true).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.contains("not valid JSON"));
    }

    #[test]
    fn other_bodies_arrive_as_a_json_string_and_empty_as_null() {
        assert_eq!(body_json(b"hello", false).unwrap(), "\"hello\"");
        assert_eq!(body_json(b"", true).unwrap(), "null");
    }

    #[test]
    fn json_content_types_are_recognised_with_parameters() {
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("application/vnd.api+json"));
        assert!(!is_json_content_type("text/plain"));
    }

    #[test]
    fn a_plain_json_output_is_a_200() {
        let response = output_response(wit::Output::Json("[1]".into())).unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn a_full_response_keeps_status_and_headers_and_can_send_text() {
        let response = output_response(wit::Output::Http(wit::HttpResponse {
            status_code: 201,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Some("\"hi\"".into()),
        }))
        .unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain");
    }

    #[test]
    fn invalid_output_json_is_an_internal_error() {
        let e = output_response(wit::Output::Json("{".into())).unwrap_err();
        assert_eq!(e.code, ErrorCode::Internal);
    }

    #[test]
    fn a_405_names_the_allowed_methods() {
        let e = Error::new(ErrorCode::MethodNotAllowed, "no");
        let response = error_response(&e, Some("GET, POST"));
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET, POST");
    }
}
