//! Wall-clock time as the host reports it to users: milliseconds since the Unix epoch, the unit
//! of stream frame timestamps, dead-letter times and the operator endpoints' `at` fields.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    millis(SystemTime::now())
}

/// `at` in milliseconds since the Unix epoch (0 for a time before it, which a sane clock never
/// gives).
pub fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
