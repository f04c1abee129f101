//! Property tests of the update ops: any stored value and any ops array, however hostile, give an
//! answer without panicking; errors are one per failed op, indexed and coded; a failing op
//! changes nothing (applying the ops without it gives the same value); an empty list and an
//! increment undone by a decrement leave the value as it was. The example tests in `ops/tests.rs`
//! pin each op's behaviour; these pin the rules over inputs nobody thought to write.

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{MAX_MERGE_DEPTH, OpError, apply_to_key};
use crate::state::StateError;
use crate::state::path::{FORBIDDEN_SEGMENTS, MAX_PATH_DEPTH};

/// Proptest's defaults (256 cases, or `PROPTEST_CASES`), without writing regression files into
/// the source tree: a found failure is kept as a named `#[test]` below instead.
fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// The six op types.
const OP_TYPES: [&str; 6] = ["set", "merge", "increment", "decrement", "append", "remove"];

/// Field names ops keep running into: shared by values and paths so paths hit existing fields.
const NAMES: &[&str] = &["a", "b", "n", "s", "list", "a.b", "", " ", "\u{e9}", "0"];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(NAMES).prop_map(str::to_owned),
        1 => prop::sample::select(FORBIDDEN_SEGMENTS.to_vec()).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A name that is never forbidden.
fn safe_name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(str::to_owned)
}

/// A name that is never forbidden and can be a path segment (`""` is not one: alone it means
/// the root, in an array it is an error).
fn field_name() -> impl Strategy<Value = String> {
    safe_name().prop_filter("a field, not the root", |s| !s.is_empty())
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (-5i64..5).prop_map(Value::from),
        1 => prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, i64::MAX - 1, i64::MAX])
            .prop_map(Value::from),
        1 => prop::sample::select(vec![1u64 << 63, u64::MAX - 1, u64::MAX]).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>()
            .prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        1 => prop::sample::select(vec![f64::MAX, -f64::MAX, 0.5, -0.0, 1e300])
            .prop_map(|f| json!(f)),
    ]
}

/// JSON values of every kind, with field names from `names`.
fn json_with(names: BoxedStrategy<String>, depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        prop_oneof![Just(String::new()), "[a-z]{1,4}", any::<String>()].prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 32, 4, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((names.clone(), inner), 0..5)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn json() -> impl Strategy<Value = Value> {
    json_with(name().boxed(), 4)
}

/// A stored value: usually an object (what ops expect), sometimes anything, sometimes missing.
fn current() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        4 => vec((name(), json()), 0..6)
            .prop_map(|fields| Some(Value::Object(fields.into_iter().collect()))),
        1 => json().prop_map(Some),
    ]
}

/// `levels` objects nested inside each other.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!({ "a": inner }))
}

/// Paths: absent, root spellings, one literal segment, arrays of segments (deep ones too), and
/// things that are not paths.
fn path() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => prop::sample::select(vec![json!(null), json!(""), json!([])]).prop_map(Some),
        4 => name().prop_map(|s| Some(Value::String(s))),
        4 => vec(name(), 1..4).prop_map(|s| Some(json!(s))),
        1 => (MAX_PATH_DEPTH - 1..MAX_PATH_DEPTH + 3)
            .prop_map(|n| Some(json!(vec!["a"; n]))),
        1 => prop::sample::select(vec![
            json!(3), json!(true), json!({"a": 1}), json!(["a", 1]), json!(["a", ""]),
            json!([null]),
        ])
        .prop_map(Some),
    ]
}

fn op_type() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        12 => prop::sample::select(OP_TYPES.to_vec()).prop_map(|t| Some(json!(t))),
        1 => prop::sample::select(vec![
            json!("SET"), json!("unset"), json!(""), json!(3), json!(null), json!(["set"]),
        ])
        .prop_map(Some),
        1 => Just(None),
    ]
}

