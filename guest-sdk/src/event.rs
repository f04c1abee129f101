//! Why a function runs: the [`Event`] the host hands it, with user data already parsed.
//!
//! The host sends typed WIT records with JSON text inside; the SDK parses that text once, so a
//! handler sees `serde_json::Value`s and typed accessors. [`Event::to_json`] gives the plain
//! JSON shape of any event, the one code written for the iii engine expects.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::bindings::eddy::plugin::types as wit;
use crate::{Error, HttpRequest, Identity, Result};

/// Why a function is being called.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An HTTP request matched one of the function's `http` triggers.
    Http(HttpRequest),
    /// A state change matched one of its `state` triggers.
    State(StateEvent),
    /// An event on a stream group matched one of its `stream` triggers.
    Stream(StreamEvent),
    /// Another function called it through `invoke` with this payload.
    Call(Value),
}

impl Event {
    /// A short name of the event's kind: `http`, `state`, `stream` or `call`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Http(_) => "http",
            Event::State(_) => "state",
            Event::Stream(_) => "stream",
            Event::Call(_) => "call",
        }
    }

    /// The event as plain JSON: see [`HttpRequest::to_json`], [`StateEvent::to_json`] and
    /// [`StreamEvent::to_json`]; a call is its payload.
    pub fn to_json(&self) -> Value {
        match self {
            Event::Http(request) => request.to_json(),
            Event::State(event) => event.to_json(),
            Event::Stream(event) => event.to_json(),
            Event::Call(payload) => payload.clone(),
        }
    }
}

/// The kind of change to a state key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// The key did not exist before.
    Created,
    /// The key existed and was written again.
    Updated,
    /// The key was removed.
    Deleted,
}

impl ChangeKind {
    /// `created`, `updated` or `deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// A committed change to one state key.
#[derive(Debug, Clone, PartialEq)]
pub struct StateEvent {
    /// Whether the key was created, updated or deleted.
    pub kind: ChangeKind,
    /// The scope of the key.
    pub scope: String,
    /// The key.
    pub key: String,
    /// The value before the change; `None` on create.
    pub old_value: Option<Value>,
    /// The value after the change; `None` on delete.
    pub new_value: Option<Value>,
}

impl StateEvent {
    /// The value before the change as `T`; `None` on create.
    pub fn old<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        decode(self.old_value.as_ref(), || format!("the old value of {}/{}", self.scope, self.key))
    }

    /// The value after the change as `T`; `None` on delete.
    #[allow(clippy::new_ret_no_self, reason = "`new` is the new value, not a constructor")]
    pub fn new<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        decode(self.new_value.as_ref(), || format!("the new value of {}/{}", self.scope, self.key))
    }

    /// `state:created`, `state:updated` or `state:deleted`.
    pub fn event_type(&self) -> &'static str {
        match self.kind {
            ChangeKind::Created => "state:created",
            ChangeKind::Updated => "state:updated",
            ChangeKind::Deleted => "state:deleted",
        }
    }

    /// The event as plain JSON: `{type: "state", event_type, scope, key, old_value, new_value}`,
    /// with `null` for a missing value.
    pub fn to_json(&self) -> Value {
        json!({
            "type": "state",
            "event_type": self.event_type(),
            "scope": self.scope,
            "key": self.key,
            "old_value": self.old_value,
            "new_value": self.new_value,
        })
    }
}

/// What happened on a stream group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamChange {
    /// An item was created.
    Create,
    /// An item was changed.
    Update,
    /// An item was deleted.
    Delete,
    /// A custom event was sent with [`stream::send`](crate::stream::send).
    Event,
}

impl StreamChange {
    /// `create`, `update`, `delete` or `event`.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamChange::Create => "create",
            StreamChange::Update => "update",
            StreamChange::Delete => "delete",
            StreamChange::Event => "event",
        }
    }
}

