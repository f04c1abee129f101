//! Why a write happened. Every state or stream write carries a [`Cause`] so the events it fires
//! know how deep in a trigger cascade they are: a handler that writes fires more triggers, and the
//! dispatcher stops a cascade deeper than its limit instead of looping forever.

/// The chain of calls that led to a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Cause {
    /// How many trigger deliveries lie between the outside world and this write: 0 for a write
    /// made by an HTTP request, 1 for a write made by a handler of that write's trigger, ...
    pub depth: u32,
}

impl Cause {
    /// A write made directly by a client (an HTTP request, a test, the CLI).
    pub const ROOT: Cause = Cause { depth: 0 };
}
