//! The hub's public types: its settings, the events it reports, its errors, and the rules for
//! names.

use serde_json::Value;

use crate::cause::Cause;
use crate::state::StateError;

use super::group::GroupName;

/// The longest item id, event id or subscription id accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// The longest stream name or group id accepted, in bytes. Every frame repeats both, and a
/// client can name groups at will: short names keep both in check.
pub const MAX_GROUP_NAME_BYTES: usize = 128;

/// Limits of the stream hub.
#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// Frames kept per group for clients that reconnect with `since`. Default 1024.
    pub replay_window: usize,
    /// Frames queued per client before it is closed as too slow. Default 1024.
    pub client_queue: usize,
    /// The largest message accepted from a client, in bytes; a larger one closes the socket
    /// (1009). Default 64 KiB.
    pub max_message_bytes: usize,
    /// On the shared store, frames older than this leave the replay window. Default 1 hour.
    pub replay_max_age: std::time::Duration,
    /// Subscriptions one socket may hold at once. Default 256.
    pub max_subscriptions_per_socket: usize,
    /// Groups one socket's joins may have created that still exist (a group goes when nobody
    /// needs it). Default 64.
    pub max_groups_per_socket: usize,
    /// Groups the host holds at once; a join that needs a new group past it is refused (a
    /// plugin's write never is). Default 100,000.
    pub max_groups: usize,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            replay_window: 1024,
            client_queue: 1024,
            max_message_bytes: 64 * 1024,
            replay_max_age: std::time::Duration::from_secs(3600),
            max_subscriptions_per_socket: 256,
            max_groups_per_socket: 64,
            max_groups: 100_000,
        }
    }
}

/// What functions bound with a `stream` trigger receive: one per broadcast frame.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    /// The stream the frame went to.
    pub stream_name: String,
    /// The group within the stream.
    pub group_id: String,
    /// The item id for item changes; the optional event id for `send`.
    pub id: Option<String>,
    /// What happened.
    pub change: StreamChange,
    /// The `send` event's type; `None` for item changes.
    pub event_type: Option<String>,
    /// The `send` event's data, the item's new value for create/update, its old value for
    /// delete.
    pub data: Value,
    /// The cause of the write that produced the frame.
    pub cause: Cause,
}

/// The kind of a [`StreamEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamChange {
    /// An item that did not exist was set.
    Create,
    /// An existing item changed.
    Update,
    /// An item was deleted.
    Delete,
    /// `stream::send`.
    Event,
}

/// Why a stream operation was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StreamError {
    /// A bad stream, group or item name, or bad update ops.
    #[error("{0}")]
    Invalid(String),
    /// The calling plugin's manifest does not grant it this stream.
    #[error("{0}")]
    Forbidden(String),
    /// The shared store failed (streams on PostgreSQL).
    #[error("stream storage failed: {0}")]
    Storage(String),
    /// A join past one of the host's caps (`StreamsConfig`).
    #[error("{0}")]
    Limit(String),
}

impl From<StateError> for StreamError {
    fn from(error: StateError) -> Self {
        match error {
            StateError::Invalid(message) => StreamError::Invalid(message),
            StateError::Storage(message)
            | StateError::Full(message)
            | StateError::Unavailable(message) => StreamError::Storage(message),
            StateError::Forbidden(message) | StateError::Quota(message) => {
                StreamError::Forbidden(message)
            }
            // Stream items have no conditional writes; a conflict is the caller's to resolve.
            StateError::Conflict(message) => StreamError::Invalid(message),
        }
    }
}

pub(super) fn group_name<'a>(
    stream: &'a str,
    group: &'a str,
) -> Result<GroupName<'a>, StreamError> {
    check_group_name("stream name", stream)?;
    check_group_name("group id", group)?;
    Ok(GroupName { stream, group })
}

/// Names are non-empty and at most [`MAX_NAME_BYTES`].
pub(super) fn check_name(what: &str, name: &str) -> Result<(), StreamError> {
    if name.is_empty() {
        return Err(StreamError::Invalid(format!("{what} is empty")));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(StreamError::Invalid(format!("{what} is longer than {MAX_NAME_BYTES} bytes")));
    }
    Ok(())
}

/// Stream names and group ids are non-empty, at most [`MAX_GROUP_NAME_BYTES`], and hold no
/// control characters.
fn check_group_name(what: &str, name: &str) -> Result<(), StreamError> {
    if name.is_empty() {
        return Err(StreamError::Invalid(format!("{what} is empty")));
    }
    if name.len() > MAX_GROUP_NAME_BYTES {
        return Err(StreamError::Invalid(format!(
            "{what} is longer than {MAX_GROUP_NAME_BYTES} bytes"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(StreamError::Invalid(format!("{what} holds a control character")));
    }
    Ok(())
}
