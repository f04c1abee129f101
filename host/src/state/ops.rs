//! Update ops: the pure function behind `state::update`. [`apply`] takes the current value of a
//! key and a JSON array of ops and returns the new value plus one [`OpError`] per op that failed.
//! Ops run in order on a working copy; a failing op is skipped without touching the copy, and the
//! ops after it still run. No I/O happens here: the caller runs this inside the storage's
//! read-modify-write, which is what makes an update atomic for its key. What each op does, and
//! the choices made where `docs/state.md` is silent, is documented on [`apply`].

use serde_json::{Map, Number, Value};

use super::error::StateError;
use super::path::{self, Fail, check_segment, kind, lookup, parent_mut, show};

/// The deepest `value` a merge accepts, counting each nested object or array as one level
/// (`{}` is 1, `{"a":{}}` is 2). Stops pathological documents at the door.
pub const MAX_MERGE_DEPTH: usize = 16;

/// One op that failed and was skipped.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OpError {
    /// Position of the op in the `ops` array, from 0.
    pub op_index: u32,
    /// Stable snake_case code a program can branch on: `invalid_op`, `unknown_op`,
    /// `invalid_path`, `forbidden_segment`, `path_too_deep`, `value_too_deep`, `not_an_object`,
    /// `not_a_number`, `not_an_array`, `not_a_string` or `overflow`.
    pub code: String,
    /// What went wrong, for a human.
    pub message: String,
}

/// What `state::update` returns: the value before and after, and the ops that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateOutcome {
    /// The value before the update; `None` when the key did not exist.
    pub old_value: Option<Value>,
    /// The value after the update; `None` when the key was missing and stayed missing.
    pub new_value: Option<Value>,
    /// One entry per skipped op, in op order; empty when every op applied.
    pub errors: Vec<OpError>,
}

/// A failure at op `index`, as the caller sees it.
fn op_error(fail: Fail, index: usize) -> OpError {
    OpError {
        op_index: u32::try_from(index).unwrap_or(u32::MAX),
        code: fail.code.to_owned(),
        message: fail.message,
    }
}

/// Applies `ops` (must be a JSON array, else [`StateError::Invalid`]) to `current` (a missing key
/// starts as `{}`). Returns the new value and the per-op errors.
///
/// The ops:
/// - `{type:"set", path, value}` sets a field; a path of `""` (or `[]`) replaces the whole value.
///   A `null` path is refused (`invalid_path`) rather than read as "replace everything".
/// - `{type:"merge", path?, value}` shallow-merges the object `value` into the object at `path`
///   (the root when absent); missing levels are created. The keys of `value` become field names,
///   so they obey the same forbidden-name rule as path segments; `value` may nest at most
///   [`MAX_MERGE_DEPTH`] levels.
/// - `{type:"increment"|"decrement", path, by}` adds or subtracts the number `by` (required); a
///   missing field starts at 0, and `null` is not a number. Two integers give an integer (checked
///   over the whole i64 and u64 range, overflow is an op error); otherwise the result is a float,
///   which must stay finite.
/// - `{type:"append", path?, value}` pushes `value` onto an array, or concatenates a string
///   `value` onto a string. A missing target becomes `[value]`, except that a missing target with
///   a string `value` becomes that string: this is the "(or the string)" of the spec, read the
///   way the iii engine does it, so chunked text builds up by appending. To collect strings in an
///   array, start the field as `[]`. On a missing key, an append without a path builds the root
///   the same way (`[value]` or the string).
/// - `{type:"remove", path}` deletes a field; a missing field, level or key is fine.
///
/// Every op takes its path as a string (one literal segment, dots included) or an array of
/// segments for nested fields, so `set`, `increment`, `decrement` and `remove` can reach below
/// the first level too. Ops other than `set`/`merge`/`append` need a field, not the root. Unknown
/// fields in an op are ignored.
///
/// When `current` is `None` and no op created anything (every op failed, there were none, or
/// they only removed fields), the value returned is `{}`; [`apply_to_key`] tells that case apart
/// so the key can stay missing.
pub fn apply(current: Option<&Value>, ops: &Value) -> Result<(Value, Vec<OpError>), StateError> {
    let (value, errors) = apply_to_key(current, ops)?;
    Ok((value.unwrap_or_else(|| Value::Object(Map::new())), errors))
}

