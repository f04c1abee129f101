//! Tests of the state service as its callers use it: [`State`] over the memory engine for the
//! behaviour of writes, reads, change events, transactions, completions and dead letters; over
//! [`RedbEngine`] for what survives a close and reopen; and over [`TestEngine`], which fails or
//! holds commits on demand, for what a failed commit leaves behind.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::engine::{Batch, DeadLetter, Engine, Loaded, MemoryEngine, OutboxEvent};
use super::redb::RedbEngine;
use super::{
    Change, ChangeKind, Completion, MAX_KEY_BYTES, MAX_SCOPE_BYTES, MAX_VALUE_BYTES, Recovered,
    State, StateChange, StateError,
};
use crate::cause::Cause;

const ROOT: Cause = Cause::ROOT;

/// Keys of this scope have no subscribers: their changes fire no events.
const QUIET: &str = "quiet";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The change events a state has emitted, in the order it emitted them.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<OutboxEvent>>>);

impl Events {
    /// Takes the events emitted since the last call.
    fn take(&self) -> Vec<OutboxEvent> {
        std::mem::take(&mut *lock(&self.0))
    }

    fn changes(&self) -> Vec<StateChange> {
        self.take().into_iter().map(|event| event.change).collect()
    }
}

/// Opens state over `engine`, watching every scope but [`QUIET`].
fn open(engine: Box<dyn Engine>) -> (State, Recovered, Events) {
    let events = Events::default();
    let sink = events.clone();
    let on_event = Arc::new(move |event| lock(&sink.0).push(event));
    let has_subscribers = Arc::new(|scope: &str, _key: &str| scope != QUIET);
    let (state, recovered) = State::open(engine, on_event, has_subscribers).expect("open");
    (state, recovered, events)
}

fn memory() -> (State, Events) {
    let (state, _, events) = open(Box::new(MemoryEngine));
    (state, events)
}

fn depth(depth: u32) -> Cause {
    Cause { depth }
}

fn is_invalid<T>(result: &Result<T, StateError>) -> bool {
    matches!(result, Err(StateError::Invalid(_)))
}

fn is_storage<T>(result: &Result<T, StateError>) -> bool {
    matches!(result, Err(StateError::Storage(_)))
}

fn increment(path: &str) -> Value {
    json!([{"type": "increment", "path": path, "by": 1}])
}

fn get(state: &State, scope: &str, key: &str) -> Option<Value> {
    state.get(scope, key).expect("a valid scope and key")
}

/// Sets a watched key and returns the event it fired, to complete, park or replay.
async fn event_for(state: &State, events: &Events, key: &str) -> OutboxEvent {
    state.set("docs", key, json!({"key": key}), ROOT).await.expect("set");
    let mut fired = events.take();
    assert_eq!(fired.len(), 1, "one event for {key}");
    fired.remove(0)
}

/// Commits a transaction that increments `n` in the unwatched key `quiet/<key>`, as a trigger
/// handler would, with `completion`.
async fn count(state: &State, key: &str, completion: Option<Completion>) -> Result<(), StateError> {
    let mut txn = state.begin(depth(1));
    txn.update(QUIET, key, &increment("n")).expect("valid ops");
    state.commit(txn, completion).await
}

fn counted(state: &State, key: &str) -> Option<Value> {
    get(state, QUIET, key).map(|value| value["n"].clone())
}

fn completion(seq: u64, function: &str, last: bool) -> Option<Completion> {
    Some(Completion { seq, function: function.to_owned(), last })
}

/// Waits until `condition` holds, failing after a deadline.
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Polls a state call once, which queues its request, and returns it to be awaited later: how
/// a test puts several requests into the writer's queue in a known order.
fn queued<F: Future>(future: F) -> Pin<Box<F>> {
    let mut future = Box::pin(future);
    let poll = future.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(poll.is_pending(), "answered before the writer was released");
    future
}

// ---------------------------------------------------------------------------------------------
// set, update, delete

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
    assert_eq!(get(&state, "s", "k"), Some(json!({"n": 2, "done": true})));
}

#[tokio::test]
async fn update_of_a_missing_key_creates_it() {
    let (state, _) = memory();
    let outcome = state.update("m", "global", &increment("total"), ROOT).await.expect("update");
    assert_eq!((outcome.old_value, outcome.new_value), (None, Some(json!({"total": 1}))));
    assert_eq!(get(&state, "m", "global"), Some(json!({"total": 1})));
}

#[tokio::test]
async fn a_missing_key_whose_ops_all_fail_stays_missing() {
    let (state, events) = memory();
    let ops =
        json!([{"type": "increment", "path": "n", "by": "x"}, {"type": "remove", "path": "a"}]);
    let outcome = state.update("s", "k", &ops, ROOT).await.expect("update");
    assert_eq!((outcome.old_value, outcome.new_value), (None, None));
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(get(&state, "s", "k"), None);
    assert!(state.list_groups().expect("groups").is_empty());
    assert!(events.take().is_empty());
}

