//! Tests of the update ops: every op, every error code, ordering and atomicity.

use super::*;
use serde_json::json;

/// Runs `ops` on `current` and returns the new value and the failed ops as (index, code).
fn run(current: Option<Value>, ops: Value) -> (Option<Value>, Vec<(u32, String)>) {
    let (value, errors) = apply_to_key(current.as_ref(), &ops).expect("ops is an array");
    let errors = errors.into_iter().map(|e| (e.op_index, e.code)).collect();
    (value, errors)
}

fn ok(current: Value, ops: Value) -> Value {
    let (value, errors) = run(Some(current), ops);
    assert_eq!(errors, vec![], "no op should fail");
    value.expect("the key exists")
}

fn fails(current: Value, op: Value) -> String {
    let before = current.clone();
    let (value, errors) = run(Some(current), json!([op]));
    assert_eq!(value, Some(before), "a failing op must not change the value");
    assert_eq!(errors.len(), 1);
    errors[0].1.clone()
}

// --- the ops array itself ---

#[test]
fn ops_that_are_not_an_array_are_an_invalid_request() {
    for ops in [json!({"type": "set"}), json!(null), json!("set")] {
        assert!(matches!(apply(None, &ops), Err(StateError::Invalid(_))));
    }
}

#[test]
fn an_op_that_is_not_an_object_or_has_no_string_type_is_invalid() {
    assert_eq!(fails(json!({}), json!(3)), "invalid_op");
    assert_eq!(fails(json!({}), json!({"path": "a"})), "invalid_op");
    assert_eq!(fails(json!({}), json!({"type": 1})), "invalid_op");
}

#[test]
fn an_unknown_op_type_is_reported_as_unknown_op() {
    assert_eq!(fails(json!({}), json!({"type": "multiply"})), "unknown_op");
}

// --- set ---

#[test]
fn set_writes_a_first_level_field() {
    let value = ok(json!({"a": 1}), json!([{"type": "set", "path": "b", "value": [2]}]));
    assert_eq!(value, json!({"a": 1, "b": [2]}));
}

#[test]
fn set_with_an_empty_path_replaces_the_whole_value() {
    let ops = json!([{"type": "set", "path": "", "value": 7}]);
    assert_eq!(ok(json!({"a": 1}), ops), json!(7));
}

#[test]
fn set_with_an_array_path_creates_missing_levels() {
    let ops = json!([{"type": "set", "path": ["a", "b"], "value": null}]);
    assert_eq!(ok(json!({}), ops), json!({"a": {"b": null}}));
}

#[test]
fn set_treats_a_dot_as_part_of_the_field_name() {
    let ops = json!([{"type": "set", "path": "a.b", "value": 1}]);
    assert_eq!(ok(json!({"a": {}}), ops), json!({"a": {}, "a.b": 1}));
}

#[test]
fn set_without_a_path_or_value_is_invalid() {
    assert_eq!(fails(json!({}), json!({"type": "set", "value": 1})), "invalid_op");
    assert_eq!(fails(json!({}), json!({"type": "set", "path": "a"})), "invalid_op");
}

#[test]
fn set_with_a_null_path_is_refused_rather_than_replacing_everything() {
    let op = json!({"type": "set", "path": null, "value": 1});
    assert_eq!(fails(json!({"a": 1}), op), "invalid_path");
}

#[test]
fn set_on_a_non_object_root_is_an_op_error() {
    let op = json!({"type": "set", "path": "a", "value": 1});
    assert_eq!(fails(json!([1]), op), "not_an_object");
}

// --- merge ---

#[test]
fn merge_at_the_root_overwrites_and_adds_first_level_fields_only() {
    let ops = json!([{"type": "merge", "value": {"b": {"y": 2}, "c": 3}}]);
    let value = ok(json!({"a": 1, "b": {"x": 1}}), ops);
    assert_eq!(value, json!({"a": 1, "b": {"y": 2}, "c": 3}));
}

#[test]
fn merge_at_a_nested_path_creates_missing_levels() {
    let ops = json!([{"type": "merge", "path": ["p", "q"], "value": {"z": 1}}]);
    assert_eq!(ok(json!({}), ops), json!({"p": {"q": {"z": 1}}}));
}

#[test]
fn merge_with_a_string_path_merges_into_that_field() {
    let ops = json!([{"type": "merge", "path": "p", "value": {"b": 2}}]);
    assert_eq!(ok(json!({"p": {"a": 1}}), ops), json!({"p": {"a": 1, "b": 2}}));
}

#[test]
fn merge_keeps_the_order_of_existing_fields() {
    let ops = json!([{"type": "merge", "value": {"a": 9, "d": 4}}]);
    let value = ok(json!({"c": 1, "a": 2}), ops);
    let names: Vec<&String> = value.as_object().map(|m| m.keys().collect()).unwrap_or_default();
    assert_eq!(names, ["c", "a", "d"]);
}

