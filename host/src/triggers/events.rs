//! The events trigger handlers receive, as the WIT world types them: a committed state change
//! or a stream broadcast, converted from the host's own types.

use serde_json::Value;

use crate::runtime::wit;
use crate::state::{ChangeKind, StateChange};
use crate::streams::{StreamChange, StreamEvent};

/// A state change as a `state-event`.
pub fn state_event(change: &StateChange) -> wit::StateEvent {
    wit::StateEvent {
        event_type: match change.kind {
            ChangeKind::Created => wit::ChangeKind::Created,
            ChangeKind::Updated => wit::ChangeKind::Updated,
            ChangeKind::Deleted => wit::ChangeKind::Deleted,
        },
        scope: change.scope.clone(),
        key: change.key.clone(),
        old_value: change.old_value.as_ref().map(Value::to_string),
        new_value: change.new_value.as_ref().map(Value::to_string),
    }
}

/// A stream broadcast as a `stream-event`.
pub fn stream_event(event: &StreamEvent) -> wit::StreamEvent {
    wit::StreamEvent {
        stream_name: event.stream_name.clone(),
        group_id: event.group_id.clone(),
        id: event.id.clone(),
        change: match event.change {
            StreamChange::Create => wit::StreamChange::Create,
            StreamChange::Update => wit::StreamChange::Update,
            StreamChange::Delete => wit::StreamChange::Delete,
            StreamChange::Event => wit::StreamChange::Event,
        },
        event_type: event.event_type.clone(),
        data: event.data.to_string(),
    }
}
