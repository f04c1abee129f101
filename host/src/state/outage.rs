//! [`Outage`]: the embedded store after a failed commit. The disk may be full, or failing; redb
//! refuses every transaction after an I/O error until its file is opened again. So the store
//! stops trying at once: writes are refused with [`StateError::Unavailable`] (HTTP 503 with
//! `Retry-After`), reads go on from memory, and it tries to reopen the engine with exponential
//! backoff (100 ms doubling to 5 s), on the next write or idle tick after the wait. Logs say
//! when it began, every 30 s while it lasts, and when it ended; health shows it
//! (`docs/state.md`).

use std::time::{Duration, Instant};

use super::error::StateError;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often a lasting outage is logged again.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// What health shows of an outage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutageReport {
    /// What callers are told, e.g. that the disk is full.
    pub reason: String,
    /// When it began, in Unix milliseconds.
    pub since_ms: u64,
}

/// A store that failed and is waiting to try again.
#[derive(Debug)]
pub(super) struct Outage {
    began: Instant,
    report: OutageReport,
    backoff: Duration,
    retry_at: Instant,
    logged_at: Instant,
    /// Writes refused since it began.
    refused: u64,
}

impl Outage {
    /// An outage that `error` (from a commit) began.
    pub(super) fn begin(engine: &str, error: &StateError) -> Outage {
        tracing::error!(engine, %error, "state storage failed: refusing writes until it recovers");
        let now = Instant::now();
        Outage {
            began: now,
            report: OutageReport { reason: reason(error), since_ms: crate::clock::now_ms() },
            backoff: FIRST_BACKOFF,
            retry_at: now + FIRST_BACKOFF,
            logged_at: now,
            refused: 0,
        }
    }

    /// The error a write gets while the outage lasts.
    pub(super) fn refuse(&mut self) -> StateError {
        self.refused += 1;
        StateError::Unavailable(self.report.reason.clone())
    }

    /// How long until the next try (zero: now).
    pub(super) fn retry_in(&self) -> Duration {
        self.retry_at.saturating_duration_since(Instant::now())
    }

    /// A try to recover failed with `error`: wait longer before the next.
    pub(super) fn failed_again(&mut self, engine: &str, error: &StateError) {
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.retry_at = Instant::now() + self.backoff;
        self.report.reason = reason(error);
        if self.logged_at.elapsed() >= LOG_EVERY {
            self.logged_at = Instant::now();
            let lasting_s = self.began.elapsed().as_secs();
            tracing::error!(engine, %error, lasting_s, refused = self.refused, "state storage still failing");
        }
    }

    pub(super) fn report(&self) -> &OutageReport {
        &self.report
    }

    /// Logs the end of the outage.
    pub(super) fn ended(self, engine: &str) {
        let lasted_ms = self.began.elapsed().as_millis() as u64;
        tracing::warn!(engine, lasted_ms, refused = self.refused, "state storage recovered");
    }
}

/// What callers are told about `error`: never a path or an engine's inner message.
fn reason(error: &StateError) -> String {
    match error {
        StateError::Full(_) => {
            "the disk holding the state is full: writes are refused until space is freed".into()
        }
        _ => "state storage failed: writes are refused while it recovers; try again shortly".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_its_cap_and_callers_hear_why_without_inner_details() {
        let full = StateError::Full("/data/state.redb: commit: No space left on device".into());
        let mut outage = Outage::begin("redb", &full);
        assert!(outage.retry_in() <= FIRST_BACKOFF);
        let StateError::Unavailable(message) = outage.refuse() else { panic!("not unavailable") };
        assert!(message.contains("disk holding the state is full"), "{message}");
        assert!(!message.contains("/data"), "{message}");
        for _ in 0..10 {
            outage.failed_again("redb", &full);
        }
        assert_eq!(outage.backoff, MAX_BACKOFF);
        assert!(outage.retry_in() > Duration::from_secs(4));
        outage.failed_again("redb", &StateError::Storage("io".into()));
        assert!(outage.report().reason.contains("recovers"), "{:?}", outage.report());
    }
}
