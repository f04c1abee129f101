//! [`State`], the state service: the one door to state for builtins, guest imports, HTTP
//! handlers and tests. Reads go to the [`Reader`]: the embedded store's in-memory mirror of
//! committed state (no I/O), or the shared database. Writes are checked here (scope and key sizes, the ops array) and then queued to the writer
//! thread (`writer.rs`), which applies them in order, commits them durably with whatever else is
//! queued (group commit), and only then answers: an acknowledged write survives a crash. Writes
//! that change nothing (a set to an equal value, an update whose ops leave the value as it was, a
//! delete of a missing key) write nothing and fire nothing, so a trigger never wakes up for a
//! non-event. A write may carry a condition ([`Expect`]: the value it read, or that the key is
//! absent), which the writer checks as it applies the write: read-modify-write without lost
//! updates. A trigger handler's writes go through a [`Txn`] instead and commit together with
//! the mark that its event was delivered, so a crash can neither lose nor repeat them.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;

use serde_json::Value;
use tokio::sync::oneshot;

use super::change::Change;
use super::checks::{check_key, check_ops, check_scope, check_size};
use super::engine::{DeadLetter, Engine, OutboxEvent};
use super::error::StateError;
use super::expect::Expect;
use super::mirrored::Mirrored;
use super::ops::UpdateOutcome;
use super::postgres::{self, Postgres};
use super::quota::{Quota, QuotaLimits};
use super::reader::Reader;
use super::store::Store;
use super::txn::Txn;
use super::writer::{BoundTo, Completion, OnEvent, Request, TxWrite, Write, WriteResult, Writer};
use crate::cause::Cause;

/// The state service. Cheap to clone.
#[derive(Clone)]
pub struct State {
    requests: mpsc::Sender<Request>,
    reader: Reader,
    engine: &'static str,
}

/// What was waiting in the outbox when the store was opened: to be delivered again.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Undelivered events in commit order.
    pub events: Vec<OutboxEvent>,
    /// Event seq → functions that already handled it.
    pub delivered: HashMap<u64, HashSet<String>>,
}

impl State {
    /// Opens the embedded store over `engine`: loads what it holds into memory and starts the
    /// writer thread. Committed change events go to `on_event` (only for keys
    /// `bound_to` names a function for). Writes that would take it past `quota` are refused.
    pub fn open(
        engine: Box<dyn Engine>,
        on_event: OnEvent,
        bound_to: BoundTo,
        quota: QuotaLimits,
    ) -> Result<(State, Recovered), StateError> {
        let (store, shared) = Mirrored::open(engine)?;
        let quota = Quota::new(quota, shared.read().entries());
        State::start(Box::new(store), Reader::Mirror(shared), on_event, (bound_to, quota))
    }

    /// Opens the shared store in the PostgreSQL database at `url` (creating or migrating its
    /// tables), which other hosts may use at the same time.
    pub async fn open_postgres(
        url: &str,
        on_event: OnEvent,
        bound_to: BoundTo,
    ) -> Result<(State, Postgres), StateError> {
        let (store, reads, shared) = postgres::open(url).await?;
        // The database's own limits bound it: no quota here.
        let writer = (bound_to, Quota::default());
        let (state, _) = State::start(Box::new(store), Reader::Postgres(reads), on_event, writer)?;
        Ok((state, shared))
    }

    /// Starts the writer thread over `store`.
    fn start(
        mut store: Box<dyn Store>,
        reader: Reader,
        on_event: OnEvent,
        (bound_to, quota): (BoundTo, Quota),
    ) -> Result<(State, Recovered), StateError> {
        let name = store.name();
        let mut recovered = Recovered::default();
        for (event, done) in store.recover()? {
            if !done.is_empty() {
                recovered.delivered.insert(event.seq, done.into_iter().collect());
            }
            recovered.events.push(event);
        }
        let writer = Writer::new(store, on_event, bound_to, quota);
        let (requests, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("eddy-state-writer".into())
            .spawn(move || writer.run(queue))
            .map_err(|e| StateError::Storage(format!("cannot start the writer thread: {e}")))?;
        Ok((State { requests, reader, engine: name }, recovered))
    }

    /// The engine's name: `memory`, `redb` or `postgres`.
    pub fn engine(&self) -> &'static str {
        self.engine
    }

