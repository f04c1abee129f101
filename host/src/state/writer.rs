//! The writer thread: the one place a host changes state. Every write, every trigger
//! handler's transaction, every delivery mark and dead letter arrives here as a [`Request`], in
//! order. The thread takes everything queued into one round, begins it in the [`Store`] (which
//! locks what the round touches, on a shared store), applies each request against the
//! committed state plus the writes staged before it, and commits the round as one [`Batch`]
//! with one sync (group commit: the more writers wait, the more each sync carries). Only after
//! the commit does it publish: readers see the values, the change events go to the dispatcher,
//! and the callers are answered. So an acknowledged write is durable, and a reader never sees
//! one that could still be lost.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;

use super::change::{ChangeKind, StateChange};
use super::checks::check_size;
use super::engine::{Batch, DeadLetter, OutboxEvent};
use super::error::StateError;
use super::expect::Expect;
use super::ops::{self, OpError};
use super::quota::{Delta, Quota};
use super::store::Store;
use crate::cause::Cause;

/// Most requests folded into one batch: bounds a commit's size and the wait of its first caller.
const MAX_BATCH: usize = 4096;

/// A round of nothing but trigger deliveries (handlers' transactions with their delivery marks,
/// dead letters) is committed lazily ([`Batch::lazy`]): no sync of its own, durable with the
/// next round that syncs. That is safe because nobody was promised it — a crash that loses it
/// loses the handlers' writes and their marks together, the events are still in the outbox,
/// and they are delivered again — and it takes a sync per event off the disk. Writes that
/// answer a caller sync as before (and carry the lazy rounds before them). With no such write
/// within this long, the writer syncs on its own...
const LAZY_IDLE: Duration = Duration::from_millis(2);
/// ...and a lazy round never waits longer than this for its sync, so a crash redoes at most
/// this much handler work.
const LAZY_MAX: Duration = Duration::from_millis(10);

/// One change a write makes to a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Set(Value),
    /// Update ops (a JSON array), applied to the value current when the write commits.
    Update(Value),
    Delete,
}

/// A write of a transaction: which key and what.
#[derive(Debug, Clone, PartialEq)]
pub struct TxWrite {
    pub scope: String,
    pub key: String,
    pub write: Write,
    /// What the key must hold when the write applies, or the write (and its whole
    /// transaction) fails with a conflict; `None`: no condition.
    pub expect: Option<Expect>,
}

/// Which delivery a committed transaction completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The outbox event handled.
    pub seq: u64,
    /// The function that handled it.
    pub function: String,
    /// Whether this was the event's last outstanding function: then the event leaves the outbox.
    pub last: bool,
}

/// The outcome of one write: the value before and after, and the update ops that failed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WriteResult {
    pub old: Option<Value>,
    pub new: Option<Value>,
    pub errors: Vec<OpError>,
}

type Reply<T> = oneshot::Sender<Result<T, StateError>>;

/// Answers one request of a round with the round's commit result.
type Answer = Box<dyn FnOnce(Result<(), &StateError>) + Send>;

/// What the writer thread is asked to do.
pub enum Request {
    /// One write, committed on its own (well, with whatever else is queued).
    Write { change: TxWrite, cause: Cause, reply: Reply<WriteResult> },
    /// A trigger handler's writes, all or nothing, with the mark that its delivery is done.
    Commit { writes: Vec<TxWrite>, cause: Cause, completion: Option<Completion>, reply: Reply<()> },
    /// A delivery that failed every retry: parked as a dead letter.
    Park {
        event: OutboxEvent,
        function: String,
        error: String,
        attempts: u32,
        last: bool,
        reply: Reply<()>,
    },
    /// Dead letters back into the outbox (one by id, or all).
    Replay { id: Option<u64>, reply: Reply<Vec<u64>> },
    /// Answered once everything queued before it is committed.
    Flush { reply: Reply<()> },
    /// Commits what is queued, closes the engine and stops; answered once the engine is closed.
    Close { reply: Reply<()> },
}

/// Called with each committed change event, in commit order.
pub type OnEvent = Arc<dyn Fn(OutboxEvent) + Send + Sync>;
/// The ids of the functions bound to changes of `(scope, key)`. A change event records them;
/// one nobody is bound to is not written to the outbox at all.
pub type BoundTo = Arc<dyn Fn(&str, &str) -> Vec<String> + Send + Sync>;

/// The thread's own state.
pub struct Writer {
    store: Box<dyn Store>,
    on_event: OnEvent,
    bound_to: BoundTo,
    quota: Quota,
    /// When the oldest lazy round not yet synced was committed.
    unsynced_since: Option<Instant>,
}

