//! The trigger dispatcher: delivers every committed state change and every stream event to the
//! functions bound to it. Events are spread over a fixed set of shards by key (state) or group
//! (stream); a shard handles one event at a time and waits for all of its handlers before the
//! next, so the events of one key reach each function in write order while different keys run
//! in parallel. Events are queued while the write's lock is held (see `State`), so queue order
//! is commit order. A cascade deeper than the configured limit is dropped with a warning.

use std::hash::{BuildHasher, Hash, Hasher};

use futures_util::future::join_all;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::cause::Cause;
use crate::host::Host;
use crate::registry::FunctionRef;
use crate::runtime::wit;
use crate::state::{ChangeKind, StateChange};
use crate::streams::{StreamChange, StreamEvent};

/// Independent delivery lanes. Enough to keep both cores busy with slow handlers; each lane is
/// one task and one queue.
const SHARDS: usize = 16;

/// Something that happened and may fire triggers.
#[derive(Debug)]
pub enum Delivery {
    State(StateChange),
    Stream(StreamEvent),
}

impl Delivery {
    fn cause(&self) -> Cause {
        match self {
            Delivery::State(change) => change.cause,
            Delivery::Stream(event) => event.cause,
        }
    }
}

/// The sending side: cheap to clone, never blocks (the queues are unbounded so a write never
/// waits on a slow handler; the durable outbox of a later version bounds them by disk instead).
#[derive(Clone)]
pub struct Triggers {
    shards: Vec<mpsc::UnboundedSender<Delivery>>,
    hasher: std::collections::hash_map::RandomState,
}

/// The receiving side, handed to [`spawn`].
pub struct Queues(Vec<mpsc::UnboundedReceiver<Delivery>>);

impl Triggers {
    pub fn new() -> (Triggers, Queues) {
        let (senders, receivers) = (0..SHARDS).map(|_| mpsc::unbounded_channel()).unzip();
        (Triggers { shards: senders, hasher: Default::default() }, Queues(receivers))
    }

    /// Queues `delivery` on the shard of its key or group.
    pub fn push(&self, delivery: Delivery) {
        let mut hasher = self.hasher.build_hasher();
        match &delivery {
            Delivery::State(c) => (&c.scope, &c.key).hash(&mut hasher),
            Delivery::Stream(e) => (&e.stream_name, &e.group_id).hash(&mut hasher),
        }
        let shard = (hasher.finish() % SHARDS as u64) as usize;
        // A send fails only when the dispatcher is gone, i.e. the host is shutting down.
        let _ = self.shards[shard].send(delivery);
    }
}

/// Starts one task per shard on the current runtime.
pub fn spawn(host: &Host, queues: Queues) {
    for mut queue in queues.0 {
        let host = host.clone();
        tokio::spawn(async move {
            while let Some(delivery) = queue.recv().await {
                deliver(&host, delivery).await;
            }
        });
    }
}

async fn deliver(host: &Host, delivery: Delivery) {
    let depth = delivery.cause().depth;
    let limit = host.config().max_cascade_depth;
    if depth >= limit {
        tracing::warn!(?delivery, depth, limit, "trigger cascade too deep: event dropped");
        return;
    }
    let cause = Cause { depth: depth + 1 };
    let snapshot = host.registry().snapshot();
    match &delivery {
        Delivery::State(change) => {
            let subscribers: Vec<_> =
                snapshot.state_subscribers(&change.scope, &change.key).collect();
            if subscribers.is_empty() {
                return;
            }
            let event = wit::Event::State(state_event(change));
            let json = change.to_json();
            join_all(subscribers.into_iter().map(|(trigger, function)| {
                let (event, json) = (&event, &json);
                async move {
                    if let Some(condition) = &trigger.condition
                        && !condition_holds(host, condition, json, cause).await
                    {
                        return;
                    }
                    run(host, function, event, cause).await
                }
            }))
            .await;
        }
        Delivery::Stream(stream_event) => {
            let subscribers: Vec<_> = snapshot
                .stream_subscribers(&stream_event.stream_name, &stream_event.group_id)
                .collect();
            if subscribers.is_empty() {
                return;
            }
            let event = wit::Event::Stream(to_wit_stream_event(stream_event));
            join_all(subscribers.into_iter().map(|function| run(host, function, &event, cause)))
                .await;
        }
    }
}

async fn run(host: &Host, function: &FunctionRef, event: &wit::Event, cause: Cause) {
    if let Err(e) = host.call(function, event, cause, 0).await {
        tracing::warn!(function = %function.id, error = %e, "trigger handler failed");
    }
}

/// Asks the trigger's condition function; anything but `true` (an error included) skips it.
async fn condition_holds(host: &Host, condition: &str, event: &Value, cause: Cause) -> bool {
    match host.invoke(condition, event.clone(), cause, 0).await {
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
