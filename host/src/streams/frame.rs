//! The wire format of stream sockets: the JSON frames the host sends (a `stream` frame carrying a
//! sync, an item change or an event, and the `error` frame) and the `join`/`leave` messages a
//! client sends. Frames are serialized once per broadcast into [`Utf8Bytes`], which every
//! subscriber's queue then shares without copying.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// What a `stream` frame carries: the `event` field of the frame.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum FrameEvent<'a> {
    /// The group's current items (or the one item a subscription names), sent on join.
    Sync { data: &'a Value },
    /// An item that did not exist was set.
    Create { data: &'a Value },
    /// An existing item changed; `data` is its new value.
    Update { data: &'a Value },
    /// An item was deleted; `data` is its old value.
    Delete { data: &'a Value },
    /// A `stream::send` event.
    Event { event: SentEvent<'a> },
}

/// The payload of a `stream::send`, nested in an `event` frame.
#[derive(Debug, Serialize)]
pub(crate) struct SentEvent<'a> {
    /// The event type the sender chose (`type`, or `event_type` from older clients).
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// The sender's data, untouched.
    pub data: &'a Value,
}

/// `{"type":"stream","timestamp","streamName","groupId","id","seq","epoch","event"}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: u64,
    stream_name: &'a str,
    group_id: &'a str,
    id: Option<&'a str>,
    seq: u64,
    epoch: &'a str,
    event: &'a FrameEvent<'a>,
}

/// Serializes a `stream` frame stamped with the current time.
pub(crate) fn stream_frame(
    stream_name: &str,
    group_id: &str,
    id: Option<&str>,
    seq: u64,
    epoch: &str,
    event: &FrameEvent<'_>,
) -> Utf8Bytes {
    to_text(&StreamFrame {
        kind: "stream",
        timestamp: crate::clock::now_ms(),
        stream_name,
        group_id,
        id,
        seq,
        epoch,
        event,
    })
}

/// Serializes `{"type":"error","error":{"code","message"}}`, the answer to a message the host
/// could not act on. The socket stays open after it.
pub(crate) fn error_frame(code: &str, message: &str) -> Utf8Bytes {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        code: &'a str,
        message: &'a str,
    }
    #[derive(Serialize)]
    struct ErrorFrame<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        error: ErrorBody<'a>,
    }
    to_text(&ErrorFrame { kind: "error", error: ErrorBody { code, message } })
}

/// Serializes `{"type":"pong","data":D}`, the answer to a `ping` carrying `data`.
pub(crate) fn pong_frame(data: &Value) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Pong<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        data: &'a Value,
    }
    to_text(&Pong { kind: "pong", data })
}

fn to_text(frame: &impl Serialize) -> Utf8Bytes {
    // Serializing these structs cannot fail: every map key is a string and `Value` always
    // serializes. Fall back to an empty object rather than panic on a host path.
    serde_json::to_string(frame).unwrap_or_else(|_| String::from("{}")).into()
}

/// A message a client sends on its socket.
#[derive(Debug, PartialEq)]
pub(crate) enum ClientMessage {
    /// Subscribe to a group (or to one item or event id of it).
    Join(Join),
    /// Drop the subscription with this id.
    Leave { subscription_id: String },
    /// Authenticate the socket with a token, or refresh its token before it expires.
    Auth { token: String },
    /// A heartbeat: answered with a `pong` frame carrying the same `data`, queued behind the
    /// frames before it, so a client that gets it knows the whole path works.
    Ping { data: Value },
}

/// The `data` of a `join` message.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Join {
    /// The client's name for this subscription, which `leave` refers to.
    #[serde(alias = "subscription_id")]
    pub subscription_id: String,
    #[serde(alias = "stream_name")]
    pub stream_name: String,
    #[serde(alias = "group_id")]
    pub group_id: String,
    /// Only frames about this item or event id, when present.
    #[serde(default)]
    pub id: Option<String>,
    /// The last seq the client saw. Anything that is not a whole number (a negative, a string
    /// of garbage) means "I don't know", which earns a sync rather than an error.
    #[serde(default, deserialize_with = "since")]
    pub since: Option<u64>,
    /// The `epoch` of the frame whose seq `since` is: a `since` is only good in the epoch that
    /// numbered it. Anything but a string means "unknown".
    #[serde(default, deserialize_with = "epoch")]
    pub epoch: Option<String>,
}

