//! The trigger dispatcher: delivers every committed state change (from the durable outbox) and
//! every stream event to the functions bound to it.
//!
//! Order: events are spread over a fixed set of shards by key (state) or group (stream); a
//! shard handles one event at a time and waits for all of its handlers, retries included,
//! before the next, so the events of one key reach each function in commit order while other
//! keys proceed in parallel.
//!
//! Reliability: each handler runs inside a transaction ([`crate::state::Txn`]); when it
//! succeeds, its writes commit atomically with the mark that it handled the event, so a crash
//! either keeps both or neither and the event is delivered again: effects happen exactly once.
//! A failing handler is retried with exponential backoff, then parked as a dead letter that an
//! operator can list and replay. When every bound function is done, the event leaves the outbox.
//! At start, whatever the outbox still holds is delivered first. A cascade deeper than the
//! configured limit is dropped with a warning.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use crate::cause::Cause;
use crate::context::Invocation;
use crate::host::Host;
use crate::registry::FunctionRef;
use crate::runtime::wit;
use crate::state::engine::OutboxEvent;
use crate::state::{ChangeKind, Completion, Recovered, StateChange};
use crate::streams::{StreamChange, StreamEvent};

/// Independent delivery lanes; each is one task and one queue. A lane holds its event until
/// every handler's commit is durable (about one group commit, 0.2–5 ms on this machine's disk),
/// so the lanes bound the event rate at about `SHARDS / commit time`: 64 keep up with creates
/// at c=32 and more, while bounding how many handler instances run at once (two per event for
/// the todo app, against a pool of 256).
const SHARDS: usize = 64;

/// How failed deliveries are retried.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// Attempts before a delivery is parked as a dead letter (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub first_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            max_attempts: 5,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl DeliveryPolicy {
    fn backoff(&self, failed_attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed_attempts.saturating_sub(1));
        self.first_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// Something that happened and may fire triggers.
#[derive(Debug)]
pub enum Delivery {
    /// A committed state change from the outbox, with the functions that already handled it
    /// (before a restart).
    State {
        event: OutboxEvent,
        done: HashSet<String>,
    },
    Stream(StreamEvent),
}

impl Delivery {
    /// A freshly committed state change.
    pub fn state(event: OutboxEvent) -> Delivery {
        Delivery::State { event, done: HashSet::new() }
    }

    fn cause(&self) -> Cause {
        match self {
            Delivery::State { event, .. } => event.change.cause,
            Delivery::Stream(event) => event.cause,
        }
    }
}

/// The sending side: cheap to clone, never blocks. The queues are unbounded in memory, but a
/// state event is already durable in the outbox when it is queued.
#[derive(Clone)]
pub struct Triggers {
    shards: Vec<mpsc::UnboundedSender<Delivery>>,
    hasher: std::collections::hash_map::RandomState,
    progress: Arc<Progress>,
}

/// What shutdown needs to know about the shards.
#[derive(Default)]
struct Progress {
    /// Set on shutdown: shards finish the delivery in hand and take no more.
    stopping: AtomicBool,
    /// Deliveries under way.
    in_flight: AtomicUsize,
    /// Signalled whenever a delivery ends.
    ended: Notify,
}

/// The receiving side, handed to [`spawn`].
pub struct Queues(Vec<mpsc::UnboundedReceiver<Delivery>>);

impl Triggers {
    pub fn new() -> (Triggers, Queues) {
        let (senders, receivers) = (0..SHARDS).map(|_| mpsc::unbounded_channel()).unzip();
        let triggers =
            Triggers { shards: senders, hasher: Default::default(), progress: Default::default() };
        (triggers, Queues(receivers))
    }

    /// Queues `delivery` on the shard of its key or group.
    pub fn push(&self, delivery: Delivery) {
        let mut hasher = self.hasher.build_hasher();
        match &delivery {
            Delivery::State { event, .. } => {
                (&event.change.scope, &event.change.key).hash(&mut hasher)
            }
            Delivery::Stream(e) => (&e.stream_name, &e.group_id).hash(&mut hasher),
        }
        let shard = (hasher.finish() % SHARDS as u64) as usize;
        // A send fails only when the dispatcher is gone, i.e. the host is shutting down; the
        // outbox keeps state events for the next start.
        let _ = self.shards[shard].send(delivery);
    }
}