#[test]
fn merge_into_a_non_object_is_an_op_error() {
    let op = json!({"type": "merge", "path": "a", "value": {"x": 1}});
    assert_eq!(fails(json!({"a": 5}), op), "not_an_object");
    let op = json!({"type": "merge", "path": ["a", "b"], "value": {"x": 1}});
    assert_eq!(fails(json!({"a": "s"}), op), "not_an_object");
    let op = json!({"type": "merge", "value": {"x": 1}});
    assert_eq!(fails(json!("root"), op), "not_an_object");
}

#[test]
fn merge_of_a_non_object_value_is_an_op_error() {
    let op = json!({"type": "merge", "value": [1]});
    assert_eq!(fails(json!({}), op), "not_an_object");
    assert_eq!(fails(json!({}), json!({"type": "merge"})), "invalid_op");
}

#[test]
fn merge_refuses_forbidden_field_names_in_its_value() {
    let op = json!({"type": "merge", "value": {"ok": 1, "__proto__": {}}});
    assert_eq!(fails(json!({}), op), "forbidden_segment");
}

#[test]
fn merge_accepts_a_value_16_levels_deep_and_refuses_17() {
    fn nested(levels: usize) -> Value {
        (1..levels).fold(json!({}), |inner, _| json!({ "n": inner }))
    }
    let op = |levels| json!([{"type": "merge", "path": "x", "value": nested(levels)}]);
    assert_eq!(run(Some(json!({})), op(MAX_MERGE_DEPTH)).1, vec![]);
    assert_eq!(
        run(Some(json!({})), op(MAX_MERGE_DEPTH + 1)).1,
        vec![(0, "value_too_deep".to_owned())]
    );
}

#[test]
fn merge_counts_arrays_as_levels_too() {
    let mut value = json!(1);
    for _ in 0..MAX_MERGE_DEPTH {
        value = json!([value]);
    }
    let op = json!({"type": "merge", "value": {"a": value}});
    assert_eq!(fails(json!({}), op), "value_too_deep");
}

// --- increment / decrement ---

#[test]
fn increment_and_decrement_start_a_missing_field_at_zero() {
    let ops = json!([
        {"type": "increment", "path": "up", "by": 2},
        {"type": "decrement", "path": "down", "by": 3},
    ]);
    assert_eq!(ok(json!({}), ops), json!({"up": 2, "down": -3}));
}

#[test]
fn increment_keeps_integers_as_integers() {
    let value = ok(json!({"n": 5}), json!([{"type": "increment", "path": "n", "by": 1}]));
    assert!(value["n"].is_i64());
    assert_eq!(value, json!({"n": 6}));
}

#[test]
fn increment_with_a_float_gives_a_float() {
    let ops = json!([{"type": "increment", "path": "n", "by": 0.5}]);
    assert_eq!(ok(json!({"n": 1}), ops), json!({"n": 1.5}));
    let ops = json!([{"type": "decrement", "path": "n", "by": 1}]);
    assert_eq!(ok(json!({"n": 2.5}), ops), json!({"n": 1.5}));
}

#[test]
fn increment_reaches_into_nested_objects_with_an_array_path() {
    let ops = json!([{"type": "increment", "path": ["stats", "hits"], "by": 1}]);
    assert_eq!(ok(json!({}), ops), json!({"stats": {"hits": 1}}));
}

#[test]
fn increment_spans_the_whole_u64_and_i64_range() {
    let ops = json!([{"type": "increment", "path": "n", "by": 1}]);
    let value = ok(json!({"n": i64::MAX}), ops);
    assert_eq!(value, json!({"n": (i64::MAX as u64) + 1}));
    let ops = json!([{"type": "decrement", "path": "n", "by": u64::MAX}]);
    assert_eq!(ok(json!({"n": u64::MAX}), ops), json!({"n": 0}));
}

#[test]
fn integer_overflow_is_an_op_error() {
    let op = json!({"type": "increment", "path": "n", "by": 1});
    assert_eq!(fails(json!({"n": u64::MAX}), op), "overflow");
    let op = json!({"type": "decrement", "path": "n", "by": 1});
    assert_eq!(fails(json!({"n": i64::MIN}), op), "overflow");
}

#[test]
fn float_overflow_to_infinity_is_an_op_error() {
    let op = json!({"type": "increment", "path": "n", "by": f64::MAX});
    assert_eq!(fails(json!({"n": f64::MAX}), op), "overflow");
}

