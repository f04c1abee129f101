//! Responses: a function's output as an HTTP response, and the one error envelope
//! (`{"error":{"code","message"}}`) with the status its code maps to (`crate::error`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::Value;

use super::body::is_json_content_type;
use crate::error::{Error, ErrorCode};
use crate::runtime::wit;

/// The body of every response the edge makes.
pub type Body = Full<Bytes>;

/// A function's output as an HTTP response.
pub fn output_response(output: wit::Output) -> Result<Response<Body>, Error> {
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

/// The error envelope with the status its code maps to, and the header that status calls for:
/// `Allow` for a 405, `WWW-Authenticate` for a 401, `Retry-After` for a 503.
pub fn error_response(error: &Error, allow: Option<&str>) -> Response<Body> {
    let status =
        StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, error.to_json().to_string());
    let headers = response.headers_mut();
    if let Some(allow) = allow.and_then(|a| HeaderValue::from_str(a).ok()) {
        headers.insert(header::ALLOW, allow);
    }
    match error.code {
        ErrorCode::Unauthorized => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        ErrorCode::Unavailable => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

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
