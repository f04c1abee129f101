//! Group commit of stream writes on the shared store. Every write to a group locks the group's
//! row until it commits, so writes to one busy group (every `on-change` of the todo app sends
//! to `todos-live/all`) would queue on that row, each waiting for the commits before it. Instead,
//! a host queues its writes per group while the group's previous transaction runs, and the next
//! transaction takes all of them: one row lock, one round of statements and one commit for many
//! frames, numbered in the order they were queued.
//!
//! Each write is decided on its own (an item write sees the writes queued before it), and a
//! write that is refused (bad update ops) is answered alone; a failed transaction fails every
//! write it carried, none of which is then applied.

use std::collections::{HashMap, hash_map::Entry};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use super::frame::{FrameEvent, SentEvent, stream_frame};
use super::group::GroupName;
use super::types::{StreamChange, StreamError};
use crate::state::postgres::{Postgres, fail};
use crate::state::{UpdateOutcome, ops};

/// The window is trimmed when a group's seq crosses a multiple of this: garbage collection in
/// bulk (reads apply the window's count and age limits themselves, so nothing older is served).
const TRIM_EVERY: i64 = 64;

/// The notification channel of committed frames. The payload is `{"s","g","q","i","f"}`:
/// stream, group, seq, id and the frame's text (left out when too large for a notification).
pub(super) const FRAMES_CHANNEL: &str = "eddy_frames";

/// PostgreSQL's limit on a notification's payload is 8000 bytes: frames larger than this are
/// read from the window instead.
const MAX_NOTIFIED_FRAME: usize = 7000;

/// A write to one group.
pub(super) enum Write {
    /// `stream::send`: one frame.
    Send { id: Option<String>, event_type: String, data: Value },
    /// An item write, broadcast as the item's change.
    Item { item: String, change: ItemWrite },
}

/// What an item write asks for.
pub(super) enum ItemWrite {
    Set(Value),
    Update(Value),
    Delete,
}

/// A write's answer: the item's outcome and the change it broadcast (None for a send, or when
/// the item did not change).
pub(super) type Written = (UpdateOutcome, Option<(StreamChange, Value)>);

struct Queued {
    write: Write,
    reply: oneshot::Sender<Result<Written, StreamError>>,
}

/// The writes waiting for their group's next transaction. A group is in the map while a flush
/// task runs for it; the task removes it when it finds its queue empty.
#[derive(Default)]
struct Queues {
    groups: Mutex<HashMap<(String, String), Vec<Queued>>>,
}

/// A host's stream writes on the shared store. Cheap to clone.
#[derive(Clone)]
pub(super) struct Writes {
    postgres: Postgres,
    /// The epoch frames are numbered in.
    epoch: Arc<str>,
    /// The window's bounds, for trimming.
    replay_window: usize,
    max_age: Duration,
    /// The writes waiting for their group's next transaction.
    queues: Arc<Queues>,
}

impl Writes {
    pub(super) fn new(
        postgres: Postgres,
        epoch: Arc<str>,
        replay_window: usize,
        max_age: Duration,
    ) -> Writes {
        Writes { postgres, epoch, replay_window, max_age, queues: Default::default() }
    }

    /// Queues `write` for its group's next transaction, and waits for that to commit.
    pub(super) async fn write(
        &self,
        name: GroupName<'_>,
        write: Write,
    ) -> Result<Written, StreamError> {
        let (reply, answer) = oneshot::channel();
        let queued = Queued { write, reply };
        let key = (name.stream.to_owned(), name.group.to_owned());
        let start = {
            let mut groups = self.queues.groups.lock().unwrap_or_else(|e| e.into_inner());
            match groups.entry(key.clone()) {
                Entry::Occupied(mut waiting) => {
                    waiting.get_mut().push(queued);
                    false
                }
                Entry::Vacant(idle) => {
                    idle.insert(vec![queued]);
                    true
                }
            }
        };
        if start {
            // A task of its own: a caller that goes away (a dropped request) must not take the
            // other callers' writes with it.
            let writes = self.clone();
            tokio::spawn(async move { writes.flush(key).await });
        }
        answer.await.map_err(|_| StreamError::Storage("the stream write was abandoned".into()))?
    }

