//! How failed trigger deliveries are retried: a number of attempts with exponential backoff
//! between them, then the dead-letter list; and how long a delivery waits for a function that
//! is not loaded (`docs/triggers.md`).

use std::time::Duration;

/// How failed deliveries are retried.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// Attempts before a delivery is parked as a dead letter (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub first_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// How long deliveries wait for a bound function that is not loaded (its plugin rejected,
    /// removed, or not loaded yet), counted from when one first found it missing; then they
    /// are parked.
    pub plugin_wait: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            max_attempts: 5,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            plugin_wait: Duration::from_secs(60),
        }
    }
}

impl DeliveryPolicy {
    /// The wait after `failed_attempts` failed attempts.
    pub fn backoff(&self, failed_attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed_attempts.saturating_sub(1));
        self.first_backoff.saturating_mul(factor).min(self.max_backoff)
    }

    /// Whether a delivery that has failed `attempts` times gets another attempt.
    pub fn retries_after(&self, attempts: u32) -> bool {
        attempts < self.max_attempts.max(1)
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
            ..Default::default()
        };
        let waits: Vec<u64> = (1..=6).map(|a| policy.backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn a_policy_of_zero_attempts_still_makes_one() {
        let policy = DeliveryPolicy { max_attempts: 0, ..Default::default() };
        assert!(!policy.retries_after(1));
        let three = DeliveryPolicy { max_attempts: 3, ..Default::default() };
        assert!(three.retries_after(2) && !three.retries_after(3));
    }
}
