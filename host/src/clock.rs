//! Wall-clock time as the host reports it to users: milliseconds since the Unix epoch, the unit
//! of stream frame timestamps, dead-letter times and the operator endpoints' `at` fields; and
//! [`unique_name`], a name no other run of the host draws.

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

/// 64 random bits in hex, a name no earlier run drew (a stream hub's epoch, a host's name in a
/// cluster): the standard library's hasher keys are random per process, mixed with the time and
/// the process id.
pub fn unique_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(now_ms().into());
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}
