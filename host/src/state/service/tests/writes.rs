//! Single writes and reads: results, validation, change events, lists, concurrency.

use super::*;

#[tokio::test]
async fn set_returns_the_old_and_new_value() {
    let (state, _) = memory();
    let first = state.set("s", "k", json!(1), ROOT).await.expect("set");
    assert_eq!(first, Change { old_value: None, new_value: Some(json!(1)) });
    let second = state.set("s", "k", json!(2), ROOT).await.expect("set");
    assert_eq!(second, Change { old_value: Some(json!(1)), new_value: Some(json!(2)) });
    let same = state.set("s", "k", json!(2), ROOT).await.expect("set");
    assert_eq!(same, Change { old_value: Some(json!(2)), new_value: Some(json!(2)) });
}

#[tokio::test]
async fn update_returns_the_old_and_new_value_and_reports_the_ops_that_failed() {
    let (state, _) = memory();
    state.set("s", "k", json!({"n": 1}), ROOT).await.expect("set");
    let ops = json!([
        {"type": "increment", "path": "n", "by": 1},
        {"type": "append", "path": "n", "value": 1},
        {"type": "set", "path": "done", "value": true},
    ]);
    let outcome = state.update("s", "k", &ops, ROOT).await.expect("update");
    assert_eq!(outcome.old_value, Some(json!({"n": 1})));
    assert_eq!(outcome.new_value, Some(json!({"n": 2, "done": true})));
    let failed: Vec<(u32, &str)> =
        outcome.errors.iter().map(|e| (e.op_index, e.code.as_str())).collect();
    assert_eq!(failed, [(1, "not_an_array")]);
    assert_eq!(get(&state, "s", "k").await, Some(json!({"n": 2, "done": true})));
}

#[tokio::test]
async fn update_of_a_missing_key_creates_it() {
    let (state, _) = memory();
    let outcome = state.update("m", "global", &increment("total"), ROOT).await.expect("update");
    assert_eq!((outcome.old_value, outcome.new_value), (None, Some(json!({"total": 1}))));
    assert_eq!(get(&state, "m", "global").await, Some(json!({"total": 1})));
}

#[tokio::test]
async fn a_missing_key_whose_ops_all_fail_stays_missing() {
    let (state, events) = memory();
    let ops =
        json!([{"type": "increment", "path": "n", "by": "x"}, {"type": "remove", "path": "a"}]);
    let outcome = state.update("s", "k", &ops, ROOT).await.expect("update");
    assert_eq!((outcome.old_value, outcome.new_value), (None, None));
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(get(&state, "s", "k").await, None);
    assert!(state.list_groups().await.expect("groups").is_empty());
    assert!(events.take().is_empty());
}

#[tokio::test]
async fn delete_returns_the_old_value_and_a_missing_key_gives_none() {
    let (state, _) = memory();
    state.set("s", "k", json!("v"), ROOT).await.expect("set");
    assert_eq!(state.delete("s", "k", ROOT).await.expect("delete"), Some(json!("v")));
    assert_eq!(get(&state, "s", "k").await, None);
    assert_eq!(state.delete("s", "k", ROOT).await.expect("delete"), None);
    assert_eq!(state.delete("s", "never", ROOT).await.expect("delete"), None);
}

// ---------------------------------------------------------------------------------------------
// validation

#[tokio::test]
async fn empty_or_oversized_scopes_and_keys_are_refused_and_change_nothing() {
    let (state, events) = memory();
    let long_scope = "s".repeat(MAX_SCOPE_BYTES + 1);
    let long_key = "k".repeat(MAX_KEY_BYTES + 1);
    assert!(is_invalid(&state.get("", "k").await));
    assert!(is_invalid(&state.get("s", "").await));
    assert!(is_invalid(&state.set("", "k", json!(1), ROOT).await));
    assert!(is_invalid(&state.set("s", "", json!(1), ROOT).await));
    assert!(is_invalid(&state.set(&long_scope, "k", json!(1), ROOT).await));
    assert!(is_invalid(&state.set("s", &long_key, json!(1), ROOT).await));
    assert!(is_invalid(&state.update(&long_scope, "k", &increment("n"), ROOT).await));
    assert!(is_invalid(&state.update("s", &long_key, &increment("n"), ROOT).await));
    assert!(is_invalid(&state.delete("", "k", ROOT).await));
    assert!(is_invalid(&state.delete("s", &long_key, ROOT).await));
    assert!(is_invalid(&state.list("", None, None, None).await));
    assert!(is_invalid(&state.list(&long_scope, None, None, None).await));
    state.flush().await.expect("flush");
    assert!(state.list_groups().await.expect("groups").is_empty());
    assert!(events.take().is_empty());

    let (scope, key) = ("s".repeat(MAX_SCOPE_BYTES), "k".repeat(MAX_KEY_BYTES));
    state.set(&scope, &key, json!(1), ROOT).await.expect("names at the limits are fine");
    assert_eq!(get(&state, &scope, &key).await, Some(json!(1)));
}

