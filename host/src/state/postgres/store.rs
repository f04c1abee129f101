//! [`PgStore`]: the shared store's side of the writer thread. Each round is one transaction on
//! the writer's own connection, driven by a small runtime of the thread's own (the writer is a
//! plain thread, and blocks while the database works, as it blocks on a disk sync for redb).

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;
use tokio_postgres::{Config, NoTls};

use super::conn::{Conn, Params};
use super::fail::fail;
use crate::state::change::{key_hash, lane};
use crate::state::engine::{Batch, DeadLetter, OutboxEvent};
use crate::state::error::StateError;
use crate::state::store::Store;

use super::lanes::OUTBOX_CHANNEL;

/// The statements of a round's start.
const LOCK_EVENTS: &str = "SELECT seq FROM eddy_outbox WHERE seq = ANY($1) ORDER BY seq FOR UPDATE";
const READ_MARKS: &str = "SELECT seq, function FROM eddy_delivered WHERE seq = ANY($1)";
/// The sorted subquery feeds the aggregate in order, so the locks are taken in it.
const LOCK_KEYS: &str = "SELECT count(pg_advisory_xact_lock(h)) \
     FROM (SELECT h FROM unnest($1::bigint[]) AS h ORDER BY h) AS sorted";
/// One index probe per key: a lateral subquery with a LIMIT cannot be turned into a join, so the
/// planner never scans the table instead (as it chose to, for a plan made while it was small).
const READ_VALUES: &str = "SELECT w.scope, w.key, s.value \
     FROM unnest($1::text[], $2::text[]) AS w(scope, key) \
     CROSS JOIN LATERAL (SELECT value FROM eddy_state \
         WHERE scope = w.scope AND key = w.key LIMIT 1) AS s";
/// Outbox seqs, taken under the round's key locks so a key's events get rising seqs.
const RESERVE_SEQS: &str = "SELECT nextval('eddy_outbox_seq') FROM generate_series(1, $1::bigint)";

/// The writer's connection to the shared store.
pub struct PgStore {
    config: Config,
    runtime: tokio::runtime::Runtime,
    /// None until connected, and again after the connection failed (reconnected on next use).
    client: Option<Conn>,
    /// Whether a round's transaction is open.
    open: bool,
    /// What the open round read under its locks.
    values: HashMap<(String, String), Value>,
    present: HashSet<u64>,
    marks: HashSet<(u64, String)>,
    /// Outbox seqs reserved for the open round, used in order.
    seqs: Vec<i64>,
}

impl PgStore {
    /// A store that connects on its first round.
    pub(super) fn connect(config: Config) -> Result<PgStore, StateError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StateError::Storage(format!("starting the writer's runtime: {e}")))?;
        Ok(PgStore {
            config,
            runtime,
            client: None,
            open: false,
            values: HashMap::new(),
            present: HashSet::new(),
            marks: HashSet::new(),
            seqs: Vec::new(),
        })
    }

    /// Runs `work` with the connection (connecting first if need be); a failure that closed
    /// the connection drops it, so the next round reconnects.
    fn with<T>(
        &mut self,
        work: impl AsyncFnOnce(&Conn) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let PgStore { config, runtime, client, .. } = self;
        runtime.block_on(async {
            if client.as_ref().is_none_or(Conn::is_closed) {
                let (connected, connection) =
                    config.connect(NoTls).await.map_err(fail("connecting"))?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!(error = %e, "the state writer's database connection failed");
                    }
                });
                *client = Some(Conn::new(connected));
            }
            let connected = client.as_ref().expect("connected above");
            work(connected).await
        })
    }

    /// Rolls back the open round, if any (errors are moot: a broken connection rolls back too).
    fn rollback(&mut self) {
        if std::mem::take(&mut self.open) {
            let _ =
                self.with(async |c| c.batch_execute("ROLLBACK").await.map_err(fail("rollback")));
        }
    }
}

impl Store for PgStore {
    fn recover(&mut self) -> Result<Vec<(OutboxEvent, Vec<String>)>, StateError> {
        // The dispatcher reads the shared outbox lane by lane (`lanes.rs`).
        Ok(Vec::new())
    }