/// Something sent to a stream group.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// The stream's name.
    pub stream_name: String,
    /// The group within the stream.
    pub group_id: String,
    /// The item id, or the id given to `send`.
    pub id: Option<String>,
    /// What happened.
    pub change: StreamChange,
    /// The custom event's type when `change` is [`StreamChange::Event`].
    pub event_type: Option<String>,
    /// The item or the custom event's data.
    pub data: Value,
}

impl StreamEvent {
    /// The data decoded as `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(&self.data).map_err(|e| {
            Error::internal(format!(
                "the data sent to {}/{} does not match: {e}",
                self.stream_name, self.group_id
            ))
        })
    }

    /// The event as plain JSON, shaped like the `event` of a WebSocket frame:
    /// `{type: "stream", stream_name, group_id, id, event}` where `event` is
    /// `{type: "create"|"update"|"delete", data}` for an item change and
    /// `{type: "event", event: {type, data}}` for a custom event.
    pub fn to_json(&self) -> Value {
        let event = match self.change {
            StreamChange::Event => json!({
                "type": "event",
                "event": { "type": self.event_type, "data": self.data },
            }),
            change => json!({ "type": change.as_str(), "data": self.data }),
        };
        json!({
            "type": "stream",
            "stream_name": self.stream_name,
            "group_id": self.group_id,
            "id": self.id,
            "event": event,
        })
    }
}

impl TryFrom<wit::Event> for Event {
    type Error = Error;

    fn try_from(event: wit::Event) -> Result<Self> {
        Ok(match event {
            wit::Event::Http(r) => Event::Http(HttpRequest {
                body: parse(&r.body, "the request body")?,
                identity: match r.identity {
                    Some(identity) => Some(Identity {
                        claims: parse(&identity.claims, "the caller's claims")?,
                        provider: identity.provider,
                        subject: identity.subject,
                        issuer: identity.issuer,
                        expires_at: identity.expires_at,
                    }),
                    None => None,
                },
                method: r.method,
                path: r.path,
                route: r.route,
                path_params: r.path_params,
                query_params: r.query_params,
                headers: r.headers,
            }),
            wit::Event::State(e) => Event::State(StateEvent {
                kind: match e.event_type {
                    wit::ChangeKind::Created => ChangeKind::Created,
                    wit::ChangeKind::Updated => ChangeKind::Updated,
                    wit::ChangeKind::Deleted => ChangeKind::Deleted,
                },
                old_value: parse_opt(e.old_value.as_deref(), "the old value")?,
                new_value: parse_opt(e.new_value.as_deref(), "the new value")?,
                scope: e.scope,
                key: e.key,
            }),
            wit::Event::Stream(e) => Event::Stream(StreamEvent {
                change: match e.change {
                    wit::StreamChange::Create => StreamChange::Create,
                    wit::StreamChange::Update => StreamChange::Update,
                    wit::StreamChange::Delete => StreamChange::Delete,
                    wit::StreamChange::Event => StreamChange::Event,
                },
                data: parse(&e.data, "the stream data")?,
                stream_name: e.stream_name,
                group_id: e.group_id,
                id: e.id,
                event_type: e.event_type,
            }),
            wit::Event::Call(payload) => Event::Call(parse(&payload, "the call payload")?),
        })
    }
}

/// Parses JSON text the host sent. The host only sends valid JSON, so a failure is internal.
pub(crate) fn parse(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::internal(format!("the host sent invalid JSON as {what}: {e}")))
}

/// [`parse`] for an optional value.
pub(crate) fn parse_opt(text: Option<&str>, what: &str) -> Result<Option<Value>> {
    text.map(|t| parse(t, what)).transpose()
}