#[tokio::test]
async fn validation_errors_say_what_is_wrong() {
    let (state, _) = memory();
    let message = state.get("", "k").await.err().map(|e| e.to_string());
    assert_eq!(message.as_deref(), Some("scope must not be empty"));
    let message = state.get("s", &"k".repeat(2000)).await.err().map(|e| e.to_string());
    assert_eq!(message.as_deref(), Some("key is 2000 bytes long; the limit is 1024"));
}

#[tokio::test]
async fn ops_that_are_not_an_array_are_refused_and_change_nothing() {
    let (state, events) = memory();
    state.set("s", "k", json!({"n": 1}), ROOT).await.expect("set");
    events.take();
    let ops = json!({"type": "increment", "path": "n", "by": 1});
    assert!(is_invalid(&state.update("s", "k", &ops, ROOT).await));
    assert!(is_invalid(&state.update("s", "new", &json!(null), ROOT).await));
    assert_eq!(get(&state, "s", "k").await, Some(json!({"n": 1})));
    assert_eq!(get(&state, "s", "new").await, None);
    assert!(events.take().is_empty());
}

#[tokio::test]
async fn a_value_over_8_mib_is_refused_and_one_at_the_limit_is_kept() {
    let (state, events) = memory();
    // A JSON string encodes as its text plus two quotes.
    let at_limit = json!("x".repeat(MAX_VALUE_BYTES - 2));
    state.set("s", "k", at_limit, ROOT).await.expect("a value at the limit is fine");
    let over = json!("x".repeat(MAX_VALUE_BYTES - 1));
    assert!(is_invalid(&state.set("s", "big", over, ROOT).await));
    assert_eq!(get(&state, "s", "big").await, None);
    assert_eq!(events.take().len(), 1);
}

#[tokio::test]
async fn an_update_that_would_grow_past_8_mib_is_refused_whole() {
    let (state, events) = memory();
    let big = json!({"t": "x".repeat(MAX_VALUE_BYTES - 100)});
    state.set("s", "k", big.clone(), ROOT).await.expect("set");
    events.take();
    let ops = json!([
        {"type": "increment", "path": "n", "by": 1},
        {"type": "append", "path": "t", "value": "y".repeat(200)},
    ]);
    assert!(is_invalid(&state.update("s", "k", &ops, ROOT).await));
    assert_eq!(get(&state, "s", "k").await, Some(big));
    assert!(events.take().is_empty());
}

// ---------------------------------------------------------------------------------------------
// change events

#[tokio::test]
async fn each_real_change_fires_one_event_with_its_kind_values_and_cause_in_commit_order() {
    let (state, events) = memory();
    state.set("s", "k", json!(1), ROOT).await.expect("set");
    state.set("s", "k", json!(2), depth(3)).await.expect("set");
    state.update("s", "j", &increment("n"), depth(1)).await.expect("update");
    state.delete("s", "k", depth(2)).await.expect("delete");
    let fired = events.take();
    let change = |kind, key: &str, old: Option<Value>, new: Option<Value>, cause| StateChange {
        kind,
        scope: "s".to_owned(),
        key: key.to_owned(),
        old_value: old,
        new_value: new,
        cause,
    };
    let changes: Vec<StateChange> = fired.iter().map(|event| event.change.clone()).collect();
    assert_eq!(
        changes,
        [
            change(ChangeKind::Created, "k", None, Some(json!(1)), ROOT),
            change(ChangeKind::Updated, "k", Some(json!(1)), Some(json!(2)), depth(3)),
            change(ChangeKind::Created, "j", None, Some(json!({"n": 1})), depth(1)),
            change(ChangeKind::Deleted, "k", Some(json!(2)), None, depth(2)),
        ]
    );
    assert!(fired.iter().all(|event| event.target.is_none()));
    assert!(fired.windows(2).all(|pair| pair[0].seq < pair[1].seq), "seqs increase");
}

