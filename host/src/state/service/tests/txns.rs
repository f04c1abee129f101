//! Trigger handlers' transactions: read-your-writes, all-or-nothing commits, after-commit
//! actions.

use super::*;

#[tokio::test]
async fn a_txn_reads_its_own_writes_through_get_list_and_list_groups() {
    let (state, events) = memory();
    for (key, value) in [("a", 1), ("b", 2), ("c", 3)] {
        state.set("s", key, json!(value), ROOT).await.expect("set");
    }
    state.set("gone", "only", json!(1), ROOT).await.expect("set");
    events.take();

    let mut txn = state.begin(depth(1));
    let change = txn.set("s", "b", json!(20)).await.expect("set");
    assert_eq!(change, Change { old_value: Some(json!(2)), new_value: Some(json!(20)) });
    txn.set("s", "d", json!(4)).await.expect("set");
    assert_eq!(txn.delete("s", "c").await.expect("delete"), Some(json!(3)));
    assert_eq!(txn.delete("s", "c").await.expect("delete"), None, "deleted in the txn already");
    txn.update("s", "e", &increment("n")).await.expect("update");
    let second = txn.update("s", "e", &increment("n")).await.expect("update");
    assert_eq!(
        (second.old_value, second.new_value),
        (Some(json!({"n": 1})), Some(json!({"n": 2})))
    );
    txn.set("new", "x", json!(1)).await.expect("set");
    txn.delete("gone", "only").await.expect("delete");

    assert_eq!(txn.get("s", "a").await.expect("get"), Some(json!(1)));
    assert_eq!(txn.get("s", "b").await.expect("get"), Some(json!(20)));
    assert_eq!(txn.get("s", "c").await.expect("get"), None);
    assert_eq!(txn.get("s", "e").await.expect("get"), Some(json!({"n": 2})));
    let list = async |prefix: Option<&str>, after: Option<&str>, limit: Option<usize>| {
        txn.list("s", prefix, after, limit).await.expect("list")
    };
    assert_eq!(list(None, None, None).await, [json!(1), json!(20), json!(4), json!({"n": 2})]);
    assert_eq!(list(None, Some("a"), Some(2)).await, [json!(20), json!(4)]);
    assert_eq!(list(Some("c"), None, None).await, Vec::<Value>::new());
    assert_eq!(list(Some("d"), None, None).await, [json!(4)]);
    assert_eq!(txn.list_groups().await.expect("groups"), ["new", "s"]);

    // Nothing of it is visible outside the transaction yet.
    assert_eq!(get(&state, "s", "b").await, Some(json!(2)));
    assert_eq!(get(&state, "s", "c").await, Some(json!(3)));
    assert_eq!(get(&state, "s", "d").await, None);
    assert_eq!(
        state.list("s", None, None, None).await.expect("list"),
        [json!(1), json!(2), json!(3)]
    );
    assert_eq!(state.list_groups().await.expect("groups"), ["gone", "s"]);
    assert!(events.take().is_empty());
}

#[tokio::test]
async fn committing_a_txn_applies_all_its_writes_with_one_event_each_in_order() {
    let (state, events) = memory();
    state.set("s", "old", json!("x"), ROOT).await.expect("set");
    events.take();
    let mut txn = state.begin(depth(2));
    txn.set("s", "a", json!(1)).await.expect("set");
    txn.update("s", "a", &json!([{"type": "set", "path": "", "value": 2}])).await.expect("update");
    txn.delete("s", "old").await.expect("delete");
    txn.set("t", "b", json!(true)).await.expect("set");
    state.commit(txn, None).await.expect("commit");

    assert_eq!(get(&state, "s", "a").await, Some(json!(2)));
    assert_eq!(get(&state, "s", "old").await, None);
    assert_eq!(get(&state, "t", "b").await, Some(json!(true)));
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
    txn.set("s", "first", json!(1)).await.expect("set");
    let append = json!([{"type": "append", "path": "t", "value": "y".repeat(200)}]);
    txn.update("s", "doc", &append).await.expect("fits now");
    // By the time the transaction commits, the append no longer fits.
    let big = json!({"t": "x".repeat(MAX_VALUE_BYTES - 100)});
    state.set("s", "doc", big.clone(), ROOT).await.expect("set");
    events.take();
    assert!(is_invalid(&state.commit(txn, None).await));
    assert_eq!(get(&state, "s", "first").await, None);
    assert_eq!(get(&state, "s", "doc").await, Some(big));
    assert!(events.take().is_empty());
}