#[tokio::test]
async fn delete_returns_the_old_value_and_a_missing_key_gives_none() {
    let (state, _) = memory();
    state.set("s", "k", json!("v"), ROOT).await.expect("set");
    assert_eq!(state.delete("s", "k", ROOT).await.expect("delete"), Some(json!("v")));
    assert_eq!(get(&state, "s", "k"), None);
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
    assert!(is_invalid(&state.get("", "k")));
    assert!(is_invalid(&state.get("s", "")));
    assert!(is_invalid(&state.set("", "k", json!(1), ROOT).await));
    assert!(is_invalid(&state.set("s", "", json!(1), ROOT).await));
    assert!(is_invalid(&state.set(&long_scope, "k", json!(1), ROOT).await));
    assert!(is_invalid(&state.set("s", &long_key, json!(1), ROOT).await));
    assert!(is_invalid(&state.update(&long_scope, "k", &increment("n"), ROOT).await));
    assert!(is_invalid(&state.update("s", &long_key, &increment("n"), ROOT).await));
    assert!(is_invalid(&state.delete("", "k", ROOT).await));
    assert!(is_invalid(&state.delete("s", &long_key, ROOT).await));
    assert!(is_invalid(&state.list("", None, None, None)));
    assert!(is_invalid(&state.list(&long_scope, None, None, None)));
    state.flush().await.expect("flush");
    assert!(state.list_groups().expect("groups").is_empty());
    assert!(events.take().is_empty());

    let (scope, key) = ("s".repeat(MAX_SCOPE_BYTES), "k".repeat(MAX_KEY_BYTES));
    state.set(&scope, &key, json!(1), ROOT).await.expect("names at the limits are fine");
    assert_eq!(get(&state, &scope, &key), Some(json!(1)));
}

