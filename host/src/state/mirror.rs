//! The in-memory copy of all committed state: every scope a sorted map of keys to values. Reads
//! are served from it (a lock and a map lookup, no I/O); only the writer thread changes it, and
//! only after a batch is durable, so a reader never sees a write that could still be lost.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde_json::Value;

/// Scope name → (key → value). A scope exists only while it holds a key, so listing groups is
/// listing the outer map.
#[derive(Debug, Default)]
pub struct Mirror {
    scopes: BTreeMap<String, BTreeMap<String, Value>>,
}

impl Mirror {
    pub fn get(&self, scope: &str, key: &str) -> Option<&Value> {
        self.scopes.get(scope).and_then(|keys| keys.get(key))
    }

    /// Every `(scope, key, value)`.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, &Value)> {
        self.scopes.iter().flat_map(|(scope, keys)| {
            keys.iter().map(move |(key, value)| (scope.as_str(), key.as_str(), value))
        })
    }

    /// Writes (`Some`) or deletes (`None`) one key.
    pub fn put(&mut self, scope: &str, key: &str, value: Option<Value>) {
        match value {
            Some(value) => {
                self.scopes.entry(scope.to_owned()).or_default().insert(key.to_owned(), value);
            }
            None => {
                if let Some(keys) = self.scopes.get_mut(scope) {
                    keys.remove(key);
                    if keys.is_empty() {
                        self.scopes.remove(scope);
                    }
                }
            }
        }
    }

    /// `(key, value)` pairs of `scope` in key order: keys starting with `prefix`, strictly after
    /// `after`, at most `limit`.
    pub fn list(
        &self,
        scope: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Vec<(String, Value)> {
        let Some(keys) = self.scopes.get(scope) else {
            return Vec::new();
        };
        let prefix = prefix.unwrap_or("");
        // Start at whichever comes later: the first key with the prefix, or just after `after`.
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        keys.range::<str, _>((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(limit.unwrap_or(usize::MAX))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    /// Scopes holding at least one key, sorted.
    pub fn groups(&self) -> Vec<String> {
        self.scopes.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mirror(keys: &[&str]) -> Mirror {
        let mut mirror = Mirror::default();
        for key in keys {
            mirror.put("s", key, Some(json!(key)));
        }
        mirror
    }

    fn keys(
        mirror: &Mirror,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Vec<String> {
        mirror.list("s", prefix, after, limit).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn list_returns_keys_in_order_filtered_by_prefix_after_and_limit() {
        let m = mirror(&["b2", "a", "b1", "c", "b3"]);
        assert_eq!(keys(&m, None, None, None), ["a", "b1", "b2", "b3", "c"]);
        assert_eq!(keys(&m, Some("b"), None, None), ["b1", "b2", "b3"]);
        assert_eq!(keys(&m, Some("b"), Some("b1"), None), ["b2", "b3"]);
        assert_eq!(keys(&m, Some("b"), Some("a"), Some(2)), ["b1", "b2"]);
        assert_eq!(keys(&m, None, Some("b3"), None), ["c"]);
        assert!(keys(&m, Some("z"), None, None).is_empty());
    }

    #[test]
    fn a_scope_disappears_from_the_groups_when_its_last_key_is_deleted() {
        let mut m = mirror(&["a"]);
        m.put("t", "x", Some(json!(1)));
        assert_eq!(m.groups(), ["s", "t"]);
        m.put("s", "a", None);
        assert_eq!(m.groups(), ["t"]);
        assert_eq!(m.get("s", "a"), None);
    }
}
