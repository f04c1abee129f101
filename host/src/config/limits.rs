//! The limits `eddy.toml` sets: `[limits]` (the HTTP edge and function calls), `[delivery]`
//! (trigger retries) and `[streams]` (replay windows and the caps on what stream clients may
//! make the host hold) and `[quota]` (bytes the embedded store may hold) — each checked against
//! its range, then written into the host's options.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::serve::ServeOptions;
use crate::state::QuotaLimits;
use crate::toml_file::{FileError, TomlFile};

/// `[quota]`: bytes the embedded store may hold, in all and per scope (`[quota.scopes]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQuota {
    max_bytes: Option<Spanned<u64>>,
    #[serde(default)]
    scopes: std::collections::BTreeMap<String, Spanned<u64>>,
}

/// The quota `raw` sets; every limit at least 1 byte.
pub(super) fn quota(file: &TomlFile<'_>, raw: RawQuota) -> Result<QuotaLimits, FileError> {
    let positive = |n: &Spanned<u64>, what: &str| match *n.get_ref() {
        0 => Err(file.error(Some(n.span()), format!("{what} must be at least 1 byte"))),
        n => Ok(n),
    };
    let max_bytes = raw.max_bytes.as_ref().map(|n| positive(n, "max_bytes")).transpose()?;
    let mut scopes = std::collections::HashMap::new();
    for (scope, n) in &raw.scopes {
        scopes.insert(scope.clone(), positive(n, &format!("the quota of scope {scope}"))?);
    }
    Ok(QuotaLimits { max_bytes, scopes })
}

/// `[limits]`: each one overrides the host's default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) max_body_bytes: Option<Spanned<usize>>,
    pub(super) max_connections: Option<Spanned<usize>>,
    pub(super) request_timeout_ms: Option<Spanned<u64>>,
    pub(super) call_timeout_ms: Option<Spanned<u64>>,
    pub(super) call_memory_mib: Option<Spanned<usize>>,
    pub(super) instances: Option<Spanned<u32>>,
    pub(super) plugin_concurrency: Option<Spanned<u32>>,
}

/// `[streams]`: each group's replay window, for clients that resume with `since`, and the caps
/// on what clients may make the host hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStreams {
    pub(super) replay_window: Option<Spanned<u64>>,
    pub(super) replay_max_age_secs: Option<Spanned<u64>>,
    pub(super) max_subscriptions_per_socket: Option<Spanned<u64>>,
    pub(super) max_groups_per_socket: Option<Spanned<u64>>,
    pub(super) max_groups: Option<Spanned<u64>>,
}

/// `[delivery]`: retries of failed trigger deliveries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelivery {
    pub(super) max_attempts: Option<Spanned<u32>>,
    pub(super) retry_backoff_ms: Option<Spanned<u64>>,
    pub(super) plugin_wait_ms: Option<Spanned<u64>>,
}

/// Checks every limit the file gives against its range.
pub(super) fn check(
    file: &TomlFile<'_>,
    limits: &RawLimits,
    delivery: &RawDelivery,
    streams: &RawStreams,
) -> Result<(), FileError> {
    check_limits(file, limits)?;
    check_streams(file, streams)?;
    if let Some(attempts) = &delivery.max_attempts
        && *attempts.get_ref() == 0
    {
        return Err(file.error(Some(attempts.span()), "max_attempts must be at least 1"));
    }
    Ok(())
}

