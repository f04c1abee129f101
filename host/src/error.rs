//! The one error type of a function call, whoever made it (HTTP, a trigger, `invoke`), and the
//! one place that decides which HTTP status each kind of failure becomes. Messages are what a
//! client or guest sees: they say what went wrong, never how the host works inside (those details
//! go to the log where the failure happens).

use serde_json::{Value, json};

use crate::state::StateError;
use crate::streams::StreamError;

/// What kind of failure, as a client or guest sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    Conflict,
    /// The host is too busy for the call right now; try again shortly (`Retry-After`).
    Unavailable,
    Timeout,
    /// The request needs something HTTP allows but the host does not do (a transfer coding
    /// other than `chunked`).
    NotImplemented,
    Internal,
}

impl ErrorCode {
    /// The HTTP status this failure is answered with.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::Internal => 500,
            ErrorCode::NotImplemented => 501,
            ErrorCode::Unavailable => 503,
            ErrorCode::Timeout => 504,
        }
    }

    /// The `code` of the error envelope.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::NotImplemented => "not_implemented",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A failed call: a code and a message fit for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error { code, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Internal, message)
    }

    /// The error envelope: `{"error":{"code","message"}}`.
    pub fn to_json(&self) -> Value {
        json!({ "error": { "code": self.code.as_str(), "message": self.message } })
    }
}

impl From<StateError> for Error {
    fn from(e: StateError) -> Error {
        match e {
            StateError::Invalid(message) => Error::bad_request(message),
            StateError::Forbidden(message) => Error::new(ErrorCode::Forbidden, message),
            StateError::Conflict(message) => Error::new(ErrorCode::Conflict, message),
            StateError::Quota(message) => Error::new(ErrorCode::Forbidden, message),
            StateError::Storage(_) => {
                tracing::error!(error = %e, "state storage failed");
                Error::internal("state storage failed")
            }
            // The store logs its outages (rate limited); each refused call need not.
            StateError::Full(_) => Error::new(
                ErrorCode::Unavailable,
                "the disk holding the state is full: writes are refused until space is freed",
            ),
            StateError::Unavailable(message) => Error::new(ErrorCode::Unavailable, message),
        }
    }
}

impl From<StreamError> for Error {
    fn from(e: StreamError) -> Error {
        match e {
            StreamError::Invalid(message) => Error::bad_request(message),
            StreamError::Forbidden(message) => Error::new(ErrorCode::Forbidden, message),
            StreamError::Limit(message) => Error::new(ErrorCode::Unavailable, message),
            StreamError::Storage(_) => {
                tracing::error!(error = %e, "stream storage failed");
                Error::internal("stream storage failed")
            }
        }
    }
}
