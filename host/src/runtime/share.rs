//! A plugin's fair share of the host, so that one flooded or runaway plugin cannot take the
//! machine from the others:
//!
//! - **Instances.** A plugin has at most `concurrency` calls in flight (its `[limits]
//!   concurrency`, or the host's `plugin_concurrency`, well below the size of the instance
//!   pool). A call over it waits briefly for one to finish, then is refused as busy (503 with
//!   `Retry-After` over HTTP) without taking an instance.
//! - **Cores.** Of a plugin's calls that run long (past [`InstanceLimits::long_call`]), only a
//!   few compute at once ([`InstanceLimits::long_call_lanes`], half the cores by default); the
//!   others wait at their next epoch tick, holding no core, until a lane frees or their deadline
//!   passes. A call gives its lane back while it waits in the host. Short calls never wait, so
//!   another plugin's quick requests keep their latency while a plugin spins.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::limits::InstanceLimits;

/// One plugin's share: its calls in flight and its lanes for long calls.
pub struct Share {
    in_flight: Arc<Semaphore>,
    /// The cap on calls in flight, for the message of a refused call.
    pub concurrency: u32,
    lanes: Arc<Semaphore>,
    /// How long a call over the cap waits for a slot.
    queue_wait: Duration,
}

impl Share {
    /// The share of a plugin whose manifest asks for `concurrency` calls in flight (none: the
    /// host's default), bounded by the pool.
    pub fn new(concurrency: Option<u32>, limits: &InstanceLimits) -> Share {
        let concurrency = concurrency
            .unwrap_or(limits.plugin_concurrency)
            .clamp(1, limits.concurrent_instances.max(1));
        Share {
            in_flight: Arc::new(Semaphore::new(concurrency as usize)),
            concurrency,
            lanes: Arc::new(Semaphore::new(limits.long_call_lanes.max(1))),
            queue_wait: limits.queue_wait,
        }
    }

    /// A slot for one call, waiting up to the queue wait for one; none when the plugin stays at
    /// its cap that long.
    pub async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        let slot = self.in_flight.clone().acquire_owned();
        tokio::time::timeout(self.queue_wait, slot).await.ok()?.ok()
    }

    /// The lane gate of one call that starts now.
    pub fn gate(&self, long_after: Duration) -> LaneGate {
        LaneGate {
            lanes: Some(self.lanes.clone()),
            long_at: Some(Instant::now() + long_after),
            held: Default::default(),
        }
    }
}

/// Where one call stands with its plugin's lanes: checked at every epoch tick.
#[derive(Default)]
pub struct LaneGate {
    /// The plugin's lanes; none for calls nobody throttles (the one at load time).
    lanes: Option<Arc<Semaphore>>,
    /// When the call counts as long.
    long_at: Option<Instant>,
    /// The lane, once the long call has one; kept until the call ends.
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

/// What a long call waits on before it computes on: a lane, or its deadline.
pub type LaneWait = Pin<Box<dyn Future<Output = ()> + Send>>;

impl LaneGate {
    /// At an epoch tick: nothing to wait for while the call is short or holds a lane; else the
    /// wait for a lane (which ends at `deadline` at the latest, lane or not).
    pub fn wait(&self, now: Instant, deadline: Instant) -> Option<LaneWait> {
        let lanes = self.lanes.as_ref()?;
        if self.long_at.is_none_or(|long_at| now < long_at) || self.holds_lane() {
            return None;
        }
        let (lanes, held) = (lanes.clone(), self.held.clone());
        Some(Box::pin(async move {
            let deadline = tokio::time::Instant::from_std(deadline);
            if let Ok(Ok(lane)) = tokio::time::timeout_at(deadline, lanes.acquire_owned()).await {
                *held.lock().unwrap_or_else(|e| e.into_inner()) = Some(lane);
            }
        }))
    }

    /// Gives the lane back while the call waits in the host (a guest's request): waiting takes
    /// no core. The call takes a lane again at its next tick, if it is still long then.
    pub fn release(&self) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn holds_lane(&self) -> bool {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(concurrency: u32, lanes: usize) -> InstanceLimits {
        InstanceLimits {
            plugin_concurrency: concurrency,
            long_call_lanes: lanes,
            queue_wait: Duration::from_millis(20),
            ..InstanceLimits::default()
        }
    }

    #[tokio::test]
    async fn calls_over_the_cap_wait_briefly_then_are_refused_and_a_freed_slot_admits_again() {
        let share = Share::new(None, &limits(2, 1));
        let first = share.admit().await.expect("a slot");
        let _second = share.admit().await.expect("a slot");
        assert!(share.admit().await.is_none(), "the third waits, then is refused");
        drop(first);
        assert!(share.admit().await.is_some());
    }

    #[test]
    fn a_manifest_may_set_its_own_cap_but_never_above_the_pool() {
        let host = limits(64, 1);
        assert_eq!(Share::new(Some(4), &host).concurrency, 4);
        assert_eq!(Share::new(Some(100_000), &host).concurrency, host.concurrent_instances);
        assert_eq!(Share::new(None, &host).concurrency, 64);
    }

    #[tokio::test]
    async fn a_short_call_never_waits_and_long_calls_take_turns_on_the_lanes() {
        let share = Share::new(None, &limits(8, 1));
        let now = Instant::now();
        let deadline = now + Duration::from_secs(5);
        let first = share.gate(Duration::from_millis(10));
        assert!(first.wait(now, deadline).is_none(), "short: runs on");
        let later = now + Duration::from_millis(11);
        first.wait(later, deadline).expect("long: waits for a lane").await;
        assert!(first.wait(later, deadline).is_none(), "it holds the lane now");

        let second = share.gate(Duration::from_millis(10));
        let soon = Instant::now() + Duration::from_millis(30);
        let waited = Instant::now();
        second.wait(later, soon).expect("long: waits").await;
        assert!(waited.elapsed() >= Duration::from_millis(25), "no lane until its deadline");
        assert!(!second.holds_lane());

        first.release();
        second.wait(later, deadline).expect("waits again").await;
        assert!(second.holds_lane(), "the lane the first call gave back while it waits");
        drop(second);
        first.wait(later, deadline).expect("long: waits for a lane again").await;
        assert!(first.holds_lane(), "the lane the second call gave back when it ended");
    }

    #[test]
    fn an_unthrottled_gate_never_waits() {
        let gate = LaneGate::default();
        let now = Instant::now();
        assert!(gate.wait(now + Duration::from_secs(60), now).is_none());
    }
}
