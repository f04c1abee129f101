//! What happens to one event: it goes to every function bound to it at once, and for each the
//! delivery is one attempt ([`attempt`]: the trigger's condition, the call inside a fresh
//! transaction, the commit of its writes with the delivery mark), repeated with backoff until
//! it succeeds or runs out of attempts ([`deliver_to`]), then parked ([`give_up`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use serde_json::Value;

use super::absent::{Absences, Found};
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
    /// Functions deliveries found not loaded, and since when.
    pub absent: Absences,
}

/// Delivers one event to every function owed it, and retires it when all are done. `stopped`
/// says the host (or this lane's task) is stopping: a delivery waiting for a function that is
/// not loaded then leaves the event in the outbox.
pub(super) async fn deliver(
    d: &Dispatcher,
    delivery: Delivery,
    stopped: &(dyn Fn() -> bool + Sync),
) {
    let depth = delivery.cause().depth;
    let limit = d.max_cascade_depth;
    let too_deep = depth >= limit;
    if too_deep {
        tracing::warn!(?delivery, depth, limit, "trigger cascade too deep: event dropped");
    }
    let cause = Cause { depth: depth + 1 };
    match delivery {
        Delivery::State { event, done } => {
            let owed = if too_deep { Vec::new() } else { owed(d, &event, &done) };
            if owed.is_empty() {
                // Nobody (left) to deliver to: the event is done.
                retire(d, &event, cause).await;
                return;
            }
            let wit_event = wit::Event::State(state_event(&event.change));
            let remaining = Mutex::new(owed.len());
            join_all(owed.iter().map(|id| {
                let target = Target::State { event: &event, remaining: &remaining };
                deliver_to(d, Callee::Owed(id), &wit_event, cause, target, stopped)
            }))
            .await;
        }
        Delivery::Stream(stream) => {
            if too_deep {
                return;
            }
            let snapshot = d.registry.snapshot();
            let subscribers: Vec<_> =
                snapshot.stream_subscribers(&stream.stream_name, &stream.group_id).collect();
            let wit_event = wit::Event::Stream(stream_event(&stream));
            join_all(subscribers.into_iter().map(|function| {
                deliver_to(d, Callee::Loaded(function), &wit_event, cause, Target::Stream, stopped)
            }))
            .await;
        }
    }
}

/// The ids of the functions still owed `event`: those bound to its change when it was
/// committed and those bound now (a replayed dead letter: its one function), less those that
/// handled it already.
fn owed(d: &Dispatcher, event: &OutboxEvent, done: &HashSet<String>) -> Vec<String> {
    let change = &event.change;
    let mut owed: Vec<String> = Vec::new();
    let now = d.registry.snapshot().bound_to(&change.scope, &change.key);
    for id in event.bound.iter().chain(&now) {
        let wanted = event.target.as_deref().is_none_or(|t| t == id);
        if wanted && !done.contains(id) && !owed.contains(id) {
            owed.push(id.clone());
        }
    }
    owed
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
        /// Handlers of the event still running; the one that brings it to zero retires it.
        remaining: &'a Mutex<usize>,
    },
    /// A stream event: not durable, nothing to record.
    Stream,
}

/// Who a delivery calls.
#[derive(Clone, Copy)]
enum Callee<'a> {
    /// A stream event's subscriber, as found when the event came.
    Loaded(&'a FunctionRef),
    /// A function owed a state event, by id: looked up (and waited for)
    /// before each attempt (`absent.rs`), so a retry runs the version a reload brought.
    Owed(&'a str),
}

impl Callee<'_> {
    fn id(&self) -> &str {
        match self {
            Callee::Loaded(function) => &function.id,
            Callee::Owed(id) => id,
        }
    }
}