    fn begin(
        &mut self,
        keys: &BTreeSet<(String, String)>,
        events: &BTreeSet<u64>,
        seqs: usize,
    ) -> Result<(), StateError> {
        self.rollback();
        self.values.clear();
        self.present.clear();
        self.marks.clear();
        self.seqs.clear();
        let events: Vec<i64> = events.iter().map(|&seq| seq as i64).collect();
        let mut locks: Vec<i64> = keys.iter().map(|(s, k)| key_hash(s, k) as i64).collect();
        locks.sort_unstable();
        locks.dedup();
        let (scopes, names): (Vec<&str>, Vec<&str>) =
            keys.iter().map(|(s, k)| (s.as_str(), k.as_str())).unzip();
        let want = seqs as i64;
        self.open = true;
        let read = self.with(async |c| {
            c.prepare(&[LOCK_EVENTS, READ_MARKS, LOCK_KEYS, READ_VALUES, RESERVE_SEQS]).await?;
            // One round trip: the statements run in this order, each after the one before.
            // Events first, then keys, each in sorted order: every host locks in this order.
            let (by_event, by_key, by_name, count): (Params, Params, Params, Params) =
                (&[&events], &[&locks], &[&scopes, &names], &[&want]);
            let (begun, present, marks, locked, values, reserved) = tokio::join!(
                c.batch_execute("BEGIN"),
                c.query_if(!events.is_empty(), LOCK_EVENTS, by_event),
                c.query_if(!events.is_empty(), READ_MARKS, by_event),
                c.query_if(!locks.is_empty(), LOCK_KEYS, by_key),
                c.query_if(!scopes.is_empty(), READ_VALUES, by_name),
                c.query_if(want > 0, RESERVE_SEQS, count),
            );
            begun.map_err(fail("begin"))?;
            let present = present.map_err(fail("locking outbox events"))?;
            let marks = marks.map_err(fail("reading delivery marks"))?;
            locked.map_err(fail("locking keys"))?;
            let values = values.map_err(fail("reading values"))?;
            let reserved = reserved.map_err(fail("reserving event seqs"))?;
            Ok((values, present, marks, reserved))
        });
        let (values, present, marks, reserved) = match read {
            Ok(read) => read,
            Err(e) => {
                self.rollback();
                return Err(e);
            }
        };
        for row in values {
            self.values.insert((row.get(0), row.get(1)), row.get(2));
        }
        self.present = present.iter().map(|row| row.get::<_, i64>(0) as u64).collect();
        self.marks = marks
            .iter()
            .map(|row| (row.get::<_, i64>(0) as u64, row.get::<_, String>(1)))
            .collect();
        // Handed out from the end: reversed, so in rising order.
        self.seqs = reserved.iter().rev().map(|row| row.get(0)).collect();
        Ok(())
    }

    fn value(&mut self, scope: &str, key: &str) -> Result<Option<Value>, StateError> {
        Ok(self.values.get(&(scope.to_owned(), key.to_owned())).cloned())
    }

    fn delivered(&mut self, seq: u64, function: &str) -> Result<bool, StateError> {
        Ok(!self.present.contains(&seq) || self.marks.contains(&(seq, function.to_owned())))
    }

    fn next_seq(&mut self) -> Result<u64, StateError> {
        if self.seqs.is_empty() {
            // More than `begin` reserved (replayed dead letters): a few more at a time.
            let want = 16i64;
            let rows = self.with(async |c| {
                c.query(RESERVE_SEQS, &[&want]).await.map_err(fail("reserving event seqs"))
            })?;
            self.seqs = rows.iter().rev().map(|row| row.get(0)).collect();
        }
        self.seqs.pop().map(|seq| seq as u64).ok_or_else(|| StateError::Storage("no seq".into()))
    }