/// A value for `value`: anything, an object to merge (sometimes too deep or forbidden), a string.
fn op_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        4 => json().prop_map(Some),
        2 => vec((name(), json()), 0..4)
            .prop_map(|fields| Some(Value::Object(fields.into_iter().collect()))),
        1 => (MAX_MERGE_DEPTH - 1..MAX_MERGE_DEPTH + 2).prop_map(|n| Some(nested(n))),
        1 => "[a-z]{0,4}".prop_map(|s| Some(json!(s))),
    ]
}

fn by() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        6 => number().prop_map(Some),
        1 => prop::sample::select(vec![json!("1"), json!(null), json!([1]), json!(true)])
            .prop_map(Some),
    ]
}

/// One op from the grammar of the six types, or junk.
fn op() -> impl Strategy<Value = Value> {
    let shaped = (op_type(), path(), op_value(), by(), any::<bool>()).prop_map(
        |(kind, path, value, by, extra)| {
            let mut fields = Map::new();
            for (key, v) in [("type", kind), ("path", path), ("value", value), ("by", by)] {
                if let Some(v) = v {
                    fields.insert(key.to_owned(), v);
                }
            }
            if extra {
                fields.insert("unexpected".to_owned(), json!("ignored"));
            }
            Value::Object(fields)
        },
    );
    prop_oneof![9 => shaped, 1 => json()]
}

fn ops() -> impl Strategy<Value = Vec<Value>> {
    vec(op(), 0..8)
}

/// Applies `ops`, which must be an array.
fn apply(current: &Option<Value>, ops: &[Value]) -> (Option<Value>, Vec<OpError>) {
    apply_to_key(current.as_ref(), &Value::Array(ops.to_vec())).expect("an array of ops to apply")
}

fn is_snake_case(code: &str) -> bool {
    !code.is_empty()
        && code
            .split('_')
            .all(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase()))
}

/// Whether `value` has a forbidden field name anywhere.
fn has_forbidden_name(value: &Value) -> bool {
    match value {
        Value::Object(fields) => fields
            .iter()
            .any(|(k, v)| FORBIDDEN_SEGMENTS.contains(&k.as_str()) || has_forbidden_name(v)),
        Value::Array(items) => items.iter().any(has_forbidden_name),
        _ => false,
    }
}

/// The value at `path` (segments) under `root`, if every level is an object that has it.
fn at<'a>(root: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(root, |v, s| v.as_object()?.get(s))
}

