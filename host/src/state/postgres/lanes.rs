//! What the trigger dispatcher asks of the shared store: leases on the lanes of the outbox
//! (each of [`LANES`](crate::state::change::LANES) lanes is delivered by one host at a time),
//! which lanes hold events, and the events of a lane in seq order.
//!
//! A host renews its leases every [`Lease::RENEW`]; a lease runs [`Lease::TTL`]. Hosts seen
//! within the TTL share the lanes evenly: a host holding fewer than its share claims expired
//! ones, one holding more gives up the surplus (after its dispatcher stopped delivering them).
//! A host that dies stops renewing, and its lanes pass to the others one TTL later; whatever it
//! was delivering is delivered again from the outbox, and the delivery marks keep the effects
//! to once.

use std::time::Duration;

use deadpool_postgres::Pool;

use super::coalesce::Coalesce;
use super::fail::fail;
use crate::state::change::LANES;
use crate::state::engine::OutboxEvent;
use crate::state::error::StateError;

/// The notification channel of committed outbox events; the payload lists their lanes: `3,17`.
pub const OUTBOX_CHANNEL: &str = "eddy_outbox";

/// The first events of lanes, each lane with its own limit and numbered by its place in the
/// arrays, each event with the functions that handled it already. Events come as text, to be
/// decoded once, straight into events.
const READ_LANES: &str = "SELECT l.i, e.event::text, e.done \
     FROM unnest($1::integer[], $2::bigint[]) WITH ORDINALITY AS l(lane, lim, i) \
     CROSS JOIN LATERAL (SELECT o.seq, o.event, \
             ARRAY(SELECT d.function FROM eddy_delivered d WHERE d.seq = o.seq) AS done \
         FROM eddy_outbox o WHERE o.lane = l.lane ORDER BY o.seq LIMIT l.lim) AS e \
     ORDER BY l.i, e.seq";

/// A lane's events: each with the functions that handled it already.
type Pending = Vec<(OutboxEvent, Vec<String>)>;

/// One host's view of the lanes it leases.
#[derive(Clone)]
pub struct Lease {
    pool: Pool,
    /// This host's name in `eddy_hosts` and `eddy_lanes`: unique per run.
    host: String,
    /// Reads of lanes asked for at once share a query: a host's lane tasks are woken together
    /// by a commit that fed several lanes.
    lanes: Coalesce<(u32, i64), Pending>,
}

impl Lease {
    /// How long a lease lasts without renewal: how long a dead host's lanes wait.
    pub const TTL: Duration = Duration::from_secs(5);
    /// How often leases are renewed.
    pub const RENEW: Duration = Duration::from_millis(1500);

    pub fn new(pool: Pool, host: String) -> Lease {
        let lanes = Coalesce::new({
            let pool = pool.clone();
            move |asks| Box::pin(read_lanes(pool.clone(), asks))
        });
        Lease { pool, host, lanes }
    }

