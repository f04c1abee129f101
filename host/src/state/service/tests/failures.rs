//! What a failed or held commit leaves behind, with an engine that fails on demand.

use super::*;

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
    /// Commits asked for, failed ones included.
    attempts: AtomicUsize,
    hold: Mutex<Hold>,
    released: Condvar,
}

#[derive(Default)]
struct Hold {
    held: bool,
    /// Commits waiting for the release.
    waiting: usize,
    /// Commits let through while held.
    passes: usize,
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

    /// Lets one held commit through, and holds the next.
    fn release_one(&self) {
        lock(&self.0.hold).passes += 1;
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
        self.0.attempts.fetch_add(1, Ordering::SeqCst);
        {
            let mut hold = lock(&self.0.hold);
            hold.waiting += 1;
            while hold.held && hold.passes == 0 {
                hold = self.0.released.wait(hold).unwrap_or_else(|e| e.into_inner());
            }
            if hold.held {
                hold.passes -= 1;
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
async fn mirrored(state: &State) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for scope in state.list_groups().await.expect("groups") {
        for (key, value) in state.entries(&scope, None, None, None).await.expect("entries") {
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
    assert_eq!(counted(&state, "c").await, Some(json!(1)), "and is visible at once");

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
    txn.set("t", "y", json!(1)).await.expect("set");
    txn.update(QUIET, "k", &increment("n")).await.expect("update");
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
    until_writes_work(&state).await;

    assert_eq!(mirrored(&state).await, engine.entries(), "the mirror is what the engine holds");
    assert_eq!(get(&state, "s", "a").await, Some(json!({"n": 1})));
    assert_eq!(get(&state, "s", "b").await, Some(json!(1)));
    assert_eq!(get(&state, "t", "x").await, None);
    assert_eq!(counted(&state, "k").await, None);
    assert_eq!(state.dead_letters().await.expect("dead letters"), engine.dead_letters());
    assert!(state.dead_letters().await.expect("dead letters").is_empty());
    let fired = events.take();
    assert_eq!(fired.len(), 1, "only the held round's event");
    assert_eq!(fired[0].change.new_value, Some(json!({"n": 1})));

    // The failed delivery was not marked, so it can commit now, once.
    count(&state, "k", completion(event.seq, "f::a", false)).await.expect("commit");
    count(&state, "k", completion(event.seq, "f::a", false)).await.expect("no error");
    assert_eq!(counted(&state, "k").await, Some(json!(1)));
    state.update("s", "a", &increment("n"), ROOT).await.expect("writes work again");
    assert_eq!(get(&state, "s", "a").await, Some(json!({"n": 2})));
    let next = events.take();
    assert_eq!(next.len(), 1);
    assert!(next[0].seq > fired[0].seq, "seqs still increase");
    assert_eq!(mirrored(&state).await, engine.entries());
}

#[tokio::test]
async fn after_commit_actions_do_not_run_when_the_engine_fails() {
    let engine = TestEngine::default();
    let (state, _, _) = open(Box::new(engine.clone()));
    let ran = Arc::new(AtomicBool::new(false));
    let mut txn = state.begin(ROOT);
    txn.set("s", "k", json!(1)).await.expect("set");
    let flag = ran.clone();
    txn.after_commit(Box::new(move || {
        flag.store(true, Ordering::SeqCst);
        Box::pin(async {})
    }));
    engine.fail(true);
    assert!(is_storage(&state.commit(txn, None).await));
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(get(&state, "s", "k").await, None);
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
    txn.after_commit(Box::new(move || {
        flag.store(true, Ordering::SeqCst);
        Box::pin(async {})
    }));
    engine.fail(true);
    let mark = Completion { seq, function: "f".into(), last: true };
    let commit = state.commit(txn, Some(mark));
    assert!(ran.load(Ordering::SeqCst), "ran when the commit was asked for");
    // The mark's commit still reports its own failure, so the delivery is retried.
    assert!(is_storage(&commit.await));
}

/// Waits (up to 10 s) until the store, refusing writes since a failed commit, takes them again.
async fn until_writes_work(state: &State) {
    for _ in 0..500 {
        if state.set(QUIET, "recovered", json!(true), ROOT).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("writes never worked again");
}

#[tokio::test]
async fn after_a_failed_commit_writes_are_refused_without_touching_the_engine_until_it_recovers() {
    let engine = TestEngine::default();
    let (state, _, _) = open(Box::new(engine.clone()));
    engine.fail(true);
    assert!(is_storage(&state.set("s", "a", json!(1), ROOT).await));
    let tried = engine.0.attempts.load(Ordering::SeqCst);
    let refused = state.set("s", "b", json!(1), ROOT).await;
    assert!(matches!(&refused, Err(StateError::Unavailable(m)) if m.contains("try again")));
    let now = engine.0.attempts.load(Ordering::SeqCst);
    assert_eq!(now, tried, "a refused write never reached the engine");
    assert!(state.outage().is_some(), "health sees the outage");
    engine.fail(false);
    until_writes_work(&state).await;
    assert!(state.outage().is_none());
    state.set("s", "c", json!(1), ROOT).await.expect("writes work again");
    assert_eq!(get(&state, "s", "a").await, None);
    assert_eq!(get(&state, "s", "c").await, Some(json!(1)));
}

#[tokio::test]
async fn a_conflict_is_answered_once_the_write_it_lost_to_is_committed() {
    let engine = TestEngine::default();
    let (state, _, _) = open(Box::new(engine.clone()));
    state.set("s", "k", json!(0), ROOT).await.expect("set");
    let expect = || Some(crate::state::Expect::Value(json!(0)));

    // Two writes expecting 0 queue up behind a held commit, so they share the next round.
    engine.hold();
    let held = queued(state.set("s", "other", json!(1), ROOT));
    wait_until("the writer is committing", || engine.waiting() == 1).await;
    let winner = queued(state.set_if("s", "k", expect(), json!(1), ROOT));
    let mut loser = queued(state.set_if("s", "k", expect(), json!(2), ROOT));
    let commits = engine.commits().len();
    engine.release_one();
    held.await.expect("the held round committed");
    wait_until("their round is committing", || {
        engine.commits().len() == commits + 1 && engine.waiting() == 1
    })
    .await;
    let poll = loser.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(poll.is_pending(), "the loser is answered only after the winner's commit");

    engine.release();
    assert_eq!(winner.await.expect("the winner").new_value, Some(json!(1)));
    assert!(matches!(loser.await, Err(StateError::Conflict(_))));
    assert_eq!(get(&state, "s", "k").await, Some(json!(1)), "a read after it sees the winner");
}
