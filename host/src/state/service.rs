//! [`State`], the state service: the one door to state for builtins, HTTP handlers and tests. It
//! checks what callers send (scope and key sizes, the ops array, the 8 MiB value limit), runs
//! writes through the [`Storage`]'s atomic read-modify-write, and turns each committed change
//! into a [`StateChange`] for the `on_change` callback. Writes that change nothing (a set to an
//! equal value, an update whose ops leave the value as it was, a delete of a missing key) write
//! nothing and fire nothing, so a trigger never wakes up for a non-event.

use std::io;
use std::sync::Arc;

use serde_json::Value;

use super::ops::{self, UpdateOutcome};
use super::{Change, ChangeKind, StateChange, StateError, Storage};
use crate::cause::Cause;

/// Longest scope name, in bytes. Scopes are few and named by manifests; 256 is plenty.
pub const MAX_SCOPE_BYTES: usize = 256;

/// Longest key, in bytes. Room for composite keys and ids, not for documents.
pub const MAX_KEY_BYTES: usize = 1024;

/// Largest value, measured as its compact JSON encoding. Bigger values belong in blob storage.
pub const MAX_VALUE_BYTES: usize = 8 * 1024 * 1024;

/// Receives every committed change, in commit order per key.
type OnChange = Arc<dyn Fn(StateChange) + Send + Sync>;

/// The state service: validation + ops + change events over a [`Storage`]. Cheap to clone.
#[derive(Clone)]
pub struct State {
    /// Where values live.
    storage: Arc<dyn Storage>,
    /// Where change events go (the trigger dispatcher). Called under the key's lock.
    on_change: OnChange,
}

impl State {
    /// A service over `storage` that reports every committed change to `on_change`.
    ///
    /// `on_change` runs while the storage holds the key's lock, which is what keeps events in
    /// commit order: it must be quick (push to a queue) and must never call back into state.
    pub fn new(
        storage: Arc<dyn Storage>,
        on_change: Arc<dyn Fn(StateChange) + Send + Sync>,
    ) -> Self {
        State { storage, on_change }
    }

    /// The value of `key` in `scope`, or `None`.
    pub fn get(&self, scope: &str, key: &str) -> Result<Option<Value>, StateError> {
        check_key(scope, key)?;
        self.storage.get(scope, key)
    }

    /// Stores `value` under `key`. Setting a value equal to the stored one writes nothing and
    /// fires nothing, but still returns it as both old and new.
    pub fn set(
        &self,
        scope: &str,
        key: &str,
        value: Value,
        cause: Cause,
    ) -> Result<Change, StateError> {
        check_key(scope, key)?;
        check_size(&value)?;
        let (old_value, new_value) =
            self.storage.write(scope, key, &mut |_| Ok(Some(value.clone())), &mut |old, new| {
                self.emit(scope, key, old, new, cause)
            })?;
        Ok(Change { old_value, new_value })
    }

    /// Applies update `ops` to `key` atomically (see [`ops`] for what each op does). Failed ops
    /// are skipped and listed in the outcome's `errors`. An update that leaves the value as it
    /// was writes nothing and fires nothing; on a missing key, if no op creates anything, the key
    /// stays missing and `new_value` is `None`. A result over [`MAX_VALUE_BYTES`] refuses the
    /// whole update.
    pub fn update(
        &self,
        scope: &str,
        key: &str,
        ops: &Value,
        cause: Cause,
    ) -> Result<UpdateOutcome, StateError> {
        check_key(scope, key)?;
        let mut errors = Vec::new();
        let (old_value, new_value) = self.storage.write(
            scope,
            key,
            &mut |current| {
                let (new, op_errors) = ops::apply_to_key(current, ops)?;
                if let Some(new) = &new {
                    check_size(new)?;
                }
                errors = op_errors;
                Ok(new)
            },
            &mut |old, new| self.emit(scope, key, old, new, cause),
        )?;
        Ok(UpdateOutcome { old_value, new_value, errors })
    }

    /// Removes `key`, returning its old value. Deleting a missing key returns `None` and fires
    /// nothing.
    pub fn delete(
        &self,
        scope: &str,
        key: &str,
        cause: Cause,
    ) -> Result<Option<Value>, StateError> {
        check_key(scope, key)?;
        let (old_value, _) =
            self.storage.write(scope, key, &mut |_| Ok(None), &mut |old, new| {
                self.emit(scope, key, old, new, cause)
            })?;
        Ok(old_value)
    }

