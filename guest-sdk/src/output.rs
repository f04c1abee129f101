//! Handler return values: [`IntoOutput`] turns them into what the host sends back.
//!
//! A handler returns any `Serialize` value (sent as `200 application/json`; `()` is `null`),
//! a [`Response`] to choose the status and headers, or a `Result` of either.

use serde::Serialize;
use serde_json::Value;

use crate::bindings::eddy::plugin::types as wit;
use crate::{Error, Result};

/// What a function returns to the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A JSON value; over HTTP, `200 application/json`.
    Json(Value),
    /// A full HTTP response; through `invoke` the caller sees `{status_code, headers, body}`.
    Http {
        /// The status code.
        status: u16,
        /// Response headers.
        headers: Vec<(String, String)>,
        /// The JSON body, if any.
        body: Option<Value>,
    },
}

impl Output {
    pub(crate) fn into_wit(self) -> wit::Output {
        match self {
            Output::Json(value) => wit::Output::Json(value.to_string()),
            Output::Http { status, headers, body } => wit::Output::Http(wit::HttpResponse {
                status_code: status,
                headers,
                body: body.map(|b| b.to_string()),
            }),
        }
    }
}

/// A value a handler can return.
pub trait IntoOutput {
    /// Converts the value, or fails the call (e.g. when it cannot be serialised).
    fn into_output(self) -> Result<Output>;
}

/// Any `Serialize` value is sent as JSON: structs, `Vec`s, `serde_json::Value`, `Option`
/// (`None` is `null`), and `()` (`null`).
impl<T: Serialize> IntoOutput for T {
    fn into_output(self) -> Result<Output> {
        serde_json::to_value(self)
            .map(Output::Json)
            .map_err(|e| Error::internal(format!("the result cannot be encoded as JSON: {e}")))
    }
}

impl IntoOutput for Output {
    fn into_output(self) -> Result<Output> {
        Ok(self)
    }
}

/// An HTTP response with a chosen status, headers and JSON body.
///
/// ```
/// use eddy_sdk::Response;
/// # #[derive(serde::Serialize)] struct Todo { id: String }
/// # let todo = Todo { id: "01J".into() };
/// let created = Response::json(201, &todo).with_header("location", "/todos/01J");
/// assert_eq!(created.status(), 201);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    /// The body, or why it could not be encoded: reported when the handler returns, so the
    /// builders stay infallible.
    body: Result<Option<Value>>,
}

impl Response {
    /// A response with `status` and no body.
    pub fn new(status: u16) -> Self {
        Response { status, headers: Vec::new(), body: Ok(None) }
    }

    /// A response with `status` and `body` encoded as JSON. If `body` cannot be encoded, the
    /// handler fails with an `internal` error when it returns the response.
    pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Self {
        let body = serde_json::to_value(body)
            .map(Some)
            .map_err(|e| Error::internal(format!("the response body cannot be encoded: {e}")));
        Response { status, headers: Vec::new(), body }
    }

    /// A `text/plain` response: the host sends the text itself, not a JSON string.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: Ok(Some(Value::String(text.into()))),
        }
    }

    /// The response with one more header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers set so far.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body, if it has one and it could be encoded.
    pub fn body(&self) -> Option<&Value> {
        self.body.as_ref().ok().and_then(Option::as_ref)
    }
}

impl IntoOutput for Response {
    fn into_output(self) -> Result<Output> {
        Ok(Output::Http { status: self.status, headers: self.headers, body: self.body? })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::ErrorCode;

    #[test]
    fn unit_is_null() {
        assert_eq!(().into_output().unwrap(), Output::Json(Value::Null));
    }

    #[test]
    fn a_serializable_value_is_plain_json() {
        #[derive(Serialize)]
        struct Deleted {
            deleted: &'static str,
        }
        assert_eq!(
            Deleted { deleted: "a" }.into_output().unwrap(),
            Output::Json(json!({"deleted": "a"}))
        );
        assert_eq!(None::<u8>.into_output().unwrap(), Output::Json(Value::Null));
    }

    #[test]
    fn a_response_keeps_its_status_headers_and_body() {
        let out = Response::json(201, &json!({"id": "x"})).with_header("location", "/x");
        assert_eq!(
            out.into_output().unwrap(),
            Output::Http {
                status: 201,
                headers: vec![("location".into(), "/x".into())],
                body: Some(json!({"id": "x"})),
            }
        );
        assert_eq!(Response::new(204).body(), None);
    }

    #[test]
    fn a_text_response_sets_a_plain_content_type() {
        let out = Response::text(200, "hello");
        assert_eq!(out.headers()[0].1, "text/plain; charset=utf-8");
        assert_eq!(out.body(), Some(&json!("hello")));
    }

    #[test]
    fn a_body_that_cannot_be_encoded_fails_when_returned() {
        let map: HashMap<(u8, u8), u8> = HashMap::from([((1, 2), 3)]);
        let error = Response::json(200, &map).into_output().unwrap_err();
        assert_eq!(error.code(), ErrorCode::Internal);
    }

    #[test]
    fn outputs_become_wit_outputs_with_json_text() {
        let wit::Output::Json(text) = Output::Json(json!({"a": 1})).into_wit() else {
            panic!("not json")
        };
        assert_eq!(text, r#"{"a":1}"#);
        let wit::Output::Http(r) = Response::new(204).into_output().unwrap().into_wit() else {
            panic!("not http")
        };
        assert_eq!((r.status_code, r.body), (204, None));
    }
}
