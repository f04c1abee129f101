//! [`StateError`]: why a state call failed, as every part of state reports it.

/// Why a state call failed. The outer layers map it: `Invalid` is the caller's fault and the
/// guest sees a bad request; `Conflict` is a conditional write whose key no longer held what it
/// expected (HTTP 409); `Storage` is ours and the guest sees an internal error; `Unavailable`
/// (and `Full`) say to try again later.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    /// The caller's input is wrong (bad scope or key, ops not an array, value too large...).
    #[error("{0}")]
    Invalid(String),
    /// A conditional write's key did not hold what the write expected: nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// The storage failed.
    #[error("storage failed: {0}")]
    Storage(String),
    /// The write would take the store past its byte quota (`[quota]`): refused, nothing changed.
    #[error("{0}")]
    Quota(String),
    /// The storage failed because the disk is full.
    #[error("storage full: {0}")]
    Full(String),
    /// The store is refusing writes until its storage recovers (the message says why); the
    /// caller may try again later.
    #[error("{0}")]
    Unavailable(String),
    /// The calling plugin's manifest does not grant it this scope.
    #[error("{0}")]
    Forbidden(String),
}
