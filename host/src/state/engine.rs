//! Storage engines of the embedded store (`mirrored.rs`): where committed state becomes durable.
//! The embedded store keeps every value in memory and funnels all writes through one writer
//! thread, which applies them in order and hands each group of them to the engine as one
//! [`Batch`]: the key writes, the change events
//! they fire (the outbox), and the trigger deliveries that completed, so a write and its events,
//! or a handler's writes and the mark that its event was delivered, are durable together or not
//! at all. Many concurrent writes share one batch, and so one sync (group commit).
//!
//! Engines: [`MemoryEngine`] keeps nothing (tests, demos, `--memory`); `redb` (in `redb.rs`) is
//! the embedded durable default. (The shared store, `postgres/`, commits the same batches in
//! its own way: it is a [`super::store::Store`], not an engine.)

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::change::StateChange;
use super::error::StateError;

/// A change event waiting in the outbox until every function bound to it has handled it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// Position in commit order; unique for the life of the data directory.
    pub seq: u64,
    pub change: StateChange,
    /// Deliver to this function only (a replayed dead letter); none means every bound function.
    pub target: Option<String>,
    /// The functions bound to the change when it was committed (ids: `todos::on-change`). Each
    /// is owed the event even if it is not loaded when the event is delivered: the delivery
    /// waits for it, then parks (`docs/triggers.md`). Events stored before this field existed
    /// have none, and go to the functions bound at delivery only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound: Vec<String>,
}

/// A delivery that failed every retry, parked until an operator replays it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Unique for the life of the data directory.
    pub id: u64,
    pub event: OutboxEvent,
    /// The function that kept failing, e.g. `todos::update-metrics`.
    pub function: String,
    /// The last failure, as the function reported it.
    pub error: String,
    pub attempts: u32,
    /// When it was parked, in Unix milliseconds.
    pub parked_at_ms: u64,
}

/// Everything one commit makes durable, atomically.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Key writes in commit order: `(scope, key, value)`, `None` deleting the key. A key may
    /// appear more than once; the last write wins.
    pub writes: Vec<(String, String, Option<Value>)>,
    /// New outbox events.
    pub events: Vec<OutboxEvent>,
    /// `(event seq, function id)`: the function handled the event, which still waits for other
    /// functions.
    pub delivered: Vec<(u64, String)>,
    /// Events every function has handled (or that were parked): removed from the outbox
    /// together with their `delivered` marks.
    pub completed: Vec<u64>,
    pub dead_letters: Vec<DeadLetter>,
    /// Ids of dead letters that were replayed (and so leave the list).
    pub dead_letters_removed: Vec<u64>,
    /// The next event seq and dead letter id to hand out, so ids never repeat after a restart.
    pub next_seq: u64,
    pub next_dead_letter: u64,
    /// The batch need not be durable yet: it may wait for the next durable commit (see
    /// [`Engine::commit`]). The writer sets it for batches of trigger deliveries only, which a
    /// crash may lose because their events stay in the outbox and are delivered again.
    pub lazy: bool,
}

impl Batch {
    /// Whether committing this batch would change nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.events.is_empty()
            && self.delivered.is_empty()
            && self.completed.is_empty()
            && self.dead_letters.is_empty()
            && self.dead_letters_removed.is_empty()
    }
}

/// What an engine holds, read once at start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// Every key: `(scope, key, value)`, in any order.
    pub entries: Vec<(String, String, Value)>,
    /// Undelivered events, in seq order.
    pub outbox: Vec<OutboxEvent>,
    /// `(event seq, function id)` marks of outbox events.
    pub delivered: Vec<(u64, String)>,
    /// Parked deliveries, by id.
    pub dead_letters: Vec<DeadLetter>,
    pub next_seq: u64,
    pub next_dead_letter: u64,
}

/// A storage engine. Owned by the state writer thread, so it needs no locking of its own.
pub trait Engine: Send + 'static {
    /// Reads everything stored (at start).
    fn load(&mut self) -> Result<Loaded, StateError>;

    /// Commits `batch` as one atomic unit. Unless the batch is [`Batch::lazy`], it is durable
    /// when this returns `Ok`: it and every batch before it survive a crash or power loss. A
    /// lazy batch may wait (in memory) for the next durable commit; a crash before then loses
    /// it and every batch after it, so what a crash leaves is always a prefix of the commits,
    /// never part of a batch. After `Err`, none of the batch is visible on the next
    /// [`Engine::load`]. A durable commit of an empty batch makes earlier lazy ones durable.
    fn commit(&mut self, batch: &Batch) -> Result<(), StateError>;

    /// Starts over after a failed commit: closes and opens its storage again. What follows is
    /// as after a crash: the next [`Engine::load`] reads the last durable commit.
    fn reopen(&mut self) -> Result<(), StateError> {
        Ok(())
    }

    /// A short name for logs: `memory`, `redb`.
    fn name(&self) -> &'static str;
}

/// Keeps nothing: state lives only in the service's memory and is gone on exit.
#[derive(Debug, Default)]
pub struct MemoryEngine;

impl Engine for MemoryEngine {
    fn load(&mut self) -> Result<Loaded, StateError> {
        Ok(Loaded::default())
    }

    fn commit(&mut self, _batch: &Batch) -> Result<(), StateError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}