#[tokio::test]
async fn writes_that_change_nothing_fire_nothing() {
    let (state, events) = memory();
    state.set("s", "k", json!({"a": 1}), ROOT).await.expect("set");
    events.take();
    state.set("s", "k", json!({"a": 1}), ROOT).await.expect("set");
    let same = json!([{"type": "set", "path": "a", "value": 1}, {"type": "remove", "path": "z"}]);
    let outcome = state.update("s", "k", &same, ROOT).await.expect("update");
    assert_eq!(outcome.old_value, outcome.new_value);
    state.delete("s", "missing", ROOT).await.expect("delete");
    let failing = json!([{"type": "increment", "path": "n", "by": "x"}]);
    state.update("s", "missing", &failing, ROOT).await.expect("update");
    assert!(events.take().is_empty());
}

#[tokio::test]
async fn keys_nobody_watches_are_written_but_fire_nothing() {
    let (state, events) = memory();
    state.set(QUIET, "k", json!(1), ROOT).await.expect("set");
    state
        .update(QUIET, "k", &json!([{"type": "set", "path": "", "value": 2}]), ROOT)
        .await
        .expect("update");
    assert_eq!(get(&state, QUIET, "k").await, Some(json!(2)));
    state.delete(QUIET, "k", ROOT).await.expect("delete");
    assert_eq!(get(&state, QUIET, "k").await, None);
    assert!(events.take().is_empty());
    state.set("s", "k", json!(1), ROOT).await.expect("set");
    assert_eq!(events.take().len(), 1, "a watched key still fires");
}

// ---------------------------------------------------------------------------------------------
// reads

#[tokio::test]
async fn list_returns_values_in_key_order_with_prefix_after_and_limit() {
    let (state, _) = memory();
    for key in ["user:2", "admin:1", "user:1", "user:3"] {
        state.set("s", key, json!(key), ROOT).await.expect("set");
    }
    let list = async |prefix: Option<&str>, after: Option<&str>, limit: Option<usize>| {
        state.list("s", prefix, after, limit).await.expect("valid")
    };
    assert_eq!(
        list(None, None, None).await,
        [json!("admin:1"), json!("user:1"), json!("user:2"), json!("user:3")]
    );
    assert_eq!(
        list(Some("user:"), None, None).await,
        [json!("user:1"), json!("user:2"), json!("user:3")]
    );
    assert_eq!(list(Some("user:"), Some("user:1"), None).await, [json!("user:2"), json!("user:3")]);
    assert_eq!(list(None, None, Some(2)).await, [json!("admin:1"), json!("user:1")]);
    assert_eq!(list(Some("user:"), Some("user:1"), Some(1)).await, [json!("user:2")]);
    assert_eq!(list(None, Some("admin:1"), Some(1)).await, [json!("user:1")]);
    assert!(list(None, None, Some(0)).await.is_empty());
    assert!(state.list("empty", None, None, None).await.expect("valid").is_empty());
    let keys: Vec<String> = state
        .entries("s", Some("user:"), Some("user:2"), None)
        .await
        .expect("valid")
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(keys, ["user:3"]);
}

#[tokio::test]
async fn list_groups_is_sorted_and_forgets_emptied_scopes() {
    let (state, _) = memory();
    for scope in ["zeta", "alpha", "mid"] {
        state.set(scope, "k", json!(1), ROOT).await.expect("set");
    }
    state.set("alpha", "k2", json!(1), ROOT).await.expect("set");
    state.delete("mid", "k", ROOT).await.expect("delete");
    state.delete("alpha", "k", ROOT).await.expect("delete");
    assert_eq!(state.list_groups().await.expect("groups"), ["alpha", "zeta"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_visible_to_get_as_soon_as_it_returns() {
    let (state, _) = memory();
    let reader = state.clone();
    for i in 0..200 {
        state.set("s", "k", json!(i), ROOT).await.expect("set");
        assert_eq!(get(&reader, "s", "k").await, Some(json!(i)));
        state.update("s", "n", &increment("n"), ROOT).await.expect("update");
        assert_eq!(get(&reader, "s", "n").await, Some(json!({"n": i + 1})));
    }
    state.delete("s", "k", ROOT).await.expect("delete");
    assert_eq!(get(&reader, "s", "k").await, None);
}

// ---------------------------------------------------------------------------------------------
// concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_of_one_key_lose_nothing_and_fire_in_commit_order() {
    let (state, events) = memory();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let state = state.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    state.update("s", "k", &increment("n"), ROOT).await.expect("update");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(get(&state, "s", "k").await, Some(json!({"n": 400})));
    let fired = events.take();
    let counts: Vec<Option<i64>> =
        fired.iter().map(|e| e.change.new_value.as_ref().and_then(|v| v["n"].as_i64())).collect();
    assert_eq!(counts, (1..=400).map(Some).collect::<Vec<_>>());
    assert!(fired.windows(2).all(|pair| pair[0].seq < pair[1].seq), "seqs increase");
}