#[tokio::test]
async fn validation_errors_say_what_is_wrong() {
    let (state, _) = memory();
    let message = state.get("", "k").err().map(|e| e.to_string());
    assert_eq!(message.as_deref(), Some("scope must not be empty"));
    let message = state.get("s", &"k".repeat(2000)).err().map(|e| e.to_string());
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
    assert_eq!(get(&state, "s", "k"), Some(json!({"n": 1})));
    assert_eq!(get(&state, "s", "new"), None);
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
    assert_eq!(get(&state, "s", "big"), None);
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
    assert_eq!(get(&state, "s", "k"), Some(big));
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
    assert_eq!(get(&state, QUIET, "k"), Some(json!(2)));
    state.delete(QUIET, "k", ROOT).await.expect("delete");
    assert_eq!(get(&state, QUIET, "k"), None);
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
    let list = |prefix, after, limit| state.list("s", prefix, after, limit).expect("valid");
    assert_eq!(
        list(None, None, None),
        [json!("admin:1"), json!("user:1"), json!("user:2"), json!("user:3")]
    );
    assert_eq!(
        list(Some("user:"), None, None),
        [json!("user:1"), json!("user:2"), json!("user:3")]
    );
    assert_eq!(list(Some("user:"), Some("user:1"), None), [json!("user:2"), json!("user:3")]);
    assert_eq!(list(None, None, Some(2)), [json!("admin:1"), json!("user:1")]);
    assert_eq!(list(Some("user:"), Some("user:1"), Some(1)), [json!("user:2")]);
    assert_eq!(list(None, Some("admin:1"), Some(1)), [json!("user:1")]);
    assert!(list(None, None, Some(0)).is_empty());
    assert!(state.list("empty", None, None, None).expect("valid").is_empty());
    let keys: Vec<String> = state
        .entries("s", Some("user:"), Some("user:2"), None)
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
    assert_eq!(state.list_groups().expect("groups"), ["alpha", "zeta"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_visible_to_get_as_soon_as_it_returns() {
    let (state, _) = memory();
    let reader = state.clone();
    for i in 0..200 {
        state.set("s", "k", json!(i), ROOT).await.expect("set");
        assert_eq!(get(&reader, "s", "k"), Some(json!(i)));
        state.update("s", "n", &increment("n"), ROOT).await.expect("update");
        assert_eq!(get(&reader, "s", "n"), Some(json!({"n": i + 1})));
    }
    state.delete("s", "k", ROOT).await.expect("delete");
    assert_eq!(get(&reader, "s", "k"), None);
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
    assert_eq!(get(&state, "s", "k"), Some(json!({"n": 400})));
    let fired = events.take();
    let counts: Vec<Option<i64>> =
        fired.iter().map(|e| e.change.new_value.as_ref().and_then(|v| v["n"].as_i64())).collect();
    assert_eq!(counts, (1..=400).map(Some).collect::<Vec<_>>());
    assert!(fired.windows(2).all(|pair| pair[0].seq < pair[1].seq), "seqs increase");
}

// ---------------------------------------------------------------------------------------------
// transactions

#[tokio::test]
async fn a_txn_reads_its_own_writes_through_get_list_and_list_groups() {
    let (state, events) = memory();
    for (key, value) in [("a", 1), ("b", 2), ("c", 3)] {
        state.set("s", key, json!(value), ROOT).await.expect("set");
    }
    state.set("gone", "only", json!(1), ROOT).await.expect("set");
    events.take();

    let mut txn = state.begin(depth(1));
    let change = txn.set("s", "b", json!(20)).expect("set");
    assert_eq!(change, Change { old_value: Some(json!(2)), new_value: Some(json!(20)) });
    txn.set("s", "d", json!(4)).expect("set");
    assert_eq!(txn.delete("s", "c").expect("delete"), Some(json!(3)));
    assert_eq!(txn.delete("s", "c").expect("delete"), None, "deleted in the txn already");
    txn.update("s", "e", &increment("n")).expect("update");
    let second = txn.update("s", "e", &increment("n")).expect("update");
    assert_eq!(
        (second.old_value, second.new_value),
        (Some(json!({"n": 1})), Some(json!({"n": 2})))
    );
    txn.set("new", "x", json!(1)).expect("set");
    txn.delete("gone", "only").expect("delete");

    assert_eq!(txn.get("s", "a").expect("get"), Some(json!(1)));
    assert_eq!(txn.get("s", "b").expect("get"), Some(json!(20)));
    assert_eq!(txn.get("s", "c").expect("get"), None);
    assert_eq!(txn.get("s", "e").expect("get"), Some(json!({"n": 2})));
    let list = |prefix, after, limit| txn.list("s", prefix, after, limit).expect("list");
    assert_eq!(list(None, None, None), [json!(1), json!(20), json!(4), json!({"n": 2})]);
    assert_eq!(list(None, Some("a"), Some(2)), [json!(20), json!(4)]);
    assert_eq!(list(Some("c"), None, None), Vec::<Value>::new());
    assert_eq!(list(Some("d"), None, None), [json!(4)]);
    assert_eq!(txn.list_groups().expect("groups"), ["new", "s"]);

    // Nothing of it is visible outside the transaction yet.
    assert_eq!(get(&state, "s", "b"), Some(json!(2)));
    assert_eq!(get(&state, "s", "c"), Some(json!(3)));
    assert_eq!(get(&state, "s", "d"), None);
    assert_eq!(state.list("s", None, None, None).expect("list"), [json!(1), json!(2), json!(3)]);
    assert_eq!(state.list_groups().expect("groups"), ["gone", "s"]);
    assert!(events.take().is_empty());
}

#[tokio::test]
async fn committing_a_txn_applies_all_its_writes_with_one_event_each_in_order() {
    let (state, events) = memory();
    state.set("s", "old", json!("x"), ROOT).await.expect("set");
    events.take();
    let mut txn = state.begin(depth(2));
    txn.set("s", "a", json!(1)).expect("set");
    txn.update("s", "a", &json!([{"type": "set", "path": "", "value": 2}])).expect("update");
    txn.delete("s", "old").expect("delete");
    txn.set("t", "b", json!(true)).expect("set");
    state.commit(txn, None).await.expect("commit");

    assert_eq!(get(&state, "s", "a"), Some(json!(2)));
    assert_eq!(get(&state, "s", "old"), None);
    assert_eq!(get(&state, "t", "b"), Some(json!(true)));
    let fired: Vec<(ChangeKind, String, Option<Value>, Cause)> =
        events.changes().into_iter().map(|c| (c.kind, c.key, c.new_value, c.cause)).collect();
    assert_eq!(
        fired,
        [
            (ChangeKind::Created, "a".to_owned(), Some(json!(1)), depth(2)),
            (ChangeKind::Updated, "a".to_owned(), Some(json!(2)), depth(2)),
            (ChangeKind::Deleted, "old".to_owned(), None, depth(2)),
            (ChangeKind::Created, "b".to_owned(), Some(json!(true)), depth(2)),
        ]
    );
}

#[tokio::test]
async fn a_txn_with_a_write_that_fails_at_commit_applies_none_of_its_writes() {
    let (state, events) = memory();
    state.set("s", "doc", json!({"t": "short"}), ROOT).await.expect("set");
    let mut txn = state.begin(depth(1));
    txn.set("s", "first", json!(1)).expect("set");
    let append = json!([{"type": "append", "path": "t", "value": "y".repeat(200)}]);
    txn.update("s", "doc", &append).expect("fits now");
    // By the time the transaction commits, the append no longer fits.
    let big = json!({"t": "x".repeat(MAX_VALUE_BYTES - 100)});
    state.set("s", "doc", big.clone(), ROOT).await.expect("set");
    events.take();
    assert!(is_invalid(&state.commit(txn, None).await));
    assert_eq!(get(&state, "s", "first"), None);
    assert_eq!(get(&state, "s", "doc"), Some(big));
    assert!(events.take().is_empty());
}

#[tokio::test]
async fn a_txn_refuses_invalid_writes_and_records_nothing_for_them() {
    let (state, _) = memory();
    let mut txn = state.begin(ROOT);
    assert!(is_invalid(&txn.set("", "k", json!(1))));
    assert!(is_invalid(&txn.set("s", &"k".repeat(MAX_KEY_BYTES + 1), json!(1))));
    assert!(is_invalid(&txn.set("s", "k", json!("x".repeat(MAX_VALUE_BYTES)))));
    assert!(is_invalid(&txn.update("s", "k", &json!({"type": "set"}))));
    assert!(is_invalid(&txn.delete("s", "")));
    assert!(is_invalid(&txn.list("", None, None, None)));
    assert!(txn.is_empty());
}

#[tokio::test]
async fn two_txns_incrementing_one_key_both_count() {
    let (state, events) = memory();
    let mut first = state.begin(depth(1));
    let mut second = state.begin(depth(1));
    let seen_by_first = first.update("s", "k", &increment("n")).expect("update");
    let seen_by_second = second.update("s", "k", &increment("n")).expect("update");
    assert_eq!(seen_by_first.new_value, Some(json!({"n": 1})));
    assert_eq!(seen_by_second.new_value, Some(json!({"n": 1})));
    state.commit(first, None).await.expect("commit");
    state.commit(second, None).await.expect("commit");
    assert_eq!(get(&state, "s", "k"), Some(json!({"n": 2})));
    let kinds: Vec<(ChangeKind, Option<Value>)> =
        events.changes().into_iter().map(|c| (c.kind, c.new_value)).collect();
    assert_eq!(
        kinds,
        [
            (ChangeKind::Created, Some(json!({"n": 1}))),
            (ChangeKind::Updated, Some(json!({"n": 2})))
        ]
    );
}

/// A transaction's writes are applied again at commit; one that changed nothing when it was
/// made must still land if another write changed the key in between, since the transaction
/// commits last.
#[tokio::test]
async fn a_txn_write_that_changed_nothing_when_made_still_applies_at_commit() {
    let (state, _) = memory();
    state.set("s", "status", json!("done"), ROOT).await.expect("set");
    let mut txn = state.begin(depth(1));
    txn.set("s", "status", json!("done")).expect("set");
    txn.delete("s", "claim").expect("delete");
    state.set("s", "status", json!("open"), ROOT).await.expect("set");
    state.set("s", "claim", json!("someone"), ROOT).await.expect("set");
    state.commit(txn, None).await.expect("commit");
    assert_eq!(get(&state, "s", "status"), Some(json!("done")), "the txn's set committed last");
    assert_eq!(get(&state, "s", "claim"), None, "the txn's delete committed last");
}

#[tokio::test]
async fn a_dropped_txn_changes_nothing() {
    let (state, events) = memory();
    let ran = Arc::new(AtomicBool::new(false));
    let mut txn = state.begin(ROOT);
    txn.set("s", "k", json!(1)).expect("set");
    txn.update("s", "n", &increment("n")).expect("update");
    let flag = ran.clone();
    txn.after_commit(Box::new(move || flag.store(true, Ordering::SeqCst)));
    drop(txn);
    state.flush().await.expect("flush");
    assert_eq!(get(&state, "s", "k"), None);
    assert_eq!(get(&state, "s", "n"), None);
    assert!(events.take().is_empty());
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn after_commit_actions_run_only_once_the_commit_succeeded() {
    let (state, _) = memory();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut txn = state.begin(ROOT);
    txn.set("s", "k", json!(1)).expect("set");
    let (record, reader) = (seen.clone(), state.clone());
    txn.after_commit(Box::new(move || lock(&record).push(reader.get("s", "k").ok().flatten())));
    let commit = state.commit(txn, None);
    assert!(lock(&seen).is_empty(), "not before the commit is done");
    commit.await.expect("commit");
    assert_eq!(*lock(&seen), [Some(json!(1))], "once, and the write is visible to it");

    // A commit that fails runs none of its actions.
    state.set("s", "doc", json!({"t": ""}), ROOT).await.expect("set");
    let mut txn = state.begin(ROOT);
    txn.update("s", "doc", &json!([{"type": "append", "path": "t", "value": "y".repeat(200)}]))
        .expect("fits now");
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    txn.after_commit(Box::new(move || flag.store(true, Ordering::SeqCst)));
    let big = json!({"t": "x".repeat(MAX_VALUE_BYTES - 100)});
    state.set("s", "doc", big, ROOT).await.expect("set");
    assert!(state.commit(txn, None).await.is_err());
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_txn_that_wrote_nothing_runs_its_actions_without_waiting_for_its_mark() {
    // A handler that only sends to a stream: its frame goes out when it returns, not one sync
    // later when its delivery mark is durable.
    let engine = TestEngine::default();
    let (state, _, events) = open(Box::new(engine.clone()));
    state.set("s", "k", json!(1), ROOT).await.expect("set");
    let seq = events.take()[0].seq;
    let ran = Arc::new(AtomicBool::new(false));
    let mut txn = state.begin(ROOT);
    let flag = ran.clone();
    txn.after_commit(Box::new(move || flag.store(true, Ordering::SeqCst)));
    engine.fail(true);
    let mark = Completion { seq, function: "f".into(), last: true };
    let commit = state.commit(txn, Some(mark));
    assert!(ran.load(Ordering::SeqCst), "ran when the commit was asked for");
    // The mark's commit still reports its own failure, so the delivery is retried.
    assert!(is_storage(&commit.await));
}

// ---------------------------------------------------------------------------------------------
// completions

#[tokio::test]
async fn a_completion_that_is_not_last_leaves_the_event_for_other_functions() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    count(&state, "k", completion(event.seq, "f::a", false)).await.expect("commit");
    count(&state, "k", completion(event.seq, "f::b", false)).await.expect("commit");
    assert_eq!(counted(&state, "k"), Some(json!(2)));
}

#[tokio::test]
async fn a_second_commit_for_the_same_delivery_commits_nothing() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    count(&state, "k", completion(event.seq, "f::a", false)).await.expect("commit");
    count(&state, "k", completion(event.seq, "f::a", false)).await.expect("a repeat is no error");
    count(&state, "k", completion(event.seq, "f::a", true)).await.expect("a repeat is no error");
    assert_eq!(counted(&state, "k"), Some(json!(1)), "the writes are not applied twice");
}

#[tokio::test]
async fn the_last_completion_retires_the_event() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    let other = event_for(&state, &events, "e").await;
    count(&state, "k", completion(event.seq, "f::a", false)).await.expect("commit");
    count(&state, "k", completion(event.seq, "f::b", true)).await.expect("commit");
    count(&state, "k", completion(event.seq, "f::c", false)).await.expect("no error");
    count(&state, "k", completion(event.seq, "f::d", true)).await.expect("no error");
    assert_eq!(counted(&state, "k"), Some(json!(2)));
    count(&state, "k", completion(other.seq, "f::c", true)).await.expect("commit");
    assert_eq!(counted(&state, "k"), Some(json!(3)), "other events are untouched");
}

#[tokio::test]
async fn a_completion_for_an_event_never_in_the_outbox_commits_nothing() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    count(&state, "k", completion(event.seq + 100, "f::a", true)).await.expect("no error");
    assert_eq!(counted(&state, "k"), None);
}

// ---------------------------------------------------------------------------------------------
// dead letters

#[tokio::test]
async fn a_parked_delivery_is_listed_as_a_dead_letter() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    state.park(event.clone(), "f::a".into(), "boom".into(), 3, false).await.expect("park");
    let letters = state.dead_letters();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(
        (letter.id, &letter.event, letter.function.as_str(), letter.error.as_str()),
        (0, &event, "f::a", "boom")
    );
    assert_eq!(letter.attempts, 3);
    assert!(letter.parked_at_ms > 0);
    // Parking marked the delivery done for f::a; the event still waits for others.
    count(&state, "k", completion(event.seq, "f::a", false)).await.expect("no error");
    assert_eq!(counted(&state, "k"), None);
    count(&state, "k", completion(event.seq, "f::b", true)).await.expect("commit");
    assert_eq!(counted(&state, "k"), Some(json!(1)));
}

