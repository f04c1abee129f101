//! Property tests of request bodies: any bytes become valid JSON text or a 400, and a valid JSON
//! body reaches the function unchanged.

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{body_json, is_json_content_type};
use crate::error::ErrorCode;

/// Proptest's defaults (256 cases, or `PROPTEST_CASES`), without writing regression files into
/// the source tree: a found failure is kept as a named `#[test]` below instead.
fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// JSON values of every kind, a few levels deep; numbers cover the whole i64/u64 range and any
/// finite float.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((any::<String>(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// What a client might send: JSON-looking text with mistakes, or any bytes at all.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..64),
        2 => "[\\[\\]{}\":,0-9.eE+ a-z\\\\-]{0,40}".prop_map(String::into_bytes),
        1 => json().prop_map(|v| {
            let mut text = v.to_string().into_bytes();
            text.truncate(text.len() / 2);
            text
        }),
        1 => Just(b"\xef\xbb\xbf{}".to_vec()),
        1 => Just(b"1e400".to_vec()),
        1 => Just(b"\"\\ud800\"".to_vec()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_body_becomes_valid_json_text_or_a_bad_request(
        body in body_bytes(),
        is_json in any::<bool>(),
    ) {
        match body_json(&body, is_json) {
            Ok(text) => {
                let parsed = serde_json::from_str::<Value>(&text);
                prop_assert!(parsed.is_ok(), "{:?} became invalid JSON {:?}", body, text);
                if !is_json && !body.is_empty() {
                    let expected = String::from_utf8_lossy(&body).into_owned();
                    prop_assert_eq!(parsed.ok(), Some(Value::String(expected)));
                }
            }
            Err(e) => {
                prop_assert!(is_json, "a non-JSON body was refused: {:?}", e);
                prop_assert_eq!(e.code, ErrorCode::BadRequest);
            }
        }
    }

    #[test]
    fn a_valid_json_body_reaches_the_function_unchanged(value in json(), pretty in any::<bool>()) {
        let text = if pretty {
            serde_json::to_string_pretty(&value).expect("a value to serialise")
        } else {
            value.to_string()
        };
        let passed = body_json(text.as_bytes(), true);
        prop_assert!(passed.is_ok(), "{} was refused: {:?}", text, passed.err());
        // The function gets the value re-encoded; compared as text, so no parser is trusted.
        prop_assert_eq!(passed.unwrap_or_default(), value.to_string(), "sent {}", text);
    }

    #[test]
    fn content_type_checks_never_panic_and_see_json_through_case_and_parameters(
        junk in any::<String>(),
        essence in prop::sample::select(vec![
            "application/json", "APPLICATION/JSON", "application/vnd.api+json", "text/x+JSON",
        ]),
        params in "(;[ a-z=-]{0,12}){0,3}",
        space in "[ \t]{0,2}",
    ) {
        let _ = is_json_content_type(&junk);
        let content_type = format!("{space}{essence}{space}{params}");
        prop_assert!(is_json_content_type(&content_type), "{:?}", content_type);
    }
}

/// Found by `a_valid_json_body_reaches_the_function_unchanged`: serde_json's default float
/// parser is not exact (its `float_roundtrip` feature is off), so a float in a request body can
/// reach the function one ulp away from what the client sent.
#[test]
fn a_float_in_a_json_body_reaches_the_function_exactly() {
    let sent = r#"{"":-1.6217759241020847e+274}"#;
    // The text is how serde_json itself writes that double (std's parser is exact).
    let exact: f64 = "-1.6217759241020847e274".parse().expect("a float");
    assert_eq!(serde_json::json!({ "": exact }).to_string(), sent);
    let passed = body_json(sent.as_bytes(), true).expect("valid JSON to pass");
    assert_eq!(passed, sent, "the client sent -1.6217759241020847e274");
}
