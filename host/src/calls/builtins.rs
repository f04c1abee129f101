//! The host's own functions, callable by id like any plugin function (through `invoke` or the
//! SDK): `state::get/set/update/delete/list/list_groups` and
//! `stream::send/get/set/update/delete/list`, with the JSON payloads and results documented in
//! `docs/state.md` and `docs/streams.md`, so code written against the iii model ports over
//! unchanged. A state write's payload may add `expect` to make it conditional (`set-if` and
//! its kin in the WIT). A builtin is only a spelling: its payload is parsed into the same
//! [`Request`] a WIT import makes, which is checked and carried out the same way.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::error::Error;
use crate::runtime::{Reply, Request};
use crate::state::Expect;

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

/// `expect`, when a write's payload has one, makes it conditional: the key must hold that
/// value when the write applies (`null`: the key must be missing, as `state::get` answers
/// `null` for a missing key), or the call fails with `conflict` and changes nothing. Without
/// the field the write is unconditional.
#[derive(Deserialize)]
struct SetPayload {
    scope: String,
    key: String,
    value: Value,
    #[serde(default, deserialize_with = "expected")]
    expect: Option<Expect>,
}

#[derive(Deserialize)]
struct UpdatePayload {
    scope: String,
    key: String,
    ops: Value,
    #[serde(default, deserialize_with = "expected")]
    expect: Option<Expect>,
}

#[derive(Deserialize)]
struct DeletePayload {
    scope: String,
    key: String,
    #[serde(default, deserialize_with = "expected")]
    expect: Option<Expect>,
}

/// An `expect` field that is present: `null` expects a missing key, any other value itself.
fn expected<'de, D: Deserializer<'de>>(field: D) -> Result<Option<Expect>, D::Error> {
    Ok(Some(match Value::deserialize(field)? {
        Value::Null => Expect::Absent,
        value => Expect::Value(value),
    }))
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

/// The request builtin `id` (see [`exists`]) stands for, with its payload parsed.
pub fn request(id: &str, body: Value) -> Result<Request, Error> {
    Ok(match id {
        "state::get" => {
            let Key { scope, key } = payload(id, body)?;
            Request::StateGet { scope, key }
        }
        "state::set" => {
            let SetPayload { scope, key, value, expect } = payload(id, body)?;
            Request::StateSet { scope, key, value, expect }
        }
        "state::update" => {
            let UpdatePayload { scope, key, ops, expect } = payload(id, body)?;
            Request::StateUpdate { scope, key, ops, expect }
        }
        "state::delete" => {
            let DeletePayload { scope, key, expect } = payload(id, body)?;
            Request::StateDelete { scope, key, expect }
        }
        "state::list" => {
            let ListPayload { scope, prefix, after, limit } = payload(id, body)?;
            Request::StateList { scope, prefix, after, limit }
        }
        "state::list_groups" => Request::StateListGroups,
        "stream::send" => {
            let p: SendPayload = payload(id, body)?;
            Request::StreamSend {
                stream: p.stream_name,
                group: p.group_id,
                id: p.id,
                event_type: p.event_type,
                data: p.data,
            }
        }
        "stream::get" => {
            let Item { stream_name, group_id, item_id } = payload(id, body)?;
            Request::ItemGet { stream: stream_name, group: group_id, item: item_id }
        }
        "stream::set" => {
            let p: ItemSet = payload(id, body)?;
            Request::ItemSet {
                stream: p.stream_name,
                group: p.group_id,
                item: p.item_id,
                value: p.value,
            }
        }
        "stream::update" => {
            let p: ItemUpdate = payload(id, body)?;
            Request::ItemUpdate {
                stream: p.stream_name,
                group: p.group_id,
                item: p.item_id,
                ops: p.ops,
            }
        }
        "stream::delete" => {
            let Item { stream_name, group_id, item_id } = payload(id, body)?;
            Request::ItemDelete { stream: stream_name, group: group_id, item: item_id }
        }
        "stream::list" => {
            let Group { stream_name, group_id } = payload(id, body)?;
            Request::ItemList { stream: stream_name, group: group_id }
        }
        other => return Err(Error::not_found(format!("no function {other}"))),
    })
}

/// A builtin's result as JSON: a value or `null`; `{old_value, new_value}` for `set`; the same
/// with `errors` (when some op failed) for `update`; an array for `list`; `{groups}` for
/// `list_groups`; `null` for `send`.
pub fn reply_json(reply: Reply) -> Value {
    match reply {
        Reply::Value(value) => value.unwrap_or(Value::Null),
        Reply::Change(change) => {
            json!({ "old_value": change.old_value, "new_value": change.new_value })
        }
        Reply::Updated(outcome) => {
            let mut result =
                json!({ "old_value": outcome.old_value, "new_value": outcome.new_value });
            if !outcome.errors.is_empty() {
                result["errors"] = json!(outcome.errors);
            }
            result
        }
        Reply::Values(values) => Value::Array(values),
        Reply::Groups(groups) => json!({ "groups": groups }),
        Reply::Done => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_into_its_request() {
        for id in BUILTINS {
            let body = json!({
                "scope": "s", "key": "k", "value": 1, "ops": [],
                "stream_name": "st", "group_id": "g", "item_id": "i", "type": "t",
            });
            assert!(request(id, body).is_ok(), "{id}");
        }
    }

    #[test]
    fn a_write_is_conditional_only_when_its_payload_has_expect_and_null_expects_no_key() {
        let write = |id: &str, extra: Value| {
            let mut body = json!({ "scope": "s", "key": "k", "value": 1, "ops": [] });
            body.as_object_mut()
                .expect("an object")
                .extend(extra.as_object().cloned().unwrap_or_default());
            match request(id, body).expect("parsed") {
                Request::StateSet { expect, .. }
                | Request::StateUpdate { expect, .. }
                | Request::StateDelete { expect, .. } => expect,
                other => panic!("{id} parsed into {other:?}"),
            }
        };
        for id in ["state::set", "state::update", "state::delete"] {
            assert_eq!(write(id, json!({})), None, "{id}");
            assert_eq!(write(id, json!({ "expect": null })), Some(Expect::Absent), "{id}");
            let expect = write(id, json!({ "expect": { "n": 1 } }));
            assert_eq!(expect, Some(Expect::Value(json!({ "n": 1 }))), "{id}");
        }
    }

    #[test]
    fn a_send_accepts_type_or_the_older_event_type() {
        let new = json!({ "stream_name": "s", "group_id": "g", "type": "t" });
        let old = json!({ "stream_name": "s", "group_id": "g", "event_type": "t" });
        assert_eq!(request("stream::send", new).ok(), request("stream::send", old).ok());
    }

    #[test]
    fn a_payload_missing_a_field_is_a_bad_request_naming_the_builtin() {
        let error = request("state::set", json!({ "scope": "s" })).expect_err("refused");
        assert_eq!(error.code, crate::error::ErrorCode::BadRequest);
        assert!(error.message.starts_with("state::set:"), "{}", error.message);
    }

    #[test]
    fn an_update_result_lists_errors_only_when_some_op_failed() {
        let clean = crate::state::UpdateOutcome {
            old_value: None,
            new_value: Some(json!({})),
            errors: vec![],
        };
        assert_eq!(reply_json(Reply::Updated(clean)), json!({"old_value": null, "new_value": {}}));
    }
}
