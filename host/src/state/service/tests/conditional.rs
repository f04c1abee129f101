//! Conditional writes (`set-if`, `update-if`, `delete-if`): applied when the key holds what they
//! expect, refused with a conflict that changes nothing when it does not, decided by the writer
//! so that of concurrent read-modify-writes exactly one wins each race; in a transaction, all
//! or nothing.

use super::*;
use crate::state::Expect;

fn expect(value: Value) -> Option<Expect> {
    Some(Expect::Value(value))
}

fn is_conflict<T>(result: &Result<T, StateError>) -> bool {
    matches!(result, Err(StateError::Conflict(_)))
}

#[tokio::test]
async fn a_conditional_write_applies_when_the_key_holds_what_it_expects() {
    let (state, events) = memory();
    let absent = Some(Expect::Absent);
    let created = state.set_if("s", "k", absent, json!({"n": 1}), ROOT).await.expect("created");
    assert_eq!(created, Change { old_value: None, new_value: Some(json!({"n": 1})) });

    // The expected value compares as JSON: another member order, another spelling of 1.
    let read_back: Value = serde_json::from_str(r#"{"n": 1.0}"#).expect("JSON");
    let set = state.set_if("s", "k", Some(Expect::Value(read_back)), json!({"n": 2}), ROOT).await;
    assert_eq!(set.expect("set").new_value, Some(json!({"n": 2})));

    let updated = state.update_if("s", "k", expect(json!({"n": 2})), &increment("n"), ROOT).await;
    assert_eq!(updated.expect("updated").new_value, Some(json!({"n": 3})));

    let deleted = state.delete_if("s", "k", expect(json!({"n": 3})), ROOT).await;
    assert_eq!(deleted.expect("deleted"), Some(json!({"n": 3})));
    assert_eq!(get(&state, "s", "k").await, None);
    let kinds: Vec<ChangeKind> = events.changes().into_iter().map(|c| c.kind).collect();
    use ChangeKind::{Created, Deleted, Updated};
    assert_eq!(kinds, [Created, Updated, Updated, Deleted]);
}

#[tokio::test]
async fn a_conditional_write_that_expects_something_else_conflicts_and_changes_nothing() {
    let (state, events) = memory();
    state.set("s", "k", json!({"n": 1}), ROOT).await.expect("set");
    events.take();

    let stale = || expect(json!({"n": 0}));
    assert!(is_conflict(&state.set_if("s", "k", stale(), json!(9), ROOT).await));
    assert!(is_conflict(&state.update_if("s", "k", stale(), &increment("n"), ROOT).await));
    assert!(is_conflict(&state.delete_if("s", "k", stale(), ROOT).await));
    let created_twice = state.set_if("s", "k", Some(Expect::Absent), json!(9), ROOT).await;
    assert!(is_conflict(&created_twice), "a key that exists is not absent");
    // A missing key holds no value, not even null.
    let missing = state.set_if("s", "gone", expect(Value::Null), json!(9), ROOT).await;
    assert!(is_conflict(&missing));
    assert!(is_conflict(&state.update_if("s", "gone", stale(), &increment("n"), ROOT).await));

    assert_eq!(get(&state, "s", "k").await, Some(json!({"n": 1})));
    assert_eq!(get(&state, "s", "gone").await, None);
    assert!(events.take().is_empty(), "nothing fired");
    // The conflict maps to HTTP 409 and a guest's `conflict`.
    let error =
        crate::error::Error::from(state.delete_if("s", "k", stale(), ROOT).await.unwrap_err());
    assert_eq!(error.code.status(), 409);
}

#[tokio::test]
async fn concurrent_read_modify_writes_never_lose_one_when_they_expect_what_they_read() {
    let (state, _) = memory();
    state.set("s", "counter", json!({"n": 0}), ROOT).await.expect("set");
    let writers = 32;
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let state = state.clone();
            tokio::spawn(async move {
                let mut tries = 0;
                loop {
                    tries += 1;
                    let old = state.get("s", "counter").await.expect("get").expect("a value");
                    let new = json!({"n": old["n"].as_u64().expect("a count") + 1});
                    match state.set_if("s", "counter", Some(Expect::Value(old)), new, ROOT).await {
                        Ok(_) => return tries,
                        Err(StateError::Conflict(_)) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    let mut tries = 0;
    for task in tasks {
        tries += task.await.expect("task");
    }
    assert_eq!(get(&state, "s", "counter").await, Some(json!({"n": writers})), "none lost");
    // A loser retries only because another writer won: never more tries than the writers'
    // turns (each win makes at most every other writer retry once).
    assert!(tries <= writers * (writers + 1) / 2, "{tries} tries");
}

#[tokio::test]
async fn a_txn_hears_of_a_conflict_with_what_it_sees_at_once() {
    let (state, _) = memory();
    state.set("s", "k", json!(1), ROOT).await.expect("set");
    let mut txn = state.begin(depth(1));
    assert!(is_conflict(&txn.set_if("s", "k", expect(json!(0)), json!(2)).await));
    // Its own writes count: after a set in the transaction, the key holds that value.
    txn.set("s", "k", json!(5)).await.expect("set");
    let change = txn.set_if("s", "k", expect(json!(5)), json!(6)).await.expect("set_if");
    assert_eq!(change.old_value, Some(json!(5)));
    txn.delete("s", "k").await.expect("delete");
    txn.set_if("s", "k", Some(Expect::Absent), json!(7)).await.expect("absent in the txn");
    state.commit(txn, None).await.expect("commit");
    assert_eq!(get(&state, "s", "k").await, Some(json!(7)));
}

#[tokio::test]
async fn a_txn_whose_condition_fails_at_commit_commits_nothing_and_stays_owed() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    state.set("s", "k", json!({"v": 1}), ROOT).await.expect("set");
    events.take();

    let mut txn = state.begin(depth(1));
    txn.set("s", "other", json!(1)).await.expect("set");
    txn.update_if("s", "k", expect(json!({"v": 1})), &increment("n")).await.expect("holds now");
    txn.update(QUIET, "count", &increment("n")).await.expect("update");
    // Another write changes the key before the handler commits.
    state.set("s", "k", json!({"v": 2}), ROOT).await.expect("set");
    events.take();
    let committed = state.commit(txn, completion(event.seq, "f", true)).await;
    assert!(is_conflict(&committed), "{committed:?}");

    assert_eq!(get(&state, "s", "k").await, Some(json!({"v": 2})));
    assert_eq!(get(&state, "s", "other").await, None, "all or nothing");
    assert_eq!(counted(&state, "count").await, None);
    assert!(events.take().is_empty());
    // The delivery was not marked: the handler's retry commits, once.
    count(&state, "count", completion(event.seq, "f", true)).await.expect("retry");
    count(&state, "count", completion(event.seq, "f", true)).await.expect("no repeat");
    assert_eq!(counted(&state, "count").await, Some(json!(1)));
}

#[tokio::test]
async fn of_two_writes_in_one_round_expecting_one_value_the_second_sees_the_first() {
    let (state, _) = memory();
    state.set("s", "k", json!(0), ROOT).await.expect("set");
    // Queued back to back: the writer usually takes them in one round, where the second must
    // see the first's staged value; in two rounds it sees it committed. Either way one wins.
    let (first, second) = tokio::join!(
        state.set_if("s", "k", expect(json!(0)), json!(1), ROOT),
        state.set_if("s", "k", expect(json!(0)), json!(2), ROOT),
    );
    assert_eq!(first.expect("the first wins").new_value, Some(json!(1)));
    assert!(is_conflict(&second));
    assert_eq!(get(&state, "s", "k").await, Some(json!(1)));
}
