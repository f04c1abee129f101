//! Warm instances: the idle instances of one component, kept for the next call when its plugin
//! opts into reuse (`[instances] reuse = true`). Most recently used on top: a call takes the
//! top one, so under a steady load the same few stay hot in the caches and the bottom ones age
//! out. Bounded per component and across components (the pool's other slots stay free for
//! calls in flight); an instance idle longer than [`InstanceLimits::warm_idle`] is dropped at
//! the next call. They go with the component when a reload replaces it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use wasmtime::Store;

use super::bindings::Plugin;
use super::limits::InstanceLimits;
use super::store::CallCtx;

/// An instantiated component between calls.
pub struct Warm {
    pub store: Store<CallCtx>,
    pub instance: Plugin,
    /// When it went idle.
    since: Instant,
}

/// The idle instances of one component.
pub struct WarmPool {
    idle: std::sync::Mutex<Vec<Warm>>,
    /// Idle instances of all components, this one's included.
    total: Arc<AtomicUsize>,
}

impl WarmPool {
    /// An empty pool counting its instances in `total`, shared by every component.
    pub fn new(total: Arc<AtomicUsize>) -> WarmPool {
        WarmPool { idle: Default::default(), total }
    }

    /// The most recently used idle instance, if any; drops the oldest if it idled too long.
    pub fn take(&self, limits: &InstanceLimits) -> Option<Warm> {
        let (warm, stale) = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let stale = match idle.first() {
                Some(oldest) if oldest.since.elapsed() > limits.warm_idle => Some(idle.remove(0)),
                _ => None,
            };
            (idle.pop(), stale)
        };
        let taken = usize::from(warm.is_some()) + usize::from(stale.is_some());
        self.total.fetch_sub(taken, Ordering::Relaxed);
        // Dropped outside the lock: returning an instance's memory takes system calls.
        drop(stale);
        warm
    }

    /// Keeps an instance that just returned for the next call, if both bounds allow.
    pub fn put(&self, store: Store<CallCtx>, instance: Plugin, limits: &InstanceLimits) {
        let reserved = self
            .total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limits.warm_total).then_some(n + 1)
            })
            .is_ok();
        if !reserved {
            return;
        }
        let warm = Warm { store, instance, since: Instant::now() };
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < limits.warm_per_plugin {
            idle.push(warm);
        } else {
            drop(idle);
            self.total.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for WarmPool {
    fn drop(&mut self) {
        let idle = self.idle.get_mut().unwrap_or_else(|e| e.into_inner());
        self.total.fetch_sub(idle.len(), Ordering::Relaxed);
    }
}
