//! Update ops for [`state::update`](crate::state::update) and
//! [`stream::update`](crate::stream::update), and what a write returns.
//!
//! Ops apply in order, atomically for the key; a missing key starts as `{}`. Paths are literal
//! field names (a dot is part of the name). An op that fails is skipped and reported in
//! [`UpdateResult::errors`]; the others still apply.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Number, Value};

use crate::Result;
use crate::bindings::eddy::plugin::types as wit;
use crate::event::{decode, parse_opt};

/// One update op. Build it with the constructors ([`Op::increment`], [`Op::merge`], ...); it
/// serialises to the JSON the host expects, e.g. `{"type":"increment","path":"total","by":1}`.
///
/// Values are `serde_json::Value`s: pass anything that converts (`true`, `"text"`, `7`,
/// `json!({...})`), or `serde_json::to_value(&my_struct)?`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Op {
    /// Sets a first-level field; the path `""` replaces the whole value.
    Set {
        /// The field name.
        path: String,
        /// The new value.
        value: Value,
    },
    /// Shallow-merges an object into the value, or into the object at a nested path (missing
    /// levels are created).
    Merge {
        /// The segments of the nested path; `None` merges at the root.
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<Vec<String>>,
        /// The object to merge.
        value: Value,
    },
    /// Adds to a number; a missing field starts at 0.
    Increment {
        /// The field name.
        path: String,
        /// How much to add.
        by: Number,
    },
    /// Subtracts from a number; a missing field starts at 0.
    Decrement {
        /// The field name.
        path: String,
        /// How much to subtract.
        by: Number,
    },
    /// Pushes onto an array or concatenates onto a string; a missing target becomes `[value]`
    /// (or the string).
    Append {
        /// The field name; `None` appends to the value itself.
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// What to append.
        value: Value,
    },
    /// Deletes a first-level field.
    Remove {
        /// The field name.
        path: String,
    },
}

impl Op {
    /// Sets the field `path` to `value` (`path` `""` replaces the whole value).
    pub fn set(path: impl Into<String>, value: impl Into<Value>) -> Op {
        Op::Set { path: path.into(), value: value.into() }
    }

    /// Shallow-merges the object `value` into the value.
    pub fn merge(value: impl Into<Value>) -> Op {
        Op::Merge { path: None, value: value.into() }
    }

    /// Shallow-merges the object `value` into the object at the nested path `segments`.
    pub fn merge_at<S: Into<String>>(
        segments: impl IntoIterator<Item = S>,
        value: impl Into<Value>,
    ) -> Op {
        Op::Merge {
            path: Some(segments.into_iter().map(Into::into).collect()),
            value: value.into(),
        }
    }

    /// Adds `by` to the number at `path`. For a fractional `by`, build
    /// [`Op::Increment`] with `Number::from_f64`.
    pub fn increment(path: impl Into<String>, by: impl Into<Number>) -> Op {
        Op::Increment { path: path.into(), by: by.into() }
    }

    /// Subtracts `by` from the number at `path`.
    pub fn decrement(path: impl Into<String>, by: impl Into<Number>) -> Op {
        Op::Decrement { path: path.into(), by: by.into() }
    }

    /// Appends `value` to the array or string at `path`.
    pub fn append(path: impl Into<String>, value: impl Into<Value>) -> Op {
        Op::Append { path: Some(path.into()), value: value.into() }
    }

    /// Appends `value` to the value itself, which must be an array or a string.
    pub fn append_root(value: impl Into<Value>) -> Op {
        Op::Append { path: None, value: value.into() }
    }

    /// Deletes the field `path`.
    pub fn remove(path: impl Into<String>) -> Op {
        Op::Remove { path: path.into() }
    }
}

/// The result of writing a key: its value before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The value before; `None` if the key was new.
    pub old_value: Option<Value>,
    /// The value after; `None` if it was removed.
    pub new_value: Option<Value>,
}

impl Change {
    /// The value before, as `T`.
    pub fn old<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        decode(self.old_value.as_ref(), || "the old value".into())
    }

    /// The value after, as `T`.
    #[allow(clippy::new_ret_no_self, reason = "`new` is the new value, not a constructor")]
    pub fn new<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        decode(self.new_value.as_ref(), || "the new value".into())
    }
}

/// The result of an update: the value before and after, and the ops that were skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateResult {
    /// The value before; `None` if the key was new.
    pub old_value: Option<Value>,
    /// The value after.
    pub new_value: Option<Value>,
    /// The ops that failed and were skipped; empty when all applied.
    pub errors: Vec<OpError>,
}

