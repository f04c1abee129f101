//! [`Expect`]: the condition of a conditional write (`set-if`, `update-if`, `delete-if` in the
//! WIT; `expect` in the builtins' payloads). The writer thread checks it against the key's value
//! at the moment the write applies, in the same step that applies it, so a read-modify-write
//! that expects the value it read either lands on that value or fails with a conflict and
//! changes nothing: two of them racing on one key never both win.

use serde_json::Value;

use super::error::StateError;

/// What a conditional write expects its key to hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// The key does not exist.
    Absent,
    /// The key holds this value. Compared as JSON values: the order of an object's members and
    /// the spelling of a number (`1`, `1.0`, `1e0`) do not matter, so a value that went through
    /// another language's JSON and back still matches.
    Value(Value),
}

impl Expect {
    /// Whether a key whose value is `current` (`None`: missing) meets the expectation.
    pub fn holds(&self, current: Option<&Value>) -> bool {
        match (self, current) {
            (Expect::Absent, current) => current.is_none(),
            (Expect::Value(_), None) => false,
            (Expect::Value(expected), Some(current)) => same(expected, current),
        }
    }

    /// `Ok` when `current` meets the expectation, else the conflict the caller sees, which
    /// says how the key differs (never its value).
    pub fn check(&self, scope: &str, key: &str, current: Option<&Value>) -> Result<(), StateError> {
        if self.holds(current) {
            return Ok(());
        }
        let found = match (self, current) {
            (Expect::Absent, _) => "exists already",
            (Expect::Value(_), None) => "does not exist",
            (Expect::Value(_), Some(_)) => "does not hold the expected value",
        };
        Err(StateError::Conflict(format!(
            "{scope}/{key} {found}: it changed since it was read; read it again and retry"
        )))
    }
}

/// JSON equality: objects regardless of member order, numbers by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => {
            match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
                (Some(a), Some(b), _, _) => a == b,
                (_, _, Some(a), Some(b)) => a == b,
                _ => a.as_f64().zip(b.as_f64()).is_some_and(|(a, b)| a == b),
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(name, a)| b.get(name).is_some_and(|b| same(a, b)))
        }
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn value(text: &str) -> Value {
        serde_json::from_str(text).expect("JSON")
    }

    #[test]
    fn absent_holds_only_for_a_missing_key() {
        assert!(Expect::Absent.holds(None));
        assert!(!Expect::Absent.holds(Some(&json!(null))));
        assert!(!Expect::Absent.holds(Some(&json!({}))));
    }

    #[test]
    fn a_value_holds_for_an_equal_value_only() {
        let expect = Expect::Value(json!({"completed": false}));
        assert!(expect.holds(Some(&json!({"completed": false}))));
        assert!(!expect.holds(Some(&json!({"completed": true}))));
        assert!(!expect.holds(Some(&json!({"completed": false, "x": 1}))));
        assert!(!expect.holds(None));
        assert!(!Expect::Value(json!(null)).holds(None), "a stored null is not a missing key");
    }

    #[test]
    fn member_order_and_number_spelling_do_not_matter() {
        let stored = value(r#"{"a": 1.0, "b": [2, {"c": 3e0}], "d": -4}"#);
        let read_back = value(r#"{"d": -4.0, "b": [2.0, {"c": 3}], "a": 1}"#);
        assert!(Expect::Value(read_back).holds(Some(&stored)));
        assert!(!Expect::Value(json!([1, 2])).holds(Some(&json!([2, 1]))));
        assert!(!Expect::Value(json!(1)).holds(Some(&json!("1"))));
        assert!(Expect::Value(json!(u64::MAX)).holds(Some(&json!(u64::MAX))));
        assert!(!Expect::Value(json!(u64::MAX)).holds(Some(&json!(u64::MAX - 1))));
    }

    #[test]
    fn a_conflict_says_how_the_key_differs_without_its_value() {
        let secret = json!({"password": "hunter2"});
        let conflict =
            |expect: Expect, current: Option<&Value>| match expect.check("s", "k", current) {
                Err(StateError::Conflict(message)) => message,
                other => panic!("expected a conflict, got {other:?}"),
            };
        assert!(conflict(Expect::Absent, Some(&secret)).starts_with("s/k exists already"));
        assert!(conflict(Expect::Value(json!(1)), None).starts_with("s/k does not exist"));
        let changed = conflict(Expect::Value(json!(1)), Some(&secret));
        assert!(changed.starts_with("s/k does not hold the expected value"), "{changed}");
        assert!(!changed.contains("hunter2"));
        assert!(Expect::Value(secret.clone()).check("s", "k", Some(&secret)).is_ok());
    }
}
