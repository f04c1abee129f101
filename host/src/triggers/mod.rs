//! The trigger dispatcher: delivers every committed state change (from the durable outbox) and
//! every stream event to the functions bound to it. What it promises: `docs/triggers.md`.
//!
//! Order: events are spread over a fixed set of lanes by key (state) or group (stream); a lane
//! handles one event at a time and waits for all of its handlers, retries included, before the
//! next, so the events of one key reach each function in commit order while other keys proceed
//! in parallel. This file holds the lanes; `deliver.rs` what happens to one event (one attempt
//! per handler, then a retry loop) and what a lane needs to deliver ([`Dispatcher`]); `absent.rs`
//! the wait for an owed function that is not loaded;
//! `policy.rs` the retries; `events.rs` the events' WIT form.
//!
//! Reliability: each handler runs inside a transaction; when it succeeds, its writes commit
//! atomically with the mark that it handled the event, so a crash either keeps both or neither
//! and the event is delivered again: effects happen exactly once. A failing handler is retried
//! with exponential backoff, then parked as a dead letter that an operator can list and
//! replay. When every bound function is done, the event leaves the outbox. At start, whatever
//! the outbox still holds is delivered first. A cascade deeper than the configured limit is
//! dropped with a warning.

mod absent;
mod cluster;
mod deliver;
mod events;
mod policy;
mod progress;

pub use deliver::{Delivery, Dispatcher};
pub use policy::DeliveryPolicy;

use progress::Progress;

use std::hash::BuildHasher;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::state::postgres::Postgres;
use crate::state::{LANES, Recovered, lane};

/// The sending side of [`LANES`] independent delivery lanes (the constant lives in
/// `state/change.rs`: the shared store's schema depends on it); each is one task and one queue.
/// A lane holds its event until every handler's commit is durable (about one group commit,
/// 0.2–5 ms on this machine's disk), so the lanes bound the event rate at about `LANES / commit
/// time`: 64 keep up with creates at c=32 and more, while bounding how many handler instances
/// run at once (two per event for the todo app, against a pool of 256).
///
/// The sending side: cheap to clone, never blocks. The queues are unbounded in memory, but a
/// state event is already durable in the outbox when it is queued. On the shared store, state
/// events are not queued at all: their lane's task, on whichever host leases the lane, reads
/// them from the outbox (`cluster.rs`), and a push only wakes it.
#[derive(Clone)]
pub struct Triggers {
    lanes: Vec<mpsc::UnboundedSender<Delivery>>,
    hasher: std::collections::hash_map::RandomState,
    progress: Arc<Progress>,
    /// On the shared store: the lane tasks to wake, and the lease keeper, which ends once it
    /// gave up this host's lanes.
    cluster: Option<cluster::Wakers>,
    keeper: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

/// The receiving side, handed to [`Triggers::start`].
pub struct Queues(Vec<mpsc::UnboundedReceiver<Delivery>>);

impl Triggers {
    /// The dispatcher's queues; `shared`: state events come from the shared store's outbox.
    pub fn new(shared: bool) -> (Triggers, Queues) {
        let (senders, receivers) = (0..LANES).map(|_| mpsc::unbounded_channel()).unzip();
        let triggers = Triggers {
            lanes: senders,
            hasher: Default::default(),
            progress: Default::default(),
            cluster: shared.then(cluster::Wakers::new),
            keeper: Default::default(),
        };
        (triggers, Queues(receivers))
    }

    /// Queues `delivery` on the lane of its key or group.
    pub fn push(&self, delivery: Delivery) {
        let lane = match &delivery {
            Delivery::State { event, .. } => {
                let lane = lane(&event.change.scope, &event.change.key);
                if let Some(wakers) = &self.cluster {
                    // The lane's task reads the event from the outbox.
                    wakers.wake(lane);
                    return;
                }
                lane as usize
            }
            Delivery::Stream(e) => {
                let hash = self.hasher.hash_one((&e.stream_name, &e.group_id));
                (hash % u64::from(LANES)) as usize
            }
        };
        // A send fails only when the dispatcher is gone, i.e. the host is shutting down; the
        // outbox keeps state events for the next start.
        let _ = self.lanes[lane].send(delivery);
    }

    /// Queues what the outbox held at start, then starts one task per lane on the current
    /// tokio runtime; on the shared store (`postgres`, and this host's name there), also the
    /// lease keeper, which starts a task per lane this host leases.
    pub fn start(
        &self,
        dispatcher: Dispatcher,
        queues: Queues,
        mut recovered: Recovered,
        postgres: Option<(Postgres, String)>,
    ) {
        if !recovered.events.is_empty() {
            tracing::info!(
                events = recovered.events.len(),
                "delivering events left from before the restart"
            );
        }
        for event in recovered.events {
            let done = recovered.delivered.remove(&event.seq).unwrap_or_default();
            self.push(Delivery::State { event, done });
        }
        let dispatcher = Arc::new(dispatcher);
        if let (Some(wakers), Some((postgres, host))) = (&self.cluster, postgres) {
            let progress = self.progress.clone();
            let keeper =
                cluster::start(dispatcher.clone(), postgres, host, wakers.clone(), progress);
            *self.keeper.lock().unwrap_or_else(|e| e.into_inner()) = Some(keeper);
        }
        for mut queue in queues.0 {
            let (dispatcher, progress) = (dispatcher.clone(), self.progress.clone());
            tokio::spawn(async move {
                while let Some(delivery) = queue.recv().await {
                    if progress.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    progress.in_flight.fetch_add(1, Ordering::SeqCst);
                    let stopped = || progress.stopping.load(Ordering::SeqCst);
                    deliver::deliver(&dispatcher, delivery, &stopped).await;
                    progress.in_flight.fetch_sub(1, Ordering::SeqCst);
                    progress.ended.notify_waiters();
                }
            });
        }
    }

    /// Stops taking deliveries and waits (up to `grace`) for those under way. Undelivered
    /// state events stay in the outbox for the next start.
    pub async fn drain(&self, grace: Duration) {
        let progress = &self.progress;
        progress.stopping.store(true, Ordering::SeqCst);
        progress.stop.notify_waiters();
        let all_ended = async {
            loop {
                let ended = progress.ended.notified();
                if progress.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                ended.await;
            }
        };
        if tokio::time::timeout(grace, all_ended).await.is_err() {
            tracing::warn!(
                "trigger deliveries still running after {grace:?}; the outbox keeps them"
            );
        }
        let keeper = self.keeper.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(keeper) = keeper {
            // It gives this host's lanes up, so the other hosts need not wait for the leases.
            let _ = tokio::time::timeout(Duration::from_secs(5), keeper).await;
        }
    }
}