/// `root` with `value` written at `path`, creating missing levels (and replacing non-objects on
/// the way, which is fine for building test inputs).
fn with(mut root: Value, path: &[String], value: Value) -> Value {
    let mut slot = &mut root;
    for segment in path {
        if !slot.is_object() {
            *slot = json!({});
        }
        slot = slot
            .as_object_mut()
            .map(|fields| fields.entry(segment.clone()).or_insert(Value::Null))
            .expect("an object");
    }
    *slot = value;
    root
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_ops_on_any_value_give_one_coded_error_per_failed_op(
        current in current(),
        ops in ops(),
    ) {
        let (_, errors) = apply(&current, &ops);
        let mut last = None;
        for error in &errors {
            prop_assert!((error.op_index as usize) < ops.len(), "{:?}", error);
            prop_assert!(last < Some(error.op_index), "errors out of order: {:?}", errors);
            last = Some(error.op_index);
            prop_assert!(is_snake_case(&error.code), "code {:?}", error.code);
            prop_assert!(!error.message.is_empty());
        }
    }

    #[test]
    fn a_failing_op_changes_nothing_it_is_as_if_it_were_absent(
        current in current(),
        ops in ops(),
    ) {
        let (value, errors) = apply(&current, &ops);
        let failed: Vec<usize> = errors.iter().map(|e| e.op_index as usize).collect();

        // Without every failing op: the same value, and nothing fails.
        let kept: Vec<Value> = ops
            .iter()
            .enumerate()
            .filter(|(i, _)| !failed.contains(i))
            .map(|(_, op)| op.clone())
            .collect();
        let (without_all, none) = apply(&current, &kept);
        prop_assert_eq!(&without_all, &value, "ops {:?}", ops);
        prop_assert_eq!(none, vec![]);

        // Without one failing op: the same value, and the other errors, renumbered.
        if let Some(&skip) = failed.first() {
            let mut fewer = ops.clone();
            fewer.remove(skip);
            let (without_one, rest) = apply(&current, &fewer);
            prop_assert_eq!(&without_one, &value);
            let renumbered: Vec<OpError> = errors[1..]
                .iter()
                .map(|e| OpError { op_index: e.op_index - 1, ..e.clone() })
                .collect();
            prop_assert_eq!(rest, renumbered);
        }
    }

    #[test]
    fn ops_that_are_not_an_array_are_an_invalid_request(
        current in current(),
        ops in json().prop_filter("not an array", |v| !v.is_array()),
    ) {
        let result = apply_to_key(current.as_ref(), &ops);
        prop_assert!(matches!(result, Err(StateError::Invalid(_))), "{:?}", result);
    }

    #[test]
    fn no_ops_leave_the_value_as_it_was(current in current()) {
        let result = apply(&current, &[]);
        prop_assert_eq!(result, (current, vec![]));
    }

    #[test]
    fn an_increment_undone_by_a_decrement_restores_an_integer_field(
        base in vec((name(), json()), 0..5),
        path in vec(field_name(), 1..4),
        start in number().prop_filter("an integer", |n| n.is_i64() || n.is_u64()),
        by in number().prop_filter("an integer", |n| n.is_i64() || n.is_u64()),
        as_array in any::<bool>(),
    ) {
        let current = with(Value::Object(base.into_iter().collect()), &path, start);
        let path_value = if as_array || path.len() > 1 { json!(path) } else { json!(path[0]) };
        let ops = [
            json!({ "type": "increment", "path": path_value, "by": by }),
            json!({ "type": "decrement", "path": path_value, "by": by }),
        ];
        let (value, errors) = apply(&Some(current.clone()), &ops);
        if errors.is_empty() {
            prop_assert_eq!(value, Some(current));
        } else {
            // Only arithmetic may fail here, and then the value is left as it was.
            prop_assert!(errors.iter().all(|e| e.code == "overflow"), "{:?}", errors);
            if errors.len() == 2 {
                prop_assert_eq!(value, Some(current));
            }
        }
    }

    #[test]
    fn an_increment_undone_by_a_decrement_leaves_a_missing_field_at_zero(
        current in current(),
        path in vec(field_name(), 1..4),
        by in number().prop_filter("an integer", |n| n.is_i64() || n.is_u64()),
    ) {
        prop_assume!(current.as_ref().is_none_or(|c| at(c, &path).is_none()));
        let ops = [
            json!({ "type": "increment", "path": path, "by": by }),
            json!({ "type": "decrement", "path": path, "by": by }),
        ];
        let (value, errors) = apply(&current, &ops);
        if errors.is_empty() {
            let value = value.expect("the increment to create the key");
            prop_assert_eq!(at(&value, &path), Some(&json!(0)));
        }
    }

    #[test]
    fn a_path_deeper_than_the_limit_fails_every_op_type(
        kind in prop::sample::select(OP_TYPES.to_vec()),
        depth in MAX_PATH_DEPTH + 1..MAX_PATH_DEPTH * 4,
        current in current(),
    ) {
        let op = json!({ "type": kind, "path": vec!["a"; depth], "value": {"x": 1}, "by": 1 });
        let (value, errors) = apply(&current, &[op]);
        prop_assert_eq!(value, current);
        prop_assert_eq!(errors.len(), 1);
        prop_assert_eq!(&errors[0].code, "path_too_deep");
    }

    #[test]
    fn ops_never_write_a_forbidden_field_name(
        current in vec((safe_name(), json_with(safe_name().boxed(), 3)), 0..5)
            .prop_map(|fields| Some(Value::Object(fields.into_iter().collect()))),
        ops in vec(op().prop_filter("values free of forbidden names", |op| {
            ["value", "by"].iter().all(|k| op.get(k).is_none_or(|v| !has_forbidden_name(v)))
        }), 0..8),
    ) {
        let (value, _) = apply(&current, &ops);
        prop_assert!(
            !value.as_ref().is_some_and(has_forbidden_name),
            "ops {:?} wrote a forbidden name: {:?}", ops, value
        );
    }
}