    fn next_dead_letter(&mut self) -> Result<u64, StateError> {
        let row = self.with(async |c| {
            c.query_one("SELECT nextval('eddy_dead_letter_id')", &[])
                .await
                .map_err(fail("reserving a dead letter id"))
        })?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn take_dead_letters(&mut self, id: Option<u64>) -> Result<Vec<DeadLetter>, StateError> {
        let id = id.map(|id| id as i64);
        // SKIP LOCKED: a letter another host is replaying right now is that host's to replay.
        let rows = self.with(async |c| {
            c.query(
                "SELECT letter FROM eddy_dead_letters WHERE $1::bigint IS NULL OR id = $1 \
                 ORDER BY id FOR UPDATE SKIP LOCKED",
                &[&id],
            )
            .await
            .map_err(fail("reading dead letters"))
        })?;
        rows.iter()
            .map(|row| {
                serde_json::from_value(row.get::<_, Value>(0)).map_err(|e| {
                    StateError::Storage(format!("a stored dead letter is unreadable: {e}"))
                })
            })
            .collect()
    }

    fn end(&mut self) {
        self.rollback();
    }

    fn commit(&mut self, batch: &mut Batch) -> Result<(), StateError> {
        if !self.open {
            // Nothing was begun (the writer syncing lazy rounds): the server's WAL writer
            // flushes asynchronous commits within a fraction of a second by itself.
            return Ok(());
        }
        let statements = Statements::of(batch)?;
        let lazy = batch.lazy;
        let result = self.with(async |c| {
            c.prepare(&COMMIT_STATEMENTS).await?;
            // Trigger deliveries only (`lazy`): durable with the server's next WAL flush; a
            // crash before it loses the handlers' writes and marks together, and the events,
            // still in the outbox, are delivered again.
            let relax = if lazy { "SET LOCAL synchronous_commit TO off" } else { "" };
            // One round trip: relax, the statements, then COMMIT, run in this order. After a
            // failed statement the server answers COMMIT by rolling back.
            let (relaxed, written, committed) =
                tokio::join!(c.batch_execute(relax), statements.run(c), c.batch_execute("COMMIT"));
            relaxed.map_err(fail("relaxing the commit"))?;
            written?;
            committed.map_err(fail("commit"))
        });
        self.open = false;
        if result.is_err() {
            // A failed statement aborted the transaction; end it (a failed COMMIT ended it).
            self.open = true;
            self.rollback();
        }
        result
    }

    fn name(&self) -> &'static str {
        "postgres"
    }
}

/// The statements of a round's commit.
const UPSERT: &str = "INSERT INTO eddy_state (scope, key, value) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::json[]) \
                 ON CONFLICT (scope, key) DO UPDATE SET value = EXCLUDED.value";
/// Found like [`READ_VALUES`] (the keys are locked, so their rows stay where they were found).
const DELETE_KEYS: &str = "DELETE FROM eddy_state WHERE ctid = ANY(ARRAY( \
     SELECT s.ctid FROM unnest($1::text[], $2::text[]) AS d(scope, key) \
     CROSS JOIN LATERAL (SELECT ctid FROM eddy_state \
         WHERE scope = d.scope AND key = d.key LIMIT 1) AS s))";
const INSERT_EVENTS: &str = "INSERT INTO eddy_outbox (seq, lane, event) \
                 SELECT * FROM unnest($1::bigint[], $2::integer[], $3::json[])";
const INSERT_MARKS: &str = "INSERT INTO eddy_delivered (seq, function) \
                 SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING";
const PARK_LETTERS: &str = "INSERT INTO eddy_dead_letters (id, function, letter) \
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::json[])";
/// An event's marks go with it (marks are only written for events still in the outbox, under
/// their rows' locks).
const RETIRE_EVENTS: &str = "WITH retired AS (DELETE FROM eddy_outbox WHERE seq = ANY($1)) \
     DELETE FROM eddy_delivered WHERE seq = ANY($1)";
const REMOVE_LETTERS: &str = "DELETE FROM eddy_dead_letters WHERE id = ANY($1)";
const NOTIFY_LANES: &str = "SELECT pg_notify($1, $2)";
const COMMIT_STATEMENTS: [&str; 8] = [
    UPSERT,
    DELETE_KEYS,
    INSERT_EVENTS,
    INSERT_MARKS,
    PARK_LETTERS,
    RETIRE_EVENTS,
    REMOVE_LETTERS,
    NOTIFY_LANES,
];

/// A batch as the parameters of the statements that commit it.
struct Statements {
    upsert: (Vec<String>, Vec<String>, Vec<Value>),
    delete: (Vec<String>, Vec<String>),
    events: (Vec<i64>, Vec<i32>, Vec<Value>),
    delivered: (Vec<i64>, Vec<String>),
    completed: Vec<i64>,
    dead: (Vec<i64>, Vec<String>, Vec<Value>),
    dead_removed: Vec<i64>,
    /// The lanes that got events, for the notification: `"3,17"`.
    lanes: String,
}