/// Runs `callee` for one event until an attempt succeeds or the policy's attempts run out.
async fn deliver_to(
    d: &Dispatcher,
    callee: Callee<'_>,
    event: &wit::Event,
    cause: Cause,
    target: Target<'_>,
    stopped: &(dyn Fn() -> bool + Sync),
) {
    let id = callee.id();
    let mut attempts = 0;
    loop {
        let call = match (callee, &target) {
            (Callee::Loaded(function), _) => Some((function.clone(), None)),
            (Callee::Owed(id), Target::State { event, .. }) => {
                let (scope, key) = (&event.change.scope, &event.change.key);
                let wait = d.policy.plugin_wait;
                match d.absent.find(&d.registry, wait, (id, scope, key), stopped).await {
                    Found::Bound { function, condition } => Some((function, condition)),
                    Found::Unbound => None,
                    Found::Absent(reason) => {
                        give_up(d, id, &target, reason, attempts).await;
                        return;
                    }
                    Found::Stopping => return,
                }
            }
            (Callee::Owed(_), Target::Stream) => return,
        };
        attempts += 1;
        let call = call.as_ref().map(|(function, condition)| (function, condition.as_deref()));
        let Err(error) = attempt(d, id, call, event, cause, &target).await else {
            return;
        };
        if !d.policy.retries_after(attempts) {
            give_up(d, id, &target, error, attempts).await;
            return;
        }
        let wait = d.policy.backoff(attempts);
        tracing::warn!(
            function = id,
            attempt = attempts,
            error,
            retry_in_ms = wait.as_millis() as u64,
            "trigger handler failed"
        );
        tokio::time::sleep(wait).await;
    }
}

/// One attempt for function `id`: asks the condition, runs the handler (`call`: the function
/// and its condition) in a fresh transaction and commits what it wrote with the mark that it
/// handled the event. A skipped event, or one whose function is no longer bound to it (no
/// `call`), commits the mark alone. On failure nothing of the attempt remains, and the error
/// says why.
async fn attempt(
    d: &Dispatcher,
    id: &str,
    call: Option<(&FunctionRef, Option<&str>)>,
    event: &wit::Event,
    cause: Cause,
    target: &Target<'_>,
) -> Result<(), String> {
    let txn = Arc::new(tokio::sync::Mutex::new(Transaction::new(d.state.begin(cause))));
    if let Some((function, condition)) = call {
        let holds = match (condition, target) {
            (Some(condition), Target::State { event, .. }) => {
                condition_holds(d, condition, event.change.to_json(), cause).await
            }
            _ => true,
        };
        if holds {
            let invocation = Invocation::in_transaction(cause, txn.clone());
            d.calls.call(function, event, &invocation).await.map_err(|e| e.to_string())?;
        }
    }
    let txn = match Arc::try_unwrap(txn) {
        Ok(txn) => txn.into_inner().into_state(),
        Err(_) => {
            // Every holder of the transaction is gone once the call returns; if one is not,
            // its writes could still change: commit nothing, and try again.
            tracing::error!(
                function = id,
                "host bug: a handler's transaction is still shared after its call returned; the attempt fails"
            );
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
        let completion = Completion { seq: event.seq, function: id.to_owned(), last: *left == 0 };
        d.state.commit(txn, Some(completion))
    };
    commit.await.map_err(|e| {
        *remaining.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        format!("committing its writes failed: {e}")
    })
}

/// Parks a delivery that failed every attempt.
async fn give_up(d: &Dispatcher, id: &str, target: &Target<'_>, error: String, attempts: u32) {
    let Target::State { event, remaining, .. } = target else {
        tracing::error!(
            function = id,
            attempts,
            error,
            "stream trigger failed every attempt: event dropped"
        );
        return;
    };
    tracing::error!(
        function = id,
        seq = event.seq,
        attempts,
        error,
        "trigger delivery failed: parked as a dead letter"
    );
    let parked = {
        let mut left = remaining.lock().unwrap_or_else(|e| e.into_inner());
        *left -= 1;
        let last = *left == 0;
        d.state.park((*event).clone(), id.to_owned(), error, attempts, last)
    };
    if let Err(e) = parked.await {
        tracing::error!(function = id, error = %e, "could not park the failed delivery");
    }
}

/// Asks the trigger's condition function, in the event's cascade; anything but `true` (an
/// error included) skips the handler.
async fn condition_holds(d: &Dispatcher, condition: &str, event: Value, cause: Cause) -> bool {
    match d.calls.invoke(condition, event, &Invocation::caused_by(cause)).await {
        Ok(Value::Bool(true)) => true,
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(condition, error = %e, "trigger condition failed: event skipped");
            false
        }
    }
}
