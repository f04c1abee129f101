//! Finding the function a state event is owed to, and waiting for it while it is not loaded.
//!
//! An event records the functions bound to its change when it was committed; each of them is
//! owed the event. When a delivery starts, or retries, it looks the function up in the current
//! snapshot: it may have been rejected at a restart, removed, or not be loaded yet. Then the
//! delivery waits for a reload to bring it back, up to the policy's `plugin_wait` counted from
//! when a delivery first found it missing (so a function that stays away holds each lane once,
//! not once per event), and after that the event is parked as a dead letter for that function,
//! with the reason. It is never taken out of the outbox unhandled (`docs/triggers.md`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::plugins::registry::{FunctionRef, Registry};

/// How often a waiting delivery looks whether the host is stopping.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// Function id → when a delivery first found it not loaded; cleared when it is found again.
#[derive(Default)]
pub struct Absences(Mutex<HashMap<String, Instant>>);

impl Absences {
    /// When `id` was first found missing (now, if this is the first time).
    fn since(&self, id: &str) -> Instant {
        let mut missing = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *missing.entry(id.to_owned()).or_insert_with(Instant::now)
    }

    fn found(&self, id: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// The function `id` as `registry` binds it to changes of `scope`/`key` now, waiting for it
    /// while it is not loaded, up to `wait` from when it was first found missing; `stopped`
    /// ends the wait early.
    pub(super) async fn find(
        &self,
        registry: &Registry,
        wait: Duration,
        (id, scope, key): (&str, &str, &str),
        stopped: &(dyn Fn() -> bool + Sync),
    ) -> Found {
        let mut logged = false;
        loop {
            let replaced = registry.next_replacement();
            let snapshot = registry.snapshot();
            if snapshot.function(id).is_some() {
                self.found(id);
                let binding = snapshot.state_subscribers(scope, key).find(|(_, f)| *f.id == *id);
                return match binding {
                    Some((trigger, function)) => Found::Bound {
                        function: function.clone(),
                        condition: trigger.condition.clone(),
                    },
                    None => Found::Unbound,
                };
            }
            let deadline = self.since(id) + wait;
            if Instant::now() >= deadline {
                return Found::Absent(format!(
                    "{id} is not loaded: its plugin was rejected or removed, or has not loaded \
                     yet; deliveries waited {}s for it",
                    wait.as_secs_f64()
                ));
            }
            if stopped() {
                return Found::Stopping;
            }
            if !logged {
                tracing::warn!(function = id, "a bound function is not loaded: its event waits");
                logged = true;
            }
            let look_again = deadline.min(Instant::now() + STOP_CHECK);
            tokio::select! {
                () = replaced => {}
                () = tokio::time::sleep_until(look_again) => {}
            }
        }
    }
}

/// What became of an owed function.
pub(super) enum Found {
    /// Loaded and bound to the change: call it, asking `condition` first if there is one.
    Bound { function: FunctionRef, condition: Option<String> },
    /// Loaded, but a reload unbound it from changes like this one: nothing is owed any more.
    Unbound,
    /// Not loaded within the wait: park the event for it, with this reason.
    Absent(String),
    /// The host (or this lane's task) is stopping: leave the event in the outbox.
    Stopping,
}
