//! The in-memory storage engine: every scope is a sorted map of keys to values, all behind one
//! std `Mutex`. It is what tests and `--memory` runs use; nothing survives a restart. One lock
//! for the whole store keeps the code obvious, and it is enough because every critical section is
//! a map lookup plus a pure update; the lock is never held across an `.await`.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use super::{StateError, Storage};

/// Scope name -> (key -> value). A scope exists only while it holds a key, so listing groups is
/// listing the outer map.
type Scopes = BTreeMap<String, BTreeMap<String, Value>>;

/// A [`Storage`] that keeps everything in a `BTreeMap` in memory.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    /// All data. Keys iterate in order, which is what `list` promises.
    scopes: Mutex<Scopes>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lock, even if a previous holder panicked: a panic can come only from an `on_commit`
    /// callback, which runs after the map is fully updated, so the data is never half-written.
    fn scopes(&self) -> MutexGuard<'_, Scopes> {
        self.scopes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Storage for MemoryStorage {
    fn get(&self, scope: &str, key: &str) -> Result<Option<Value>, StateError> {
        Ok(self.scopes().get(scope).and_then(|keys| keys.get(key)).cloned())
    }

    fn write(
        &self,
        scope: &str,
        key: &str,
        f: &mut dyn FnMut(Option<&Value>) -> Result<Option<Value>, StateError>,
        on_commit: &mut dyn FnMut(Option<&Value>, Option<&Value>),
    ) -> Result<(Option<Value>, Option<Value>), StateError> {
        let mut scopes = self.scopes();
        let current = scopes.get(scope).and_then(|keys| keys.get(key));
        let new = f(current)?;
        if new.as_ref() == current {
            return Ok((current.cloned(), new));
        }
        let old = match &new {
            Some(value) => {
                scopes.entry(scope.to_owned()).or_default().insert(key.to_owned(), value.clone())
            }
            None => {
                let keys = scopes.get_mut(scope);
                let old = keys.and_then(|keys| keys.remove(key));
                if scopes.get(scope).is_some_and(BTreeMap::is_empty) {
                    scopes.remove(scope);
                }
                old
            }
        };
        on_commit(old.as_ref(), new.as_ref());
        Ok((old, new))
    }

    fn list(
        &self,
        scope: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<(String, Value)>, StateError> {
        let scopes = self.scopes();
        let Some(keys) = scopes.get(scope) else {
            return Ok(Vec::new());
        };
        let prefix = prefix.unwrap_or("");
        // Start at whichever comes later: the first key with the prefix, or just after `after`.
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        Ok(keys
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(limit.unwrap_or(usize::MAX))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }

    fn list_groups(&self) -> Result<Vec<String>, StateError> {
        Ok(self.scopes().keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Writes `value` (or deletes) and returns how many times `on_commit` ran.
    fn put(store: &MemoryStorage, scope: &str, key: &str, value: Option<Value>) -> usize {
        let mut commits = 0;
        store
            .write(scope, key, &mut |_| Ok(value.clone()), &mut |_, _| commits += 1)
            .expect("memory writes do not fail");
        commits
    }

    fn keys(store: &MemoryStorage, prefix: Option<&str>, after: Option<&str>) -> Vec<String> {
        let listed = store.list("s", prefix, after, None).expect("memory lists do not fail");
        listed.into_iter().map(|(key, _)| key).collect()
    }

    #[test]
    fn a_written_value_reads_back() {
        let store = MemoryStorage::new();
        put(&store, "s", "k", Some(json!({"a": 1})));
        assert_eq!(store.get("s", "k").ok(), Some(Some(json!({"a": 1}))));
        assert_eq!(store.get("s", "other").ok(), Some(None));
        assert_eq!(store.get("other", "k").ok(), Some(None));
    }

    #[test]
    fn write_returns_old_and_new_and_commits_only_real_changes() {
        let store = MemoryStorage::new();
        assert_eq!(put(&store, "s", "k", Some(json!(1))), 1);
        assert_eq!(put(&store, "s", "k", Some(json!(1))), 0);
        assert_eq!(put(&store, "s", "k", None), 1);
        assert_eq!(put(&store, "s", "k", None), 0);
        let written = store.write("s", "k", &mut |_| Ok(Some(json!(2))), &mut |_, _| {});
        assert_eq!(written.ok(), Some((None, Some(json!(2)))));
    }

    #[test]
    fn on_commit_sees_the_old_and_new_value() {
        let store = MemoryStorage::new();
        put(&store, "s", "k", Some(json!(1)));
        let mut seen = Vec::new();
        let mut record = |old: Option<&Value>, new: Option<&Value>| {
            seen.push((old.cloned(), new.cloned()));
        };
        let _ = store.write("s", "k", &mut |_| Ok(Some(json!(2))), &mut record);
        assert_eq!(seen, vec![(Some(json!(1)), Some(json!(2)))]);
    }

    #[test]
    fn an_error_from_the_update_function_aborts_the_write() {
        let store = MemoryStorage::new();
        put(&store, "s", "k", Some(json!(1)));
        let mut fail = |_: Option<&Value>| Err(StateError::Invalid("no".to_owned()));
        let result = store.write("s", "k", &mut fail, &mut |_, _| panic!("no commit"));
        assert!(matches!(result, Err(StateError::Invalid(_))));
        assert_eq!(store.get("s", "k").ok(), Some(Some(json!(1))));
    }

    #[test]
    fn list_returns_keys_in_order_filtered_by_prefix_after_and_limit() {
        let store = MemoryStorage::new();
        for key in ["b2", "a1", "b1", "c1", "b3"] {
            put(&store, "s", key, Some(json!(key)));
        }
        assert_eq!(keys(&store, None, None), ["a1", "b1", "b2", "b3", "c1"]);
        assert_eq!(keys(&store, Some("b"), None), ["b1", "b2", "b3"]);
        assert_eq!(keys(&store, Some("b"), Some("b1")), ["b2", "b3"]);
        assert_eq!(keys(&store, Some("b"), Some("a9")), ["b1", "b2", "b3"]);
        assert_eq!(keys(&store, Some("b"), Some("b9")), Vec::<String>::new());
        assert_eq!(keys(&store, None, Some("b3")), ["c1"]);
        let limited = store.list("s", None, Some("a1"), Some(2));
        let values: Vec<Value> = limited.unwrap_or_default().into_iter().map(|(_, v)| v).collect();
        assert_eq!(values, [json!("b1"), json!("b2")]);
        assert_eq!(store.list("nope", None, None, None).ok(), Some(vec![]));
    }

    #[test]
    fn a_scope_disappears_from_the_groups_when_its_last_key_is_deleted() {
        let store = MemoryStorage::new();
        put(&store, "b", "k", Some(json!(1)));
        put(&store, "a", "k", Some(json!(1)));
        assert_eq!(store.list_groups().ok(), Some(vec!["a".to_owned(), "b".to_owned()]));
        put(&store, "a", "k", None);
        assert_eq!(store.list_groups().ok(), Some(vec!["b".to_owned()]));
    }

    #[test]
    fn a_panicking_commit_callback_leaves_the_store_usable() {
        let store = std::sync::Arc::new(MemoryStorage::new());
        let clone = store.clone();
        let joined = std::thread::spawn(move || {
            let _ = clone.write("s", "k", &mut |_| Ok(Some(json!(1))), &mut |_, _| panic!("boom"));
        })
        .join();
        assert!(joined.is_err());
        assert_eq!(store.get("s", "k").ok(), Some(Some(json!(1))));
        assert_eq!(put(&store, "s", "k", Some(json!(2))), 1);
    }
}
