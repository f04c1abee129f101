//! The writer thread: the one place state changes. Every write, every trigger handler's
//! transaction, every delivery mark and dead letter arrives here as a [`Request`], in order. The
//! thread applies each against the committed state plus the writes staged before it, collects
//! everything queued meanwhile into one [`Batch`] and commits it with one sync (group commit:
//! the more writers wait, the more each sync carries). Only after the commit does it publish:
//! the mirror is updated, the change events go to the dispatcher, and the callers are answered.
//! So an acknowledged write is durable, and a reader never sees one that could still be lost.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;

use super::change::{ChangeKind, StateChange};
use super::checks::check_size;
use super::engine::{Batch, DeadLetter, Engine, Loaded, OutboxEvent};
use super::error::StateError;
use super::mirror::Mirror;
use super::ops::{self, OpError};
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

/// What the state service reads while the writer writes.
#[derive(Default)]
pub struct Shared {
    pub mirror: RwLock<Mirror>,
    pub dead_letters: Mutex<BTreeMap<u64, DeadLetter>>,
}

impl Shared {
    /// The committed state, for reading. The lock is held only for a lookup or a copy; a
    /// poisoned lock still holds whole data (the writer publishes a round in one assignment).
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Mirror> {
        self.mirror.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Called with each committed change event, in commit order.
pub type OnEvent = Arc<dyn Fn(OutboxEvent) + Send + Sync>;
/// Whether any function is bound to changes of `(scope, key)`: events nobody listens to are not
/// written to the outbox at all.
pub type HasSubscribers = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// The thread's own state.
pub struct Writer {
    engine: Box<dyn Engine>,
    shared: Arc<Shared>,
    on_event: OnEvent,
    has_subscribers: HasSubscribers,
    /// Seqs of events still in the outbox.
    outbox: HashSet<u64>,
    /// Delivery marks of those events.
    delivered: HashSet<(u64, String)>,
    next_seq: u64,
    next_dead_letter: u64,
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
    dead_added: Vec<DeadLetter>,
    dead_removed: Vec<u64>,
    replies: Vec<Answer>,
    requests: usize,
    /// Set by a `Close` request: stop after this round.
    close: Option<Reply<()>>,
}

impl Writer {
    /// Fills the mirror from what `engine` holds; returns the writer and what was loaded.
    pub fn load(
        mut engine: Box<dyn Engine>,
        shared: Arc<Shared>,
        on_event: OnEvent,
        has_subscribers: HasSubscribers,
    ) -> Result<(Writer, Loaded), StateError> {
        let loaded = engine.load()?;
        let mut writer = Writer {
            engine,
            shared,
            on_event,
            has_subscribers,
            outbox: HashSet::new(),
            delivered: HashSet::new(),
            next_seq: 0,
            next_dead_letter: 0,
            unsynced_since: None,
        };
        writer.adopt(&loaded);
        Ok((writer, loaded))
    }

    /// Makes the in-memory view equal to what the engine holds.
    fn adopt(&mut self, loaded: &Loaded) {
        let mut mirror = Mirror::default();
        for (scope, key, value) in &loaded.entries {
            mirror.put(scope, key, Some(value.clone()));
        }
        *self.shared.mirror.write().unwrap_or_else(|e| e.into_inner()) = mirror;
        *self.shared.dead_letters.lock().unwrap_or_else(|e| e.into_inner()) =
            loaded.dead_letters.iter().map(|d| (d.id, d.clone())).collect();
        self.outbox = loaded.outbox.iter().map(|e| e.seq).collect();
        self.delivered = loaded.delivered.iter().cloned().collect();
        self.next_seq = loaded.next_seq.max(loaded.outbox.last().map_or(0, |e| e.seq + 1));
        self.next_dead_letter =
            loaded.next_dead_letter.max(loaded.dead_letters.last().map_or(0, |d| d.id + 1));
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
                    let wait = LAZY_IDLE.min(LAZY_MAX.saturating_sub(since.elapsed()));
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
            let overdue = self.unsynced_since.is_some_and(|since| since.elapsed() >= LAZY_MAX);
            let mut round = Round { lazy: !overdue, ..Round::default() };
            self.process(first, &mut round);
            while round.requests < MAX_BATCH && round.close.is_none() {
                match requests.try_recv() {
                    Ok(request) => self.process(request, &mut round),
                    Err(_) => break,
                }
            }
            let close = round.close.take();
            let committed = self.finish(round);
            if let Some(reply) = close {
                let name = self.engine.name();
                drop(self);
                tracing::debug!(engine = name, "state closed");
                // The close reports the last commit: what was queued before it is in, or not.
                let _ = reply.send(committed);
                return;
            }
        }
        if self.unsynced_since.is_some() {
            // Every sender is gone: nobody to answer; a failure is logged by `finish`.
            let _ = self.finish(Round::default());
        }
        tracing::debug!(engine = self.engine.name(), "state writer stopped");
    }

    fn process(&mut self, request: Request, round: &mut Round) {
        round.requests += 1;
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
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Request::Commit { writes, cause, completion, reply } => {
                if let Some(c) = &completion
                    && (!self.outbox.contains(&c.seq)
                        || self.delivered.contains(&(c.seq, c.function.clone())))
                {
                    // Delivered already (a retry racing a restart): the effects are in; don't repeat them.
                    let _ = reply.send(Ok(()));
                    return;
                }
                if let Err(e) = self.stage(round, writes, cause, false) {
                    let _ = reply.send(Err(e));
                    return;
                }
                if let Some(c) = completion {
                    self.complete(round, c);
                }
                round.replies.push(Box::new(move |r| {
                    let _ = reply.send(r.map_err(|e| e.clone()));
                }));
            }
            Request::Park { event, function, error, attempts, last, reply } => {
                let letter = DeadLetter {
                    id: self.next_dead_letter,
                    event: event.clone(),
                    function: function.clone(),
                    error,
                    attempts,
                    parked_at_ms: crate::clock::now_ms(),
                };
                self.next_dead_letter += 1;
                round.batch.dead_letters.push(letter.clone());
                round.dead_added.push(letter);
                self.complete(round, Completion { seq: event.seq, function, last });
                round.replies.push(Box::new(move |r| {
                    let _ = reply.send(r.map_err(|e| e.clone()));
                }));
            }
            Request::Replay { id, reply } => {
                let letters: Vec<DeadLetter> = {
                    let dead = self.shared.dead_letters.lock().unwrap_or_else(|e| e.into_inner());
                    // Committed letters, and those parked earlier in this round.
                    dead.values()
                        .chain(round.dead_added.iter())
                        .filter(|d| id.is_none_or(|id| d.id == id))
                        .filter(|d| !round.dead_removed.contains(&d.id))
                        .cloned()
                        .collect()
                };
                let mut replayed = Vec::new();
                for letter in letters {
                    let event = OutboxEvent {
                        seq: self.next_seq,
                        change: letter.event.change,
                        target: Some(letter.function),
                    };
                    self.next_seq += 1;
                    self.outbox.insert(event.seq);
                    round.batch.events.push(event);
                    round.batch.dead_letters_removed.push(letter.id);
                    round.dead_removed.push(letter.id);
                    replayed.push(letter.id);
                }
                round.replies.push(Box::new(move |r| {
                    let _ = reply.send(r.map(|()| replayed).map_err(|e| e.clone()));
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

    /// Applies `writes` in order on top of what the round staged; all or nothing. Returns each
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
        {
            let mirror = self.shared.read();
            for TxWrite { scope, key, write } in writes {
                let slot = (scope, key);
                let old = match local.get(&slot).or_else(|| round.staged.get(&slot)) {
                    Some(staged) => staged.clone(),
                    None => mirror.get(&slot.0, &slot.1).cloned(),
                };
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
                if several {
                    local.insert(slot.clone(), new.clone());
                }
                applied.push((slot, WriteResult { old, new, errors }));
            }
        }
        let mut answers = Vec::with_capacity(if results { applied.len() } else { 0 });
        for ((scope, key), WriteResult { old, new, errors }) in applied {
            let kind = ChangeKind::between(old.as_ref(), new.as_ref()).filter(|_| old != new);
            if results {
                answers.push(WriteResult { old: old.clone(), new: new.clone(), errors });
            }
            let Some(kind) = kind else { continue };
            if (self.has_subscribers)(&scope, &key) {
                let change = StateChange {
                    kind,
                    scope: scope.clone(),
                    key: key.clone(),
                    old_value: old,
                    new_value: new.clone(),
                    cause,
                };
                let event = OutboxEvent { seq: self.next_seq, change, target: None };
                self.next_seq += 1;
                self.outbox.insert(event.seq);
                round.batch.events.push(event);
            }
            round.staged.insert((scope, key), new);
        }
        Ok(answers)
    }

    /// Records that `completion.function` is done with its event.
    fn complete(&mut self, round: &mut Round, completion: Completion) {
        let Completion { seq, function, last } = completion;
        if last {
            round.batch.completed.push(seq);
            self.outbox.remove(&seq);
            self.delivered.retain(|(s, _)| *s != seq);
        } else {
            round.batch.delivered.push((seq, function.clone()));
            self.delivered.insert((seq, function));
        }
    }

    /// Commits the round and publishes it, or fails every request in it. A round that is not
    /// lazy also makes the lazy rounds before it durable (even when it is empty itself).
    fn finish(&mut self, mut round: Round) -> Result<(), StateError> {
        // Each key written in the round once, with its last value.
        round.batch.writes =
            round.staged.drain().map(|((scope, key), value)| (scope, key, value)).collect();
        let result = if round.batch.is_empty() && (round.lazy || self.unsynced_since.is_none()) {
            Ok(())
        } else {
            round.batch.next_seq = self.next_seq;
            round.batch.next_dead_letter = self.next_dead_letter;
            round.batch.lazy = round.lazy;
            self.engine.commit(&round.batch)
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
        match &result {
            Ok(()) => {
                {
                    let mut mirror = self.shared.mirror.write().unwrap_or_else(|e| e.into_inner());
                    for (scope, key, value) in round.batch.writes.drain(..) {
                        mirror.put(&scope, &key, value);
                    }
                }
                {
                    let mut dead =
                        self.shared.dead_letters.lock().unwrap_or_else(|e| e.into_inner());
                    for letter in round.dead_added.drain(..) {
                        dead.insert(letter.id, letter);
                    }
                    for id in &round.dead_removed {
                        dead.remove(id);
                    }
                }
                for event in round.batch.events.drain(..) {
                    (self.on_event)(event);
                }
            }
            Err(e) => {
                tracing::error!(engine = self.engine.name(), error = %e, "state commit failed; rereading the store");
                match self.engine.load() {
                    Ok(loaded) => self.adopt(&loaded),
                    Err(e) => tracing::error!(error = %e, "rereading the store failed"),
                }
            }
        }
        for reply in round.replies {
            reply(result.as_ref().map(|_| ()));
        }
        result
    }
}
