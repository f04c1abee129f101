//! The embedded durable engine: one [redb] file (`<data>/state.redb`) holding the keys, the
//! outbox, the delivery marks, the dead letters and the id counters, each in its own table (see
//! the constants below). Every [`Batch`] is one redb write transaction committed with
//! [`Durability::Immediate`], so `commit` returns only after the batch has been fsynced (a lazy
//! batch is committed with [`Durability::None`] and made durable by the next Immediate commit,
//! whose root covers it), and it is atomic because redb never overwrites live pages: a commit writes the new B-tree pages
//! (copy-on-write) and then a new root into the inactive of two checksummed commit slots, and
//! flips one "god byte" to make that slot primary. A crash before the flip leaves the previous
//! commit in charge; after a crash mid-flush, the open falls back to the newest slot whose
//! checksum verifies. Either way, a batch is all there or not there at all.
//!
//! Cost of one commit: the dirty pages of the touched trees (a few 4 KiB pages per table for a
//! small batch, more as writes spread over more leaves), the commit slot and god byte, and a
//! single `fdatasync` (redb's default 1-phase commit; 2-phase would add a second sync and buys
//! protection only from an attacker who controls the crash timing). The sync dominates, which is
//! why the state writer groups many writes into one batch.

use std::any::Any;
use std::fmt::Display;
use std::io::ErrorKind;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use ::redb::{
    CommitError, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable,
    StorageError, TableDefinition, TableError, TransactionError, WriteTransaction,
};
use serde_json::Value;

use super::engine::{Batch, DeadLetter, Engine, Loaded, OutboxEvent};
use super::error::StateError;

/// Key-value entries: `(scope, key)` → the value as JSON bytes. redb orders tuple keys element by
/// element, so a scope's keys are contiguous and in key (byte) order.
const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");

/// The outbox: event seq → the [`OutboxEvent`] as JSON. Iterates in seq (commit) order.
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");

/// Delivery marks: `(event seq, function id)`, no value. All marks of one event are contiguous,
/// so completing an event removes them with one range delete.
const DELIVERED: TableDefinition<(u64, &str), ()> = TableDefinition::new("delivered");

/// Parked deliveries: dead letter id → the [`DeadLetter`] as JSON. Iterates in id order.
const DEAD_LETTERS: TableDefinition<u64, &[u8]> = TableDefinition::new("dead_letters");

/// Counters that must never go back after a restart: [`NEXT_SEQ`] and [`NEXT_DEAD_LETTER`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const NEXT_SEQ: &str = "next_seq";
const NEXT_DEAD_LETTER: &str = "next_dead_letter";

/// redb's page cache. Its default is 1 GiB; the state service already keeps every value in
/// memory and reads the file only once at start, so the cache mostly holds a commit's dirty pages.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A durable [`Engine`] backed by one redb file, used by the state writer thread only.
pub struct RedbEngine {
    /// None after [`Engine::reopen`] dropped the handle and could not open the file again.
    db: Option<Database>,
    /// The file, for error messages.
    path: PathBuf,
    /// `(next_seq, next_dead_letter)` as last committed, so an empty batch that does not move
    /// them can skip its transaction (and its fsync).
    meta: (u64, u64),
    /// Whether lazy commits wait for a durable one.
    unsynced: bool,
}

impl std::fmt::Debug for RedbEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbEngine").field("path", &self.path).field("meta", &self.meta).finish()
    }
}