#[tokio::test]
async fn a_txn_refuses_invalid_writes_and_records_nothing_for_them() {
    let (state, _) = memory();
    let mut txn = state.begin(ROOT);
    assert!(is_invalid(&txn.set("", "k", json!(1)).await));
    assert!(is_invalid(&txn.set("s", &"k".repeat(MAX_KEY_BYTES + 1), json!(1)).await));
    assert!(is_invalid(&txn.set("s", "k", json!("x".repeat(MAX_VALUE_BYTES))).await));
    assert!(is_invalid(&txn.update("s", "k", &json!({"type": "set"})).await));
    assert!(is_invalid(&txn.delete("s", "").await));
    assert!(is_invalid(&txn.list("", None, None, None).await));
    assert!(txn.is_empty());
}

#[tokio::test]
async fn two_txns_incrementing_one_key_both_count() {
    let (state, events) = memory();
    let mut first = state.begin(depth(1));
    let mut second = state.begin(depth(1));
    let seen_by_first = first.update("s", "k", &increment("n")).await.expect("update");
    let seen_by_second = second.update("s", "k", &increment("n")).await.expect("update");
    assert_eq!(seen_by_first.new_value, Some(json!({"n": 1})));
    assert_eq!(seen_by_second.new_value, Some(json!({"n": 1})));
    state.commit(first, None).await.expect("commit");
    state.commit(second, None).await.expect("commit");
    assert_eq!(get(&state, "s", "k").await, Some(json!({"n": 2})));
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
    txn.set("s", "status", json!("done")).await.expect("set");
    txn.delete("s", "claim").await.expect("delete");
    state.set("s", "status", json!("open"), ROOT).await.expect("set");
    state.set("s", "claim", json!("someone"), ROOT).await.expect("set");
    state.commit(txn, None).await.expect("commit");
    assert_eq!(
        get(&state, "s", "status").await,
        Some(json!("done")),
        "the txn's set committed last"
    );
    assert_eq!(get(&state, "s", "claim").await, None, "the txn's delete committed last");
}

#[tokio::test]
async fn a_dropped_txn_changes_nothing() {
    let (state, events) = memory();
    let ran = Arc::new(AtomicBool::new(false));
    let mut txn = state.begin(ROOT);
    txn.set("s", "k", json!(1)).await.expect("set");
    txn.update("s", "n", &increment("n")).await.expect("update");
    let flag = ran.clone();
    txn.after_commit(Box::new(move || {
        flag.store(true, Ordering::SeqCst);
        Box::pin(async {})
    }));
    drop(txn);
    state.flush().await.expect("flush");
    assert_eq!(get(&state, "s", "k").await, None);
    assert_eq!(get(&state, "s", "n").await, None);
    assert!(events.take().is_empty());
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn after_commit_actions_run_only_once_the_commit_succeeded() {
    let (state, _) = memory();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut txn = state.begin(ROOT);
    txn.set("s", "k", json!(1)).await.expect("set");
    let (record, reader) = (seen.clone(), state.clone());
    txn.after_commit(Box::new(move || {
        Box::pin(async move {
            let read = reader.get("s", "k").await;
            lock(&record).push(read.ok().flatten());
        })
    }));
    let commit = state.commit(txn, None);
    assert!(lock(&seen).is_empty(), "not before the commit is done");
    commit.await.expect("commit");
    assert_eq!(*lock(&seen), [Some(json!(1))], "once, and the write is visible to it");

    // A commit that fails runs none of its actions.
    state.set("s", "doc", json!({"t": ""}), ROOT).await.expect("set");
    let mut txn = state.begin(ROOT);
    txn.update("s", "doc", &json!([{"type": "append", "path": "t", "value": "y".repeat(200)}]))
        .await
        .expect("fits now");
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    txn.after_commit(Box::new(move || {
        flag.store(true, Ordering::SeqCst);
        Box::pin(async {})
    }));
    let big = json!({"t": "x".repeat(MAX_VALUE_BYTES - 100)});
    state.set("s", "doc", big, ROOT).await.expect("set");
    assert!(state.commit(txn, None).await.is_err());
    assert!(!ran.load(Ordering::SeqCst));
}
