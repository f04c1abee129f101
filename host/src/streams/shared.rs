//! Streams on the shared store: every host's frames numbered in one sequence per group, kept in
//! PostgreSQL, and fanned out to the subscribers of every host.
//!
//! A write ([`Cluster::send`], [`Cluster::item`]) commits in a transaction that locks the
//! group's row (`eddy_stream_groups`, created on first use), applies item changes with the same
//! ops code as state, takes the next seqs, stores the frames in the group's replay window
//! (`eddy_stream_frames`, trimmed to the newest `replay_window` frames and to `replay_max_age`)
//! and announces them with `NOTIFY eddy_frames`, delivered when (and only if) the transaction
//! commits, in commit order, which for one group is seq order. A host's writes to one group
//! share transactions (`commit.rs`).
//!
//! Each host keeps a mirror (`group.rs`, [`super::group::Group::mirror`]) of the groups its
//! clients joined: loaded from the database at the first join, then kept current by the
//! notifications ([`listen`]), which it takes in seq order. A frame it finds after a gap (a
//! notification too large to carry the frame, or a join that raced a write) is read from the
//! window first; a gap the window no longer covers (the host was cut off from the database for
//! long) closes the group's sockets, and their clients resume with `since` and get a sync.
//! Every host numbers frames in the database's one epoch, so `since` resumes on any host, after
//! any restart. What clients can rely on: `docs/streams.md`, `docs/cluster.md`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::commit::{FRAMES_CHANNEL, ItemWrite, Write, Writes, Written};
use super::group::GroupName;
use super::types::StreamError;
use crate::state::postgres::{Postgres, fail};

/// A frame: its seq, item or event id, and text.
pub(super) type Frame = (u64, Option<String>, String);

/// A group as the database holds it: the seq of its last frame, its items then, and the frames
/// still in its window up to then (oldest first).
pub(super) struct Snapshot {
    pub seq: u64,
    pub items: BTreeMap<String, Value>,
    pub frames: Vec<Frame>,
}

/// The shared store's side of the stream hub. Cheap to clone.
#[derive(Clone)]
pub(super) struct Cluster {
    postgres: Postgres,
    /// The epoch every host numbers frames in: drawn once per database.
    pub epoch: Arc<str>,
    replay_window: usize,
    max_age: Duration,
    /// This host's writes, committed together per group (`commit.rs`).
    writes: Writes,
}

impl Cluster {
    /// Reads the database's stream epoch.
    pub async fn open(
        postgres: Postgres,
        replay_window: usize,
        max_age: Duration,
    ) -> Result<Cluster, StreamError> {
        let client = postgres.pool().get().await.map_err(fail("taking a pooled connection"))?;
        let row = client
            .query_one("SELECT value FROM eddy_meta WHERE name = 'stream_epoch'", &[])
            .await
            .map_err(fail("reading the stream epoch"))?;
        let epoch: String = row.get(0);
        let epoch: Arc<str> = epoch.into();
        let writes = Writes::new(postgres.clone(), epoch.clone(), replay_window, max_age);
        Ok(Cluster { postgres, epoch, replay_window, max_age, writes })
    }

    /// `stream::send`: one frame.
    pub async fn send(
        &self,
        name: GroupName<'_>,
        id: Option<&str>,
        event_type: &str,
        data: &Value,
    ) -> Result<(), StreamError> {
        let id = id.map(str::to_owned);
        let write = Write::Send { id, event_type: event_type.to_owned(), data: data.clone() };
        self.writes.write(name, write).await.map(|_| ())
    }

    /// An item write: its outcome, and the change it broadcast (if it changed anything).
    pub async fn item(
        &self,
        name: GroupName<'_>,
        item: &str,
        change: ItemWrite,
    ) -> Result<Written, StreamError> {
        self.writes.write(name, Write::Item { item: item.to_owned(), change }).await
    }

    /// An item's value.
    pub async fn get(&self, name: GroupName<'_>, item: &str) -> Result<Option<Value>, StreamError> {
        let client =
            self.postgres.pool().get().await.map_err(fail("taking a pooled connection"))?;
        let row = client
            .query_opt(
                "SELECT value FROM eddy_stream_items WHERE stream = $1 AND grp = $2 AND item = $3",
                &[&name.stream, &name.group, &item],
            )
            .await
            .map_err(fail("reading a stream item"))?;
        Ok(row.map(|row| row.get(0)))
    }