#[test]
fn increment_of_a_non_number_field_is_an_op_error() {
    let op = json!({"type": "increment", "path": "n", "by": 1});
    assert_eq!(fails(json!({"n": "5"}), op.clone()), "not_a_number");
    assert_eq!(fails(json!({"n": null}), op), "not_a_number");
}

#[test]
fn increment_by_a_non_number_or_without_by_is_an_op_error() {
    let op = json!({"type": "increment", "path": "n", "by": "1"});
    assert_eq!(fails(json!({"n": 1}), op), "not_a_number");
    let op = json!({"type": "decrement", "path": "n"});
    assert_eq!(fails(json!({"n": 1}), op), "invalid_op");
}

#[test]
fn increment_needs_a_field_not_the_root() {
    let op = json!({"type": "increment", "path": "", "by": 1});
    assert_eq!(fails(json!({}), op), "invalid_path");
}

#[test]
fn increment_on_a_non_object_root_is_an_op_error() {
    let op = json!({"type": "increment", "path": "n", "by": 1});
    assert_eq!(fails(json!(5), op), "not_an_object");
}

// --- append ---

#[test]
fn append_pushes_onto_an_array() {
    let ops = json!([{"type": "append", "path": "xs", "value": {"k": 2}}]);
    assert_eq!(ok(json!({"xs": [1]}), ops), json!({"xs": [1, {"k": 2}]}));
}

#[test]
fn append_concatenates_onto_a_string() {
    let ops = json!([{"type": "append", "path": "t", "value": " world"}]);
    assert_eq!(ok(json!({"t": "hello"}), ops), json!({"t": "hello world"}));
}

#[test]
fn append_to_a_missing_field_makes_a_one_element_array() {
    let ops = json!([{"type": "append", "path": ["a", "xs"], "value": 1}]);
    assert_eq!(ok(json!({}), ops), json!({"a": {"xs": [1]}}));
}

#[test]
fn append_of_a_string_to_a_missing_field_makes_that_string() {
    let ops = json!([{"type": "append", "path": "t", "value": "hi"}]);
    assert_eq!(ok(json!({}), ops), json!({"t": "hi"}));
}

#[test]
fn append_without_a_path_works_on_the_root() {
    let ops = json!([{"type": "append", "value": 3}]);
    assert_eq!(ok(json!([1, 2]), ops), json!([1, 2, 3]));
    let ops = json!([{"type": "append", "value": "b"}]);
    assert_eq!(ok(json!("a"), ops), json!("ab"));
}

#[test]
fn append_without_a_path_on_a_missing_key_builds_the_root() {
    let (value, _) = run(None, json!([{"type": "append", "value": 1}]));
    assert_eq!(value, Some(json!([1])));
    let (value, _) = run(None, json!([{"type": "append", "value": "s"}]));
    assert_eq!(value, Some(json!("s")));
}

#[test]
fn append_of_a_non_string_onto_a_string_is_an_op_error() {
    let op = json!({"type": "append", "path": "t", "value": 1});
    assert_eq!(fails(json!({"t": "x"}), op), "not_a_string");
}

#[test]
fn append_onto_a_number_object_or_root_object_is_an_op_error() {
    let op = json!({"type": "append", "path": "n", "value": 1});
    assert_eq!(fails(json!({"n": 1}), op), "not_an_array");
    let op = json!({"type": "append", "path": "o", "value": 1});
    assert_eq!(fails(json!({"o": {}}), op), "not_an_array");
    let op = json!({"type": "append", "value": 1});
    assert_eq!(fails(json!({}), op), "not_an_array");
}

#[test]
fn append_without_a_value_is_invalid() {
    let op = json!({"type": "append", "path": "xs"});
    assert_eq!(fails(json!({}), op), "invalid_op");
}

// --- remove ---

