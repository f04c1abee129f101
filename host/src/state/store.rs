//! [`Store`]: what the writer thread (`writer.rs`) needs of the place state lives, so one writer
//! — the same staging, the same update ops, the same outbox and delivery rules — runs over both
//! engines: the embedded one (`mirrored.rs`: an in-memory mirror over an [`super::engine`], redb
//! or memory) and the shared one (`postgres/`: a database many hosts use at once).
//!
//! The writer works in rounds. A round [`begin`](Store::begin)s knowing every key its writes
//! touch and every outbox event its deliveries complete, so a shared store can lock them all
//! first, in one order every host uses (then rounds of different hosts never deadlock), and
//! read what it needs under those locks: the committed values, and whether each delivery is
//! still owed. Then the writer applies the round's requests in order and hands the whole round
//! to [`commit`](Store::commit) as one [`Batch`]: committed together, or not at all.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::engine::{Batch, DeadLetter, OutboxEvent};
use super::error::StateError;

/// Where the writer's rounds read and commit. Owned by the writer thread.
pub trait Store: Send + 'static {
    /// What is owed from before the store was opened (undelivered events of the embedded
    /// store; a shared store's dispatcher reads its outbox itself and returns none).
    fn recover(&mut self) -> Result<Vec<(OutboxEvent, Vec<String>)>, StateError>;

    /// Starts a round that writes `keys` and completes deliveries of the events `events`, and
    /// is likely to make `seqs` outbox events (a shared store reserves their seqs with the
    /// round's locks; [`next_seq`](Store::next_seq) hands them out, and more if need be).
    fn begin(
        &mut self,
        keys: &BTreeSet<(String, String)>,
        events: &BTreeSet<u64>,
        seqs: usize,
    ) -> Result<(), StateError>;

    /// The committed value of a key the round locked.
    fn value(&mut self, scope: &str, key: &str) -> Result<Option<Value>, StateError>;

    /// Whether `function` has handled outbox event `seq` already, or the event is gone (every
    /// function handled it): then the delivery's effects are in and must not be repeated.
    fn delivered(&mut self, seq: u64, function: &str) -> Result<bool, StateError>;

    /// A new outbox event seq: never handed out before, and, for events of one key, larger
    /// than every earlier one (the key is locked).
    fn next_seq(&mut self) -> Result<u64, StateError>;

    /// A new dead letter id, never handed out before.
    fn next_dead_letter(&mut self) -> Result<u64, StateError>;

    /// The dead letters to replay: the one with `id`, or all. Taken from the list by the
    /// round's commit ([`Batch::dead_letters_removed`]); a shared store locks them for the
    /// round, so two hosts never replay one letter twice.
    fn take_dead_letters(&mut self, id: Option<u64>) -> Result<Vec<DeadLetter>, StateError>;

    /// Ends a begun round that commits nothing, releasing whatever it locked.
    fn end(&mut self);

    /// Commits the round (durably, unless [`Batch::lazy`]) and makes it visible to readers;
    /// the store fills in the batch's counters. After `Err` none of it is visible, and the
    /// store is ready for the next round.
    fn commit(&mut self, batch: &mut Batch) -> Result<(), StateError>;

    /// While the store refuses commits after a failure: how long until it tries again.
    fn retry_in(&self) -> Option<Duration> {
        None
    }

    /// Events to deliver again: a store that recovered from a failure found them still owed.
    fn take_lost(&mut self) -> Vec<OutboxEvent> {
        Vec::new()
    }

    /// A short name for logs: `memory`, `redb`, `postgres`.
    fn name(&self) -> &'static str;
}
