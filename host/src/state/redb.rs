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

use std::fmt::Display;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use ::redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use serde_json::Value;

use super::StateError;
use super::engine::{Batch, DeadLetter, Engine, Loaded, OutboxEvent};

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
    db: Database,
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
        let shown = path.display();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| {
                StateError::Storage(format!("creating directory {}: {err}", parent.display()))
            })?;
        }
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(path).map_err(|err| {
            StateError::Storage(match err {
                DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
                    format!(
                        "{shown} is already open elsewhere \
                         (is another eddy using this data directory?)"
                    )
                }
                err => format!("opening {shown}: {err}"),
            })
        })?;
        let mut engine = RedbEngine { db, path: path.to_owned(), meta: (0, 0), unsynced: false };
        engine.meta = engine.create_tables()?;
        Ok(engine)
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
        let mut txn = self.db.begin_write().map_err(self.fail(format!("{what}: begin")))?;
        txn.set_durability(durability).map_err(self.fail(format!("{what}: setting durability")))?;
        Ok(txn)
    }

    /// Maps a redb (or JSON) error to a [`StateError::Storage`] naming the file and the operation.
    /// Lazy: nothing is formatted unless the error happens.
    fn fail<E: Display>(&self, what: impl Display) -> impl FnOnce(E) -> StateError {
        move |err| StateError::Storage(format!("{}: {what}: {err}", self.path.display()))
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
        let txn = self.db.begin_read().map_err(self.fail("load: begin"))?;
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

    fn name(&self) -> &'static str {
        "redb"
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    use serde_json::json;

    use super::*;
    use crate::cause::Cause;
    use crate::state::{ChangeKind, StateChange};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("eddy-redb-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            TempDir(dir)
        }

        /// The database file, one level down so `open` has a directory to create.
        fn db(&self) -> PathBuf {
            self.0.join("data").join("state.redb")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn open(dir: &TempDir) -> RedbEngine {
        RedbEngine::open(&dir.db()).expect("open")
    }

    fn reopen_and_load(dir: &TempDir, engine: RedbEngine) -> Loaded {
        drop(engine);
        open(dir).load().expect("load")
    }

    fn set(scope: &str, key: &str, value: Value) -> (String, String, Option<Value>) {
        (scope.to_owned(), key.to_owned(), Some(value))
    }

    fn delete(scope: &str, key: &str) -> (String, String, Option<Value>) {
        (scope.to_owned(), key.to_owned(), None)
    }

    fn event(seq: u64) -> OutboxEvent {
        OutboxEvent {
            seq,
            change: StateChange {
                kind: ChangeKind::Created,
                scope: "todos".to_owned(),
                key: format!("t{seq}"),
                old_value: None,
                new_value: Some(json!({"n": seq})),
                cause: Cause::ROOT,
            },
            target: None,
        }
    }

    fn dead_letter(id: u64) -> DeadLetter {
        DeadLetter {
            id,
            event: event(100 + id),
            function: "todos::update-metrics".to_owned(),
            error: "boom".to_owned(),
            attempts: 5,
            parked_at_ms: 1_700_000_000_000,
        }
    }

    fn entries(loaded: &Loaded) -> Vec<(&str, &str, &Value)> {
        loaded.entries.iter().map(|(s, k, v)| (s.as_str(), k.as_str(), v)).collect()
    }

    fn marks(pairs: &[(u64, &str)]) -> Vec<(u64, String)> {
        pairs.iter().map(|(seq, f)| (*seq, (*f).to_owned())).collect()
    }

    #[test]
    fn a_new_database_loads_empty_with_ids_at_zero() {
        let dir = TempDir::new();
        let loaded = open(&dir).load().expect("load");
        assert_eq!(loaded, Loaded::default());
    }

    #[test]
    fn a_committed_batch_survives_closing_and_reopening() {
        let dir = TempDir::new();
        let mut engine = open(&dir);
        let batch = Batch {
            writes: vec![set("todos", "t1", json!({"title": "milk"}))],
            events: vec![event(0), event(1)],
            delivered: vec![(0, "todos::a".to_owned())],
            dead_letters: vec![dead_letter(0)],
            next_seq: 2,
            next_dead_letter: 1,
            ..Batch::default()
        };
        engine.commit(&batch).expect("commit");
        let loaded = reopen_and_load(&dir, engine);
        assert_eq!(entries(&loaded), [("todos", "t1", &json!({"title": "milk"}))]);
        assert_eq!(loaded.outbox, [event(0), event(1)]);
        assert_eq!(loaded.delivered, marks(&[(0, "todos::a")]));
        assert_eq!(loaded.dead_letters, [dead_letter(0)]);
        assert_eq!((loaded.next_seq, loaded.next_dead_letter), (2, 1));
    }

    #[test]
    fn deletes_remove_keys_and_overwrites_replace_values() {
        let dir = TempDir::new();
        let mut engine = open(&dir);
        let first = Batch {
            writes: vec![set("s", "a", json!(1)), set("s", "b", json!(2)), set("s", "c", json!(3))],
            ..Batch::default()
        };
        engine.commit(&first).expect("commit");
        let second = Batch {
            writes: vec![delete("s", "a"), set("s", "b", json!("two")), delete("s", "missing")],
            ..Batch::default()
        };
        engine.commit(&second).expect("commit");
        let loaded = reopen_and_load(&dir, engine);
        assert_eq!(entries(&loaded), [("s", "b", &json!("two")), ("s", "c", &json!(3))]);
    }

    #[test]
    fn the_last_write_to_a_key_in_one_batch_wins() {
        let dir = TempDir::new();
        let mut engine = open(&dir);
        let batch = Batch {
            writes: vec![
                set("s", "a", json!(1)),
                set("s", "a", json!(2)),
                delete("s", "b"),
                set("s", "b", json!("back")),
                set("s", "c", json!(1)),
                delete("s", "c"),
            ],
            ..Batch::default()
        };
        engine.commit(&batch).expect("commit");
        let loaded = reopen_and_load(&dir, engine);
        assert_eq!(entries(&loaded), [("s", "a", &json!(2)), ("s", "b", &json!("back"))]);
    }

    #[test]
    fn completed_events_disappear_with_all_their_delivered_marks() {
        let dir = TempDir::new();
        let mut engine = open(&dir);
        let batch = Batch {
            events: vec![event(1), event(2), event(3)],
            delivered: marks(&[(1, "f::a"), (1, "f::b"), (2, "f::a"), (2, "f::z"), (3, "f::a")]),
            next_seq: 4,
            ..Batch::default()
        };
        engine.commit(&batch).expect("commit");
        let done = Batch { completed: vec![2], next_seq: 4, ..Batch::default() };
        engine.commit(&done).expect("commit");
        let loaded = reopen_and_load(&dir, engine);
        assert_eq!(loaded.outbox, [event(1), event(3)]);
        assert_eq!(loaded.delivered, marks(&[(1, "f::a"), (1, "f::b"), (3, "f::a")]));
    }

    #[test]
    fn an_event_can_arrive_and_complete_in_one_batch() {
        let dir = TempDir::new();
        let mut engine = open(&dir);
        let batch = Batch {
            events: vec![event(0), event(1)],
            delivered: marks(&[(0, "f::a"), (1, "f::a")]),
            completed: vec![0],
            next_seq: 2,
            ..Batch::default()
        };
        engine.commit(&batch).expect("commit");
        let loaded = reopen_and_load(&dir, engine);
        assert_eq!(loaded.outbox, [event(1)]);
        assert_eq!(loaded.delivered, marks(&[(1, "f::a")]));
    }

    #[test]
    fn dead_letters_go_in_and_come_out_in_id_order() {
        let dir = TempDir::new();
        let mut engine = open(&dir);
        let parked = Batch {
            dead_letters: vec![dead_letter(2), dead_letter(0), dead_letter(1)],
            next_dead_letter: 3,
            ..Batch::default()
        };
        engine.commit(&parked).expect("commit");
        let replayed =
            Batch { dead_letters_removed: vec![1], next_dead_letter: 3, ..Batch::default() };
        engine.commit(&replayed).expect("commit");
        let loaded = reopen_and_load(&dir, engine);
        assert_eq!(loaded.dead_letters, [dead_letter(0), dead_letter(2)]);
    }

    #[test]
    fn ids_survive_a_reopen_even_from_an_otherwise_empty_batch() {
        let dir = TempDir::new();
        let mut engine = open(&dir);
        let batch = Batch { next_seq: 41, next_dead_letter: 7, ..Batch::default() };
        assert!(batch.is_empty());
        engine.commit(&batch).expect("commit");
        let loaded = reopen_and_load(&dir, engine);
        assert_eq!((loaded.next_seq, loaded.next_dead_letter), (41, 7));
    }

    #[test]
    fn keys_of_different_scopes_do_not_mix_and_come_in_key_order() {
        let dir = TempDir::new();
        let mut engine = open(&dir);
        let batch = Batch {
            writes: vec![
                set("b", "y", json!(1)),
                set("a", "z", json!(2)),
                set("ab", "a", json!(3)),
                set("a", "b", json!(4)),
                set("b", "a", json!(5)),
                set("a", "b2", json!(6)),
            ],
            ..Batch::default()
        };
        engine.commit(&batch).expect("commit");
        let loaded = reopen_and_load(&dir, engine);
        let keys: Vec<(&str, &str)> = entries(&loaded).iter().map(|(s, k, _)| (*s, *k)).collect();
        assert_eq!(
            keys,
            [("a", "b"), ("a", "b2"), ("a", "z"), ("ab", "a"), ("b", "a"), ("b", "y")]
        );
    }

    #[test]
    fn opening_the_same_file_twice_fails_clearly() {
        let dir = TempDir::new();
        let _first = open(&dir);
        let err = RedbEngine::open(&dir.db()).expect_err("second open");
        let message = err.to_string();
        assert!(message.contains("state.redb"), "{message}");
        assert!(message.contains("another eddy"), "{message}");
    }

    #[test]
    fn a_batch_of_ten_thousand_writes_commits() {
        let dir = TempDir::new();
        let mut engine = open(&dir);
        let writes =
            (0..10_000).map(|i| set("bulk", &format!("k{i:05}"), json!({"i": i}))).collect();
        engine.commit(&Batch { writes, ..Batch::default() }).expect("commit");
        let loaded = reopen_and_load(&dir, engine);
        assert_eq!(loaded.entries.len(), 10_000);
        assert_eq!(loaded.entries[9_999].1, "k09999");
    }

    /// Not a benchmark: prints what commits cost here (`-- --nocapture`), asserts nothing on time.
    #[test]
    fn a_lazy_commit_is_lost_in_a_crash_until_a_durable_one_follows() {
        let dir = TempDir::new();
        let mut engine = open(&dir);
        let durable = Batch { writes: vec![set("s", "a", json!(1))], ..Batch::default() };
        engine.commit(&durable).expect("commit");
        let lazy = Batch {
            writes: vec![set("s", "b", json!(2)), set("s", "a", json!(3))],
            events: vec![event(1)],
            next_seq: 2,
            lazy: true,
            ..Batch::default()
        };
        engine.commit(&lazy).expect("lazy commit");
        // What a kill -9 leaves: the file as it is now (the page cache survives the process).
        let crashed = |name: &str| {
            let copy = TempDir::new();
            std::fs::create_dir_all(copy.db().parent().expect("parent")).expect("mkdir");
            std::fs::copy(dir.db(), copy.db()).expect("copy");
            let loaded = open(&copy).load().expect("load");
            eprintln!("{name}: {:?}", loaded.entries);
            loaded
        };
        let before = crashed("before the sync");
        assert_eq!(before.entries, [("s".to_owned(), "a".to_owned(), json!(1))]);
        assert!(before.outbox.is_empty());

        // An empty durable commit carries it.
        engine.commit(&Batch { next_seq: 2, ..Batch::default() }).expect("sync");
        let after = crashed("after the sync");
        assert_eq!(
            after.entries,
            [
                ("s".to_owned(), "a".to_owned(), json!(3)),
                ("s".to_owned(), "b".to_owned(), json!(2))
            ]
        );
        assert_eq!(after.outbox, [event(1)]);
        assert_eq!(after.next_seq, 2);
    }

    #[test]
    fn commit_times_are_printed_for_one_and_a_thousand_writes() {
        let dir = TempDir::new();
        let mut engine = open(&dir);
        let rounds = 20;
        let mut time = |size: usize| {
            let start = Instant::now();
            for round in 0..rounds {
                let writes = (0..size)
                    .map(|i| set("bench", &format!("k{round}-{i}"), json!({"title": "x", "i": i})))
                    .collect();
                engine.commit(&Batch { writes, ..Batch::default() }).expect("commit");
            }
            start.elapsed() / rounds
        };
        let one = time(1);
        let thousand = time(1_000);
        eprintln!("redb commit: 1 write {one:?}, 1,000 writes {thousand:?} (mean of {rounds})");
    }
}