#[test]
fn remove_deletes_a_field_and_keeps_the_order_of_the_rest() {
    let ops = json!([{"type": "remove", "path": "a"}]);
    let value = ok(json!({"a": 1, "b": 2, "c": 3}), ops);
    assert_eq!(serde_json::to_string(&value).ok(), Some(r#"{"b":2,"c":3}"#.to_owned()));
}

#[test]
fn remove_of_a_missing_field_or_missing_level_is_fine() {
    let ops = json!([
        {"type": "remove", "path": "zzz"},
        {"type": "remove", "path": ["no", "such"]},
    ]);
    assert_eq!(ok(json!({"a": 1}), ops), json!({"a": 1}));
}

#[test]
fn remove_reaches_into_nested_objects_with_an_array_path() {
    let ops = json!([{"type": "remove", "path": ["a", "b"]}]);
    assert_eq!(ok(json!({"a": {"b": 1, "c": 2}}), ops), json!({"a": {"c": 2}}));
}

#[test]
fn remove_needs_a_field_and_an_object_in_the_way() {
    assert_eq!(fails(json!({}), json!({"type": "remove"})), "invalid_op");
    assert_eq!(fails(json!({}), json!({"type": "remove", "path": ""})), "invalid_path");
    let op = json!({"type": "remove", "path": ["a", "b"]});
    assert_eq!(fails(json!({"a": 1}), op), "not_an_object");
    let op = json!({"type": "remove", "path": "a"});
    assert_eq!(fails(json!([1]), op), "not_an_object");
}

// --- paths in ops ---

#[test]
fn every_op_refuses_forbidden_segments() {
    for op in [
        json!({"type": "set", "path": "__proto__", "value": 1}),
        json!({"type": "merge", "path": ["a", "constructor"], "value": {}}),
        json!({"type": "increment", "path": "prototype", "by": 1}),
        json!({"type": "decrement", "path": ["prototype"], "by": 1}),
        json!({"type": "append", "path": "__proto__", "value": 1}),
        json!({"type": "remove", "path": "constructor"}),
    ] {
        assert_eq!(fails(json!({}), op), "forbidden_segment");
    }
}

#[test]
fn every_op_refuses_paths_deeper_than_32_segments() {
    let deep: Vec<String> = (0..=path::MAX_PATH_DEPTH).map(|i| i.to_string()).collect();
    for op_type in ["set", "merge", "increment", "append", "remove"] {
        let op = json!({"type": op_type, "path": deep, "value": {}, "by": 1});
        assert_eq!(fails(json!({}), op), "path_too_deep", "{op_type}");
    }
}

#[test]
fn a_failing_op_in_a_nested_path_creates_no_levels() {
    let op = json!({"type": "append", "path": ["a", "b"], "value": 1});
    assert_eq!(fails(json!({"a": {"b": 5}}), op), "not_an_array");
    let op = json!({"type": "set", "path": ["n", "x", "y"], "value": 1});
    assert_eq!(fails(json!({"n": 1}), op), "not_an_object");
}

// --- ordering and atomicity ---

#[test]
fn ops_apply_in_order() {
    let ops = json!([
        {"type": "set", "path": "n", "value": 1},
        {"type": "increment", "path": "n", "by": 10},
        {"type": "set", "path": "m", "value": 0},
        {"type": "remove", "path": "m"},
    ]);
    assert_eq!(ok(json!({}), ops), json!({"n": 11}));
}

#[test]
fn a_failing_op_between_two_good_ones_is_skipped_and_reported_by_index() {
    let ops = json!([
        {"type": "increment", "path": "n", "by": 1},
        {"type": "append", "path": "n", "value": 1},
        {"type": "increment", "path": "n", "by": 1},
    ]);
    let (value, errors) = run(Some(json!({"n": 0})), ops);
    assert_eq!(value, Some(json!({"n": 2})));
    assert_eq!(errors, vec![(1, "not_an_array".to_owned())]);
}

#[test]
fn op_errors_carry_a_readable_message() {
    let ops = json!([{"type": "increment", "path": "n", "by": 1}]);
    let (_, errors) = apply(Some(&json!({"n": "x"})), &ops).expect("ops is an array");
    assert_eq!(errors[0].message, r#"field ["n"] is a string, not a number"#);
}

#[test]
fn later_ops_see_the_result_of_earlier_ones_even_after_a_root_replace() {
    let ops = json!([
        {"type": "set", "path": "", "value": 3},
        {"type": "set", "path": "a", "value": 1},
    ]);
    let (value, errors) = run(Some(json!({})), ops);
    assert_eq!(value, Some(json!(3)));
    assert_eq!(errors, vec![(1, "not_an_object".to_owned())]);
}

// --- missing keys ---

#[test]
fn a_missing_key_starts_as_an_empty_object() {
    let (value, errors) = run(None, json!([{"type": "set", "path": "a", "value": 1}]));
    assert_eq!((value, errors), (Some(json!({"a": 1})), vec![]));
}

#[test]
fn a_missing_key_stays_missing_when_no_op_creates_anything() {
    let failing = json!([{"type": "increment", "path": "n", "by": "x"}]);
    assert_eq!(run(None, failing).0, None);
    assert_eq!(run(None, json!([])).0, None);
    assert_eq!(run(None, json!([{"type": "remove", "path": "a"}])).0, None);
    let overflow = json!([{"type": "decrement", "path": "n", "by": u64::MAX}]);
    assert_eq!(run(None, overflow).0, None);
}

#[test]
fn apply_reports_a_missing_key_that_nothing_created_as_an_empty_object() {
    let (value, errors) = apply(None, &json!([])).expect("ops is an array");
    assert_eq!((value, errors), (json!({}), vec![]));
}
