//! Paths into a stored JSON value, as update ops name them. A path is either a string, which is
//! one literal segment (a dot is part of the name, `""` means the root), or an array of segments
//! leading down through nested objects (`[]` means the root). This module parses paths, enforces
//! the segment rules (no `__proto__`/`constructor`/`prototype`, at most [`MAX_PATH_DEPTH`]
//! segments) and walks a value along them. Walking never half-applies: a walk fails only on an
//! existing non-object, and every level it creates lies below the last existing one.

use serde_json::{Map, Value};

/// An op failure before it learns its index: the code and the message. Most failures are
/// about a path, so they are made here.
#[derive(Debug)]
pub struct Fail {
    /// The `code` of the op error.
    pub code: &'static str,
    /// The `message` of the op error.
    pub message: String,
}

impl Fail {
    /// A failure with a code and a message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Fail { code, message: message.into() }
    }
}

/// The deepest path an op may name. Deeper paths are a mistake or an attack, never a data model.
pub const MAX_PATH_DEPTH: usize = 32;

/// Segments refused anywhere in a path: they are harmless to this host, but plugins written in
/// JavaScript would turn them into prototype pollution when they read the value back.
pub const FORBIDDEN_SEGMENTS: [&str; 3] = ["__proto__", "constructor", "prototype"];

/// Longest slice of a guest-chosen name echoed back in an error message.
const SHOWN_CHARS: usize = 64;

/// Parses the `path` of an op; `None` (absent) and `null` both mean the root.
pub fn parse(raw: Option<&Value>) -> Result<Vec<String>, Fail> {
    let segments = match raw {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => {
            if items.len() > MAX_PATH_DEPTH {
                return Err(Fail::new(
                    "path_too_deep",
                    format!("path has {} segments; the limit is {MAX_PATH_DEPTH}", items.len()),
                ));
            }
            let mut segments = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) if !s.is_empty() => segments.push(s.clone()),
                    Value::String(_) => {
                        return Err(Fail::new(
                            "invalid_path",
                            format!("path segment {i} is empty"),
                        ));
                    }
                    other => {
                        return Err(Fail::new(
                            "invalid_path",
                            format!("path segment {i} is {}, not a string", kind(other)),
                        ));
                    }
                }
            }
            segments
        }
        Some(other) => {
            return Err(Fail::new(
                "invalid_path",
                format!("path must be a string or an array of strings, not {}", kind(other)),
            ));
        }
    };
    for segment in &segments {
        check_segment(segment)?;
    }
    Ok(segments)
}

/// Refuses a forbidden field name, whether it comes from a path or from the keys of a merge.
pub fn check_segment(segment: &str) -> Result<(), Fail> {
    if FORBIDDEN_SEGMENTS.contains(&segment) {
        return Err(Fail::new(
            "forbidden_segment",
            format!("{segment:?} is not allowed as a field name"),
        ));
    }
    Ok(())
}

/// The value at `path` under `root`: `Ok(None)` when a level is missing, an error when a
/// non-object stands where a level should be.
pub fn lookup<'a>(root: &'a Value, path: &[String]) -> Result<Option<&'a Value>, Fail> {
    let mut current = root;
    for (depth, segment) in path.iter().enumerate() {
        match current {
            Value::Object(fields) => match fields.get(segment) {
                Some(next) => current = next,
                None => return Ok(None),
            },
            other => return Err(not_an_object(&path[..depth], other)),
        }
    }
    Ok(Some(current))
}

/// The object holding the last segment of `path` (which must not be empty), creating missing
/// levels as empty objects.
pub fn parent_mut<'a>(
    root: &'a mut Value,
    path: &[String],
) -> Result<&'a mut Map<String, Value>, Fail> {
    let (_, parents) = path
        .split_last()
        .ok_or_else(|| Fail::new("invalid_path", "this op needs a field, not the root"))?;
    let mut current = root;
    for (depth, segment) in parents.iter().enumerate() {
        current = match current {
            Value::Object(fields) => {
                fields.entry(segment.clone()).or_insert_with(|| Value::Object(Map::new()))
            }
            other => return Err(not_an_object(&path[..depth], other)),
        };
    }
    match current {
        Value::Object(fields) => Ok(fields),
        other => Err(not_an_object(parents, other)),
    }
}

/// The object holding the last segment of `path` (which must not be empty) if every level
/// exists, without creating anything.
pub fn existing_parent_mut<'a>(
    root: &'a mut Value,
    path: &[String],
) -> Result<Option<&'a mut Map<String, Value>>, Fail> {
    let (_, parents) = path
        .split_last()
        .ok_or_else(|| Fail::new("invalid_path", "this op needs a field, not the root"))?;
    let mut current = root;
    for (depth, segment) in parents.iter().enumerate() {
        current = match current {
            Value::Object(fields) => match fields.get_mut(segment) {
                Some(next) => next,
                None => return Ok(None),
            },
            other => return Err(not_an_object(&path[..depth], other)),
        };
    }
    match current {
        Value::Object(fields) => Ok(Some(fields)),
        other => Err(not_an_object(parents, other)),
    }
}