fn epoch<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

fn since<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// The `data` of a `leave` message; the rest of it (stream and group names) is ignored because a
/// subscription id names the subscription on its own.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Leave {
    #[serde(alias = "subscription_id")]
    subscription_id: String,
}

/// The `data` of an `auth` message. Its errors never quote it: it holds a token.
#[derive(Deserialize)]
struct Auth {
    token: String,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Value,
}

/// Parses one text message from a client. The error is the message of a `bad_request` frame.
pub(crate) fn parse_client_message(text: &str) -> Result<ClientMessage, String> {
    let envelope: Envelope = serde_json::from_str(text)
        .map_err(|e| format!("expected {{\"type\":\"join\"|\"leave\",\"data\":{{..}}}}: {e}"))?;
    match envelope.kind.as_str() {
        "join" => serde_json::from_value(envelope.data)
            .map(ClientMessage::Join)
            .map_err(|e| format!("bad join: {e}")),
        "leave" => serde_json::from_value::<Leave>(envelope.data)
            .map(|leave| ClientMessage::Leave { subscription_id: leave.subscription_id })
            .map_err(|e| format!("bad leave: {e}")),
        "auth" => serde_json::from_value::<Auth>(envelope.data)
            .map(|auth| ClientMessage::Auth { token: auth.token })
            .map_err(|_| "bad auth: expected {\"token\": TOKEN}".to_string()),
        "ping" => Ok(ClientMessage::Ping { data: envelope.data }),
        other => Err(format!(
            "unknown message type {other:?}; expected \"join\", \"leave\", \"auth\" or \"ping\""
        )),
    }
}

