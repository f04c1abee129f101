//! Plain Rust functions as Eddy functions: the [`Handler`] trait and the dispatch that the
//! [`plugin!`](crate::plugin) macro expands to.
//!
//! A handler is any `fn` (or closure) that takes nothing or one [`FromEvent`] argument and
//! returns an [`IntoOutput`] value or a `Result` of one:
//!
//! ```
//! # use eddy_sdk::{HttpRequest, Json, Result, Response};
//! fn health() {}
//! fn echo(body: Json<serde_json::Value>) -> serde_json::Value { body.0 }
//! fn find(request: HttpRequest) -> Result<Response> { Ok(Response::new(204)) }
//! ```

use crate::bindings::eddy::plugin::types as wit;
use crate::{Error, Event, FromEvent, IntoOutput, Output, Result};

/// A function the host can call. Implemented for every `fn` that takes nothing or one
/// [`FromEvent`] argument and returns `R` or `Result<R, E>`, where `R: IntoOutput` and
/// `E: Into<Error>`. `Args` and `Ret` are markers that keep those cases apart; name neither.
pub trait Handler<Args, Ret> {
    /// Extracts the argument from `event`, runs the function and converts its result.
    fn call(self, event: Event) -> Result<Output>;
}

/// Marks handlers that return a value directly.
#[doc(hidden)]
pub struct Infallible;

/// Marks handlers that return a `Result`.
#[doc(hidden)]
pub struct Fallible;

impl<F, R> Handler<(), Infallible> for F
where
    F: FnOnce() -> R,
    R: IntoOutput,
{
    fn call(self, _event: Event) -> Result<Output> {
        self().into_output()
    }
}

impl<F, R, E> Handler<(), Fallible> for F
where
    F: FnOnce() -> std::result::Result<R, E>,
    R: IntoOutput,
    E: Into<Error>,
{
    fn call(self, _event: Event) -> Result<Output> {
        self().map_err(Into::into)?.into_output()
    }
}

impl<F, A, R> Handler<(A,), Infallible> for F
where
    F: FnOnce(A) -> R,
    A: FromEvent,
    R: IntoOutput,
{
    fn call(self, event: Event) -> Result<Output> {
        self(A::from_event(event)?).into_output()
    }
}

impl<F, A, R, E> Handler<(A,), Fallible> for F
where
    F: FnOnce(A) -> std::result::Result<R, E>,
    A: FromEvent,
    R: IntoOutput,
    E: Into<Error>,
{
    fn call(self, event: Event) -> Result<Output> {
        self(A::from_event(event)?).map_err(Into::into)?.into_output()
    }
}

/// Runs `handler` for `event`. Used by [`plugin!`](crate::plugin).
#[doc(hidden)]
pub fn call<H: Handler<Args, Ret>, Args, Ret>(handler: H, event: Event) -> Result<Output> {
    handler.call(event)
}

/// The body of the exported `handle`: parses the event, lets `route` pick and run the handler
/// for `function` (`None` when the plugin has no such function) and converts the outcome.
#[doc(hidden)]
pub fn handle(
    function: &str,
    event: wit::Event,
    route: impl FnOnce(&str, Event) -> Option<Result<Output>>,
) -> std::result::Result<wit::Output, wit::Error> {
    let event = Event::try_from(event)?;
    match route(function, event) {
        Some(outcome) => Ok(outcome?.into_wit()),
        None => Err(Error::not_found(format!("this plugin has no function `{function}`")).into()),
    }
}

/// Whether `name` is a lowercase kebab-case function name (`on-change`): checked at compile
/// time by [`plugin!`](crate::plugin).
#[doc(hidden)]
pub const fn is_function_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes[0] == b'-' || bytes[bytes.len() - 1] == b'-' {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let ok =
            b.is_ascii_lowercase() || b.is_ascii_digit() || (b == b'-' && bytes[i - 1] != b'-');
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::{ErrorCode, HttpRequest, Json, Response, StateEvent};

    fn none() {}
    fn value() -> Vec<u8> {
        vec![1]
    }
    fn fallible() -> Result<&'static str> {
        Err(Error::conflict("taken"))
    }
    fn with_arg(Json(n): Json<i64>) -> i64 {
        n + 1
    }
    fn with_arg_fallible(Json(n): Json<i64>) -> Result<Response> {
        Ok(Response::json(201, &n))
    }
    fn with_serde_error(_: Value) -> std::result::Result<(), serde_json::Error> {
        serde_json::from_str("x")
    }
    fn http_only(request: HttpRequest) -> String {
        request.method
    }
    fn state_only(_: StateEvent) {}

    #[test]
    fn handlers_without_arguments_ignore_the_event() {
        assert_eq!(call(none, Event::Call(Value::Null)).unwrap(), Output::Json(Value::Null));
        assert_eq!(call(value, Event::Call(Value::Null)).unwrap(), Output::Json(json!([1])));
        assert_eq!(call(fallible, Event::Call(Value::Null)).unwrap_err(), Error::conflict("taken"));
    }

    #[test]
    fn handlers_with_an_argument_extract_it_from_the_event() {
        assert_eq!(call(with_arg, Event::Call(json!(41))).unwrap(), Output::Json(json!(42)));
        let out = call(with_arg_fallible, Event::Call(json!(1))).unwrap();
        assert!(matches!(out, Output::Http { status: 201, .. }));
    }

    #[test]
    fn an_extraction_failure_fails_the_call_before_the_handler_runs() {
        let error = call(with_arg, Event::Call(json!("seven"))).unwrap_err();
        assert_eq!(error.code(), ErrorCode::BadRequest);
        assert_eq!(
            call(http_only, Event::Call(Value::Null)).unwrap_err().code(),
            ErrorCode::BadRequest
        );
        assert!(call(state_only, Event::Call(Value::Null)).is_err());
    }

    #[test]
    fn errors_convertible_into_error_are_accepted() {
        let error = call(with_serde_error, Event::Call(Value::Null)).unwrap_err();
        assert_eq!(error.code(), ErrorCode::Internal);
    }

    #[test]
    fn an_unknown_function_is_not_found() {
        let error = handle("nope", wit::Event::Call("null".into()), |_, _| None).unwrap_err();
        assert!(matches!(error.code, wit::ErrorCode::NotFound));
        assert_eq!(error.message, "this plugin has no function `nope`");
    }

    #[test]
    fn handle_routes_by_name_and_returns_json_text() {
        let out = handle("inc", wit::Event::Call("1".into()), |name, event| {
            (name == "inc").then(|| call(with_arg, event))
        });
        let Ok(wit::Output::Json(text)) = out else { panic!("{out:?}") };
        assert_eq!(text, "2");
    }

    #[test]
    fn function_names_must_be_lowercase_kebab_case() {
        for good in ["create", "on-change", "get-metrics", "v2"] {
            assert!(is_function_name(good), "{good}");
        }
        for bad in ["", "Create", "on_change", "-x", "x-", "a--b", "on change", "état"] {
            assert!(!is_function_name(bad), "{bad}");
        }
    }
}
