//! [`Progress`]: what the lanes tell shutdown, and what shutdown tells the lanes.

use std::sync::atomic::{AtomicBool, AtomicUsize};

use tokio::sync::Notify;

/// Shared by the lanes (embedded and cluster), the lease keeper and [`super::Triggers::drain`].
#[derive(Default)]
pub(super) struct Progress {
    /// Set on shutdown: lanes finish the delivery in hand and take no more.
    pub stopping: AtomicBool,
    /// Deliveries under way.
    pub in_flight: AtomicUsize,
    /// Signalled whenever a delivery ends.
    pub ended: Notify,
    /// Signalled when `stopping` is set.
    pub stop: Notify,
}