impl Statements {
    fn of(batch: &Batch) -> Result<Statements, StateError> {
        let json = |what: &str, value: Result<Value, serde_json::Error>| {
            value.map_err(|e| StateError::Storage(format!("encoding {what}: {e}")))
        };
        let mut s = Statements {
            upsert: Default::default(),
            delete: Default::default(),
            events: Default::default(),
            delivered: Default::default(),
            completed: batch.completed.iter().map(|&seq| seq as i64).collect(),
            dead: Default::default(),
            dead_removed: batch.dead_letters_removed.iter().map(|&id| id as i64).collect(),
            lanes: String::new(),
        };
        for (scope, key, value) in &batch.writes {
            match value {
                Some(value) => {
                    s.upsert.0.push(scope.clone());
                    s.upsert.1.push(key.clone());
                    s.upsert.2.push(value.clone());
                }
                None => {
                    s.delete.0.push(scope.clone());
                    s.delete.1.push(key.clone());
                }
            }
        }
        let mut lanes = BTreeSet::new();
        for event in &batch.events {
            let lane = lane(&event.change.scope, &event.change.key);
            lanes.insert(lane);
            s.events.0.push(event.seq as i64);
            s.events.1.push(lane as i32);
            s.events.2.push(json("an event", serde_json::to_value(event))?);
        }
        s.lanes = lanes.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        // The statements run in any order, so none may depend on another: a mark of an event
        // this round retires, or a letter it parks and replays, is left out of both.
        let completed: HashSet<u64> = batch.completed.iter().copied().collect();
        let replayed: HashSet<u64> = batch.dead_letters_removed.iter().copied().collect();
        let parked: HashSet<u64> = batch.dead_letters.iter().map(|d| d.id).collect();
        s.dead_removed.retain(|id| !parked.contains(&(*id as u64)));
        for (seq, function) in batch.delivered.iter().filter(|(seq, _)| !completed.contains(seq)) {
            s.delivered.0.push(*seq as i64);
            s.delivered.1.push(function.clone());
        }
        for letter in batch.dead_letters.iter().filter(|d| !replayed.contains(&d.id)) {
            s.dead.0.push(letter.id as i64);
            s.dead.1.push(letter.function.clone());
            s.dead.2.push(json("a dead letter", serde_json::to_value(letter))?);
        }
        Ok(s)
    }

    /// Runs the statements in the open transaction, pipelined on the connection.
    async fn run(&self, c: &Conn) -> Result<(), StateError> {
        let s = self;
        let upsert = async {
            if s.upsert.0.is_empty() {
                return Ok(0);
            }
            c.execute(UPSERT, &[&s.upsert.0, &s.upsert.1, &s.upsert.2]).await
        };
        let delete = async {
            if s.delete.0.is_empty() {
                return Ok(0);
            }
            c.execute(DELETE_KEYS, &[&s.delete.0, &s.delete.1]).await
        };
        let events = async {
            if s.events.0.is_empty() {
                return Ok(0);
            }
            c.execute(INSERT_EVENTS, &[&s.events.0, &s.events.1, &s.events.2]).await
        };
        let delivered = async {
            if s.delivered.0.is_empty() {
                return Ok(0);
            }
            c.execute(INSERT_MARKS, &[&s.delivered.0, &s.delivered.1]).await
        };
        let dead = async {
            if s.dead.0.is_empty() {
                return Ok(0);
            }
            c.execute(PARK_LETTERS, &[&s.dead.0, &s.dead.1, &s.dead.2]).await
        };
        let completed = async {
            if s.completed.is_empty() {
                return Ok(0);
            }
            c.execute(RETIRE_EVENTS, &[&s.completed]).await
        };
        let dead_removed = async {
            if s.dead_removed.is_empty() {
                return Ok(0);
            }
            c.execute(REMOVE_LETTERS, &[&s.dead_removed]).await
        };
        let notify = async {
            if s.lanes.is_empty() {
                return Ok(0);
            }
            // Sent when the transaction commits, and only then.
            c.execute(NOTIFY_LANES, &[&OUTBOX_CHANNEL, &s.lanes]).await
        };
        // Independent statements (see `of`), pipelined on the one connection.
        let (a, b, c2, d, e, f, g, h) =
            tokio::join!(upsert, delete, events, delivered, dead, completed, dead_removed, notify);
        for (what, result) in [
            ("writing values", a),
            ("deleting keys", b),
            ("writing outbox events", c2),
            ("writing delivery marks", d),
            ("parking dead letters", e),
            ("retiring events", f),
            ("removing replayed dead letters", g),
            ("notifying other hosts", h),
        ] {
            result.map_err(fail(what))?;
        }
        Ok(())
    }
}
