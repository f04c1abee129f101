//! State events on the shared store: many hosts, one outbox. Each of the outbox's lanes is
//! delivered by the one host that leases it (`state/postgres/lanes.rs`), so the events of a
//! key still reach each function one at a time in commit order, and the lanes spread evenly
//! over the live hosts. A lane task reads its lane's events from the database in seq order and
//! delivers them as the embedded dispatcher does (`deliver.rs`); the delivery marks, committed
//! with each handler's writes under the event's row lock, keep the effects to once even when a
//! lease changes hands mid-delivery.
//!
//! Nothing polls in a tight loop: a lane task sleeps until its lane is woken — by this host's
//! own commits, or by `NOTIFY eddy_outbox` from another host's — and the lease keeper, every
//! [`Lease::RENEW`], renews the leases and wakes the lanes that hold events (which covers a
//! notification lost while the listening connection was down, and lanes just taken over).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::Notify;

use super::deliver::{self, Delivery, Dispatcher};
use super::progress::Progress;
use crate::state::LANES;
use crate::state::postgres::{Lease, OUTBOX_CHANNEL, Postgres};

/// Events read from a lane at a time.
const READ_AHEAD: i64 = 64;

/// How long a lane task sleeps without a wake-up before it looks anyway.
const IDLE_LOOK: Duration = Duration::from_secs(30);

/// Wakes lane tasks. Cheap to clone.
#[derive(Clone)]
pub(super) struct Wakers(Arc<Vec<Notify>>);

impl Wakers {
    pub(super) fn new() -> Wakers {
        Wakers(Arc::new((0..LANES).map(|_| Notify::new()).collect()))
    }

    /// Wakes `lane`'s task if this host runs one (a wake-up with no task waiting is kept for the
    /// next one to start, which looks at its lane first anyway).
    pub(super) fn wake(&self, lane: u32) {
        if let Some(notify) = self.0.get(lane as usize) {
            notify.notify_one();
        }
    }

    fn wake_all(&self) {
        (0..LANES).for_each(|lane| self.wake(lane));
    }
}

/// What the lane tasks of this host share.
struct Lanes {
    dispatcher: Arc<Dispatcher>,
    lease: Lease,
    wakers: Wakers,
    progress: Arc<Progress>,
    /// Until when this host's leases are surely its own (renewed less than a TTL ago, with a
    /// margin): a lane task delivers nothing past it.
    valid_until: Mutex<Instant>,
}