#[tokio::test]
async fn parking_the_last_delivery_retires_the_event() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    state.park(event.clone(), "f::a".into(), "boom".into(), 1, true).await.expect("park");
    count(&state, "k", completion(event.seq, "f::b", true)).await.expect("no error");
    assert_eq!(counted(&state, "k"), None);
}

#[tokio::test]
async fn replaying_a_dead_letter_emits_it_again_for_the_function_that_failed() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    state.park(event.clone(), "f::a".into(), "boom".into(), 3, true).await.expect("park");
    let id = state.dead_letters()[0].id;
    assert_eq!(state.replay(Some(id)).await.expect("replay"), [id]);
    assert!(state.dead_letters().is_empty());
    let replayed = events.take();
    assert_eq!(replayed.len(), 1);
    assert!(replayed[0].seq > event.seq, "a new seq");
    assert_eq!(replayed[0].change, event.change);
    assert_eq!(replayed[0].target.as_deref(), Some("f::a"));
    // The replayed event is in the outbox: its delivery can complete.
    count(&state, "k", completion(replayed[0].seq, "f::a", true)).await.expect("commit");
    assert_eq!(counted(&state, "k"), Some(json!(1)));
    assert_eq!(state.replay(Some(id)).await.expect("replay"), Vec::<u64>::new());
}

