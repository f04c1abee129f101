//! What a write did: [`ChangeKind`] and the committed [`StateChange`] that state triggers
//! receive, and the [`Change`] a `set` returns.

use serde_json::{Value, json};

use crate::cause::Cause;

/// What a committed write did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The key did not exist and now does.
    Created,
    /// The key existed and its value changed.
    Updated,
    /// The key existed and is gone.
    Deleted,
}

impl ChangeKind {
    /// The kind of a write from `old` to `new`; `None` when neither exists (nothing happened).
    pub fn between(old: Option<&Value>, new: Option<&Value>) -> Option<ChangeKind> {
        match (old, new) {
            (None, Some(_)) => Some(ChangeKind::Created),
            (Some(_), Some(_)) => Some(ChangeKind::Updated),
            (Some(_), None) => Some(ChangeKind::Deleted),
            (None, None) => None,
        }
    }

    /// The `event_type` of a state trigger event: `state:created`, `state:updated` or
    /// `state:deleted`.
    pub fn event_type(self) -> &'static str {
        match self {
            ChangeKind::Created => "state:created",
            ChangeKind::Updated => "state:updated",
            ChangeKind::Deleted => "state:deleted",
        }
    }
}

/// A committed change to one key; what state triggers receive.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StateChange {
    /// Created, updated or deleted.
    pub kind: ChangeKind,
    /// The scope of the key.
    pub scope: String,
    /// The key that changed.
    pub key: String,
    /// The value before the write; `None` on create.
    pub old_value: Option<Value>,
    /// The value after the write; `None` on delete.
    pub new_value: Option<Value>,
    /// The write's place in a trigger cascade, so the dispatcher can stop runaway loops.
    pub cause: Cause,
}

impl StateChange {
    /// The event state triggers receive (`docs/triggers.md`): `{type:"state", event_type:"state:created"|"state:updated"|
    /// "state:deleted", scope, key, old_value, new_value}`, with `null` for a missing value
    /// (`new_value` on delete, `old_value` on create).
    pub fn to_json(&self) -> Value {
        json!({
            "type": "state",
            "event_type": self.kind.event_type(),
            "scope": self.scope,
            "key": self.key,
            "old_value": self.old_value,
            "new_value": self.new_value,
        })
    }
}

/// How many lanes the trigger dispatcher spreads state events over (`triggers/`): the events
/// of one key always share a lane. Part of the shared store's schema, so every host agrees.
pub const LANES: u32 = 64;

/// A hash of a key that every host computes alike, whatever its build: FNV-1a over the scope,
/// a separator and the key, then a final mix so every bit depends on every input byte. It
/// names a key's lock in the shared store and picks its lane.
pub fn key_hash(scope: &str, key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in scope.bytes().chain([0xff]).chain(key.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finaliser.
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The trigger lane of a key's events: one of [`LANES`].
pub fn lane(scope: &str, key: &str) -> u32 {
    (key_hash(scope, key) % u64::from(LANES)) as u32
}

/// What `state::set` returns: `{old_value, new_value}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The value before the write; `None` when the key did not exist.
    pub old_value: Option<Value>,
    /// The value after the write.
    pub new_value: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: ChangeKind, old: Option<Value>, new: Option<Value>) -> StateChange {
        StateChange {
            kind,
            scope: "todos".to_owned(),
            key: "t1".to_owned(),
            old_value: old,
            new_value: new,
            cause: Cause::ROOT,
        }
    }

    #[test]
    fn a_created_event_has_a_null_old_value() {
        let event = change(ChangeKind::Created, None, Some(json!({"a": 1}))).to_json();
        assert_eq!(
            event,
            json!({"type": "state", "event_type": "state:created", "scope": "todos",
                   "key": "t1", "old_value": null, "new_value": {"a": 1}})
        );
    }

    #[test]
    fn an_updated_event_carries_both_values() {
        let event = change(ChangeKind::Updated, Some(json!(1)), Some(json!(2))).to_json();
        assert_eq!(event["event_type"], "state:updated");
        assert_eq!((&event["old_value"], &event["new_value"]), (&json!(1), &json!(2)));
    }

    #[test]
    fn a_deleted_event_has_a_null_new_value() {
        let event = change(ChangeKind::Deleted, Some(json!("x")), None).to_json();
        assert_eq!(event["event_type"], "state:deleted");
        assert_eq!((&event["old_value"], &event["new_value"]), (&json!("x"), &Value::Null));
    }

    #[test]
    fn event_fields_come_in_the_documented_order() {
        let event = change(ChangeKind::Created, None, Some(json!(1))).to_json();
        let names: Vec<&String> = event.as_object().map(|m| m.keys().collect()).unwrap_or_default();
        assert_eq!(names, ["type", "event_type", "scope", "key", "old_value", "new_value"]);
    }

    #[test]
    fn the_kind_of_a_write_follows_from_which_sides_exist() {
        let v = json!(1);
        assert_eq!(ChangeKind::between(None, Some(&v)), Some(ChangeKind::Created));
        assert_eq!(ChangeKind::between(Some(&v), Some(&v)), Some(ChangeKind::Updated));
        assert_eq!(ChangeKind::between(Some(&v), None), Some(ChangeKind::Deleted));
        assert_eq!(ChangeKind::between(None, None), None);
    }

    #[test]
    fn a_key_hash_is_fixed_forever_and_spreads_keys_over_every_lane() {
        // Hosts of different builds must agree: these values may never change.
        assert_eq!(key_hash("todos", "t1"), key_hash("todos", "t1"));
        assert_ne!(key_hash("ab", "c"), key_hash("a", "bc"));
        assert_eq!(key_hash("todos", "t1"), 0xd022_f18c_3afa_2464);
        let mut seen = [0u32; LANES as usize];
        for i in 0..6400 {
            seen[lane("todos", &format!("key-{i}")) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (50..150).contains(&n)), "{seen:?}");
    }

    #[test]
    fn change_kinds_serialize_in_snake_case() {
        assert_eq!(serde_json::to_value(ChangeKind::Created).ok(), Some(json!("created")));
    }
}