/// Decodes a value the plugin stored or received as `T`; a mismatch is the plugin's bug.
pub(crate) fn decode<T: DeserializeOwned>(
    value: Option<&Value>,
    what: impl FnOnce() -> String,
) -> Result<Option<T>> {
    value
        .map(T::deserialize)
        .transpose()
        .map_err(|e| Error::internal(format!("{} does not match the expected type: {e}", what())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn state_event(
        kind: ChangeKind,
        old: Option<Value>,
        new: Option<Value>,
    ) -> StateEvent {
        StateEvent { kind, scope: "todos".into(), key: "k1".into(), old_value: old, new_value: new }
    }

    #[test]
    fn a_state_event_becomes_the_iii_state_shape() {
        let created = state_event(ChangeKind::Created, None, Some(json!({"title": "a"})));
        assert_eq!(
            created.to_json(),
            json!({
                "type": "state",
                "event_type": "state:created",
                "scope": "todos",
                "key": "k1",
                "old_value": null,
                "new_value": {"title": "a"},
            })
        );
        let deleted = state_event(ChangeKind::Deleted, Some(json!(1)), None);
        assert_eq!(deleted.to_json()["event_type"], "state:deleted");
        assert_eq!(deleted.to_json()["new_value"], Value::Null);
        assert_eq!(state_event(ChangeKind::Updated, None, None).event_type(), "state:updated");
    }

    #[test]
    fn state_event_values_decode_to_typed_options() {
        let event = state_event(ChangeKind::Updated, Some(json!(1)), Some(json!(2)));
        assert_eq!(event.old::<i32>().unwrap(), Some(1));
        assert_eq!(event.new::<i32>().unwrap(), Some(2));
        let created = state_event(ChangeKind::Created, None, Some(json!("x")));
        assert_eq!(created.old::<String>().unwrap(), None);
        let error = created.new::<i32>().unwrap_err();
        assert_eq!(error.code(), crate::ErrorCode::Internal);
        assert!(error.message().contains("todos/k1"), "{error}");
    }

    #[test]
    fn a_stream_item_change_becomes_a_frame_like_event() {
        let event = StreamEvent {
            stream_name: "chat".into(),
            group_id: "room-1".into(),
            id: Some("m1".into()),
            change: StreamChange::Update,
            event_type: None,
            data: json!({"text": "hi"}),
        };
        assert_eq!(
            event.to_json(),
            json!({
                "type": "stream",
                "stream_name": "chat",
                "group_id": "room-1",
                "id": "m1",
                "event": {"type": "update", "data": {"text": "hi"}},
            })
        );
    }

    #[test]
    fn a_custom_stream_event_nests_its_type_and_data() {
        let event = StreamEvent {
            stream_name: "todos-live".into(),
            group_id: "all".into(),
            id: None,
            change: StreamChange::Event,
            event_type: Some("todo_changed".into()),
            data: json!({"action": "created"}),
        };
        assert_eq!(
            event.to_json()["event"],
            json!({"type": "event", "event": {"type": "todo_changed", "data": {"action": "created"}}})
        );
        assert_eq!(event.to_json()["id"], Value::Null);
    }

    #[test]
    fn a_call_event_is_its_payload() {
        assert_eq!(Event::Call(json!({"a": 1})).to_json(), json!({"a": 1}));
    }

    #[test]
    fn wit_events_are_parsed_once_into_values() {
        let event = Event::try_from(wit::Event::State(wit::StateEvent {
            event_type: wit::ChangeKind::Deleted,
            scope: "todos".into(),
            key: "k".into(),
            old_value: Some(r#"{"completed":true}"#.into()),
            new_value: None,
        }))
        .unwrap();
        let Event::State(state) = event else { panic!("not a state event") };
        assert_eq!(state.kind, ChangeKind::Deleted);
        assert_eq!(state.old_value, Some(json!({"completed": true})));

        let call = Event::try_from(wit::Event::Call("[1,2]".into())).unwrap();
        assert_eq!(call, Event::Call(json!([1, 2])));
    }

    #[test]
    fn invalid_json_from_the_host_is_an_internal_error() {
        let error = Event::try_from(wit::Event::Call("{".into())).unwrap_err();
        assert_eq!(error.code(), crate::ErrorCode::Internal);
    }
}
