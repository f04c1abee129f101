//! Live updates to WebSocket clients.
//!
//! A stream has groups; clients subscribe to a group (`ws://HOST/stream/{stream}/{group}`) and
//! receive every event sent to it and every change to its items, in order. [`send`] pushes a
//! custom event; the item functions keep a set of JSON items per group and broadcast each
//! change as `create`, `update` or `delete`.
//!
//! ```no_run
//! use eddy_sdk::{stream, Result};
//! # fn demo() -> Result<()> {
//! stream::send("todos-live", "all", "todo_changed", &serde_json::json!({"action": "created"}))?;
//! # Ok(()) }
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::eddy::plugin::streams as host;
use crate::event::{decode, parse, parse_opt};
use crate::op::ops_json;
use crate::{Change, Error, Op, Result, UpdateResult};

/// Pushes the custom event `{type: event_type, data}` to every client of the group.
pub fn send<T: Serialize + ?Sized>(
    stream_name: &str,
    group_id: &str,
    event_type: &str,
    data: &T,
) -> Result<()> {
    send_inner(stream_name, group_id, None, event_type, data)
}

/// [`send`] with an event id, which clients see as the frame's `id`.
pub fn send_with_id<T: Serialize + ?Sized>(
    stream_name: &str,
    group_id: &str,
    id: &str,
    event_type: &str,
    data: &T,
) -> Result<()> {
    send_inner(stream_name, group_id, Some(id), event_type, data)
}

fn send_inner<T: Serialize + ?Sized>(
    stream_name: &str,
    group_id: &str,
    id: Option<&str>,
    event_type: &str,
    data: &T,
) -> Result<()> {
    let data = serde_json::to_string(data)?;
    Ok(host::send(stream_name, group_id, id, event_type, &data)?)
}

/// The item `item_id` of the group as `T`, or `None`.
pub fn get<T: DeserializeOwned>(
    stream_name: &str,
    group_id: &str,
    item_id: &str,
) -> Result<Option<T>> {
    let value = parse_opt(host::get(stream_name, group_id, item_id)?.as_deref(), "a stream item")?;
    decode(value.as_ref(), || format!("the item {stream_name}/{group_id}/{item_id}"))
}

/// Creates or replaces an item and broadcasts `create` or `update` to the group.
pub fn set<T: Serialize + ?Sized>(
    stream_name: &str,
    group_id: &str,
    item_id: &str,
    value: &T,
) -> Result<Change> {
    let value = serde_json::to_string(value)?;
    host::set(stream_name, group_id, item_id, &value)?.try_into()
}

/// Applies update ops to an item (as [`state::update`](crate::state::update)) and broadcasts
/// the change.
pub fn update(
    stream_name: &str,
    group_id: &str,
    item_id: &str,
    ops: &[Op],
) -> Result<UpdateResult> {
    host::update(stream_name, group_id, item_id, &ops_json(ops))?.try_into()
}

/// Removes an item, broadcasting `delete` if it existed; returns its old value.
pub fn delete(stream_name: &str, group_id: &str, item_id: &str) -> Result<Option<Value>> {
    parse_opt(host::delete(stream_name, group_id, item_id)?.as_deref(), "a stream item")
}

/// The group's items in id order.
pub fn list<T: DeserializeOwned>(stream_name: &str, group_id: &str) -> Result<Vec<T>> {
    host::list(stream_name, group_id)?
        .iter()
        .map(|text| {
            T::deserialize(parse(text, "a stream item")?).map_err(|e| {
                Error::internal(format!(
                    "an item of {stream_name}/{group_id} does not match the expected type: {e}"
                ))
            })
        })
        .collect()
}