/// Like [`apply`], but the new value is `None` when the key was missing and no op created it.
/// This is what the state service writes.
pub fn apply_to_key(
    current: Option<&Value>,
    ops: &Value,
) -> Result<(Option<Value>, Vec<OpError>), StateError> {
    let Value::Array(ops) = ops else {
        return Err(StateError::Invalid(format!(
            "ops must be an array of update ops, not {}",
            kind(ops)
        )));
    };
    // `None` until an op needs an object: that is how a missing key stays missing.
    let mut root = current.cloned();
    let mut errors = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        if let Err(fail) = apply_one(&mut root, op) {
            errors.push(op_error(fail, index));
        }
    }
    Ok((root, errors))
}

/// Applies one op. On error, `root` is left exactly as it was.
fn apply_one(root: &mut Option<Value>, op: &Value) -> Result<(), Fail> {
    let Value::Object(fields) = op else {
        return Err(Fail::new(
            "invalid_op",
            format!("an op must be an object with a type, not {}", kind(op)),
        ));
    };
    let op_type = match fields.get("type") {
        Some(Value::String(op_type)) => op_type.as_str(),
        Some(other) => {
            return Err(Fail::new(
                "invalid_op",
                format!("the op type must be a string, not {}", kind(other)),
            ));
        }
        None => return Err(Fail::new("invalid_op", "the op has no type")),
    };
    match op_type {
        "set" => set(root, fields),
        "merge" => merge(root, fields),
        "increment" => add(root, fields, "increment", false),
        "decrement" => add(root, fields, "decrement", true),
        "append" => append(root, fields),
        "remove" => remove(root, fields),
        other => Err(Fail::new(
            "unknown_op",
            format!(
                "unknown op type {:?}; expected set, merge, increment, decrement, append or remove",
                path::clip(other)
            ),
        )),
    }
}

/// A field every op of this type needs.
fn required<'a>(fields: &'a Map<String, Value>, name: &str, op: &str) -> Result<&'a Value, Fail> {
    fields.get(name).ok_or_else(|| Fail::new("invalid_op", format!("{op} needs a {name}")))
}

/// A path that must name a field, not the root.
fn field_path(fields: &Map<String, Value>, op: &str) -> Result<Vec<String>, Fail> {
    let segments = path::parse(Some(required(fields, "path", op)?))?;
    if segments.is_empty() {
        return Err(Fail::new(
            "invalid_path",
            format!("{op} needs a field name as its path, not the root"),
        ));
    }
    Ok(segments)
}

/// The root as an object-holder: a missing key starts as `{}`.
fn materialize(root: &mut Option<Value>) -> &mut Value {
    root.get_or_insert_with(|| Value::Object(Map::new()))
}

fn set(root: &mut Option<Value>, fields: &Map<String, Value>) -> Result<(), Fail> {
    let raw_path = required(fields, "path", "set")?;
    if raw_path.is_null() {
        // A null path is far likelier a bug in the caller than a wish to replace everything.
        return Err(Fail::new(
            "invalid_path",
            "set needs a path; use \"\" to replace the whole value",
        ));
    }
    let segments = path::parse(Some(raw_path))?;
    let value = required(fields, "value", "set")?;
    match segments.split_last() {
        None => *root = Some(value.clone()),
        Some((last, _)) => {
            parent_mut(materialize(root), &segments)?.insert(last.clone(), value.clone());
        }
    }
    Ok(())
}

fn merge(root: &mut Option<Value>, fields: &Map<String, Value>) -> Result<(), Fail> {
    let segments = path::parse(fields.get("path"))?;
    let value = required(fields, "value", "merge")?;
    let Value::Object(patch) = value else {
        return Err(Fail::new(
            "not_an_object",
            format!("merge needs an object value, not {}", kind(value)),
        ));
    };
    for name in patch.keys() {
        check_segment(name)?;
    }
    if deeper_than(value, MAX_MERGE_DEPTH) {
        return Err(Fail::new(
            "value_too_deep",
            format!("the merge value nests deeper than {MAX_MERGE_DEPTH} levels"),
        ));
    }
    let target = match segments.split_last() {
        None => materialize(root),
        Some((last, _)) => parent_mut(materialize(root), &segments)?
            .entry(last.clone())
            .or_insert_with(|| Value::Object(Map::new())),
    };
    match target {
        Value::Object(target) => {
            for (name, field) in patch {
                target.insert(name.clone(), field.clone());
            }
            Ok(())
        }
        other => Err(path::not_an_object(&segments, other)),
    }
}