    /// A group's items in item-id order.
    pub async fn entries(&self, name: GroupName<'_>) -> Result<Vec<(String, Value)>, StreamError> {
        let client =
            self.postgres.pool().get().await.map_err(fail("taking a pooled connection"))?;
        let rows = client
            .query(
                "SELECT item, value FROM eddy_stream_items WHERE stream = $1 AND grp = $2 \
                 ORDER BY item",
                &[&name.stream, &name.group],
            )
            .await
            .map_err(fail("listing stream items"))?;
        Ok(rows.into_iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The group as it is now: its seq, items and window, read together (under a share lock
    /// on its row, so no write lands between them).
    pub async fn snapshot(&self, name: GroupName<'_>) -> Result<Snapshot, StreamError> {
        let mut client =
            self.postgres.pool().get().await.map_err(fail("taking a pooled connection"))?;
        let txn = client.transaction().await.map_err(fail("beginning a snapshot"))?;
        let seq = txn
            .query_opt(
                "SELECT seq FROM eddy_stream_groups WHERE stream = $1 AND grp = $2 FOR SHARE",
                &[&name.stream, &name.group],
            )
            .await
            .map_err(fail("reading a stream group"))?
            .map_or(0, |row| row.get::<_, i64>(0) as u64);
        let items = txn
            .query(
                "SELECT item, value FROM eddy_stream_items WHERE stream = $1 AND grp = $2",
                &[&name.stream, &name.group],
            )
            .await
            .map_err(fail("reading stream items"))?
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let frames = self.read_frames(&txn, name, 0).await?;
        txn.commit().await.map_err(fail("ending a snapshot"))?;
        Ok(Snapshot { seq, items, frames })
    }

    /// The group's seq now, and the frames of its window after `after`, in seq order.
    pub async fn frames_after(
        &self,
        name: GroupName<'_>,
        after: u64,
    ) -> Result<(u64, Vec<Frame>), StreamError> {
        let client =
            self.postgres.pool().get().await.map_err(fail("taking a pooled connection"))?;
        let seq = client
            .query_opt(
                "SELECT seq FROM eddy_stream_groups WHERE stream = $1 AND grp = $2",
                &[&name.stream, &name.group],
            )
            .await
            .map_err(fail("reading a stream group"))?
            .map_or(0, |row| row.get::<_, i64>(0) as u64);
        let frames = self.read_frames(&client, name, after).await?;
        // Frames committed after the seq was read are left for the next notification.
        Ok((seq, frames.into_iter().filter(|(s, _, _)| *s <= seq).collect()))
    }

    async fn read_frames(
        &self,
        client: &impl deadpool_postgres::GenericClient,
        name: GroupName<'_>,
        after: u64,
    ) -> Result<Vec<Frame>, StreamError> {
        let window = i64::try_from(self.replay_window).unwrap_or(i64::MAX);
        let max_age = format!("{} milliseconds", self.max_age.as_millis());
        let rows = client
            .query(
                "SELECT seq, id, frame FROM ( \
                     SELECT seq, id, frame FROM eddy_stream_frames \
                     WHERE stream = $1 AND grp = $2 AND seq > $3 \
                       AND sent_at >= now() - $5::text::interval \
                     ORDER BY seq DESC LIMIT $4) AS newest ORDER BY seq",
                &[&name.stream, &name.group, &(after as i64), &window, &max_age],
            )
            .await
            .map_err(fail("reading frames"))?;
        Ok(rows
            .into_iter()
            .map(|row| (row.get::<_, i64>(0) as u64, row.get(1), row.get(2)))
            .collect())
    }
}

/// A frame announced by a host's commit.
pub(super) struct Announced {
    pub stream: String,
    pub group: String,
    pub seq: u64,
    pub id: Option<String>,
    /// None when too large for the notification: read it from the window.
    pub text: Option<String>,
}

/// Listens for committed frames and hands them, in commit order, to `take`; after the
/// connection drops (notifications may have been missed), `reconnected` is called before
/// new ones flow again.
pub(super) async fn listen(
    postgres: Postgres,
    take: impl Fn(Announced) -> BoxFuture<'static, ()>,
    reconnected: impl Fn() -> BoxFuture<'static, ()>,
) {
    let take = |payload: String| match parse(&payload) {
        Some(announced) => take(announced),
        None => {
            tracing::warn!("an unreadable frame notification");
            Box::pin(async {}) as BoxFuture<'static, ()>
        }
    };
    postgres.listen(FRAMES_CHANNEL, take, reconnected, || true).await;
}

fn parse(payload: &str) -> Option<Announced> {
    let value: Value = serde_json::from_str(payload).ok()?;
    Some(Announced {
        stream: value["s"].as_str()?.to_owned(),
        group: value["g"].as_str()?.to_owned(),
        seq: value["q"].as_u64()?,
        id: value["i"].as_str().map(str::to_owned),
        text: value["f"].as_str().map(str::to_owned),
    })
}