    /// Commits the group's queued writes, batch after batch, until none are left.
    async fn flush(&self, key: (String, String)) {
        loop {
            let batch = {
                let mut groups = self.queues.groups.lock().unwrap_or_else(|e| e.into_inner());
                let Some(waiting) = groups.get_mut(&key) else { return };
                if waiting.is_empty() {
                    groups.remove(&key);
                    return;
                }
                std::mem::take(waiting)
            };
            let name = GroupName { stream: &key.0, group: &key.1 };
            let (writes, replies): (Vec<Write>, Vec<_>) =
                batch.into_iter().map(|q| (q.write, q.reply)).unzip();
            match self.commit(name, &writes).await {
                Ok(answers) => {
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(answer);
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// One transaction for `writes`, in order: each write's answer, or the transaction's error.
    async fn commit(
        &self,
        name: GroupName<'_>,
        writes: &[Write],
    ) -> Result<Vec<Result<Written, StreamError>>, StreamError> {
        let client =
            self.postgres.pool().get().await.map_err(fail("taking a pooled connection"))?;
        let result = self.commit_on(&client, name, writes).await;
        if result.is_err() {
            // Ends the transaction before the connection goes back to the pool (a failed
            // COMMIT ended it already; this then only draws a warning).
            if let Err(e) = client.batch_execute("ROLLBACK").await {
                tracing::debug!(error = %e, "rolling back a stream write");
            }
        }
        result
    }

    async fn commit_on(
        &self,
        client: &deadpool_postgres::Client,
        name: GroupName<'_>,
        writes: &[Write],
    ) -> Result<Vec<Result<Written, StreamError>>, StreamError> {
        let named: Vec<&str> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Item { item, .. } => Some(item.as_str()),
                Write::Send { .. } => None,
            })
            .collect();
        let mut prepared = HashMap::new();
        for sql in STATEMENTS {
            prepared.insert(sql, client.prepare_cached(sql).await.map_err(fail("preparing"))?);
        }
        // One round trip (the statements were prepared, so each goes out when first polled,
        // in this order): begin, lock the group's row, read the items the writes name.
        let read = async {
            match named.is_empty() {
                true => Ok(Vec::new()),
                false => {
                    let params: Params = &[&name.stream, &name.group, &named];
                    client.query(&prepared[READ_ITEMS], params).await
                }
            }
        };
        let group: Params = &[&name.stream, &name.group];
        let (begun, locked, read) = tokio::join!(
            client.batch_execute("BEGIN"),
            client.query_one(&prepared[LOCK_GROUP], group),
            read,
        );
        begun.map_err(fail("beginning a stream write"))?;
        let locked = locked.map_err(fail("locking a stream group"))?;
        let (seq, floor): (i64, i64) = (locked.get(0), locked.get(1));
        let mut items: HashMap<String, Value> = HashMap::new();
        for row in read.map_err(fail("reading stream items"))? {
            items.insert(row.get(0), row.get(1));
        }

        let mut decided = Decided { writes: self, name, next: seq, frames: Vec::new() };
        let mut changed: HashMap<&str, Option<Value>> = HashMap::new();
        let mut answers = Vec::with_capacity(writes.len());
        for write in writes {
            answers.push(match write {
                Write::Send { id, event_type, data } => {
                    let event = SentEvent { kind: event_type, data };
                    decided.frame(id.as_deref(), FrameEvent::Event { event });
                    let none = UpdateOutcome { old_value: None, new_value: None, errors: vec![] };
                    Ok((none, None))
                }
                Write::Item { item, change } => {
                    let old = match changed.get(item.as_str()) {
                        Some(now) => now.clone(),
                        None => items.get(item).cloned(),
                    };
                    decided.item(item, old, change).map(|(new, written)| {
                        changed.insert(item, new);
                        written
                    })
                }
            });
        }
        let Decided { next, frames, .. } = decided;
        let stored = async {
            match next > seq {
                true => {
                    let at = (seq, floor);
                    self.store(client, &prepared, name, at, next, &frames, &changed).await
                }
                false => Ok(()),
            }
        };
        // The writes and the commit in one round trip; after a failed statement, the server
        // answers COMMIT by rolling back.
        let (stored, committed) = tokio::join!(stored, client.batch_execute("COMMIT"));
        stored?;
        committed.map_err(fail("committing a stream write"))?;
        Ok(answers)
    }

    /// Writes what a transaction decided: the group's new seq, its frames (and their
    /// announcements) and the items it changed; trims the window now and then. The group was
    /// at `(seq, floor)` when locked.
    #[allow(clippy::too_many_arguments)]
    async fn store(
        &self,
        client: &deadpool_postgres::Client,
        prepared: &HashMap<&str, Statement>,
        name: GroupName<'_>,
        (seq, floor): (i64, i64),
        next: i64,
        frames: &[(i64, Option<&str>, String)],
        changed: &HashMap<&str, Option<Value>>,
    ) -> Result<(), StreamError> {
        let seqs: Vec<i64> = frames.iter().map(|f| f.0).collect();
        let ids: Vec<Option<&str>> = frames.iter().map(|f| f.1).collect();
        let texts: Vec<&str> = frames.iter().map(|f| f.2.as_str()).collect();
        let payloads: Vec<String> = frames
            .iter()
            .map(|(seq, id, text)| {
                let notified = (text.len() <= MAX_NOTIFIED_FRAME).then_some(text);
                json!({ "s": name.stream, "g": name.group, "q": seq, "i": id, "f": notified })
                    .to_string()
            })
            .collect();
        let (mut set_items, mut set_values, mut gone) = (Vec::new(), Vec::new(), Vec::new());
        for (item, value) in changed {
            match value {
                Some(value) => {
                    set_items.push(*item);
                    set_values.push(value);
                }
                None => gone.push(*item),
            }
        }
        let window = i64::try_from(self.replay_window).unwrap_or(i64::MAX);
        let max_age = format!("{} milliseconds", self.max_age.as_millis());
        let trim = next / TRIM_EVERY > seq / TRIM_EVERY;

        let statements: [(&str, bool, Vec<&(dyn ToSql + Sync)>); 6] = [
            (NUMBER, true, vec![&name.stream, &name.group, &next]),
            (KEEP_FRAMES, true, vec![&name.stream, &name.group, &seqs, &ids, &texts]),
            (
                SET_ITEMS,
                !set_items.is_empty(),
                vec![&name.stream, &name.group, &set_items, &set_values],
            ),
            (DELETE_ITEMS, !gone.is_empty(), vec![&name.stream, &name.group, &gone]),
            (TRIM, trim, vec![&name.stream, &name.group, &next, &window, &max_age, &floor]),
            (ANNOUNCE, true, vec![&FRAMES_CHANNEL, &payloads]),
        ];
        // Independent statements, pipelined on the connection.
        let results = futures_util::future::join_all(
            statements
                .iter()
                .filter(|(_, wanted, _)| *wanted)
                .map(|(sql, _, params)| client.execute(&prepared[sql], params)),
        )
        .await;
        // The first statement that failed aborted the others: report that one.
        let failed = results.into_iter().filter_map(Result::err).min_by_key(|e| {
            e.code() == Some(&tokio_postgres::error::SqlState::IN_FAILED_SQL_TRANSACTION)
        });
        match failed {
            Some(e) => Err(fail("writing stream frames")(e).into()),
            None => Ok(()),
        }
    }
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The statements of a group's transaction.
const LOCK_GROUP: &str = "INSERT INTO eddy_stream_groups (stream, grp, seq) VALUES ($1, $2, 0) \
     ON CONFLICT (stream, grp) DO UPDATE SET seq = eddy_stream_groups.seq RETURNING seq, floor";
const READ_ITEMS: &str = "SELECT item, value FROM eddy_stream_items \
     WHERE stream = $1 AND grp = $2 AND item = ANY($3)";
const NUMBER: &str = "UPDATE eddy_stream_groups SET seq = $3 WHERE stream = $1 AND grp = $2";
const KEEP_FRAMES: &str = "INSERT INTO eddy_stream_frames (stream, grp, seq, id, frame) \
     SELECT $1, $2, * FROM unnest($3::bigint[], $4::text[], $5::text[])";
const SET_ITEMS: &str = "INSERT INTO eddy_stream_items (stream, grp, item, value) \
     SELECT $1, $2, * FROM unnest($3::text[], $4::json[]) \
     ON CONFLICT (stream, grp, item) DO UPDATE SET value = EXCLUDED.value";
const DELETE_ITEMS: &str =
    "DELETE FROM eddy_stream_items WHERE stream = $1 AND grp = $2 AND item = ANY($3)";
/// Deletes the frames past the count bound and those older than the age bound, and moves the
/// group's floor past them. Frames are kept in seq order under the group's lock, so the old
/// ones are those before the first young one, and all of them lie in one range of the primary
/// key, from the floor ($6) up: the index entries of frames trimmed before stay until the table
/// is vacuumed, and a scan from the group's first entry would walk them all.
const TRIM: &str = "WITH cut AS (SELECT GREATEST($6::bigint, $3::bigint - $4::bigint + 1, coalesce( \
         (SELECT seq FROM eddy_stream_frames WHERE stream = $1 AND grp = $2 AND seq >= $6 \
              AND sent_at >= now() - $5::text::interval ORDER BY seq LIMIT 1), \
         $3::bigint + 1)) AS below), \
     gone AS (DELETE FROM eddy_stream_frames WHERE stream = $1 AND grp = $2 \
         AND seq >= $6 AND seq < (SELECT below FROM cut)) \
     UPDATE eddy_stream_groups SET floor = (SELECT below FROM cut) \
     WHERE stream = $1 AND grp = $2";
/// Delivered when the transaction commits, in array order: seq order.
const ANNOUNCE: &str = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS n(payload)";
const STATEMENTS: [&str; 8] =
    [LOCK_GROUP, READ_ITEMS, NUMBER, KEEP_FRAMES, SET_ITEMS, DELETE_ITEMS, TRIM, ANNOUNCE];

/// What one transaction decided so far: its last seq and its frames.
struct Decided<'c, 'w> {
    writes: &'c Writes,
    name: GroupName<'c>,
    next: i64,
    frames: Vec<(i64, Option<&'w str>, String)>,
}

impl<'w> Decided<'_, 'w> {
    fn frame(&mut self, id: Option<&'w str>, event: FrameEvent<'_>) {
        self.next += 1;
        let name = self.name;
        let text =
            stream_frame(name.stream, name.group, id, self.next as u64, &self.writes.epoch, &event);
        self.frames.push((self.next, id, text.to_string()));
    }

    /// Decides an item write on the item's value `old`: its new value and answer.
    fn item(
        &mut self,
        item: &'w str,
        old: Option<Value>,
        change: &ItemWrite,
    ) -> Result<(Option<Value>, Written), StreamError> {
        let (new, errors) = match change {
            ItemWrite::Set(value) => (Some(value.clone()), Vec::new()),
            ItemWrite::Update(ops) => ops::apply_to_key(old.as_ref(), ops)?,
            ItemWrite::Delete => (None, Vec::new()),
        };
        let broadcast = match (&old, &new) {
            (None, Some(data)) => {
                self.frame(Some(item), FrameEvent::Create { data });
                Some((StreamChange::Create, data.clone()))
            }
            (Some(old), Some(data)) if old != data => {
                self.frame(Some(item), FrameEvent::Update { data });
                Some((StreamChange::Update, data.clone()))
            }
            (Some(data), None) => {
                self.frame(Some(item), FrameEvent::Delete { data });
                Some((StreamChange::Delete, data.clone()))
            }
            _ => None,
        };
        let outcome = UpdateOutcome { old_value: old, new_value: new.clone(), errors };
        Ok((new, (outcome, broadcast)))
    }
}