impl RedbEngine {
    /// Opens the database at `path` (e.g. `<data>/state.redb`), creating the parent directory, the
    /// file and the tables as needed. Fails if another process (or another handle in this one)
    /// holds the file.
    pub fn open(path: &Path) -> Result<RedbEngine, StateError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| {
                StateError::Storage(format!("creating directory {}: {err}", parent.display()))
            })?;
        }
        let mut engine =
            RedbEngine { db: None, path: path.to_owned(), meta: (0, 0), unsynced: false };
        engine.db = Some(engine.open_file()?);
        engine.meta = engine.create_tables()?;
        Ok(engine)
    }

    /// Opens (or creates) the file; redb repairs it first if it was not closed cleanly.
    fn open_file(&self) -> Result<Database, StateError> {
        let shown = self.path.display();
        let builder = Database::builder().set_cache_size(CACHE_BYTES).create(&self.path);
        builder.map_err(|err| match err {
            DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
                StateError::Storage(format!(
                    "{shown} is already open elsewhere (is another eddy using this data \
                     directory?)"
                ))
            }
            DatabaseError::Storage(e) if is_full(&e) => {
                StateError::Full(format!("opening {shown}: {e}"))
            }
            err => StateError::Storage(format!("opening {shown}: {err}")),
        })
    }

    fn db(&self) -> Result<&Database, StateError> {
        let closed = || StateError::Storage(format!("{} is not open", self.path.display()));
        self.db.as_ref().ok_or_else(closed)
    }

    /// Creates any missing table (so reads never meet a missing one) and reads the counters.
    fn create_tables(&self) -> Result<(u64, u64), StateError> {
        let txn = self.begin_write("creating tables")?;
        let meta = {
            let open = |what| self.fail(format!("creating table {what}"));
            txn.open_table(ENTRIES).map_err(open("entries"))?;
            txn.open_table(OUTBOX).map_err(open("outbox"))?;
            txn.open_table(DELIVERED).map_err(open("delivered"))?;
            txn.open_table(DEAD_LETTERS).map_err(open("dead_letters"))?;
            let meta = txn.open_table(META).map_err(open("meta"))?;
            (self.counter(&meta, NEXT_SEQ)?, self.counter(&meta, NEXT_DEAD_LETTER)?)
        };
        txn.commit().map_err(self.fail("committing table creation"))?;
        Ok(meta)
    }

    /// A counter from the meta table; 0 when never stored.
    fn counter(
        &self,
        meta: &impl ReadableTable<&'static str, u64>,
        name: &str,
    ) -> Result<u64, StateError> {
        let value = meta.get(name).map_err(self.fail(format!("reading meta {name}")))?;
        Ok(value.map_or(0, |v| v.value()))
    }

    /// A write transaction that fsyncs on commit. Immediate is redb's default; it is set here
    /// anyway because the engine contract depends on it.
    fn begin_write(&self, what: &str) -> Result<WriteTransaction, StateError> {
        self.begin(what, Durability::Immediate)
    }

    /// A write transaction with `durability`: with [`Durability::None`], redb keeps the commit
    /// in memory (its pages are written, but neither synced nor referenced by the file's
    /// header) until the next Immediate commit, whose root covers it; a crash before that
    /// reopens at the last Immediate commit.
    fn begin(&self, what: &str, durability: Durability) -> Result<WriteTransaction, StateError> {
        let mut txn = self.db()?.begin_write().map_err(self.fail(format!("{what}: begin")))?;
        txn.set_durability(durability).map_err(self.fail(format!("{what}: setting durability")))?;
        Ok(txn)
    }

    /// Maps a redb (or JSON) error to a [`StateError::Storage`] naming the file and the operation
    /// ([`StateError::Full`] when the disk is full). Lazy: nothing is formatted unless the error
    /// happens.
    fn fail<E: Display + 'static>(&self, what: impl Display) -> impl FnOnce(E) -> StateError {
        move |err| {
            let message = format!("{}: {what}: {err}", self.path.display());
            if is_full(&err) { StateError::Full(message) } else { StateError::Storage(message) }
        }
    }

    /// The body of [`Engine::commit`], inside `txn`. Tables are opened once each and JSON is
    /// serialized once per item into one reused buffer.
    fn apply(&self, txn: &WriteTransaction, batch: &Batch) -> Result<(), StateError> {
        let mut buf = Vec::new();

        let mut entries = txn.open_table(ENTRIES).map_err(self.fail("opening entries"))?;
        for (scope, key, value) in &batch.writes {
            match value {
                Some(value) => {
                    buf.clear();
                    serde_json::to_writer(&mut buf, value)
                        .map_err(self.fail(format_args!("encoding {scope}/{key}")))?;
                    entries
                        .insert((scope.as_str(), key.as_str()), buf.as_slice())
                        .map_err(self.fail(format_args!("writing entry {scope}/{key}")))?;
                }
                None => {
                    entries
                        .remove((scope.as_str(), key.as_str()))
                        .map_err(self.fail(format_args!("removing entry {scope}/{key}")))?;
                }
            }
        }
        drop(entries);

        let mut outbox = txn.open_table(OUTBOX).map_err(self.fail("opening outbox"))?;
        let mut delivered = txn.open_table(DELIVERED).map_err(self.fail("opening delivered"))?;
        for event in &batch.events {
            buf.clear();
            serde_json::to_writer(&mut buf, event)
                .map_err(self.fail(format_args!("encoding outbox event {}", event.seq)))?;
            outbox
                .insert(event.seq, buf.as_slice())
                .map_err(self.fail(format_args!("writing outbox event {}", event.seq)))?;
        }
        for (seq, function) in &batch.delivered {
            delivered
                .insert((*seq, function.as_str()), ())
                .map_err(self.fail(format_args!("marking event {seq} delivered to {function}")))?;
        }
        for &seq in &batch.completed {
            outbox.remove(seq).map_err(self.fail(format_args!("removing outbox event {seq}")))?;
            let upper = match seq.checked_add(1) {
                Some(next) => Bound::Excluded((next, "")),
                None => Bound::Unbounded,
            };
            delivered
                .retain_in((Bound::Included((seq, "")), upper), |_, _| false)
                .map_err(self.fail(format_args!("removing delivery marks of event {seq}")))?;
        }
        drop((outbox, delivered));

        let mut dead = txn.open_table(DEAD_LETTERS).map_err(self.fail("opening dead_letters"))?;
        for letter in &batch.dead_letters {
            buf.clear();
            serde_json::to_writer(&mut buf, letter)
                .map_err(self.fail(format_args!("encoding dead letter {}", letter.id)))?;
            dead.insert(letter.id, buf.as_slice())
                .map_err(self.fail(format_args!("writing dead letter {}", letter.id)))?;
        }
        for &id in &batch.dead_letters_removed {
            dead.remove(id).map_err(self.fail(format_args!("removing dead letter {id}")))?;
        }
        drop(dead);

        let mut meta = txn.open_table(META).map_err(self.fail("opening meta"))?;
        meta.insert(NEXT_SEQ, batch.next_seq).map_err(self.fail("writing next_seq"))?;
        meta.insert(NEXT_DEAD_LETTER, batch.next_dead_letter)
            .map_err(self.fail("writing next_dead_letter"))?;
        Ok(())
    }
}

