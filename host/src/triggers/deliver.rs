//! What happens to one event: it goes to every function bound to it at once, and for each the
//! delivery is one attempt ([`attempt`]: the trigger's condition, the call inside a fresh
//! transaction, the commit of its writes with the delivery mark), repeated with backoff until
//! it succeeds or runs out of attempts ([`deliver_to`]), then parked ([`give_up`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use serde_json::Value;

use super::events::{state_event, stream_event};
use super::policy::DeliveryPolicy;
use crate::calls::{Calls, Invocation, Transaction};
use crate::cause::Cause;
use crate::plugins::registry::{FunctionRef, Registry};
use crate::runtime::wit;
use crate::state::engine::OutboxEvent;
use crate::state::{Completion, State};
use crate::streams::StreamEvent;

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

/// What the lanes need to deliver: who is bound ([`Registry`]), how to call them ([`Calls`]),
/// where their transactions commit ([`State`]), and the rules.
pub struct Dispatcher {
    pub calls: Calls,
    pub registry: Arc<Registry>,
    pub state: State,
    pub policy: DeliveryPolicy,
    /// A cascade deeper than this (a handler's write firing a handler whose write fires ...)
    /// is stopped and logged: it is almost always a plugin bug, and unbounded it never ends.
    pub max_cascade_depth: u32,
}

/// Delivers one event to every function bound to it, and retires it when all are done.
pub(super) async fn deliver(d: &Dispatcher, delivery: Delivery) {
    let depth = delivery.cause().depth;
    let limit = d.max_cascade_depth;
    let too_deep = depth >= limit;
    if too_deep {
        tracing::warn!(?delivery, depth, limit, "trigger cascade too deep: event dropped");
    }
    let cause = Cause { depth: depth + 1 };
    let snapshot = d.registry.snapshot();
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
                retire(d, &event, cause).await;
                return;
            }
            let wit_event = wit::Event::State(state_event(change));
            let json = change.to_json();
            let remaining = Mutex::new(subscribers.len());
            join_all(subscribers.into_iter().map(|(trigger, function)| {
                let target = Target::State { event: &event, json: &json, remaining: &remaining };
                deliver_to(d, function, trigger.condition.as_deref(), &wit_event, cause, target)
            }))
            .await;
        }
        Delivery::Stream(stream) => {
            if too_deep {
                return;
            }
            let subscribers: Vec<_> =
                snapshot.stream_subscribers(&stream.stream_name, &stream.group_id).collect();
            let wit_event = wit::Event::Stream(stream_event(&stream));
            join_all(
                subscribers.into_iter().map(|function| {
                    deliver_to(d, function, None, &wit_event, cause, Target::Stream)
                }),
            )
            .await;
        }
    }
}

/// Takes an event nobody (left) is bound to out of the outbox.
async fn retire(d: &Dispatcher, event: &OutboxEvent, cause: Cause) {
    let completion = Completion { seq: event.seq, function: String::new(), last: true };
    if let Err(e) = d.state.commit(d.state.begin(cause), Some(completion)).await {
        tracing::error!(seq = event.seq, error = %e, "could not retire an event");
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

/// Runs `function` for one event until an attempt succeeds or the policy's attempts run out.
async fn deliver_to(
    d: &Dispatcher,
    function: &FunctionRef,
    condition: Option<&str>,
    event: &wit::Event,
    cause: Cause,
    target: Target<'_>,
) {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let Err(error) = attempt(d, function, condition, event, cause, &target).await else {
            return;
        };
        if !d.policy.retries_after(attempts) {
            give_up(d, function, &target, error, attempts).await;
            return;
        }
        let wait = d.policy.backoff(attempts);
        tracing::warn!(function = %function.id, attempt = attempts, error, retry_in_ms = wait.as_millis() as u64, "trigger handler failed");
        tokio::time::sleep(wait).await;
    }
}

/// One attempt: asks the condition, runs the handler in a fresh transaction and commits what
/// it wrote with the mark that it handled the event. A skipped event commits the mark alone.
/// On failure nothing of the attempt remains, and the error says why.
async fn attempt(
    d: &Dispatcher,
    function: &FunctionRef,
    condition: Option<&str>,
    event: &wit::Event,
    cause: Cause,
    target: &Target<'_>,
) -> Result<(), String> {
    let txn = Arc::new(tokio::sync::Mutex::new(Transaction::new(d.state.begin(cause))));
    let holds = match (condition, target) {
        (Some(condition), Target::State { json, .. }) => {
            condition_holds(d, condition, json, cause).await
        }
        _ => true,
    };
    if holds {
        let invocation = Invocation::in_transaction(cause, txn.clone());
        d.calls.call(function, event, &invocation).await.map_err(|e| e.to_string())?;
    }
    let txn = match Arc::try_unwrap(txn) {
        Ok(txn) => txn.into_inner().into_state(),
        Err(_) => {
            // Every holder of the transaction is gone once the call returns; if one is not,
            // its writes could still change: commit nothing, and try again.
            tracing::error!(function = %function.id, "host bug: a handler's transaction is still shared after its call returned; the attempt fails");
            return Err("the handler's transaction was still in use after it returned".into());
        }
    };
    let Target::State { event, remaining, .. } = target else {
        return d
            .state
            .commit(txn, None)
            .await
            .map_err(|e| format!("committing its writes failed: {e}"));
    };
    // Queue the commit while holding the count, so the event's last commit (the one that
    // retires it) is queued after every other handler's mark.
    let commit = {
        let mut left = remaining.lock().unwrap_or_else(|e| e.into_inner());
        *left -= 1;
        let completion =
            Completion { seq: event.seq, function: function.id.to_string(), last: *left == 0 };
        d.state.commit(txn, Some(completion))
    };
    commit.await.map_err(|e| {
        *remaining.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        format!("committing its writes failed: {e}")
    })
}

/// Parks a delivery that failed every attempt.
async fn give_up(
    d: &Dispatcher,
    function: &FunctionRef,
    target: &Target<'_>,
    error: String,
    attempts: u32,
) {
    let Target::State { event, remaining, .. } = target else {
        tracing::error!(function = %function.id, attempts, error, "stream trigger failed every attempt: event dropped");
        return;
    };
    tracing::error!(function = %function.id, seq = event.seq, attempts, error, "trigger delivery failed every attempt: parked as a dead letter");
    let parked = {
        let mut left = remaining.lock().unwrap_or_else(|e| e.into_inner());
        *left -= 1;
        let last = *left == 0;
        d.state.park((*event).clone(), function.id.to_string(), error, attempts, last)
    };
    if let Err(e) = parked.await {
        tracing::error!(function = %function.id, error = %e, "could not park the failed delivery");
    }
}

/// Asks the trigger's condition function, in the event's cascade; anything but `true` (an
/// error included) skips the handler.
async fn condition_holds(d: &Dispatcher, condition: &str, event: &Value, cause: Cause) -> bool {
    match d.calls.invoke(condition, event.clone(), &Invocation::caused_by(cause)).await {
        Ok(Value::Bool(true)) => true,
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(condition, error = %e, "trigger condition failed: event skipped");
            false
        }
    }
}
