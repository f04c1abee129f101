//! [`fail`]: a database error as a [`StateError`] that says what was being done, and why.

use std::fmt::Display;

use crate::state::error::StateError;

/// A database error as a storage error that says what was being done, and why (the client's
/// own message is often only "db error"; the server's reason is its source).
pub fn fail<E: std::error::Error>(what: impl Display) -> impl FnOnce(E) -> StateError {
    move |e| {
        let mut message = format!("PostgreSQL: {what}: {e}");
        let mut source = e.source();
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        StateError::Storage(message)
    }
}
