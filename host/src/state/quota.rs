//! [`Quota`]: how many bytes the embedded store may hold, in all and per scope (`[quota]` in
//! `eddy.toml`, `docs/state.md`), so a runaway plugin is refused with a clear error before the
//! disk is full. An entry counts the bytes of its scope, its key and its value's JSON text. The
//! writer thread owns the count: it adds a round's changes once the round commits, and refuses a
//! write (a whole transaction) that would take a total past its limit. A write that frees
//! space (a delete, a smaller value) is never refused, so a full quota can always be emptied.

use std::collections::HashMap;

use serde_json::Value;

use super::error::StateError;

/// The limits, from the host's settings. None anywhere: no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Bytes all scopes together may hold.
    pub max_bytes: Option<u64>,
    /// Bytes one scope may hold, by scope.
    pub scopes: HashMap<String, u64>,
}

impl QuotaLimits {
    fn is_off(&self) -> bool {
        self.max_bytes.is_none() && self.scopes.is_empty()
    }
}

/// One write's change in bytes: `(scope, bytes after - bytes before)`.
pub(super) type Delta = (String, i64);

/// The limits and what the store holds now.
#[derive(Debug, Default)]
pub(super) struct Quota {
    limits: QuotaLimits,
    total: u64,
    by_scope: HashMap<String, u64>,
}

impl Quota {
    /// `limits` over a store holding `entries`.
    pub(super) fn new<'a>(
        limits: QuotaLimits,
        entries: impl Iterator<Item = (&'a str, &'a str, &'a Value)>,
    ) -> Quota {
        let mut quota = Quota { limits, ..Quota::default() };
        if quota.limits.is_off() {
            return quota;
        }
        for (scope, key, value) in entries {
            let size = entry_size(scope, key, Some(value)) as u64;
            quota.total += size;
            *quota.by_scope.entry(scope.to_owned()).or_default() += size;
        }
        quota
    }

    /// The change in bytes of writing `new` over `old` at `scope`/`key`; none without limits.
    pub(super) fn delta(
        &self,
        scope: &str,
        key: &str,
        old: Option<&Value>,
        new: Option<&Value>,
    ) -> Option<Delta> {
        if self.limits.is_off() {
            return None;
        }
        let change = entry_size(scope, key, new) as i64 - entry_size(scope, key, old) as i64;
        Some((scope.to_owned(), change))
    }

    /// Refuses `writes` (one request's) if, after the round's earlier `staged` changes, they
    /// would take the total or a scope past its limit.
    pub(super) fn check(&self, staged: &[Delta], writes: &[Delta]) -> Result<(), StateError> {
        if writes.iter().all(|(_, d)| *d <= 0) {
            return Ok(());
        }
        let after = |filter: &dyn Fn(&str) -> bool, now: u64| {
            let change: i64 =
                staged.iter().chain(writes).filter(|(s, _)| filter(s)).map(|(_, d)| d).sum();
            now.saturating_add_signed(change)
        };
        if let Some(max) = self.limits.max_bytes {
            let total = after(&|_| true, self.total);
            let grows = writes.iter().map(|(_, d)| d).sum::<i64>() > 0;
            if grows && total > max {
                return Err(StateError::Quota(format!(
                    "the state quota is full: this write would make the store hold {total} \
                     bytes, over its limit of {max} ([quota] max_bytes); delete data or raise \
                     the limit"
                )));
            }
        }
        for (scope, _) in writes {
            let Some(&max) = self.limits.scopes.get(scope) else { continue };
            let grows: i64 = writes.iter().filter(|(s, _)| s == scope).map(|(_, d)| d).sum();
            let now = self.by_scope.get(scope).copied().unwrap_or(0);
            let held = after(&|s| s == scope, now);
            if grows > 0 && held > max {
                return Err(StateError::Quota(format!(
                    "scope {scope} is full: this write would make it hold {held} bytes, over \
                     its limit of {max} ([quota.scopes] {scope}); delete data or raise the limit"
                )));
            }
        }
        Ok(())
    }

    /// Counts a committed round's changes.
    pub(super) fn add(&mut self, changes: Vec<Delta>) {
        for (scope, change) in changes {
            self.total = self.total.saturating_add_signed(change);
            let held = self.by_scope.entry(scope).or_default();
            *held = held.saturating_add_signed(change);
        }
    }
}

/// The bytes an entry counts: scope, key and the value's JSON text (none: 0).
fn entry_size(scope: &str, key: &str, value: Option<&Value>) -> usize {
    let Some(value) = value else { return 0 };
    let mut counter = Counter(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    scope.len() + key.len() + counter.0
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn quota(max: Option<u64>, scopes: &[(&str, u64)]) -> Quota {
        let scopes = scopes.iter().map(|(s, n)| (s.to_string(), *n)).collect();
        let value = json!("12345678");
        let entries = [("a", "k1", &value), ("b", "k1", &value)];
        Quota::new(QuotaLimits { max_bytes: max, scopes }, entries.into_iter())
    }

    #[test]
    fn an_entry_counts_its_scope_key_and_json_text() {
        let q = quota(Some(1000), &[]);
        // "a" + "k1" + "\"12345678\"" = 1 + 2 + 10.
        assert_eq!(q.total, 26);
        assert_eq!(q.delta("a", "k1", None, Some(&json!([1, 2]))), Some(("a".into(), 8)));
        assert_eq!(quota(None, &[]).delta("a", "k", None, Some(&json!(1))), None);
    }

    #[test]
    fn growth_past_a_limit_is_refused_and_shrinking_never_is() {
        let q = quota(Some(40), &[("a", 20)]);
        let grow = |scope: &str, n: i64| vec![(scope.to_string(), n)];
        assert!(q.check(&[], &grow("b", 14)).is_ok(), "26 + 14 = 40: at the limit");
        let over = q.check(&[], &grow("b", 15)).unwrap_err();
        assert!(matches!(&over, StateError::Quota(m) if m.contains("max_bytes")), "{over}");
        let scope = q.check(&[], &grow("a", 8)).unwrap_err();
        assert!(matches!(&scope, StateError::Quota(m) if m.contains("scope a")), "{scope}");
        assert!(q.check(&grow("b", 14), &grow("b", 1)).is_err(), "the round's writes count");
        let mut full = quota(Some(10), &[("a", 5)]);
        assert!(full.check(&[], &grow("a", -13)).is_ok(), "a delete frees space");
        full.add(grow("a", -13));
        assert_eq!((full.total, full.by_scope["a"]), (13, 0));
    }
}
