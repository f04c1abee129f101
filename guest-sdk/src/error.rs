//! The error a function returns, and the [`Result`] alias every SDK call uses.
//!
//! An [`Error`] is a code the host maps to one HTTP status plus a message shown to the client
//! as is. Build one with a constructor named after the code ([`Error::bad_request`],
//! [`Error::not_found`], ...). The SDK's own calls (state, streams, invoke) return the host's
//! errors unchanged, so `?` passes them through; a `serde_json::Error` becomes `internal`.

use std::fmt;

use crate::bindings::eddy::plugin::types as wit;

/// `std::result::Result` with the SDK's [`Error`]: the return type of most handlers.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is; each code becomes one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The input was malformed or missing something (400).
    BadRequest,
    /// The caller is not authenticated (401).
    Unauthorized,
    /// The caller, or the plugin, may not do this (403).
    Forbidden,
    /// The thing asked for does not exist (404).
    NotFound,
    /// The request conflicts with the current state (409).
    Conflict,
    /// The call took longer than its deadline (504).
    Timeout,
    /// Too busy right now; try again shortly (503).
    Unavailable,
    /// Anything else: a bug or a failed dependency (500).
    Internal,
}

impl ErrorCode {
    /// The HTTP status the host answers with when this error ends a request.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::Timeout => 504,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The code's name in the WIT contract, e.g. `not-found`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad-request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not-found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a function returns or a host call reports: a [code](ErrorCode) and a message for
/// the client. The message should say what to fix, not how the plugin works inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    message: String,
}

impl Error {
    /// An error with any code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into() }
    }

    /// The input was malformed or missing something (400).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// The caller is not authenticated (401).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// The caller may not do this (403).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// The thing asked for does not exist (404).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// The request conflicts with the current state (409).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// Something took longer than its deadline (504).
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Timeout, message)
    }

    /// Too busy right now; the client should try again shortly (503).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// Anything else: a bug or a failed dependency (500).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message shown to the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// A JSON value that cannot be encoded or decoded where the plugin expected it to be is a bug
/// in the plugin or its data, so it is `internal`. Input from the client is checked by the
/// extractors ([`Json`](crate::Json), [`HttpRequest::json_body`](crate::HttpRequest::json_body)),
/// which report `bad-request` instead.
impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Error::internal(format!("invalid JSON: {error}"))
    }
}

impl From<wit::ErrorCode> for ErrorCode {
    fn from(code: wit::ErrorCode) -> Self {
        match code {
            wit::ErrorCode::BadRequest => ErrorCode::BadRequest,
            wit::ErrorCode::Unauthorized => ErrorCode::Unauthorized,
            wit::ErrorCode::Forbidden => ErrorCode::Forbidden,
            wit::ErrorCode::NotFound => ErrorCode::NotFound,
            wit::ErrorCode::Conflict => ErrorCode::Conflict,
            wit::ErrorCode::Timeout => ErrorCode::Timeout,
            wit::ErrorCode::Unavailable => ErrorCode::Unavailable,
            wit::ErrorCode::Internal => ErrorCode::Internal,
        }
    }
}

impl From<ErrorCode> for wit::ErrorCode {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::BadRequest => wit::ErrorCode::BadRequest,
            ErrorCode::Unauthorized => wit::ErrorCode::Unauthorized,
            ErrorCode::Forbidden => wit::ErrorCode::Forbidden,
            ErrorCode::NotFound => wit::ErrorCode::NotFound,
            ErrorCode::Conflict => wit::ErrorCode::Conflict,
            ErrorCode::Timeout => wit::ErrorCode::Timeout,
            ErrorCode::Unavailable => wit::ErrorCode::Unavailable,
            ErrorCode::Internal => wit::ErrorCode::Internal,
        }
    }
}

impl From<wit::Error> for Error {
    fn from(error: wit::Error) -> Self {
        Error::new(error.code.into(), error.message)
    }
}

impl From<Error> for wit::Error {
    fn from(error: Error) -> Self {
        wit::Error { code: error.code.into(), message: error.message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_constructor_sets_its_code_and_status() {
        let cases = [
            (Error::bad_request("x"), ErrorCode::BadRequest, 400),
            (Error::unauthorized("x"), ErrorCode::Unauthorized, 401),
            (Error::forbidden("x"), ErrorCode::Forbidden, 403),
            (Error::not_found("x"), ErrorCode::NotFound, 404),
            (Error::conflict("x"), ErrorCode::Conflict, 409),
            (Error::timeout("x"), ErrorCode::Timeout, 504),
            (Error::unavailable("x"), ErrorCode::Unavailable, 503),
            (Error::internal("x"), ErrorCode::Internal, 500),
        ];
        for (error, code, status) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(error.code().http_status(), status);
            assert_eq!(error.message(), "x");
        }
    }

    #[test]
    fn errors_map_to_the_wit_error_code_of_the_same_name() {
        let error: wit::Error = Error::not_found("no todo with id 7").into();
        assert!(matches!(error.code, wit::ErrorCode::NotFound));
        assert_eq!(error.message, "no todo with id 7");

        let back = Error::from(wit::Error { code: wit::ErrorCode::Conflict, message: "m".into() });
        assert_eq!(back, Error::conflict("m"));
    }

    #[test]
    fn every_code_survives_a_round_trip_through_wit() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::Timeout,
            ErrorCode::Unavailable,
            ErrorCode::Internal,
        ] {
            assert_eq!(ErrorCode::from(wit::ErrorCode::from(code)), code);
        }
    }

    #[test]
    fn a_serde_json_error_becomes_internal_through_the_question_mark() {
        fn parse() -> Result<serde_json::Value> {
            Ok(serde_json::from_str("{nope")?)
        }
        let error = parse().unwrap_err();
        assert_eq!(error.code(), ErrorCode::Internal);
        assert!(error.message().starts_with("invalid JSON"), "{error}");
    }

    #[test]
    fn display_shows_the_code_then_the_message() {
        assert_eq!(
            Error::bad_request("title is required").to_string(),
            "bad-request: title is required"
        );
    }
}