/// The error for a non-object found at `at` where an object was needed.
pub fn not_an_object(at: &[String], found: &Value) -> Fail {
    Fail::new("not_an_object", format!("{} is {}, not an object", show(at), kind(found)))
}

/// A path as error messages print it: `the root`, or its segments as a JSON-like list.
pub fn show(path: &[String]) -> String {
    if path.is_empty() {
        return "the root".to_owned();
    }
    let segments: Vec<String> = path.iter().map(|s| format!("{:?}", clip(s))).collect();
    format!("field [{}]", segments.join(", "))
}

/// At most [`SHOWN_CHARS`] characters of a guest-chosen name, so errors stay small.
pub fn clip(name: &str) -> String {
    match name.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}...", &name[..cut]),
        None => name.to_owned(),
    }
}

/// The JSON type of a value, with its article, for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segments(raw: Value) -> Result<Vec<String>, String> {
        parse(Some(&raw)).map_err(|fail| fail.code.to_owned())
    }

    #[test]
    fn a_string_path_is_one_literal_segment_even_with_dots() {
        assert_eq!(segments(json!("a.b")), Ok(vec!["a.b".to_owned()]));
    }

    #[test]
    fn an_empty_string_an_empty_array_null_and_absence_all_mean_the_root() {
        assert_eq!(segments(json!("")), Ok(vec![]));
        assert_eq!(segments(json!([])), Ok(vec![]));
        assert_eq!(segments(json!(null)), Ok(vec![]));
        assert_eq!(parse(None).map_err(|f| f.code), Ok(vec![]));
    }

    #[test]
    fn an_array_path_lists_nested_segments() {
        assert_eq!(segments(json!(["a", "b.c"])), Ok(vec!["a".to_owned(), "b.c".to_owned()]));
    }

    #[test]
    fn paths_that_are_neither_strings_nor_arrays_of_strings_are_invalid() {
        assert_eq!(segments(json!(3)), Err("invalid_path".to_owned()));
        assert_eq!(segments(json!({"a": 1})), Err("invalid_path".to_owned()));
        assert_eq!(segments(json!(["a", 1])), Err("invalid_path".to_owned()));
        assert_eq!(segments(json!(["a", ""])), Err("invalid_path".to_owned()));
    }

    #[test]
    fn prototype_names_are_forbidden_anywhere_in_a_path() {
        for name in FORBIDDEN_SEGMENTS {
            assert_eq!(segments(json!(name)), Err("forbidden_segment".to_owned()));
            assert_eq!(segments(json!(["ok", name, "x"])), Err("forbidden_segment".to_owned()));
        }
    }

    #[test]
    fn a_path_of_32_segments_is_allowed_and_33_is_too_deep() {
        let at_limit: Vec<String> = (0..MAX_PATH_DEPTH).map(|i| format!("s{i}")).collect();
        assert_eq!(segments(json!(at_limit)).map(|s| s.len()), Ok(MAX_PATH_DEPTH));
        let over: Vec<String> = (0..=MAX_PATH_DEPTH).map(|i| format!("s{i}")).collect();
        assert_eq!(segments(json!(over)), Err("path_too_deep".to_owned()));
    }

    #[test]
    fn lookup_reports_missing_levels_as_none_and_non_objects_as_errors() {
        let root = json!({"a": {"b": 1}, "n": 5});
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(lookup(&root, &path(&["a", "b"])).ok(), Some(Some(&json!(1))));
        assert_eq!(lookup(&root, &path(&["a", "x", "y"])).ok(), Some(None));
        let fail = lookup(&root, &path(&["n", "x"])).err().map(|f| f.code);
        assert_eq!(fail, Some("not_an_object"));
    }

    #[test]
    fn parent_mut_creates_missing_levels_but_never_replaces_a_non_object() {
        let mut root = json!({"n": 5});
        let path = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert!(parent_mut(&mut root, &path).is_ok());
        assert_eq!(root, json!({"n": 5, "a": {"b": {}}}));
        let blocked = vec!["n".to_owned(), "x".to_owned(), "y".to_owned()];
        assert_eq!(parent_mut(&mut root, &blocked).err().map(|f| f.code), Some("not_an_object"));
        assert_eq!(root, json!({"n": 5, "a": {"b": {}}}));
    }

    #[test]
    fn error_messages_clip_long_guest_names() {
        let long = "x".repeat(1000);
        assert!(show(&[long]).len() < 100);
    }
}