/// What a client subscribes to: the subscription a socket opens on
/// `/stream/{stream}/{group}?since=N`, or one a `join` message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The stream to subscribe to.
    pub stream_name: String,
    /// The group within the stream.
    pub group_id: String,
    /// Only frames whose id is this item or event id, when present.
    pub id: Option<String>,
    /// The last seq the client saw: it gets the frames after it from the replay window, or a
    /// sync when they are gone. `None` (or an unparsable `since`) means a sync.
    pub since: Option<u64>,
    /// The epoch `since` belongs to (from the same frame). A `since` of another epoch, or
    /// without one, gets a sync: its numbers say nothing about this epoch's frames.
    pub epoch: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &Utf8Bytes) -> Value {
        serde_json::from_str(text.as_str()).expect("frames are JSON")
    }

    #[test]
    fn a_stream_frame_has_exactly_the_documented_fields() {
        let data = json!({"a": 1});
        let frame =
            parse(&stream_frame("s", "g", Some("i"), 7, "e1", &FrameEvent::Update { data: &data }));
        let keys: Vec<&str> = frame.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let documented =
            ["type", "timestamp", "streamName", "groupId", "id", "seq", "epoch", "event"];
        assert_eq!(keys, documented);
        assert_eq!(frame["type"], "stream");
        assert!(frame["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
        assert_eq!(frame["streamName"], "s");
        assert_eq!(frame["groupId"], "g");
        assert_eq!(frame["id"], "i");
        assert_eq!(frame["seq"], 7);
        assert_eq!(frame["epoch"], "e1");
        assert_eq!(frame["event"], json!({"type": "update", "data": {"a": 1}}));
    }

    #[test]
    fn an_event_frame_nests_the_sent_type_and_data_and_a_missing_id_is_null() {
        let data = json!([1, 2]);
        let event = FrameEvent::Event { event: SentEvent { kind: "ping", data: &data } };
        let frame = parse(&stream_frame("s", "g", None, 1, "e1", &event));
        assert_eq!(frame["id"], Value::Null);
        assert_eq!(
            frame["event"],
            json!({"type": "event", "event": {"type": "ping", "data": [1, 2]}})
        );
    }

    #[test]
    fn sync_create_and_delete_events_carry_their_data() {
        let data = json!({"x": true});
        for (event, name) in [
            (FrameEvent::Sync { data: &data }, "sync"),
            (FrameEvent::Create { data: &data }, "create"),
            (FrameEvent::Delete { data: &data }, "delete"),
        ] {
            let frame = parse(&stream_frame("s", "g", None, 0, "e1", &event));
            assert_eq!(frame["event"], json!({"type": name, "data": {"x": true}}));
        }
    }

    #[test]
    fn an_error_frame_has_a_code_and_a_message() {
        let frame = parse(&error_frame("bad_request", "nope"));
        assert_eq!(
            frame,
            json!({"type": "error", "error": {"code": "bad_request", "message": "nope"}})
        );
    }

    #[test]
    fn a_join_parses_with_camel_case_or_snake_case_fields() {
        let camel = r#"{"type":"join","data":{"subscriptionId":"a","streamName":"s","groupId":"g","id":"i","since":4,"epoch":"e1"}}"#;
        let snake = r#"{"type":"join","data":{"subscription_id":"a","stream_name":"s","group_id":"g","id":"i","since":"4"}}"#;
        let expected = ClientMessage::Join(Join {
            subscription_id: "a".into(),
            stream_name: "s".into(),
            group_id: "g".into(),
            id: Some("i".into()),
            since: Some(4),
            epoch: Some("e1".into()),
        });
        assert_eq!(parse_client_message(camel), Ok(expected));
        let ClientMessage::Join(join) = parse_client_message(snake).unwrap() else {
            panic!("not a join")
        };
        assert_eq!((join.since, join.epoch), (Some(4), None));
    }

    #[test]
    fn a_garbage_since_means_unknown_rather_than_an_error() {
        for since in [r#"-1"#, r#""x""#, "1.5", "null", "{}"] {
            let text = format!(
                r#"{{"type":"join","data":{{"subscriptionId":"a","streamName":"s","groupId":"g","since":{since}}}}}"#
            );
            let ClientMessage::Join(join) = parse_client_message(&text).unwrap() else {
                panic!("not a join")
            };
            assert_eq!(join.since, None, "since = {since}");
        }
    }

    #[test]
    fn a_ping_is_answered_with_its_data() {
        let ping = parse_client_message(r#"{"type":"ping","data":{"n":7}}"#).unwrap();
        assert_eq!(ping, ClientMessage::Ping { data: json!({"n": 7}) });
        let ClientMessage::Ping { data } = ping else { unreachable!() };
        let pong: Value = serde_json::from_str(pong_frame(&data).as_str()).unwrap();
        assert_eq!(pong, json!({"type": "pong", "data": {"n": 7}}));
        let bare = parse_client_message(r#"{"type":"ping"}"#).unwrap();
        assert_eq!(bare, ClientMessage::Ping { data: Value::Null });
    }

    #[test]
    fn a_leave_needs_only_its_subscription_id() {
        let text =
            r#"{"type":"leave","data":{"subscriptionId":"a","streamName":"s","groupId":"g"}}"#;
        assert_eq!(
            parse_client_message(text),
            Ok(ClientMessage::Leave { subscription_id: "a".into() })
        );
    }

    #[test]
    fn malformed_messages_are_rejected_with_a_readable_reason() {
        for text in [
            "not json",
            r#"{"data":{}}"#,
            r#"{"type":"join"}"#,
            r#"{"type":"join","data":{"streamName":"s","groupId":"g"}}"#,
            r#"{"type":"leave","data":{}}"#,
            r#"{"type":"subscribe","data":{}}"#,
        ] {
            let error = parse_client_message(text).unwrap_err();
            assert!(!error.is_empty(), "{text}");
        }
        assert!(
            parse_client_message(r#"{"type":"nope"}"#)
                .unwrap_err()
                .contains("unknown message type")
        );
    }
}
