//! The host's own functions, callable by id like any plugin function (through `invoke` or the
//! SDK): `state::get/set/update/delete/list/list_groups` and
//! `stream::send/get/set/update/delete/list`, with the JSON payloads and results of SPEC §2 and
//! §4, so code written against the iii model ports over unchanged.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::context::Invocation;
use crate::error::Error;
use crate::host::Host;
use crate::state::{Change, UpdateOutcome};

const BUILTINS: &[&str] = &[
    "state::get",
    "state::set",
    "state::update",
    "state::delete",
    "state::list",
    "state::list_groups",
    "stream::send",
    "stream::get",
    "stream::set",
    "stream::update",
    "stream::delete",
    "stream::list",
];

/// Whether `id` names a builtin.
pub fn exists(id: &str) -> bool {
    BUILTINS.contains(&id)
}

#[derive(Deserialize)]
struct Key {
    scope: String,
    key: String,
}

#[derive(Deserialize)]
struct SetPayload {
    scope: String,
    key: String,
    value: Value,
}

#[derive(Deserialize)]
struct UpdatePayload {
    scope: String,
    key: String,
    ops: Value,
}

#[derive(Deserialize)]
struct ListPayload {
    scope: String,
    prefix: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct SendPayload {
    stream_name: String,
    group_id: String,
    id: Option<String>,
    /// `type`, or `event_type` from older clients.
    #[serde(rename = "type", alias = "event_type")]
    event_type: String,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
struct Item {
    stream_name: String,
    group_id: String,
    item_id: String,
}

#[derive(Deserialize)]
struct ItemSet {
    stream_name: String,
    group_id: String,
    item_id: String,
    value: Value,
}

#[derive(Deserialize)]
struct ItemUpdate {
    stream_name: String,
    group_id: String,
    item_id: String,
    ops: Value,
}

#[derive(Deserialize)]
struct Group {
    stream_name: String,
    group_id: String,
}

fn payload<T: DeserializeOwned>(id: &str, payload: Value) -> Result<T, Error> {
    serde_json::from_value(payload).map_err(|e| Error::bad_request(format!("{id}: {e}")))
}

fn change_json(change: Change) -> Value {
    json!({ "old_value": change.old_value, "new_value": change.new_value })
}

fn update_json(outcome: UpdateOutcome) -> Value {
    let mut result = json!({ "old_value": outcome.old_value, "new_value": outcome.new_value });
    if !outcome.errors.is_empty() {
        result["errors"] = json!(outcome.errors);
    }
    result
}

/// Runs builtin `id` (see [`exists`]) in the caller's context: inside a trigger delivery its
/// writes join the delivery's transaction.
pub async fn call(
    host: &Host,
    id: &str,
    body: Value,
    invocation: &Invocation,
) -> Result<Value, Error> {
    let state = host.state();
    let streams = host.streams();
    let cause = invocation.cause;
    Ok(match id {
        "state::get" => {
            let p: Key = payload(id, body)?;
            invocation.get(state, &p.scope, &p.key)?.unwrap_or(Value::Null)
        }
        "state::set" => {
            let p: SetPayload = payload(id, body)?;
            change_json(invocation.set(state, &p.scope, &p.key, p.value).await?)
        }
        "state::update" => {
            let p: UpdatePayload = payload(id, body)?;
            update_json(invocation.update(state, &p.scope, &p.key, &p.ops).await?)
        }
        "state::delete" => {
            let p: Key = payload(id, body)?;
            invocation.delete(state, &p.scope, &p.key).await?.unwrap_or(Value::Null)
        }
        "state::list" => {
            let p: ListPayload = payload(id, body)?;
            let (prefix, after) = (p.prefix.as_deref(), p.after.as_deref());
            Value::Array(invocation.list(state, &p.scope, prefix, after, p.limit)?)
        }
        "state::list_groups" => json!({ "groups": invocation.list_groups(state)? }),
        "stream::send" => {
            let p: SendPayload = payload(id, body)?;
            let (stream, group, item) = (&p.stream_name, &p.group_id, p.id.as_deref());
            invocation.send(streams, stream, group, item, &p.event_type, p.data)?;
            Value::Null
        }
        "stream::get" => {
            let p: Item = payload(id, body)?;
            streams.get(&p.stream_name, &p.group_id, &p.item_id)?.unwrap_or(Value::Null)
        }
        "stream::set" => {
            let p: ItemSet = payload(id, body)?;
            change_json(streams.set(&p.stream_name, &p.group_id, &p.item_id, p.value, cause)?)
        }
        "stream::update" => {
            let p: ItemUpdate = payload(id, body)?;
            update_json(streams.update(&p.stream_name, &p.group_id, &p.item_id, &p.ops, cause)?)
        }
        "stream::delete" => {
            let p: Item = payload(id, body)?;
            streams.delete(&p.stream_name, &p.group_id, &p.item_id, cause)?.unwrap_or(Value::Null)
        }
        "stream::list" => {
            let p: Group = payload(id, body)?;
            Value::Array(streams.list(&p.stream_name, &p.group_id)?)
        }
        other => return Err(Error::not_found(format!("no function {other}"))),
    })
}