#[tokio::test]
async fn replaying_without_an_id_replays_every_dead_letter() {
    let (state, events) = memory();
    let first = event_for(&state, &events, "d").await;
    let second = event_for(&state, &events, "e").await;
    state.park(first.clone(), "f::a".into(), "boom".into(), 1, false).await.expect("park");
    state.park(first.clone(), "f::b".into(), "bang".into(), 1, true).await.expect("park");
    state.park(second.clone(), "f::a".into(), "boom".into(), 1, true).await.expect("park");
    let ids: Vec<u64> = state.dead_letters().iter().map(|letter| letter.id).collect();
    assert_eq!(state.replay(None).await.expect("replay"), ids);
    assert!(state.dead_letters().is_empty());
    let replayed: Vec<(String, Option<String>)> =
        events.take().into_iter().map(|e| (e.change.key, e.target)).collect();
    assert_eq!(
        replayed,
        [
            ("d".to_owned(), Some("f::a".to_owned())),
            ("d".to_owned(), Some("f::b".to_owned())),
            ("e".to_owned(), Some("f::a".to_owned())),
        ]
    );
    assert!(state.replay(None).await.expect("replay").is_empty());
}

#[tokio::test]
async fn dead_letter_ids_never_repeat() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    let mut ids = Vec::new();
    for round in 0..3 {
        state
            .park(event.clone(), format!("f::{round}"), "boom".into(), 1, false)
            .await
            .expect("park");
        ids.extend(state.dead_letters().iter().map(|letter| letter.id));
        state.replay(None).await.expect("replay");
    }
    assert_eq!(ids, [0, 1, 2]);
}

