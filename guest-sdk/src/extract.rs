//! Handler arguments: [`FromEvent`] turns the [`Event`] into what the handler asks for.
//!
//! A handler takes no argument or one argument of a type that implements [`FromEvent`]:
//!
//! | argument | what it gets | on another kind of event |
//! |---|---|---|
//! | [`Event`] | the event itself | — |
//! | [`HttpRequest`] | the request | `bad-request` |
//! | [`Identity`] | the caller of an HTTP request | `unauthorized` without one, `bad-request` for other events |
//! | [`StateEvent`] | the state change | `bad-request` |
//! | [`StreamEvent`] | the stream event | `bad-request` |
//! | [`serde_json::Value`] | [`Event::to_json`]: the iii-shaped JSON of any event | — |
//! | [`Json<T>`] | the call payload or the HTTP body as `T`; for state and stream events, their JSON | — |

use std::ops::{Deref, DerefMut};

use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::{Error, Event, HttpRequest, Identity, Result, StateEvent, StreamEvent};

/// A type a handler can take as its argument, built from the event that fired it.
pub trait FromEvent: Sized {
    /// Builds the argument, or fails the call with the returned error.
    fn from_event(event: Event) -> Result<Self>;
}

impl FromEvent for Event {
    fn from_event(event: Event) -> Result<Self> {
        Ok(event)
    }
}

impl FromEvent for HttpRequest {
    fn from_event(event: Event) -> Result<Self> {
        match event {
            Event::Http(request) => Ok(request),
            other => Err(wrong_kind("an HTTP request", &other)),
        }
    }
}

impl FromEvent for Identity {
    fn from_event(event: Event) -> Result<Self> {
        let request = HttpRequest::from_event(event)?;
        match request.identity {
            Some(identity) => Ok(identity),
            None => Err(crate::request::signed_out()),
        }
    }
}

impl FromEvent for StateEvent {
    fn from_event(event: Event) -> Result<Self> {
        match event {
            Event::State(change) => Ok(change),
            other => Err(wrong_kind("a state event", &other)),
        }
    }
}

impl FromEvent for StreamEvent {
    fn from_event(event: Event) -> Result<Self> {
        match event {
            Event::Stream(event) => Ok(event),
            other => Err(wrong_kind("a stream event", &other)),
        }
    }
}

impl FromEvent for Value {
    fn from_event(event: Event) -> Result<Self> {
        Ok(match event {
            Event::Call(payload) => payload,
            other => other.to_json(),
        })
    }
}

/// Typed JSON, both ways.
///
/// As an argument, `Json<T>` is the call payload or the HTTP request body decoded as `T`
/// (a mismatch is a `bad-request` error); for a state or stream event it is the event's JSON
/// ([`Event::to_json`]). As a return value it is serialised like `T`; any `Serialize` value
/// can be returned without it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The wrapped value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: DeserializeOwned> FromEvent for Json<T> {
    fn from_event(event: Event) -> Result<Self> {
        let (value, what) = match event {
            Event::Http(request) => (request.body, "request body"),
            Event::Call(payload) => (payload, "payload"),
            other => (other.to_json(), "event"),
        };
        T::deserialize(value)
            .map(Json)
            .map_err(|e| Error::bad_request(format!("invalid {what}: {e}")))
    }
}

impl<T: Serialize> Serialize for Json<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

fn wrong_kind(expected: &str, got: &Event) -> Error {
    Error::bad_request(format!("this function takes {expected}, not a {} event", got.kind()))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::ErrorCode;
    use crate::event::ChangeKind;
    use crate::event::tests::state_event;
    use crate::request::tests::request;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Toggle {
        id: String,
    }

    #[test]
    fn json_takes_the_http_body() {
        let event = Event::Http(request("POST", json!({"id": "a"})));
        assert_eq!(Json::<Toggle>::from_event(event).unwrap().0, Toggle { id: "a".into() });
    }

    #[test]
    fn json_takes_the_call_payload() {
        let event = Event::Call(json!({"id": "b"}));
        assert_eq!(Json::<Toggle>::from_event(event).unwrap().into_inner().id, "b");
    }

    #[test]
    fn json_of_the_wrong_shape_is_a_bad_request() {
        let error = Json::<Toggle>::from_event(Event::Call(json!({"nope": 1}))).unwrap_err();
        assert_eq!(error.code(), ErrorCode::BadRequest);
        assert!(error.message().contains("missing field `id`"), "{error}");
    }

    #[test]
    fn json_of_a_state_event_decodes_its_iii_shape() {
        #[derive(Deserialize)]
        struct Shape {
            event_type: String,
            key: String,
        }
        let event = Event::State(state_event(ChangeKind::Created, None, Some(json!(1))));
        let Json(shape) = Json::<Shape>::from_event(event).unwrap();
        assert_eq!((shape.event_type.as_str(), shape.key.as_str()), ("state:created", "k1"));
    }

    #[test]
    fn a_value_argument_is_the_iii_json_of_any_event() {
        let http = Value::from_event(Event::Http(request("GET", Value::Null))).unwrap();
        assert_eq!(http["route"], "/todos/:id");
        let state = Value::from_event(Event::State(state_event(ChangeKind::Deleted, None, None)));
        assert_eq!(state.unwrap()["type"], "state");
        assert_eq!(Value::from_event(Event::Call(json!(5))).unwrap(), json!(5));
    }

    #[test]
    fn typed_extractors_reject_other_kinds_of_event() {
        let error = HttpRequest::from_event(Event::Call(Value::Null)).unwrap_err();
        assert_eq!(error.code(), ErrorCode::BadRequest);
        assert_eq!(error.message(), "this function takes an HTTP request, not a call event");
        assert!(StateEvent::from_event(Event::Call(Value::Null)).is_err());
        assert!(StreamEvent::from_event(Event::Call(Value::Null)).is_err());
        assert!(
            StateEvent::from_event(Event::State(state_event(ChangeKind::Created, None, None)))
                .is_ok()
        );
    }

    #[test]
    fn json_serialises_like_what_it_wraps() {
        assert_eq!(serde_json::to_value(Json(vec![1, 2])).unwrap(), json!([1, 2]));
    }
}