    /// The values of `scope` in key order: keys starting with `prefix`, strictly after `after`,
    /// at most `limit` of them.
    pub fn list(
        &self,
        scope: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Value>, StateError> {
        check_scope(scope)?;
        let entries = self.storage.list(scope, prefix, after, limit)?;
        Ok(entries.into_iter().map(|(_, value)| value).collect())
    }

    /// The scopes holding at least one key, sorted.
    pub fn list_groups(&self) -> Result<Vec<String>, StateError> {
        self.storage.list_groups()
    }

    /// Reports one committed write to `on_change`.
    fn emit(&self, scope: &str, key: &str, old: Option<&Value>, new: Option<&Value>, cause: Cause) {
        let Some(kind) = ChangeKind::between(old, new) else {
            return; // the storage never commits a missing -> missing write; nothing to say
        };
        tracing::debug!(scope, key, ?kind, depth = cause.depth, "state changed");
        (self.on_change)(StateChange {
            kind,
            scope: scope.to_owned(),
            key: key.to_owned(),
            old_value: old.cloned(),
            new_value: new.cloned(),
            cause,
        });
    }
}

fn check_scope(scope: &str) -> Result<(), StateError> {
    check_name("scope", scope, MAX_SCOPE_BYTES)
}

fn check_key(scope: &str, key: &str) -> Result<(), StateError> {
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
fn check_size(value: &Value) -> Result<(), StateError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::memory::MemoryStorage;
    use serde_json::json;
    use std::sync::Mutex;

    /// A state over fresh memory storage, and the changes it has reported so far.
    fn state() -> (State, Arc<Mutex<Vec<StateChange>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let on_change = Arc::new(move |change| {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(change);
        });
        (State::new(Arc::new(MemoryStorage::new()), on_change), seen)
    }

    fn taken(seen: &Mutex<Vec<StateChange>>) -> Vec<StateChange> {
        std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn deep(depth: u32) -> Cause {
        Cause { depth }
    }

    fn is_invalid<T: std::fmt::Debug>(result: Result<T, StateError>) -> bool {
        matches!(result, Err(StateError::Invalid(_)))
    }

    #[test]
    fn set_returns_old_and_new_and_reports_a_create_then_an_update() {
        let (state, seen) = state();
        let first = state.set("s", "k", json!(1), Cause::ROOT).expect("valid");
        assert_eq!(first, Change { old_value: None, new_value: Some(json!(1)) });
        let second = state.set("s", "k", json!(2), deep(3)).expect("valid");
        assert_eq!(second, Change { old_value: Some(json!(1)), new_value: Some(json!(2)) });
        let changes = taken(&seen);
        assert_eq!(changes.len(), 2);
        assert_eq!(
            changes[0],
            StateChange {
                kind: ChangeKind::Created,
                scope: "s".to_owned(),
                key: "k".to_owned(),
                old_value: None,
                new_value: Some(json!(1)),
                cause: Cause::ROOT,
            }
        );
        assert_eq!(changes[1].kind, ChangeKind::Updated);
        assert_eq!(
            (changes[1].old_value.clone(), changes[1].new_value.clone()),
            (Some(json!(1)), Some(json!(2)))
        );
        assert_eq!(changes[1].cause, deep(3));
        assert_eq!(state.get("s", "k").ok(), Some(Some(json!(2))));
    }

    #[test]
    fn setting_an_equal_value_fires_nothing() {
        let (state, seen) = state();
        state.set("s", "k", json!({"a": 1}), Cause::ROOT).expect("valid");
        taken(&seen);
        let again = state.set("s", "k", json!({"a": 1}), Cause::ROOT).expect("valid");
        assert_eq!(again.old_value, again.new_value);
        assert!(taken(&seen).is_empty());
    }

    #[test]
    fn update_returns_the_outcome_and_reports_one_change() {
        let (state, seen) = state();
        state.set("s", "k", json!({"n": 1}), Cause::ROOT).expect("valid");
        taken(&seen);
        let ops = json!([
            {"type": "increment", "path": "n", "by": 1},
            {"type": "append", "path": "n", "value": 1},
        ]);
        let outcome = state.update("s", "k", &ops, deep(1)).expect("valid");
        assert_eq!(outcome.old_value, Some(json!({"n": 1})));
        assert_eq!(outcome.new_value, Some(json!({"n": 2})));
        assert_eq!(outcome.errors.len(), 1);
        assert_eq!(
            (outcome.errors[0].op_index, outcome.errors[0].code.as_str()),
            (1, "not_an_array")
        );
        let changes = taken(&seen);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ChangeKind::Updated);
        assert_eq!(changes[0].new_value, Some(json!({"n": 2})));
        assert_eq!(changes[0].cause, deep(1));
    }

    #[test]
    fn update_of_a_missing_key_creates_it() {
        let (state, seen) = state();
        let ops = json!([{"type": "increment", "path": "total", "by": 1}]);
        let outcome = state.update("m", "global", &ops, Cause::ROOT).expect("valid");
        assert_eq!((outcome.old_value, outcome.new_value), (None, Some(json!({"total": 1}))));
        assert_eq!(taken(&seen)[0].kind, ChangeKind::Created);
    }

    #[test]
    fn an_update_that_changes_nothing_fires_nothing() {
        let (state, seen) = state();
        state.set("s", "k", json!({"a": 1}), Cause::ROOT).expect("valid");
        taken(&seen);
        let ops =
            json!([{"type": "set", "path": "a", "value": 1}, {"type": "remove", "path": "zz"}]);
        let outcome = state.update("s", "k", &ops, Cause::ROOT).expect("valid");
        assert_eq!(outcome.old_value, outcome.new_value);
        assert!(taken(&seen).is_empty());
    }

    #[test]
    fn an_update_of_a_missing_key_whose_ops_all_fail_leaves_it_missing() {
        let (state, seen) = state();
        let ops = json!([{"type": "increment", "path": "n", "by": "x"}]);
        let outcome = state.update("s", "k", &ops, Cause::ROOT).expect("valid");
        assert_eq!((outcome.old_value, outcome.new_value), (None, None));
        assert_eq!(outcome.errors.len(), 1);
        assert_eq!(state.get("s", "k").ok(), Some(None));
        assert_eq!(state.list_groups().ok(), Some(vec![]));
        assert!(taken(&seen).is_empty());
    }

    #[test]
    fn update_with_ops_that_are_not_an_array_is_invalid() {
        let (state, seen) = state();
        assert!(is_invalid(state.update("s", "k", &json!({"type": "set"}), Cause::ROOT)));
        assert!(taken(&seen).is_empty());
    }

    #[test]
    fn delete_returns_the_old_value_and_reports_a_delete_once() {
        let (state, seen) = state();
        state.set("s", "k", json!("v"), Cause::ROOT).expect("valid");
        taken(&seen);
        assert_eq!(state.delete("s", "k", deep(2)).ok(), Some(Some(json!("v"))));
        let changes = taken(&seen);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ChangeKind::Deleted);
        assert_eq!(
            (changes[0].old_value.clone(), changes[0].new_value.clone()),
            (Some(json!("v")), None)
        );
        assert_eq!(changes[0].cause, deep(2));
        assert_eq!(state.get("s", "k").ok(), Some(None));
    }

