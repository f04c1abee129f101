//! Delivery marks, completions and dead letters.

use super::*;

#[tokio::test]
async fn a_completion_that_is_not_last_leaves_the_event_for_other_functions() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    count(&state, "k", completion(event.seq, "f::a", false)).await.expect("commit");
    count(&state, "k", completion(event.seq, "f::b", false)).await.expect("commit");
    assert_eq!(counted(&state, "k").await, Some(json!(2)));
}

#[tokio::test]
async fn a_second_commit_for_the_same_delivery_commits_nothing() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    count(&state, "k", completion(event.seq, "f::a", false)).await.expect("commit");
    count(&state, "k", completion(event.seq, "f::a", false)).await.expect("a repeat is no error");
    count(&state, "k", completion(event.seq, "f::a", true)).await.expect("a repeat is no error");
    assert_eq!(counted(&state, "k").await, Some(json!(1)), "the writes are not applied twice");
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
    assert_eq!(counted(&state, "k").await, Some(json!(2)));
    count(&state, "k", completion(other.seq, "f::c", true)).await.expect("commit");
    assert_eq!(counted(&state, "k").await, Some(json!(3)), "other events are untouched");
}

#[tokio::test]
async fn a_completion_for_an_event_never_in_the_outbox_commits_nothing() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    count(&state, "k", completion(event.seq + 100, "f::a", true)).await.expect("no error");
    assert_eq!(counted(&state, "k").await, None);
}

// ---------------------------------------------------------------------------------------------
// dead letters

#[tokio::test]
async fn a_parked_delivery_is_listed_as_a_dead_letter() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    state.park(event.clone(), "f::a".into(), "boom".into(), 3, false).await.expect("park");
    let letters = state.dead_letters().await.expect("dead letters");
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
    assert_eq!(counted(&state, "k").await, None);
    count(&state, "k", completion(event.seq, "f::b", true)).await.expect("commit");
    assert_eq!(counted(&state, "k").await, Some(json!(1)));
}

#[tokio::test]
async fn parking_the_last_delivery_retires_the_event() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    state.park(event.clone(), "f::a".into(), "boom".into(), 1, true).await.expect("park");
    count(&state, "k", completion(event.seq, "f::b", true)).await.expect("no error");
    assert_eq!(counted(&state, "k").await, None);
}

#[tokio::test]
async fn replaying_a_dead_letter_emits_it_again_for_the_function_that_failed() {
    let (state, events) = memory();
    let event = event_for(&state, &events, "d").await;
    state.park(event.clone(), "f::a".into(), "boom".into(), 3, true).await.expect("park");
    let id = state.dead_letters().await.expect("dead letters")[0].id;
    assert_eq!(state.replay(Some(id)).await.expect("replay"), [id]);
    assert!(state.dead_letters().await.expect("dead letters").is_empty());
    let replayed = events.take();
    assert_eq!(replayed.len(), 1);
    assert!(replayed[0].seq > event.seq, "a new seq");
    assert_eq!(replayed[0].change, event.change);
    assert_eq!(replayed[0].target.as_deref(), Some("f::a"));
    // The replayed event is in the outbox: its delivery can complete.
    count(&state, "k", completion(replayed[0].seq, "f::a", true)).await.expect("commit");
    assert_eq!(counted(&state, "k").await, Some(json!(1)));
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
    let ids: Vec<u64> =
        state.dead_letters().await.expect("dead letters").iter().map(|letter| letter.id).collect();
    assert_eq!(state.replay(None).await.expect("replay"), ids);
    assert!(state.dead_letters().await.expect("dead letters").is_empty());
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
        ids.extend(
            state.dead_letters().await.expect("dead letters").iter().map(|letter| letter.id),
        );
        state.replay(None).await.expect("replay");
    }
    assert_eq!(ids, [0, 1, 2]);
}