impl Engine for RedbEngine {
    fn load(&mut self) -> Result<Loaded, StateError> {
        let txn = self.db()?.begin_read().map_err(self.fail("load: begin"))?;
        let mut loaded = Loaded::default();

        let entries = txn.open_table(ENTRIES).map_err(self.fail("load: opening entries"))?;
        for row in entries.iter().map_err(self.fail("load: reading entries"))? {
            let (key, value) = row.map_err(self.fail("load: reading entries"))?;
            let (scope, key) = key.value();
            let value: Value = serde_json::from_slice(value.value())
                .map_err(self.fail(format_args!("load: decoding entry {scope}/{key}")))?;
            loaded.entries.push((scope.to_owned(), key.to_owned(), value));
        }

        let outbox = txn.open_table(OUTBOX).map_err(self.fail("load: opening outbox"))?;
        for row in outbox.iter().map_err(self.fail("load: reading outbox"))? {
            let (seq, event) = row.map_err(self.fail("load: reading outbox"))?;
            let event: OutboxEvent = serde_json::from_slice(event.value())
                .map_err(self.fail(format_args!("load: decoding outbox event {}", seq.value())))?;
            loaded.outbox.push(event);
        }

        let delivered = txn.open_table(DELIVERED).map_err(self.fail("load: opening delivered"))?;
        for row in delivered.iter().map_err(self.fail("load: reading delivered"))? {
            let (mark, _) = row.map_err(self.fail("load: reading delivered"))?;
            let (seq, function) = mark.value();
            loaded.delivered.push((seq, function.to_owned()));
        }

        let dead = txn.open_table(DEAD_LETTERS).map_err(self.fail("load: opening dead_letters"))?;
        for row in dead.iter().map_err(self.fail("load: reading dead_letters"))? {
            let (id, letter) = row.map_err(self.fail("load: reading dead_letters"))?;
            let letter: DeadLetter = serde_json::from_slice(letter.value())
                .map_err(self.fail(format_args!("load: decoding dead letter {}", id.value())))?;
            loaded.dead_letters.push(letter);
        }

        let meta = txn.open_table(META).map_err(self.fail("load: opening meta"))?;
        loaded.next_seq = self.counter(&meta, NEXT_SEQ)?;
        loaded.next_dead_letter = self.counter(&meta, NEXT_DEAD_LETTER)?;
        self.meta = (loaded.next_seq, loaded.next_dead_letter);
        Ok(loaded)
    }

    /// One write transaction, fsynced before returning unless the batch is lazy; skipped when
    /// the batch is empty, the counters have not moved since the last commit and no lazy commit
    /// waits for a sync.
    fn commit(&mut self, batch: &Batch) -> Result<(), StateError> {
        let meta = (batch.next_seq, batch.next_dead_letter);
        if batch.is_empty() && meta == self.meta && (batch.lazy || !self.unsynced) {
            return Ok(());
        }
        let durability = if batch.lazy { Durability::None } else { Durability::Immediate };
        let txn = self.begin("commit", durability)?;
        // On error the transaction is dropped, which aborts it: nothing of the batch lands.
        self.apply(&txn, batch)?;
        txn.commit().map_err(self.fail("commit"))?;
        self.meta = meta;
        self.unsynced = batch.lazy;
        Ok(())
    }

    /// Drops the handle (after an I/O error redb refuses every transaction until the file is
    /// opened again) and opens the file again, which repairs it if needed. What lazy commits
    /// held and no durable commit covered is gone, as after a crash.
    fn reopen(&mut self) -> Result<(), StateError> {
        self.db = None;
        self.unsynced = false;
        self.db = Some(self.open_file()?);
        self.meta = self.create_tables()?;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "redb"
    }
}

/// Whether `err`, a redb error, is the disk (or the user's disk quota) being full.
fn is_full(err: &dyn Any) -> bool {
    let storage = if let Some(e) = err.downcast_ref::<StorageError>() {
        Some(e)
    } else if let Some(CommitError::Storage(e)) = err.downcast_ref() {
        Some(e)
    } else if let Some(TransactionError::Storage(e)) = err.downcast_ref() {
        Some(e)
    } else if let Some(TableError::Storage(e)) = err.downcast_ref() {
        Some(e)
    } else {
        None
    };
    matches!(storage, Some(StorageError::Io(e))
        if matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded))
}

#[cfg(test)]
mod tests;