    #[test]
    fn deleting_a_missing_key_returns_none_and_fires_nothing() {
        let (state, seen) = state();
        assert_eq!(state.delete("s", "nope", Cause::ROOT).ok(), Some(None));
        assert!(taken(&seen).is_empty());
    }

    #[test]
    fn list_returns_values_in_key_order_with_prefix_after_and_limit() {
        let (state, _) = state();
        for key in ["user:2", "admin:1", "user:1", "user:3"] {
            state.set("s", key, json!(key), Cause::ROOT).expect("valid");
        }
        let list = |prefix, after, limit| state.list("s", prefix, after, limit).expect("valid");
        assert_eq!(
            list(None, None, None),
            [json!("admin:1"), json!("user:1"), json!("user:2"), json!("user:3")]
        );
        assert_eq!(
            list(Some("user:"), None, None),
            [json!("user:1"), json!("user:2"), json!("user:3")]
        );
        assert_eq!(list(Some("user:"), Some("user:1"), None), [json!("user:2"), json!("user:3")]);
        assert_eq!(list(None, None, Some(2)), [json!("admin:1"), json!("user:1")]);
        assert_eq!(list(Some("user:"), Some("user:1"), Some(1)), [json!("user:2")]);
        assert_eq!(list(None, None, Some(0)), Vec::<Value>::new());
        assert_eq!(state.list("empty", None, None, None).ok(), Some(vec![]));
    }