/// Writes the limits the file gives into `options`.
pub(super) fn apply(
    limits: &RawLimits,
    delivery: &RawDelivery,
    streams: &RawStreams,
    options: &mut ServeOptions,
) {
    if let Some(bytes) = value(&limits.max_body_bytes) {
        options.http.max_body_bytes = bytes;
    }
    if let Some(n) = value(&limits.max_connections) {
        options.http.max_connections = n;
    }
    if let Some(ms) = value(&limits.request_timeout_ms) {
        options.http.request_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = value(&limits.call_timeout_ms) {
        options.instances.timeout = Duration::from_millis(ms);
    }
    if let Some(mib) = value(&limits.call_memory_mib) {
        options.instances.memory_bytes = mib << 20;
    }
    if let Some(n) = value(&limits.instances) {
        options.instances.concurrent_instances = n;
    }
    if let Some(n) = value(&limits.plugin_concurrency) {
        options.instances.plugin_concurrency = n;
    }
    if let Some(n) = value(&delivery.max_attempts) {
        options.delivery.max_attempts = n;
    }
    if let Some(ms) = value(&delivery.retry_backoff_ms) {
        options.delivery.first_backoff = Duration::from_millis(ms);
    }
    if let Some(ms) = value(&delivery.plugin_wait_ms) {
        options.delivery.plugin_wait = Duration::from_millis(ms);
    }
    if let Some(frames) = value(&streams.replay_window) {
        options.streams.replay_window = frames as usize;
    }
    if let Some(secs) = value(&streams.replay_max_age_secs) {
        options.streams.replay_max_age = Duration::from_secs(secs);
    }
    if let Some(n) = value(&streams.max_subscriptions_per_socket) {
        options.streams.max_subscriptions_per_socket = n as usize;
    }
    if let Some(n) = value(&streams.max_groups_per_socket) {
        options.streams.max_groups_per_socket = n as usize;
    }
    if let Some(n) = value(&streams.max_groups) {
        options.streams.max_groups = n as usize;
    }
}

/// The value of a setting the file gives.
fn value<T: Copy>(setting: &Option<Spanned<T>>) -> Option<T> {
    setting.as_ref().map(|s| *s.get_ref())
}

/// A number setting, when given, between `min` and `max`.
fn in_range(
    file: &TomlFile<'_>,
    value: &Option<Spanned<u64>>,
    name: &str,
    min: u64,
    max: u64,
) -> Result<(), FileError> {
    match value {
        Some(v) if !(min..=max).contains(v.get_ref()) => Err(file.error(
            Some(v.span()),
            format!("{name} must be between {min} and {max}, not {}", v.get_ref()),
        )),
        _ => Ok(()),
    }
}

fn check_streams(file: &TomlFile<'_>, streams: &RawStreams) -> Result<(), FileError> {
    in_range(file, &streams.replay_window, "replay_window", 0, 1_000_000)?;
    in_range(file, &streams.replay_max_age_secs, "replay_max_age_secs", 1, 30 * 24 * 3600)?;
    let per_socket = &streams.max_subscriptions_per_socket;
    in_range(file, per_socket, "max_subscriptions_per_socket", 1, 100_000)?;
    in_range(file, &streams.max_groups_per_socket, "max_groups_per_socket", 1, 100_000)?;
    in_range(file, &streams.max_groups, "max_groups", 1, 100_000_000)
}

fn check_limits(file: &TomlFile<'_>, limits: &RawLimits) -> Result<(), FileError> {
    let widen = |v: &Option<Spanned<usize>>| {
        v.as_ref().map(|v| Spanned::new(v.span(), *v.get_ref() as u64))
    };
    let widen32 = |v: &Option<Spanned<u32>>| {
        v.as_ref().map(|v| Spanned::new(v.span(), u64::from(*v.get_ref())))
    };
    in_range(file, &widen(&limits.max_body_bytes), "max_body_bytes", 1, 1 << 30)?;
    in_range(file, &widen(&limits.max_connections), "max_connections", 1, 1_000_000)?;
    in_range(file, &limits.request_timeout_ms, "request_timeout_ms", 1, 3_600_000)?;
    let max_timeout = crate::plugins::manifest::MAX_TIMEOUT_MS;
    in_range(file, &limits.call_timeout_ms, "call_timeout_ms", 1, max_timeout)?;
    in_range(file, &widen(&limits.call_memory_mib), "call_memory_mib", 1, 1024)?;
    in_range(file, &widen32(&limits.instances), "instances", 1, 10_000)?;
    let pool =
        limits.instances.as_ref().map_or(
            u64::from(crate::runtime::InstanceLimits::default().concurrent_instances),
            |n| u64::from(*n.get_ref()),
        );
    in_range(file, &widen32(&limits.plugin_concurrency), "plugin_concurrency", 1, pool)
}