/// A running lane task: set `stop` and it finishes the delivery in hand and ends.
struct Running {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts the lease keeper and the listener on the current runtime. The keeper ends (giving
/// up this host's lanes) once `progress` says the host is stopping; its handle says when.
pub(super) fn start(
    dispatcher: Arc<Dispatcher>,
    postgres: Postgres,
    host: String,
    wakers: Wakers,
    progress: Arc<Progress>,
) -> tokio::task::JoinHandle<()> {
    let lease = Lease::new(postgres.pool().clone(), host);
    tracing::info!(host = lease.host(), "joining the cluster's trigger lanes");
    tokio::spawn(listen(postgres, wakers.clone(), progress.clone()));
    let lanes = Arc::new(Lanes {
        dispatcher,
        lease,
        wakers,
        progress,
        valid_until: Mutex::new(Instant::now()),
    });
    tokio::spawn(keep_leases(lanes))
}

/// Renews the leases every [`Lease::RENEW`] and starts and stops lane tasks to match.
async fn keep_leases(lanes: Arc<Lanes>) {
    let mut running: HashMap<u32, Running> = HashMap::new();
    loop {
        running.retain(|_, lane| !lane.task.is_finished());
        if lanes.progress.stopping.load(Ordering::SeqCst) {
            break;
        }
        let idle: Vec<u32> = (0..LANES).filter(|lane| !running.contains_key(lane)).collect();
        let started = Instant::now();
        match lanes.lease.renew(&idle).await {
            Ok((held, share)) => {
                *lanes.valid_until.lock().unwrap_or_else(|e| e.into_inner()) =
                    started + Lease::TTL - Lease::RENEW;
                for (lane, task) in &running {
                    if !held.contains(lane) {
                        tracing::warn!(lane, "lost the lease of a lane; stopping its deliveries");
                        task.stop(&lanes.wakers, *lane);
                    }
                }
                for &lane in &held {
                    running.entry(lane).or_insert_with(|| spawn_lane(&lanes, lane));
                }
                // Over the share (a host joined): stop the surplus; the next renewal gives
                // them up once their tasks have ended.
                for lane in held.iter().skip(share) {
                    if let Some(task) = running.get(lane) {
                        task.stop(&lanes.wakers, *lane);
                    }
                }
                match lanes.lease.busy(&held).await {
                    Ok(busy) => busy.into_iter().for_each(|lane| lanes.wakers.wake(lane)),
                    Err(e) => tracing::warn!(error = %e, "could not look for waiting events"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not renew the lane leases"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Lease::RENEW) => {}
            _ = lanes.progress.stop.notified() => {}
        }
    }
    // Stopping: let the deliveries in hand finish (the host's drain waits for them), then give
    // the lanes to the other hosts at once rather than after a lease's TTL.
    for (lane, task) in &running {
        task.stop(&lanes.wakers, *lane);
    }
    for (_, task) in running {
        let _ = task.task.await;
    }
    if let Err(e) = lanes.lease.leave().await {
        tracing::warn!(error = %e, "could not give up the lanes; other hosts take them when the leases expire");
    }
}

impl Running {
    /// Asks the task to end after the delivery in hand (waking it if it sleeps).
    fn stop(&self, wakers: &Wakers, lane: u32) {
        self.stop.store(true, Ordering::SeqCst);
        wakers.wake(lane);
    }
}

fn spawn_lane(lanes: &Arc<Lanes>, lane: u32) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(run_lane(lanes.clone(), lane, stop.clone()));
    Running { stop, task }
}

/// Delivers `lane`'s events in seq order until stopped.
async fn run_lane(lanes: Arc<Lanes>, lane: u32, stop: Arc<AtomicBool>) {
    let stopped = || {
        stop.load(Ordering::SeqCst)
            || lanes.progress.stopping.load(Ordering::SeqCst)
            || Instant::now() > *lanes.valid_until.lock().unwrap_or_else(|e| e.into_inner())
    };
    let wake = &lanes.wakers.0[lane as usize];
    while !stopped() {
        let events = match lanes.lease.pending(lane, READ_AHEAD).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(lane, error = %e, "could not read the lane's events");
                tokio::time::sleep(Lease::RENEW).await;
                continue;
            }
        };
        // A short read took every event committed before it; any committed since woke the lane
        // (the wake-up waits for it), so look again only when woken, or when the read was full.
        let read_all = (events.len() as i64) < READ_AHEAD;
        for (event, done) in events {
            if stopped() {
                break;
            }
            let progress = &lanes.progress;
            progress.in_flight.fetch_add(1, Ordering::SeqCst);
            let delivery = Delivery::State { event, done: done.into_iter().collect() };
            deliver::deliver(&lanes.dispatcher, delivery, &stopped).await;
            progress.in_flight.fetch_sub(1, Ordering::SeqCst);
            progress.ended.notify_waiters();
        }
        if read_all {
            // (A delivery whose commit failed stays in the outbox; the lease keeper wakes lanes
            // that hold events at every renewal.)
            let _ = tokio::time::timeout(IDLE_LOOK, wake.notified()).await;
        }
    }
}

/// Listens for other hosts' committed events and wakes their lanes; after a reconnection (a
/// notification may have been missed) wakes every lane.
async fn listen(postgres: Postgres, wakers: Wakers, progress: Arc<Progress>) {
    let take = |lanes: String| {
        for lane in lanes.split(',').filter_map(|lane| lane.parse().ok()) {
            wakers.wake(lane);
        }
        Box::pin(async {}) as BoxFuture<'static, ()>
    };
    let reconnected = || {
        wakers.wake_all();
        Box::pin(async {}) as BoxFuture<'static, ()>
    };
    let running = || !progress.stopping.load(Ordering::SeqCst);
    postgres.listen(OUTBOX_CHANNEL, take, reconnected, running).await;
}