/// Queues what the outbox held at start, then starts one task per shard.
pub fn spawn(host: &Host, queues: Queues, triggers: &Triggers, mut recovered: Recovered) {
    if !recovered.events.is_empty() {
        tracing::info!(
            events = recovered.events.len(),
            "delivering events left from before the restart"
        );
    }
    for event in recovered.events {
        let done = recovered.delivered.remove(&event.seq).unwrap_or_default();
        triggers.push(Delivery::State { event, done });
    }
    for mut queue in queues.0 {
        let (host, progress) = (host.clone(), triggers.progress.clone());
        tokio::spawn(async move {
            while let Some(delivery) = queue.recv().await {
                if progress.stopping.load(Ordering::SeqCst) {
                    break;
                }
                progress.in_flight.fetch_add(1, Ordering::SeqCst);
                deliver(&host, delivery).await;
                progress.in_flight.fetch_sub(1, Ordering::SeqCst);
                progress.ended.notify_waiters();
            }
        });
    }
}

/// Stops taking deliveries and waits (up to `grace`) for those under way. Undelivered state
/// events stay in the outbox for the next start.
pub async fn drain(host: &Host, grace: Duration) {
    let progress = &host.triggers().progress;
    progress.stopping.store(true, Ordering::SeqCst);
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
        tracing::warn!("trigger deliveries still running after {grace:?}; the outbox keeps them");
    }
}

async fn deliver(host: &Host, delivery: Delivery) {
    let depth = delivery.cause().depth;
    let limit = host.config().max_cascade_depth;
    let too_deep = depth >= limit;
    if too_deep {
        tracing::warn!(?delivery, depth, limit, "trigger cascade too deep: event dropped");
    }
    let cause = Cause { depth: depth + 1 };
    let snapshot = host.registry().snapshot();
    match delivery {
        Delivery::State { event, done } => {
            let change = &event.change;
            let subscribers: Vec<_> = snapshot
                .state_subscribers(&change.scope, &change.key)
                .filter(|(_, f)| event.target.as_deref().is_none_or(|t| t == &*f.id))
                .filter(|(_, f)| !done.contains(&*f.id))
                .filter(|_| !too_deep)
                .collect();
            if subscribers.is_empty() {
                // Nobody (left) to deliver to: the event is done.
                let completion = Completion { seq: event.seq, function: String::new(), last: true };
                if let Err(e) =
                    host.state().commit(host.state().begin(cause), Some(completion)).await
                {
                    tracing::error!(seq = event.seq, error = %e, "could not retire an event");
                }
                return;
            }
            let wit_event = wit::Event::State(state_event(change));
            let json = change.to_json();
            let remaining = Mutex::new(subscribers.len());
            join_all(subscribers.into_iter().map(|(trigger, function)| {
                let target = Target::State { event: &event, json: &json, remaining: &remaining };
                deliver_to(host, function, trigger.condition.as_deref(), &wit_event, cause, target)
            }))
            .await;
        }
        Delivery::Stream(stream_event) => {
            if too_deep {
                return;
            }
            let subscribers: Vec<_> = snapshot
                .stream_subscribers(&stream_event.stream_name, &stream_event.group_id)
                .collect();
            let wit_event = wit::Event::Stream(to_wit_stream_event(&stream_event));
            join_all(subscribers.into_iter().map(|function| {
                deliver_to(host, function, None, &wit_event, cause, Target::Stream)
            }))
            .await;
        }
    }
}

/// What a delivery completes when it is done.
enum Target<'a> {
    /// An outbox event: its completion is recorded, in the order handlers finish.
    State {
        event: &'a OutboxEvent,
        /// The event as the condition function sees it.
        json: &'a Value,
        /// Handlers of the event still running; the one that brings it to zero retires it.
        remaining: &'a Mutex<usize>,
    },
    /// A stream event: not durable, nothing to record.
    Stream,
}