    /// Why the store refuses writes, while it does (the embedded store, after a failed commit:
    /// `outage.rs`).
    pub fn outage(&self) -> Option<super::outage::OutageReport> {
        match &self.reader {
            Reader::Mirror(shared) => shared.outage(),
            Reader::Postgres(_) => None,
        }
    }

    /// The committed value of `key` in `scope`, or `None`.
    pub async fn get(&self, scope: &str, key: &str) -> Result<Option<Value>, StateError> {
        check_key(scope, key)?;
        self.reader.get(scope, key).await
    }

    /// Stores `value` under `key`. Setting a value equal to the stored one writes nothing and
    /// fires nothing, but still returns it as both old and new.
    pub async fn set(
        &self,
        scope: &str,
        key: &str,
        value: Value,
        cause: Cause,
    ) -> Result<Change, StateError> {
        self.set_if(scope, key, None, value, cause).await
    }

    /// [`State::set`] on a condition: when `expect` is given, the writer applies the write only
    /// if the key holds what it expects at that moment, and otherwise fails with
    /// [`StateError::Conflict`] and changes nothing. The conflict is answered once the round
    /// that decided it is committed, so a read after it sees the value that won.
    pub async fn set_if(
        &self,
        scope: &str,
        key: &str,
        expect: Option<Expect>,
        value: Value,
        cause: Cause,
    ) -> Result<Change, StateError> {
        check_key(scope, key)?;
        check_size(&value)?;
        let result = self.write(scope, key, Write::Set(value), expect, cause).await?;
        Ok(Change { old_value: result.old, new_value: result.new })
    }

    /// Applies update `ops` to `key` atomically (see [`super::ops`]). Failed ops are skipped and
    /// listed in the outcome's `errors`. On a missing key, if no op creates anything, the key
    /// stays missing and `new_value` is `None`. A result over [`super::MAX_VALUE_BYTES`] refuses the
    /// whole update.
    pub async fn update(
        &self,
        scope: &str,
        key: &str,
        ops: &Value,
        cause: Cause,
    ) -> Result<UpdateOutcome, StateError> {
        self.update_if(scope, key, None, ops, cause).await
    }

    /// [`State::update`] on a condition, as [`State::set_if`].
    pub async fn update_if(
        &self,
        scope: &str,
        key: &str,
        expect: Option<Expect>,
        ops: &Value,
        cause: Cause,
    ) -> Result<UpdateOutcome, StateError> {
        check_key(scope, key)?;
        check_ops(ops)?;
        let result = self.write(scope, key, Write::Update(ops.clone()), expect, cause).await?;
        Ok(UpdateOutcome { old_value: result.old, new_value: result.new, errors: result.errors })
    }

    /// Removes `key`, returning its old value. Deleting a missing key returns `None` and fires
    /// nothing.
    pub async fn delete(
        &self,
        scope: &str,
        key: &str,
        cause: Cause,
    ) -> Result<Option<Value>, StateError> {
        self.delete_if(scope, key, None, cause).await
    }

    /// [`State::delete`] on a condition, as [`State::set_if`].
    pub async fn delete_if(
        &self,
        scope: &str,
        key: &str,
        expect: Option<Expect>,
        cause: Cause,
    ) -> Result<Option<Value>, StateError> {
        check_key(scope, key)?;
        Ok(self.write(scope, key, Write::Delete, expect, cause).await?.old)
    }

    async fn write(
        &self,
        scope: &str,
        key: &str,
        write: Write,
        expect: Option<Expect>,
        cause: Cause,
    ) -> Result<WriteResult, StateError> {
        let change = TxWrite { scope: scope.to_owned(), key: key.to_owned(), write, expect };
        self.ask(|reply| Request::Write { change, cause, reply }).await
    }

