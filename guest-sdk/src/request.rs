//! The HTTP request a function gets when one of its routes matches, with helpers to read it.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::{Error, Result};

/// An HTTP request that matched one of the function's routes.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// Upper-case method, e.g. `POST`.
    pub method: String,
    /// The request path without the query string, e.g. `/todos/01J...`.
    pub path: String,
    /// The route pattern that matched, e.g. `/todos/:id`.
    pub route: String,
    /// The `:name` segments of the route and the values they matched.
    pub path_params: Vec<(String, String)>,
    /// Decoded query parameters in order; a repeated name appears repeatedly.
    pub query_params: Vec<(String, String)>,
    /// Headers with lower-case names, in the order received.
    pub headers: Vec<(String, String)>,
    /// The parsed body when the request is JSON, the body text as a JSON string otherwise,
    /// `null` when there is no body.
    pub body: Value,
    /// The caller, when the request carried a valid token of one of the host's identity
    /// providers; `None` without a token. (An invalid token never reaches a function.)
    pub identity: Option<Identity>,
}

/// Who is calling, as a token the host verified says. Take it as a handler's argument to
/// require a signed-in caller (a request without one gets `unauthorized`), or read
/// [`HttpRequest::identity`] when a caller is optional.
///
/// ```
/// use eddy_sdk::{Identity, Result};
///
/// // [functions.me] triggers = [{ type = "http", method = "GET", path = "/me", auth = "required" }]
/// fn me(caller: Identity) -> Result<serde_json::Value> {
///     Ok(serde_json::json!({ "you": caller.subject, "role": caller.claim("role") }))
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The identity provider's name in the host's `eddy.toml`.
    pub provider: String,
    /// The token's subject (`sub`): the caller.
    pub subject: String,
    /// The token's issuer (`iss`).
    pub issuer: String,
    /// When the token expires (`exp`), in seconds since the Unix epoch.
    pub expires_at: u64,
    /// Every claim of the token.
    pub claims: Value,
}

impl Identity {
    /// The claim `name` of the token (`role`, `email`...), if it has one.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// The identity as JSON: `{provider, subject, issuer, expires_at, claims}`.
    pub fn to_json(&self) -> Value {
        json!({
            "provider": self.provider,
            "subject": self.subject,
            "issuer": self.issuer,
            "expires_at": self.expires_at,
            "claims": self.claims,
        })
    }
}

impl HttpRequest {
    /// The value of the path parameter `name` (`:id` in the route is `param("id")`).
    pub fn param(&self, name: &str) -> Option<&str> {
        lookup(&self.path_params, name)
    }

    /// The first value of the query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        lookup(&self.query_params, name)
    }

    /// Every value of the query parameter `name`, in order (`?tag=a&tag=b`).
    pub fn query_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query_params.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of the header `name`, matched without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The caller, or an `unauthorized` error for a request without a token.
    pub fn caller(&self) -> Result<&Identity> {
        self.identity.as_ref().ok_or_else(signed_out)
    }

    /// The body decoded as `T`, or a `bad-request` error saying what does not match.
    pub fn json_body<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(&self.body)
            .map_err(|e| Error::bad_request(format!("invalid request body: {e}")))
    }

    /// The request as plain JSON: `{method, path, route, path_params, query_params, headers,
    /// body, identity}`. Parameters and headers become objects; a name that appears more than
    /// once maps to an array of its values; `identity` is null without a caller.
    pub fn to_json(&self) -> Value {
        json!({
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "path_params": pairs_to_object(&self.path_params),
            "query_params": pairs_to_object(&self.query_params),
            "headers": pairs_to_object(&self.headers),
            "body": self.body,
            "identity": self.identity.as_ref().map(Identity::to_json),
        })
    }
}

/// The error of a function that needs a caller and has none.
pub(crate) fn signed_out() -> Error {
    Error::unauthorized("sign in first: send Authorization: Bearer TOKEN")
}

fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `[(a, 1), (b, 2), (a, 3)]` → `{"a": ["1", "3"], "b": "2"}`.
fn pairs_to_object(pairs: &[(String, String)]) -> Value {
    let mut object = Map::new();
    for (name, value) in pairs {
        let value = Value::String(value.clone());
        match object.get_mut(name) {
            None => {
                object.insert(name.clone(), value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
        }
    }
    Value::Object(object)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    pub(crate) fn request(method: &str, body: Value) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            path: "/todos/42".into(),
            route: "/todos/:id".into(),
            path_params: pairs(&[("id", "42")]),
            query_params: pairs(&[("q", "milk"), ("tag", "a"), ("tag", "b")]),
            headers: pairs(&[("content-type", "application/json"), ("x-trace", "t1")]),
            body,
            identity: None,
        }
    }

    #[test]
    fn an_http_request_becomes_the_iii_request_shape() {
        let json = request("POST", json!({"title": "milk"})).to_json();
        assert_eq!(
            json,
            json!({
                "method": "POST",
                "path": "/todos/42",
                "route": "/todos/:id",
                "path_params": {"id": "42"},
                "query_params": {"q": "milk", "tag": ["a", "b"]},
                "headers": {"content-type": "application/json", "x-trace": "t1"},
                "body": {"title": "milk"},
                "identity": null,
            })
        );
    }

    #[test]
    fn request_helpers_find_params_queries_and_headers() {
        let r = request("GET", Value::Null);
        assert_eq!(r.param("id"), Some("42"));
        assert_eq!(r.param("nope"), None);
        assert_eq!(r.query("tag"), Some("a"));
        assert_eq!(r.query_all("tag").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(r.header("X-Trace"), Some("t1"));
    }

    #[test]
    fn a_body_of_the_wrong_shape_is_a_bad_request() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            id: String,
        }
        let error = request("POST", json!({"id": 7})).json_body::<Body>().unwrap_err();
        assert_eq!(error.code(), crate::ErrorCode::BadRequest);
        assert!(error.message().starts_with("invalid request body"), "{error}");
    }
}