    #[test]
    fn list_groups_is_sorted_and_forgets_emptied_scopes() {
        let (state, _) = state();
        for scope in ["zeta", "alpha", "mid"] {
            state.set(scope, "k", json!(1), Cause::ROOT).expect("valid");
        }
        state.set("alpha", "k2", json!(1), Cause::ROOT).expect("valid");
        state.delete("mid", "k", Cause::ROOT).expect("valid");
        state.delete("alpha", "k", Cause::ROOT).expect("valid");
        assert_eq!(state.list_groups().ok(), Some(vec!["alpha".to_owned(), "zeta".to_owned()]));
    }

    #[test]
    fn empty_or_oversized_scopes_and_keys_are_invalid() {
        let (state, _) = state();
        let long_scope = "s".repeat(MAX_SCOPE_BYTES + 1);
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(is_invalid(state.get("", "k")));
        assert!(is_invalid(state.get("s", "")));
        assert!(is_invalid(state.set(&long_scope, "k", json!(1), Cause::ROOT)));
        assert!(is_invalid(state.update("s", &long_key, &json!([]), Cause::ROOT)));
        assert!(is_invalid(state.delete("", "k", Cause::ROOT)));
        assert!(is_invalid(state.list("", None, None, None)));
        let at_limit = state.set(
            &"s".repeat(MAX_SCOPE_BYTES),
            &"k".repeat(MAX_KEY_BYTES),
            json!(1),
            Cause::ROOT,
        );
        assert!(at_limit.is_ok());
    }

    #[test]
    fn scope_errors_say_what_is_wrong() {
        let (state, _) = state();
        let message = state.get("", "k").err().map(|e| e.to_string());
        assert_eq!(message.as_deref(), Some("scope must not be empty"));
        let message = state.get("s", &"k".repeat(2000)).err().map(|e| e.to_string());
        assert_eq!(message.as_deref(), Some("key is 2000 bytes long; the limit is 1024"));
    }

    #[test]
    fn a_value_over_8_mib_is_refused_and_one_at_the_limit_is_kept() {
        let (state, seen) = state();
        // A JSON string encodes as its text plus two quotes.
        let at_limit = json!("x".repeat(MAX_VALUE_BYTES - 2));
        assert!(state.set("s", "k", at_limit, Cause::ROOT).is_ok());
        let over = json!("x".repeat(MAX_VALUE_BYTES - 1));
        assert!(is_invalid(state.set("s", "big", over, Cause::ROOT)));
        assert_eq!(state.get("s", "big").ok(), Some(None));
        assert_eq!(taken(&seen).len(), 1);
    }

    #[test]
    fn an_update_that_would_grow_past_8_mib_is_refused_whole() {
        let (state, seen) = state();
        state
            .set("s", "k", json!({"t": "x".repeat(MAX_VALUE_BYTES - 100)}), Cause::ROOT)
            .expect("valid");
        taken(&seen);
        let ops = json!([
            {"type": "increment", "path": "n", "by": 1},
            {"type": "append", "path": "t", "value": "y".repeat(200)},
        ]);
        assert!(is_invalid(state.update("s", "k", &ops, Cause::ROOT)));
        let stored = state.get("s", "k").ok().flatten();
        assert_eq!(stored.as_ref().and_then(|v| v.get("n")), None);
        assert!(taken(&seen).is_empty());
    }

    #[test]
    fn concurrent_updates_of_one_key_are_not_lost_and_events_follow_commit_order() {
        let (state, seen) = state();
        let ops = json!([{"type": "increment", "path": "n", "by": 1}]);
        std::thread::scope(|threads| {
            for _ in 0..8 {
                threads.spawn(|| {
                    for _ in 0..50 {
                        state.update("s", "k", &ops, Cause::ROOT).expect("valid");
                    }
                });
            }
        });
        assert_eq!(state.get("s", "k").ok(), Some(Some(json!({"n": 400}))));
        let counts: Vec<Option<i64>> = taken(&seen)
            .iter()
            .map(|change| change.new_value.as_ref().and_then(|v| v["n"].as_i64()))
            .collect();
        let expected: Vec<Option<i64>> = (1..=400).map(Some).collect();
        assert_eq!(counts, expected);
    }
}