    /// The committed values of `scope` in key order: keys starting with `prefix`, strictly after
    /// `after`, at most `limit` of them.
    pub async fn list(
        &self,
        scope: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Value>, StateError> {
        let entries = self.entries(scope, prefix, after, limit).await?;
        Ok(entries.into_iter().map(|(_, value)| value).collect())
    }

    /// Like [`State::list`], with the keys.
    pub async fn entries(
        &self,
        scope: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<(String, Value)>, StateError> {
        check_scope(scope)?;
        self.reader.list(scope, prefix, after, limit).await
    }

    /// The scopes holding at least one key, sorted.
    pub async fn list_groups(&self) -> Result<Vec<String>, StateError> {
        self.reader.groups().await
    }

    /// A transaction: writes that commit together, later, with [`State::commit`].
    pub fn begin(&self, cause: Cause) -> Txn {
        Txn::new(self.reader.clone(), cause)
    }

    /// Commits `txn`'s writes atomically, together with `completion` (the delivery it finishes)
    /// if given, and runs the transaction's after-commit actions (its stream sends): after the
    /// commit when the transaction wrote state, so nobody hears of a change that could still be
    /// lost; at once when it wrote nothing, since then there is nothing for them to get ahead
    /// of and only the delivery mark is left to commit. (If that commit fails, the handler runs
    /// again and its sends go out again: sends are at least once; state effects exactly once.)
    /// A completion already recorded (the delivery happened before a restart) commits nothing:
    /// the writes are in already.
    ///
    /// The request is queued when this is called, not when the future is first polled, so
    /// callers can fix the order of commits (see the trigger dispatcher).
    pub fn commit(
        &self,
        txn: Txn,
        completion: Option<Completion>,
    ) -> impl Future<Output = Result<(), StateError>> + Send + use<> {
        let (writes, cause, mut after_commit) = txn.into_parts();
        // With no writes, the actions need not wait for the commit (see above): they start
        // now, and their futures are awaited before the mark's commit.
        let early: Vec<_> = match writes.is_empty() {
            true => std::mem::take(&mut after_commit).into_iter().map(|action| action()).collect(),
            false => Vec::new(),
        };
        let queued = (!writes.is_empty() || completion.is_some())
            .then(|| self.enqueue(|reply| Request::Commit { writes, cause, completion, reply }));
        async move {
            for started in early {
                started.await;
            }
            if let Some(queued) = queued {
                answer(queued?).await?;
            }
            for action in after_commit {
                action().await;
            }
            Ok(())
        }
    }

    /// Parks a delivery that failed every retry as a dead letter. Queued when called, like
    /// [`State::commit`].
    pub fn park(
        &self,
        event: OutboxEvent,
        function: String,
        error: String,
        attempts: u32,
        last: bool,
    ) -> impl Future<Output = Result<(), StateError>> + Send + use<> {
        let queued =
            self.enqueue(|reply| Request::Park { event, function, error, attempts, last, reply });
        async move { answer(queued?).await }
    }

    /// Moves dead letters (one by id, or all) back into the outbox for another delivery to the
    /// function that failed them. Returns the ids replayed.
    pub async fn replay(&self, id: Option<u64>) -> Result<Vec<u64>, StateError> {
        self.ask(|reply| Request::Replay { id, reply }).await
    }

    /// The parked deliveries, by id.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StateError> {
        self.reader.dead_letters().await
    }

    /// Commits everything queued, closes the storage engine (releasing the data directory) and
    /// stops the writer; later writes fail. Fails if that last commit failed.
    pub async fn close(&self) -> Result<(), StateError> {
        self.ask(|reply| Request::Close { reply }).await
    }

    /// Waits until everything queued so far is committed.
    pub async fn flush(&self) -> Result<(), StateError> {
        self.ask(|reply| Request::Flush { reply }).await
    }

    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, StateError>>) -> Request,
    ) -> Result<T, StateError> {
        answer(self.enqueue(request)?).await
    }

    /// Queues a request for the writer; the receiver gets its answer.
    fn enqueue<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, StateError>>) -> Request,
    ) -> Result<oneshot::Receiver<Result<T, StateError>>, StateError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(request(reply)).map_err(|_| stopped())?;
        Ok(answer)
    }
}

async fn answer<T>(answer: oneshot::Receiver<Result<T, StateError>>) -> Result<T, StateError> {
    answer.await.map_err(|_| stopped())?
}

fn stopped() -> StateError {
    StateError::Storage("the state writer has stopped".into())
}

#[cfg(test)]
mod tests;