// ---------------------------------------------------------------------------------------------
// durability (redb)

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("eddy-state-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("state.redb")
    }

    fn open(&self) -> (State, Recovered, Events) {
        let (state, recovered, events) =
            open(Box::new(RedbEngine::open(&self.db()).expect("redb")));
        assert_eq!(state.engine(), "redb");
        (state, recovered, events)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn values_undelivered_events_marks_and_dead_letters_survive_close_and_reopen() {
    let dir = TempDir::new();
    let (state, recovered, events) = dir.open();
    assert!(recovered.events.is_empty() && recovered.delivered.is_empty());
    let half_done = event_for(&state, &events, "t1").await;
    let done = event_for(&state, &events, "t2").await;
    let failed = event_for(&state, &events, "t3").await;
    let untouched = event_for(&state, &events, "t4").await;
    state.delete("docs", "t4", ROOT).await.expect("delete");
    let deleted = events.take().remove(0);
    count(&state, "k", completion(half_done.seq, "f::a", false)).await.expect("commit");
    count(&state, "k", completion(done.seq, "f::a", true)).await.expect("commit");
    state.park(failed.clone(), "f::b".into(), "boom".into(), 5, true).await.expect("park");
    let letters = state.dead_letters();
    state.close().await.expect("close");

    let (state, recovered, _) = dir.open();
    assert_eq!(get(&state, "docs", "t1"), Some(json!({"key": "t1"})));
    assert_eq!(get(&state, "docs", "t4"), None);
    assert_eq!(counted(&state, "k"), Some(json!(2)));
    assert_eq!(state.list_groups().expect("groups"), ["docs", QUIET]);
    assert_eq!(
        recovered.events,
        [half_done.clone(), untouched, deleted],
        "completed ones stay gone"
    );
    let marks = HashMap::from([(half_done.seq, HashSet::from(["f::a".to_owned()]))]);
    assert_eq!(recovered.delivered, marks);
    assert_eq!(state.dead_letters(), letters);
    // The mark still makes a repeated delivery a no-op after the restart.
    count(&state, "k", completion(half_done.seq, "f::a", true)).await.expect("no error");
    assert_eq!(counted(&state, "k"), Some(json!(2)));
    state.close().await.expect("close");
}

#[tokio::test]
async fn seqs_and_dead_letter_ids_keep_counting_after_reopen() {
    let dir = TempDir::new();
    let (state, _, events) = dir.open();
    let event = event_for(&state, &events, "a").await;
    state.park(event, "f::a".into(), "boom".into(), 1, true).await.expect("park");
    state.replay(None).await.expect("replay");
    let replayed = events.take().remove(0);
    state.close().await.expect("close");

    let (state, recovered, events) = dir.open();
    assert_eq!(
        recovered.events,
        std::slice::from_ref(&replayed),
        "a replayed letter keeps its target"
    );
    let next = event_for(&state, &events, "b").await;
    assert!(next.seq > replayed.seq);
    state.park(next, "f::a".into(), "boom".into(), 1, true).await.expect("park");
    let ids: Vec<u64> = state.dead_letters().iter().map(|letter| letter.id).collect();
    assert_eq!(ids, [1]);
    state.close().await.expect("close");
}

#[tokio::test]
async fn close_releases_the_file_so_it_can_be_reopened_at_once() {
    let dir = TempDir::new();
    for round in 0..3 {
        let (state, _, _) = dir.open();
        assert_eq!(get(&state, "s", "k"), (round > 0).then(|| json!(round - 1)));
        state.set("s", "k", json!(round), ROOT).await.expect("set");
        state.close().await.expect("close");
    }
}

#[tokio::test]
async fn requests_after_close_fail_with_a_storage_error() {
    let dir = TempDir::new();
    let (state, _, _) = dir.open();
    state.set("s", "k", json!(1), ROOT).await.expect("set");
    state.close().await.expect("close");
    assert!(is_storage(&state.set("s", "k", json!(2), ROOT).await));
    assert!(is_storage(&state.flush().await));
    assert!(is_storage(&state.close().await));
    assert_eq!(get(&state, "s", "k"), Some(json!(1)), "reads still see the last committed state");
}

// ---------------------------------------------------------------------------------------------
// a failing engine

/// An engine for tests that keeps what it commits (so `load` returns it, as a durable engine
/// does), fails its commits while `failing` is set, and holds them while `hold` is set.
#[derive(Clone, Default)]
struct TestEngine(Arc<Inner>);

#[derive(Default)]
struct Inner {
    stored: Mutex<Loaded>,
    /// Each commit: whether its batch was lazy, and whether it was empty.
    commits: Mutex<Vec<(bool, bool)>>,
    failing: AtomicBool,
    hold: Mutex<Hold>,
    released: Condvar,
}

#[derive(Default)]
struct Hold {
    held: bool,
    /// Commits waiting for the release.
    waiting: usize,
}

impl TestEngine {
    fn fail(&self, failing: bool) {
        self.0.failing.store(failing, Ordering::SeqCst);
    }

    fn hold(&self) {
        lock(&self.0.hold).held = true;
    }

    fn release(&self) {
        lock(&self.0.hold).held = false;
        self.0.released.notify_all();
    }

    fn waiting(&self) -> usize {
        lock(&self.0.hold).waiting
    }

    /// The stored entries, sorted.
    fn entries(&self) -> Vec<(String, String, Value)> {
        let mut entries = lock(&self.0.stored).entries.clone();
        entries.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        entries
    }

    fn dead_letters(&self) -> Vec<DeadLetter> {
        lock(&self.0.stored).dead_letters.clone()
    }

    /// `(lazy, empty)` of every commit so far.
    fn commits(&self) -> Vec<(bool, bool)> {
        lock(&self.0.commits).clone()
    }
}

impl Engine for TestEngine {
    fn load(&mut self) -> Result<Loaded, StateError> {
        Ok(lock(&self.0.stored).clone())
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StateError> {
        let failing = self.0.failing.load(Ordering::SeqCst);
        {
            let mut hold = lock(&self.0.hold);
            hold.waiting += 1;
            while hold.held {
                hold = self.0.released.wait(hold).unwrap_or_else(|e| e.into_inner());
            }
            hold.waiting -= 1;
        }
        if failing {
            return Err(StateError::Storage("the disk is on fire".into()));
        }
        lock(&self.0.commits).push((batch.lazy, batch.is_empty()));
        let mut stored = lock(&self.0.stored);
        let mut entries: BTreeMap<(String, String), Value> =
            stored.entries.drain(..).map(|(s, k, v)| ((s, k), v)).collect();
        for (scope, key, value) in &batch.writes {
            let slot = (scope.clone(), key.clone());
            match value {
                Some(value) => entries.insert(slot, value.clone()),
                None => entries.remove(&slot),
            };
        }
        stored.entries = entries.into_iter().map(|((s, k), v)| (s, k, v)).collect();
        stored.outbox.extend(batch.events.iter().cloned());
        let mut delivered: BTreeSet<(u64, String)> = stored.delivered.drain(..).collect();
        delivered.extend(batch.delivered.iter().cloned());
        delivered.retain(|(seq, _)| !batch.completed.contains(seq));
        stored.delivered = delivered.into_iter().collect();
        stored.outbox.retain(|event| !batch.completed.contains(&event.seq));
        stored.dead_letters.extend(batch.dead_letters.iter().cloned());
        stored.dead_letters.retain(|letter| !batch.dead_letters_removed.contains(&letter.id));
        stored.next_seq = batch.next_seq;
        stored.next_dead_letter = batch.next_dead_letter;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "test"
    }
}

/// Everything the state's mirror holds, sorted like [`TestEngine::entries`].
fn mirrored(state: &State) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for scope in state.list_groups().expect("groups") {
        for (key, value) in state.entries(&scope, None, None, None).expect("entries") {
            all.push((scope.clone(), key, value));
        }
    }
    all
}

#[tokio::test]
async fn a_handlers_commit_is_lazy_and_synced_soon_after_while_writes_sync_at_once() {
    let engine = TestEngine::default();
    let (state, _, events) = open(Box::new(engine.clone()));
    let event = event_for(&state, &events, "d").await;
    assert_eq!(engine.commits(), [(false, false)], "a write syncs before it is answered");

    let mark = Completion { seq: event.seq, function: "f".into(), last: true };
    count(&state, "c", Some(mark)).await.expect("commit");
    assert_eq!(engine.commits()[1], (true, false), "the handler's commit waits for a sync");
    assert_eq!(counted(&state, "c"), Some(json!(1)), "and is visible at once");

    // Nothing else comes: the writer syncs on its own, with an empty durable commit.
    wait_until("a sync after the lazy commit", || engine.commits().len() >= 3).await;
    assert_eq!(engine.commits()[2], (false, true));

    // A flush, and a handler's commit without a delivery (a stream trigger's: nothing would
    // deliver it again) sync at once.
    state.flush().await.expect("flush");
    count(&state, "c", None).await.expect("commit");
    assert_eq!(engine.commits()[3..], [(false, false)], "the flush had nothing to sync");
}

#[tokio::test]
async fn closing_reports_a_last_commit_that_failed() {
    let engine = TestEngine::default();
    let (state, _, _) = open(Box::new(engine.clone()));
    // A write queued right before the close, which commits it in the close's round.
    engine.hold();
    let (first, writer) = (state.clone(), state.clone());
    let held = tokio::spawn(async move { first.set("s", "a", json!(1), ROOT).await });
    while engine.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    let last = tokio::spawn(async move { writer.set("s", "b", json!(2), ROOT).await });
    let closing = {
        let state = state.clone();
        tokio::spawn(async move { state.close().await })
    };
    // Let both tasks queue their requests (this runtime has one thread: a yield runs them).
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    engine.fail(true);
    engine.release();
    assert!(held.await.expect("task").is_ok(), "the held round was let through before failing");
    assert!(is_storage(&last.await.expect("task")));
    assert!(is_storage(&closing.await.expect("task")), "the close says its commit failed");
}

#[tokio::test]
async fn a_failed_commit_fails_every_request_of_its_round_and_applies_none_of_them() {
    let engine = TestEngine::default();
    let (state, _, events) = open(Box::new(engine.clone()));
    let event = event_for(&state, &events, "d").await;
    state.set("s", "a", json!({"n": 0}), ROOT).await.expect("set");
    state.set("s", "b", json!(1), ROOT).await.expect("set");
    events.take();

    // Hold the writer in the commit of one write while the next round queues up behind it.
    let ops = increment("n");
    engine.hold();
    let held = queued(state.update("s", "a", &ops, ROOT));
    wait_until("the writer is committing", || engine.waiting() == 1).await;
    engine.fail(true);
    let update = queued(state.update("s", "a", &ops, ROOT));
    let set = queued(state.set("t", "x", json!(1), ROOT));
    let delete = queued(state.delete("s", "b", ROOT));
    let mut txn = state.begin(depth(1));
    txn.set("t", "y", json!(1)).expect("set");
    txn.update(QUIET, "k", &increment("n")).expect("update");
    let commit = state.commit(txn, completion(event.seq, "f::a", false));
    let park = state.park(event.clone(), "f::b".into(), "boom".into(), 1, false);
    let replay = queued(state.replay(None));
    engine.release();

    held.await.expect("the held round committed");
    assert!(is_storage(&update.await));
    assert!(is_storage(&set.await));
    assert!(is_storage(&delete.await));
    assert!(is_storage(&commit.await));
    assert!(is_storage(&park.await));
    assert!(is_storage(&replay.await));
    engine.fail(false);

    assert_eq!(mirrored(&state), engine.entries(), "the mirror is what the engine holds");
    assert_eq!(get(&state, "s", "a"), Some(json!({"n": 1})));
    assert_eq!(get(&state, "s", "b"), Some(json!(1)));
    assert_eq!(get(&state, "t", "x"), None);
    assert_eq!(counted(&state, "k"), None);
    assert_eq!(state.dead_letters(), engine.dead_letters());
    assert!(state.dead_letters().is_empty());
    let fired = events.take();
    assert_eq!(fired.len(), 1, "only the held round's event");
    assert_eq!(fired[0].change.new_value, Some(json!({"n": 1})));

    // The failed delivery was not marked, so it can commit now, once.
    count(&state, "k", completion(event.seq, "f::a", false)).await.expect("commit");
    count(&state, "k", completion(event.seq, "f::a", false)).await.expect("no error");
    assert_eq!(counted(&state, "k"), Some(json!(1)));
    state.update("s", "a", &increment("n"), ROOT).await.expect("writes work again");
    assert_eq!(get(&state, "s", "a"), Some(json!({"n": 2})));
    let next = events.take();
    assert_eq!(next.len(), 1);
    assert!(next[0].seq > fired[0].seq, "seqs still increase");
    assert_eq!(mirrored(&state), engine.entries());
}

#[tokio::test]
async fn after_commit_actions_do_not_run_when_the_engine_fails() {
    let engine = TestEngine::default();
    let (state, _, _) = open(Box::new(engine.clone()));
    let ran = Arc::new(AtomicBool::new(false));
    let mut txn = state.begin(ROOT);
    txn.set("s", "k", json!(1)).expect("set");
    let flag = ran.clone();
    txn.after_commit(Box::new(move || flag.store(true, Ordering::SeqCst)));
    engine.fail(true);
    assert!(is_storage(&state.commit(txn, None).await));
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(get(&state, "s", "k"), None);
}
