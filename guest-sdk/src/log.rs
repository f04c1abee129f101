//! Structured logging into the host's log, with the plugin and function named.
//!
//! ```no_run
//! use eddy_sdk::log;
//! use serde_json::json;
//! log::info("todo created");
//! log::with(&json!({"id": "01J", "title": "milk"})).debug("todo created");
//! ```

use serde::Serialize;
use serde_json::{Value, json};

use crate::bindings::eddy::plugin::log as host;

/// How much a log line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Step-by-step detail.
    Trace,
    /// Detail for debugging.
    Debug,
    /// Something worth knowing happened.
    Info,
    /// Something looks wrong, but the call goes on.
    Warn,
    /// The call could not do its job.
    Error,
}

impl From<Level> for host::Level {
    fn from(level: Level) -> Self {
        match level {
            Level::Trace => host::Level::Trace,
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        }
    }
}

/// Logs `message` at `level` with `fields`, a value serialised to a JSON object of extra
/// key-values (a non-object is logged as `{"value": ...}`).
pub fn log(level: Level, message: impl AsRef<str>, fields: &(impl Serialize + ?Sized)) {
    host::log(level.into(), message.as_ref(), &fields_json(fields));
}

/// Logs at trace level.
pub fn trace(message: impl AsRef<str>) {
    host::log(host::Level::Trace, message.as_ref(), "{}");
}

/// Logs at debug level.
pub fn debug(message: impl AsRef<str>) {
    host::log(host::Level::Debug, message.as_ref(), "{}");
}

/// Logs at info level.
pub fn info(message: impl AsRef<str>) {
    host::log(host::Level::Info, message.as_ref(), "{}");
}

/// Logs at warn level.
pub fn warn(message: impl AsRef<str>) {
    host::log(host::Level::Warn, message.as_ref(), "{}");
}

/// Logs at error level.
pub fn error(message: impl AsRef<str>) {
    host::log(host::Level::Error, message.as_ref(), "{}");
}

/// Fields to attach to the next log lines: `log::with(&json!({"id": id})).info("created")`.
pub fn with(fields: &(impl Serialize + ?Sized)) -> Fields {
    Fields(fields_json(fields))
}

/// Key-values attached to log lines; made by [`with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields(String);

impl Fields {
    /// Logs at trace level with these fields.
    pub fn trace(&self, message: impl AsRef<str>) {
        host::log(host::Level::Trace, message.as_ref(), &self.0);
    }

    /// Logs at debug level with these fields.
    pub fn debug(&self, message: impl AsRef<str>) {
        host::log(host::Level::Debug, message.as_ref(), &self.0);
    }

    /// Logs at info level with these fields.
    pub fn info(&self, message: impl AsRef<str>) {
        host::log(host::Level::Info, message.as_ref(), &self.0);
    }

    /// Logs at warn level with these fields.
    pub fn warn(&self, message: impl AsRef<str>) {
        host::log(host::Level::Warn, message.as_ref(), &self.0);
    }

    /// Logs at error level with these fields.
    pub fn error(&self, message: impl AsRef<str>) {
        host::log(host::Level::Error, message.as_ref(), &self.0);
    }
}

/// The fields as a JSON object's text. Logging never fails the call: what cannot be encoded
/// is logged as the reason it could not.
fn fields_json(fields: &(impl Serialize + ?Sized)) -> String {
    let object = match serde_json::to_value(fields) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(Value::Null) => json!({}),
        Ok(other) => json!({ "value": other }),
        Err(e) => json!({ "fields_error": e.to_string() }),
    };
    object.to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn object_fields_are_sent_as_they_are() {
        assert_eq!(fields_json(&json!({"id": "a", "n": 1})), r#"{"id":"a","n":1}"#);
    }

    #[test]
    fn non_object_fields_are_wrapped_in_an_object() {
        assert_eq!(fields_json(&7), r#"{"value":7}"#);
        assert_eq!(fields_json(&()), "{}");
    }

    #[test]
    fn fields_that_cannot_be_encoded_say_why() {
        let bad: HashMap<(u8, u8), u8> = HashMap::from([((1, 2), 3)]);
        assert!(fields_json(&bad).starts_with(r#"{"fields_error":"#));
    }
}