impl UpdateResult {
    /// The value after, as `T`.
    pub fn new_as<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        decode(self.new_value.as_ref(), || "the updated value".into())
    }
}

/// An op that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// The op's position in the list, from 0.
    pub op_index: u32,
    /// A stable machine-readable code, e.g. `not_a_number`.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl TryFrom<wit::Change> for Change {
    type Error = crate::Error;

    fn try_from(change: wit::Change) -> Result<Self> {
        Ok(Change {
            old_value: parse_opt(change.old_value.as_deref(), "the old value")?,
            new_value: parse_opt(change.new_value.as_deref(), "the new value")?,
        })
    }
}

impl TryFrom<wit::UpdateResult> for UpdateResult {
    type Error = crate::Error;

    fn try_from(result: wit::UpdateResult) -> Result<Self> {
        Ok(UpdateResult {
            old_value: parse_opt(result.old_value.as_deref(), "the old value")?,
            new_value: parse_opt(result.new_value.as_deref(), "the new value")?,
            errors: result
                .errors
                .into_iter()
                .map(|e| OpError { op_index: e.op_index, code: e.code, message: e.message })
                .collect(),
        })
    }
}

/// The ops as the JSON array the host takes.
pub(crate) fn ops_json(ops: &[Op]) -> String {
    serde_json::to_string(ops).expect("ops hold only JSON values and strings")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn json_of(op: Op) -> Value {
        serde_json::to_value(op).unwrap()
    }

    #[test]
    fn increment_serialises_to_the_spec_shape() {
        assert_eq!(
            ops_json(&[Op::increment("total", 1)]),
            r#"[{"type":"increment","path":"total","by":1}]"#
        );
    }

    #[test]
    fn every_op_serialises_to_its_spec_json() {
        assert_eq!(
            json_of(Op::set("title", "milk")),
            json!({"type": "set", "path": "title", "value": "milk"})
        );
        assert_eq!(
            json_of(Op::set("", json!({"a": 1}))),
            json!({"type": "set", "path": "", "value": {"a": 1}})
        );
        assert_eq!(
            json_of(Op::merge(json!({"a": 1}))),
            json!({"type": "merge", "value": {"a": 1}})
        );
        assert_eq!(
            json_of(Op::merge_at(["profile", "address"], json!({"city": "Oslo"}))),
            json!({"type": "merge", "path": ["profile", "address"], "value": {"city": "Oslo"}})
        );
        assert_eq!(
            json_of(Op::decrement("completed", 2u8)),
            json!({"type": "decrement", "path": "completed", "by": 2})
        );
        assert_eq!(
            json_of(Op::append("tags", "new")),
            json!({"type": "append", "path": "tags", "value": "new"})
        );
        assert_eq!(json_of(Op::append_root(3)), json!({"type": "append", "value": 3}));
        assert_eq!(json_of(Op::remove("draft")), json!({"type": "remove", "path": "draft"}));
    }

    #[test]
    fn negative_and_fractional_amounts_keep_their_sign_and_fraction() {
        assert_eq!(json_of(Op::increment("t", -3i64))["by"], json!(-3));
        let half = Op::Increment { path: "t".into(), by: Number::from_f64(0.5).unwrap() };
        assert_eq!(json_of(half)["by"], json!(0.5));
    }

    #[test]
    fn paths_are_literal_so_dots_stay_in_the_name() {
        assert_eq!(json_of(Op::set("a.b", 1))["path"], "a.b");
    }

    #[test]
    fn update_results_parse_values_and_keep_op_errors() {
        let result = UpdateResult::try_from(wit::UpdateResult {
            old_value: None,
            new_value: Some(r#"{"total":1}"#.into()),
            errors: vec![wit::OpError {
                op_index: 1,
                code: "not_a_number".into(),
                message: "m".into(),
            }],
        })
        .unwrap();
        assert_eq!(result.new_value, Some(json!({"total": 1})));
        assert_eq!(result.errors[0].op_index, 1);
        assert_eq!(result.errors[0].code, "not_a_number");
    }

    #[test]
    fn changes_decode_to_typed_values() {
        let change = Change::try_from(wit::Change {
            old_value: Some("1".into()),
            new_value: Some("2".into()),
        })
        .unwrap();
        assert_eq!(change.old::<u8>().unwrap(), Some(1));
        assert_eq!(change.new::<u8>().unwrap(), Some(2));
    }
}