/// Runs `function` for one event until it succeeds or runs out of attempts.
async fn deliver_to(
    host: &Host,
    function: &FunctionRef,
    condition: Option<&str>,
    event: &wit::Event,
    cause: Cause,
    target: Target<'_>,
) {
    let policy = &host.config().delivery;
    let state = host.state();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let txn = Arc::new(Mutex::new(state.begin(cause)));
        let invocation = Invocation { cause, txn: Some(txn.clone()), ..Invocation::root() };
        let skip = match (condition, &target) {
            (Some(condition), Target::State { json, .. }) => {
                !condition_holds(host, condition, json).await
            }
            _ => false,
        };
        let outcome =
            if skip { Ok(()) } else { host.call(function, event, &invocation).await.map(drop) };
        drop(invocation);
        let error = match outcome {
            Ok(()) => {
                let txn = match Arc::try_unwrap(txn) {
                    Ok(txn) => txn.into_inner().unwrap_or_else(|e| e.into_inner()),
                    // Something still holds the transaction (it cannot, once the call returned);
                    // commit nothing rather than something partial.
                    Err(_) => state.begin(cause),
                };
                let committed = match &target {
                    Target::State { event, remaining, .. } => {
                        // Queue the commit while holding the count, so the event's last commit
                        // (the one that retires it) is queued after every other handler's mark.
                        let commit = {
                            let mut left = remaining.lock().unwrap_or_else(|e| e.into_inner());
                            *left -= 1;
                            let completion = Completion {
                                seq: event.seq,
                                function: function.id.to_string(),
                                last: *left == 0,
                            };
                            state.commit(txn, Some(completion))
                        };
                        commit.await
                    }
                    Target::Stream => state.commit(txn, None).await,
                };
                match committed {
                    Ok(()) => return,
                    Err(e) => {
                        if let Target::State { remaining, .. } = &target {
                            *remaining.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                        }
                        format!("committing its writes failed: {e}")
                    }
                }
            }
            Err(e) => e.to_string(),
        };
        if attempt >= policy.max_attempts.max(1) {
            give_up(host, function, &target, error, attempt).await;
            return;
        }
        let wait = policy.backoff(attempt);
        tracing::warn!(function = %function.id, attempt, error, retry_in_ms = wait.as_millis() as u64, "trigger handler failed");
        tokio::time::sleep(wait).await;
    }
}

/// Parks a delivery that failed every attempt.
async fn give_up(
    host: &Host,
    function: &FunctionRef,
    target: &Target<'_>,
    error: String,
    attempts: u32,
) {
    match target {
        Target::State { event, remaining, .. } => {
            tracing::error!(function = %function.id, seq = event.seq, attempts, error, "trigger delivery failed every attempt: parked as a dead letter");
            let parked = {
                let mut left = remaining.lock().unwrap_or_else(|e| e.into_inner());
                *left -= 1;
                let last = *left == 0;
                host.state().park((*event).clone(), function.id.to_string(), error, attempts, last)
            };
            if let Err(e) = parked.await {
                tracing::error!(function = %function.id, error = %e, "could not park the failed delivery");
            }
        }
        Target::Stream => {
            tracing::error!(function = %function.id, attempts, error, "stream trigger failed every attempt: event dropped");
        }
    }
}

/// Asks the trigger's condition function; anything but `true` (an error included) skips it.
async fn condition_holds(host: &Host, condition: &str, event: &Value) -> bool {
    match host.invoke(condition, event.clone(), &Invocation::root()).await {
        Ok(Value::Bool(true)) => true,
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(condition, error = %e, "trigger condition failed: event skipped");
            false
        }
    }
}

fn state_event(change: &StateChange) -> wit::StateEvent {
    wit::StateEvent {
        event_type: match change.kind {
            ChangeKind::Created => wit::ChangeKind::Created,
            ChangeKind::Updated => wit::ChangeKind::Updated,
            ChangeKind::Deleted => wit::ChangeKind::Deleted,
        },
        scope: change.scope.clone(),
        key: change.key.clone(),
        old_value: change.old_value.as_ref().map(Value::to_string),
        new_value: change.new_value.as_ref().map(Value::to_string),
    }
}

fn to_wit_stream_event(event: &StreamEvent) -> wit::StreamEvent {
    wit::StreamEvent {
        stream_name: event.stream_name.clone(),
        group_id: event.group_id.clone(),
        id: event.id.clone(),
        change: match event.change {
            StreamChange::Create => wit::StreamChange::Create,
            StreamChange::Update => wit::StreamChange::Update,
            StreamChange::Delete => wit::StreamChange::Delete,
            StreamChange::Event => wit::StreamChange::Event,
        },
        event_type: event.event_type.clone(),
        data: event.data.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_the_cap() {
        let policy = DeliveryPolicy {
            max_attempts: 10,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        let waits: Vec<u64> = (1..=6).map(|a| policy.backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
    }
}
