//! The rules every state write obeys, checked before a write is queued (by the service and by a
//! handler's transaction) and again where the writer computes a value (the result of update
//! ops). One module that the service, transactions and the writer all import, so none of them
//! imports another for its checks.

use std::io;

use serde_json::Value;

use super::error::StateError;

/// Longest scope name, in bytes. Scopes are few and named by manifests; 256 is plenty.
pub const MAX_SCOPE_BYTES: usize = 256;

/// Longest key, in bytes. Room for composite keys and ids, not for documents.
pub const MAX_KEY_BYTES: usize = 1024;

/// Largest value, measured as its compact JSON encoding. Bigger values belong in blob storage.
pub const MAX_VALUE_BYTES: usize = 8 * 1024 * 1024;

pub fn check_scope(scope: &str) -> Result<(), StateError> {
    check_name("scope", scope, MAX_SCOPE_BYTES)
}

pub fn check_key(scope: &str, key: &str) -> Result<(), StateError> {
    check_scope(scope)?;
    check_name("key", key, MAX_KEY_BYTES)
}

fn check_name(what: &str, name: &str, limit: usize) -> Result<(), StateError> {
    if name.is_empty() {
        return Err(StateError::Invalid(format!("{what} must not be empty")));
    }
    if name.len() > limit {
        return Err(StateError::Invalid(format!(
            "{what} is {} bytes long; the limit is {limit}",
            name.len()
        )));
    }
    Ok(())
}

/// Refuses a value whose JSON encoding exceeds [`MAX_VALUE_BYTES`], without building the text.
pub fn check_size(value: &Value) -> Result<(), StateError> {
    /// Counts bytes and fails as soon as the limit is passed.
    struct Meter(usize);
    impl io::Write for Meter {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0 += bytes.len();
            if self.0 > MAX_VALUE_BYTES {
                return Err(io::Error::other("over the limit"));
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(&mut Meter(0), value).map_err(|_| {
        StateError::Invalid(format!(
            "the value is larger than the {} MiB limit",
            MAX_VALUE_BYTES / (1024 * 1024)
        ))
    })
}

/// Refuses an ops argument that is not an array before it is queued (the writer would too).
pub fn check_ops(ops: &Value) -> Result<(), StateError> {
    if ops.is_array() {
        Ok(())
    } else {
        Err(StateError::Invalid("ops must be an array of update ops".into()))
    }
}
