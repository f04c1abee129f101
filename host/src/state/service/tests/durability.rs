//! What survives a close and reopen of the redb engine.

use super::*;

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
    let letters = state.dead_letters().await.expect("dead letters");
    state.close().await.expect("close");

    let (state, recovered, _) = dir.open();
    assert_eq!(get(&state, "docs", "t1").await, Some(json!({"key": "t1"})));
    assert_eq!(get(&state, "docs", "t4").await, None);
    assert_eq!(counted(&state, "k").await, Some(json!(2)));
    assert_eq!(state.list_groups().await.expect("groups"), ["docs", QUIET]);
    assert_eq!(
        recovered.events,
        [half_done.clone(), untouched, deleted],
        "completed ones stay gone"
    );
    let marks = HashMap::from([(half_done.seq, HashSet::from(["f::a".to_owned()]))]);
    assert_eq!(recovered.delivered, marks);
    assert_eq!(state.dead_letters().await.expect("dead letters"), letters);
    // The mark still makes a repeated delivery a no-op after the restart.
    count(&state, "k", completion(half_done.seq, "f::a", true)).await.expect("no error");
    assert_eq!(counted(&state, "k").await, Some(json!(2)));
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
    let ids: Vec<u64> =
        state.dead_letters().await.expect("dead letters").iter().map(|letter| letter.id).collect();
    assert_eq!(ids, [1]);
    state.close().await.expect("close");
}

#[tokio::test]
async fn close_releases_the_file_so_it_can_be_reopened_at_once() {
    let dir = TempDir::new();
    for round in 0..3 {
        let (state, _, _) = dir.open();
        assert_eq!(get(&state, "s", "k").await, (round > 0).then(|| json!(round - 1)));
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
    assert_eq!(
        get(&state, "s", "k").await,
        Some(json!(1)),
        "reads still see the last committed state"
    );
}
