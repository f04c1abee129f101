//! Tests of the state service as its callers use it: [`State`] over the memory engine for the
//! behaviour of writes, reads, change events, transactions, completions and dead letters; over
//! [`RedbEngine`] for what survives a close and reopen; and over [`TestEngine`], which fails or
//! holds commits on demand, for what a failed commit leaves behind. `conditional.rs` covers
//! conditional writes (`set_if` and its kin).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cause::Cause;
use crate::state::engine::{Batch, DeadLetter, Engine, Loaded, MemoryEngine, OutboxEvent};
use crate::state::redb::RedbEngine;
use crate::state::{
    Change, ChangeKind, Completion, MAX_KEY_BYTES, MAX_SCOPE_BYTES, MAX_VALUE_BYTES, Recovered,
    State, StateChange, StateError,
};

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
    let bound_to =
        Arc::new(
            |scope: &str, _key: &str| {
                if scope == QUIET { vec![] } else { vec!["watcher::on-change".to_string()] }
            },
        );
    let (state, recovered) =
        State::open(engine, on_event, bound_to, Default::default()).expect("open");
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

/// Whether `result` says the storage failed (or refuses writes since it did).
fn is_storage<T>(result: &Result<T, StateError>) -> bool {
    matches!(result, Err(StateError::Storage(_) | StateError::Unavailable(_)))
}

fn increment(path: &str) -> Value {
    json!([{"type": "increment", "path": path, "by": 1}])
}

async fn get(state: &State, scope: &str, key: &str) -> Option<Value> {
    state.get(scope, key).await.expect("a valid scope and key")
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
    txn.update(QUIET, key, &increment("n")).await.expect("valid ops");
    state.commit(txn, completion).await
}

async fn counted(state: &State, key: &str) -> Option<Value> {
    get(state, QUIET, key).await.map(|value| value["n"].clone())
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

mod conditional;
mod deliveries;
mod durability;
mod failures;
mod txns;
mod writes;