/// The requests of one round, and what to publish once they are committed.
#[derive(Default)]
struct Round {
    /// Whether the round may be committed lazily: it holds trigger deliveries only.
    lazy: bool,
    batch: Batch,
    /// Values written in this round, which later requests of the round must see.
    staged: HashMap<(String, String), Option<Value>>,
    /// Bytes the round's writes add to (or free in) each scope, for the quota.
    sizes: Vec<Delta>,
    /// Deliveries this round completes, so a repeat within it is caught too.
    completed: HashSet<(u64, String)>,
    /// Dead letters this round parks or replays.
    dead_added: Vec<DeadLetter>,
    dead_removed: Vec<u64>,
    replies: Vec<Answer>,
    /// Set by a `Close` request: stop after this round.
    close: Option<Reply<()>>,
}

impl Writer {
    pub fn new(
        store: Box<dyn Store>,
        on_event: OnEvent,
        bound_to: BoundTo,
        quota: Quota,
    ) -> Writer {
        Writer { store, on_event, bound_to, quota, unsynced_since: None }
    }

    /// Serves requests until asked to close or every sender is gone.
    pub fn run(mut self, requests: Receiver<Request>) {
        loop {
            let first = match self.unsynced_since {
                None => match requests.recv() {
                    Ok(request) => request,
                    Err(_) => break,
                },
                Some(since) => {
                    // A store refusing commits after a failure says when to try again.
                    let wait = LAZY_IDLE.min(LAZY_MAX.saturating_sub(since.elapsed()));
                    let wait = wait.max(self.store.retry_in().unwrap_or_default());
                    match requests.recv_timeout(wait) {
                        Ok(request) => request,
                        Err(RecvTimeoutError::Timeout) => {
                            // Nothing came to carry the lazy rounds: sync them now. A failure
                            // is logged by `finish`; they stay unsynced and are tried again.
                            let _ = self.finish(Round::default());
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            let mut queued = vec![first];
            while queued.len() < MAX_BATCH && !matches!(queued.last(), Some(Request::Close { .. }))
            {
                match requests.try_recv() {
                    Ok(request) => queued.push(request),
                    Err(_) => break,
                }
            }
            let overdue = self.unsynced_since.is_some_and(|since| since.elapsed() >= LAZY_MAX);
            let mut round = Round { lazy: !overdue, ..Round::default() };
            if let Err(e) = self.begin(&queued) {
                tracing::error!(store = self.store.name(), error = %e, "could not begin a state round");
                for request in queued {
                    if let Request::Close { reply } = request {
                        round.close = Some(reply);
                    } else {
                        request.fail(&e);
                    }
                }
            } else {
                for request in queued {
                    self.process(request, &mut round);
                }
            }
            let close = round.close.take();
            let committed = self.finish(round);
            if let Some(reply) = close {
                let name = self.store.name();
                drop(self);
                tracing::debug!(store = name, "state closed");
                // The close reports the last commit: what was queued before it is in, or not.
                let _ = reply.send(committed);
                return;
            }
        }
        if self.unsynced_since.is_some() {
            // Every sender is gone: nobody to answer; a failure is logged by `finish`.
            let _ = self.finish(Round::default());
        }
        tracing::debug!(store = self.store.name(), "state writer stopped");
    }

    /// Begins a round of `requests` in the store: the keys they write, the events they
    /// complete, and how many events their writes may make.
    fn begin(&mut self, requests: &[Request]) -> Result<(), StateError> {
        let mut keys = BTreeSet::new();
        let mut events = BTreeSet::new();
        let mut seqs = 0;
        let mut watched = |scope: &str, key: &str| {
            seqs += usize::from(!(self.bound_to)(scope, key).is_empty());
        };
        for request in requests {
            match request {
                Request::Write { change, .. } => {
                    watched(&change.scope, &change.key);
                    keys.insert((change.scope.clone(), change.key.clone()));
                }
                Request::Commit { writes, completion, .. } => {
                    writes.iter().for_each(|w| watched(&w.scope, &w.key));
                    keys.extend(writes.iter().map(|w| (w.scope.clone(), w.key.clone())));
                    events.extend(completion.as_ref().map(|c| c.seq));
                }
                Request::Park { event, .. } => {
                    events.insert(event.seq);
                }
                Request::Replay { .. } | Request::Flush { .. } | Request::Close { .. } => {}
            }
        }
        self.store.begin(&keys, &events, seqs)
    }

    fn process(&mut self, request: Request, round: &mut Round) {
        // Only trigger deliveries (which the outbox redoes after a crash) may wait for a sync.
        round.lazy &=
            matches!(request, Request::Commit { completion: Some(_), .. } | Request::Park { .. });
        match request {
            Request::Write { change, cause, reply } => {
                match self.stage(round, vec![change], cause, true) {
                    Ok(mut results) => {
                        let result = results.pop().unwrap_or_default();
                        round.replies.push(Box::new(move |r| {
                            let _ = reply.send(r.map(|()| result).map_err(|e| e.clone()));
                        }));
                    }
                    // Answered after the round's commit, like a success: a caller that reads
                    // again after a conflict then sees the write it lost to.
                    Err(e) => round.replies.push(Box::new(move |_| drop(reply.send(Err(e))))),
                }
            }
            Request::Commit { writes, cause, completion, reply } => {
                if let Some(c) = &completion {
                    match self.owed(round, c.seq, &c.function) {
                        Ok(true) => {}
                        Ok(false) => {
                            // Delivered already (a retry racing a restart, or another host):
                            // the effects are in; don't repeat them.
                            let _ = reply.send(Ok(()));
                            return;
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            return;
                        }
                    }
                }
                if let Err(e) = self.stage(round, writes, cause, false) {
                    round.replies.push(Box::new(move |_| drop(reply.send(Err(e)))));
                    return;
                }
                if let Some(c) = completion {
                    complete(round, c);
                }
                round.replies.push(Box::new(move |r| {
                    let _ = reply.send(r.map_err(|e| e.clone()));
                }));
            }
            Request::Park { event, function, error, attempts, last, reply } => {
                let parked = self.owed(round, event.seq, &function).and_then(|owed| {
                    if !owed {
                        return Ok(());
                    }
                    let letter = DeadLetter {
                        id: self.store.next_dead_letter()?,
                        event: event.clone(),
                        function: function.clone(),
                        error,
                        attempts,
                        parked_at_ms: crate::clock::now_ms(),
                    };
                    round.batch.dead_letters.push(letter.clone());
                    round.dead_added.push(letter);
                    complete(round, Completion { seq: event.seq, function, last });
                    Ok(())
                });
                round.replies.push(Box::new(move |r| {
                    let _ = reply.send(parked.and(r.map_err(|e| e.clone())));
                }));
            }
            Request::Replay { id, reply } => {
                let replayed = self.replay(round, id);
                round.replies.push(Box::new(move |r| {
                    let _ =
                        reply.send(replayed.and_then(|ids| r.map(|()| ids).map_err(|e| e.clone())));
                }));
            }
            Request::Flush { reply } => {
                round.replies.push(Box::new(move |r| {
                    let _ = reply.send(r.map_err(|e| e.clone()));
                }));
            }
            Request::Close { reply } => round.close = Some(reply),
        }
    }

    /// Whether `function`'s delivery of event `seq` is still owed: neither done before nor
    /// earlier in this round.
    fn owed(&mut self, round: &Round, seq: u64, function: &str) -> Result<bool, StateError> {
        if round.completed.contains(&(seq, function.to_owned())) {
            return Ok(false);
        }
        Ok(!self.store.delivered(seq, function)?)
    }

    /// Moves dead letters (one by id, or all) back into the outbox; returns their ids.
    fn replay(&mut self, round: &mut Round, id: Option<u64>) -> Result<Vec<u64>, StateError> {
        let mut letters = self.store.take_dead_letters(id)?;
        // Those parked earlier in this round too; none replayed earlier in it.
        letters.extend(round.dead_added.iter().filter(|d| id.is_none_or(|id| d.id == id)).cloned());
        letters.retain(|d| !round.dead_removed.contains(&d.id));
        let mut replayed = Vec::new();
        for letter in letters {
            let event = OutboxEvent {
                seq: self.store.next_seq()?,
                change: letter.event.change,
                bound: vec![letter.function.clone()],
                target: Some(letter.function),
            };
            round.batch.events.push(event);
            round.batch.dead_letters_removed.push(letter.id);
            round.dead_removed.push(letter.id);
            replayed.push(letter.id);
        }
        Ok(replayed)
    }

    /// Applies `writes` in order on top of what the round staged; all or nothing (a write whose
    /// key does not hold what it expects fails them all with a conflict). Returns each
    /// write's result when `results` is asked for (a trigger handler's commit needs none, and
    /// so its values move into the change events instead of being copied).
    fn stage(
        &mut self,
        round: &mut Round,
        writes: Vec<TxWrite>,
        cause: Cause,
        results: bool,
    ) -> Result<Vec<WriteResult>, StateError> {
        // A transaction that writes a key twice reads its own first write.
        let several = writes.len() > 1;
        let mut local: HashMap<(String, String), Option<Value>> = HashMap::new();
        let mut applied = Vec::with_capacity(writes.len());
        let mut sizes = Vec::new();
        {
            for TxWrite { scope, key, write, expect } in writes {
                let slot = (scope, key);
                let old = match local.get(&slot).or_else(|| round.staged.get(&slot)) {
                    Some(staged) => staged.clone(),
                    None => self.store.value(&slot.0, &slot.1)?,
                };
                if let Some(expect) = expect {
                    expect.check(&slot.0, &slot.1, old.as_ref())?;
                }
                let (new, errors) = match write {
                    // A value set was size-checked when it was queued.
                    Write::Set(value) => (Some(value), Vec::new()),
                    Write::Update(ops) => {
                        let (new, errors) = ops::apply_to_key(old.as_ref(), &ops)?;
                        if let Some(new) = &new {
                            check_size(new)?;
                        }
                        (new, errors)
                    }
                    Write::Delete => (None, Vec::new()),
                };
                sizes.extend(self.quota.delta(&slot.0, &slot.1, old.as_ref(), new.as_ref()));
                if several {
                    local.insert(slot.clone(), new.clone());
                }
                applied.push((slot, WriteResult { old, new, errors }));
            }
        }
        self.quota.check(&round.sizes, &sizes)?;
        round.sizes.append(&mut sizes);
        let mut answers = Vec::with_capacity(if results { applied.len() } else { 0 });
        for ((scope, key), WriteResult { old, new, errors }) in applied {
            let kind = ChangeKind::between(old.as_ref(), new.as_ref()).filter(|_| old != new);
            if results {
                answers.push(WriteResult { old: old.clone(), new: new.clone(), errors });
            }
            let Some(kind) = kind else { continue };
            let bound = (self.bound_to)(&scope, &key);
            if !bound.is_empty() {
                let change = StateChange {
                    kind,
                    scope: scope.clone(),
                    key: key.clone(),
                    old_value: old,
                    new_value: new.clone(),
                    cause,
                };
                let seq = self.store.next_seq()?;
                let event = OutboxEvent { seq, change, target: None, bound };
                round.batch.events.push(event);
            }
            round.staged.insert((scope, key), new);
        }
        Ok(answers)
    }

    /// Commits the round and publishes it, or fails every request in it. A round that is not
    /// lazy also makes the lazy rounds before it durable (even when it is empty itself).
    fn finish(&mut self, mut round: Round) -> Result<(), StateError> {
        // Each key written in the round once, with its last value.
        round.batch.writes =
            round.staged.drain().map(|((scope, key), value)| (scope, key, value)).collect();
        let result = if round.batch.is_empty() && (round.lazy || self.unsynced_since.is_none()) {
            self.store.end();
            Ok(())
        } else {
            round.batch.lazy = round.lazy;
            self.store.commit(&mut round.batch)
        };
        match &result {
            Ok(()) if round.lazy => {
                if !round.batch.is_empty() {
                    self.unsynced_since.get_or_insert_with(Instant::now);
                }
            }
            Ok(()) => self.unsynced_since = None,
            Err(_) => {}
        }
        if result.is_ok() {
            self.quota.add(std::mem::take(&mut round.sizes));
            for event in round.batch.events.drain(..).chain(self.store.take_lost()) {
                (self.on_event)(event);
            }
        }
        for reply in round.replies {
            reply(result.as_ref().map(|_| ()));
        }
        result
    }
}

/// Records that `completion.function` is done with its event.
fn complete(round: &mut Round, completion: Completion) {
    let Completion { seq, function, last } = completion;
    round.completed.insert((seq, function.clone()));
    if last {
        round.batch.completed.push(seq);
    } else {
        round.batch.delivered.push((seq, function));
    }
}

impl Request {
    /// Answers the request with `error`, unprocessed.
    fn fail(self, error: &StateError) {
        let error = error.clone();
        match self {
            Request::Write { reply, .. } => drop(reply.send(Err(error))),
            Request::Commit { reply, .. } | Request::Park { reply, .. } => {
                drop(reply.send(Err(error)))
            }
            Request::Replay { reply, .. } => drop(reply.send(Err(error))),
            Request::Flush { reply } | Request::Close { reply } => drop(reply.send(Err(error))),
        }
    }
}