    /// This host's id.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Says this host is alive, renews its leases, gives up those in `surplus_ok` beyond its
    /// share, and claims expired lanes up to its share. Returns the lanes it holds now, and its
    /// share.
    pub async fn renew(&self, idle: &[u32]) -> Result<(Vec<u32>, usize), StateError> {
        let mut client = self.pool.get().await.map_err(fail("taking a pooled connection"))?;
        let txn = client.transaction().await.map_err(fail("beginning a lease renewal"))?;
        let ttl = format!("{} milliseconds", Self::TTL.as_millis());
        txn.execute(
            "INSERT INTO eddy_hosts (id) VALUES ($1) \
             ON CONFLICT (id) DO UPDATE SET seen_at = now()",
            &[&self.host],
        )
        .await
        .map_err(fail("recording this host"))?;
        txn.execute("DELETE FROM eddy_hosts WHERE seen_at < now() - interval '1 hour'", &[])
            .await
            .map_err(fail("forgetting old hosts"))?;
        let live: i64 = txn
            .query_one(
                "SELECT count(*) FROM eddy_hosts WHERE seen_at > now() - $1::text::interval",
                &[&ttl],
            )
            .await
            .map_err(fail("counting hosts"))?
            .get(0);
        let share = (LANES as usize).div_ceil(live.max(1) as usize);
        let mut held: Vec<i32> = txn
            .query(
                "UPDATE eddy_lanes SET expires_at = now() + $2::text::interval \
                 WHERE owner = $1 RETURNING lane",
                &[&self.host, &ttl],
            )
            .await
            .map_err(fail("renewing leases"))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        held.sort_unstable();
        if held.len() > share {
            // Give up idle lanes beyond the share (the dispatcher stops the others first).
            let surplus: Vec<i32> = held
                .iter()
                .rev()
                .filter(|lane| idle.contains(&(**lane as u32)))
                .take(held.len() - share)
                .copied()
                .collect();
            txn.execute(
                "UPDATE eddy_lanes SET owner = NULL, expires_at = '-infinity' \
                 WHERE owner = $1 AND lane = ANY($2)",
                &[&self.host, &surplus],
            )
            .await
            .map_err(fail("releasing lanes"))?;
            held.retain(|lane| !surplus.contains(lane));
        } else if held.len() < share {
            let want = (share - held.len()) as i64;
            let claimed = txn
                .query(
                    "UPDATE eddy_lanes SET owner = $1, expires_at = now() + $2::text::interval \
                     WHERE lane IN (SELECT lane FROM eddy_lanes WHERE expires_at < now() \
                                    ORDER BY random() LIMIT $3 FOR UPDATE SKIP LOCKED) \
                     RETURNING lane",
                    &[&self.host, &ttl, &want],
                )
                .await
                .map_err(fail("claiming lanes"))?;
            held.extend(claimed.iter().map(|row| row.get::<_, i32>(0)));
        }
        txn.commit().await.map_err(fail("committing a lease renewal"))?;
        held.sort_unstable();
        Ok((held.into_iter().map(|lane| lane as u32).collect(), share))
    }

    /// Of `lanes`, those that hold undelivered events.
    pub async fn busy(&self, lanes: &[u32]) -> Result<Vec<u32>, StateError> {
        let client = self.pool.get().await.map_err(fail("taking a pooled connection"))?;
        let lanes: Vec<i32> = lanes.iter().map(|&lane| lane as i32).collect();
        let rows = client
            .query(
                "SELECT lane FROM unnest($1::integer[]) AS l(lane) \
                 WHERE EXISTS (SELECT 1 FROM eddy_outbox o WHERE o.lane = l.lane)",
                &[&lanes],
            )
            .await
            .map_err(fail("looking for waiting events"))?;
        Ok(rows.iter().map(|row| row.get::<_, i32>(0) as u32).collect())
    }

    /// The first `limit` undelivered events of `lane` in seq order, each with the functions
    /// that handled it already.
    pub async fn pending(&self, lane: u32, limit: i64) -> Result<Pending, StateError> {
        self.lanes.ask((lane, limit)).await
    }

    /// Gives up every lane and says this host is gone, so the others take its lanes at once.
    pub async fn leave(&self) -> Result<(), StateError> {
        let client = self.pool.get().await.map_err(fail("taking a pooled connection"))?;
        client
            .execute(
                "UPDATE eddy_lanes SET owner = NULL, expires_at = '-infinity' WHERE owner = $1",
                &[&self.host],
            )
            .await
            .map_err(fail("releasing lanes"))?;
        client
            .execute("DELETE FROM eddy_hosts WHERE id = $1", &[&self.host])
            .await
            .map_err(fail("leaving"))?;
        Ok(())
    }
}

/// The first events of each of `asks` (a lane and a limit), in order.
async fn read_lanes(pool: Pool, asks: Vec<(u32, i64)>) -> Result<Vec<Pending>, StateError> {
    let (lanes, limits): (Vec<i32>, Vec<i64>) =
        asks.iter().map(|&(lane, limit)| (lane as i32, limit)).unzip();
    let client = pool.get().await.map_err(fail("taking a pooled connection"))?;
    let statement =
        client.prepare_cached(READ_LANES).await.map_err(fail("preparing the outbox read"))?;
    let rows =
        client.query(&statement, &[&lanes, &limits]).await.map_err(fail("reading the outbox"))?;
    let mut pending: Vec<Pending> = asks.iter().map(|_| Vec::new()).collect();
    for row in rows {
        let event = serde_json::from_str(row.get::<_, &str>(1)).map_err(|e| {
            StateError::Storage(format!("a stored outbox event is unreadable: {e}"))
        })?;
        let place = usize::try_from(row.get::<_, i64>(0) - 1).ok();
        if let Some(events) = place.and_then(|place| pending.get_mut(place)) {
            events.push((event, row.get(2)));
        }
    }
    Ok(pending)
}