/// Whether `value` nests more than `limit` objects/arrays deep. Recursion stops at `limit`.
fn deeper_than(value: &Value, limit: usize) -> bool {
    match value {
        Value::Array(items) => limit == 0 || items.iter().any(|v| deeper_than(v, limit - 1)),
        Value::Object(fields) => limit == 0 || fields.values().any(|v| deeper_than(v, limit - 1)),
        _ => false,
    }
}

fn add(
    root: &mut Option<Value>,
    fields: &Map<String, Value>,
    op: &str,
    subtract: bool,
) -> Result<(), Fail> {
    let segments = field_path(fields, op)?;
    let by = match required(fields, "by", op)? {
        Value::Number(by) => by,
        other => {
            return Err(Fail::new(
                "not_a_number",
                format!("{op} needs a number as by, not {}", kind(other)),
            ));
        }
    };
    // Compute first and write last, so a failure leaves the root untouched.
    let current = match root {
        Some(root) => lookup(root, &segments)?,
        None => None,
    };
    let start = match current {
        None => Number::from(0),
        Some(Value::Number(n)) => n.clone(),
        Some(other) => {
            return Err(Fail::new(
                "not_a_number",
                format!("{} is {}, not a number", show(&segments), kind(other)),
            ));
        }
    };
    let result = arithmetic(&start, by, subtract).ok_or_else(|| {
        Fail::new("overflow", format!("{op} of {} by {by} overflows", show(&segments)))
    })?;
    if let Some((last, _)) = segments.split_last() {
        parent_mut(materialize(root), &segments)?.insert(last.clone(), Value::Number(result));
    }
    Ok(())
}

/// `a + b` (or `a - b`): exact for integers (i64 or u64, result must fit one of them), IEEE for
/// anything else (result must be finite). `None` on overflow.
fn arithmetic(a: &Number, b: &Number, subtract: bool) -> Option<Number> {
    fn integer(n: &Number) -> Option<i128> {
        n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
    }
    if let (Some(x), Some(y)) = (integer(a), integer(b)) {
        let sum = if subtract { x.checked_sub(y)? } else { x.checked_add(y)? };
        return i64::try_from(sum)
            .map(Number::from)
            .ok()
            .or_else(|| u64::try_from(sum).ok().map(Number::from));
    }
    let (x, y) = (a.as_f64()?, b.as_f64()?);
    Number::from_f64(if subtract { x - y } else { x + y })
}

fn append(root: &mut Option<Value>, fields: &Map<String, Value>) -> Result<(), Fail> {
    let segments = path::parse(fields.get("path"))?;
    let value = required(fields, "value", "append")?;
    let target = match segments.split_last() {
        None if root.is_none() => {
            *root = Some(fresh(value));
            return Ok(());
        }
        None => materialize(root),
        Some((last, _)) => match parent_mut(materialize(root), &segments)?.entry(last.clone()) {
            serde_json::map::Entry::Vacant(slot) => {
                slot.insert(fresh(value));
                return Ok(());
            }
            serde_json::map::Entry::Occupied(slot) => slot.into_mut(),
        },
    };
    match (target, value) {
        (Value::Array(items), _) => items.push(value.clone()),
        (Value::String(text), Value::String(more)) => text.push_str(more),
        (Value::String(_), other) => {
            return Err(Fail::new(
                "not_a_string",
                format!(
                    "{} is a string, so append needs a string value, not {}",
                    show(&segments),
                    kind(other)
                ),
            ));
        }
        (other, _) => {
            return Err(Fail::new(
                "not_an_array",
                format!(
                    "{} is {}; append needs an array or a string",
                    show(&segments),
                    kind(other)
                ),
            ));
        }
    }
    Ok(())
}

/// What a missing append target becomes: the string itself, or a one-element array.
fn fresh(value: &Value) -> Value {
    match value {
        Value::String(_) => value.clone(),
        other => Value::Array(vec![other.clone()]),
    }
}

fn remove(root: &mut Option<Value>, fields: &Map<String, Value>) -> Result<(), Fail> {
    let segments = field_path(fields, "remove")?;
    let (Some(root), Some((last, _))) = (root.as_mut(), segments.split_last()) else {
        return Ok(()); // a missing key has no field to remove
    };
    if let Some(parent) = path::existing_parent_mut(root, &segments)? {
        parent.shift_remove(last);
    }
    Ok(())
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
