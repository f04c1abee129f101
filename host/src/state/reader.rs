//! [`Reader`]: where the state service and transactions read committed state — the embedded
//! store's in-memory mirror (no I/O), or the shared database (a query on a pooled connection,
//! so a write any host acknowledged is seen at once).

use std::sync::Arc;

use serde_json::Value;

use super::engine::DeadLetter;
use super::error::StateError;
use super::mirrored::Shared;
use super::postgres::Reads;

/// Reads of committed state. Cheap to clone.
#[derive(Clone)]
pub enum Reader {
    Mirror(Arc<Shared>),
    Postgres(Reads),
}

impl Reader {
    /// The committed value of `key` in `scope`, or `None`.
    pub async fn get(&self, scope: &str, key: &str) -> Result<Option<Value>, StateError> {
        match self {
            Reader::Mirror(shared) => Ok(shared.read().get(scope, key).cloned()),
            Reader::Postgres(reads) => reads.get(scope, key).await,
        }
    }

    /// `(key, value)` pairs of `scope` in key order: keys starting with `prefix`, strictly after
    /// `after`, at most `limit`.
    pub async fn list(
        &self,
        scope: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<(String, Value)>, StateError> {
        match self {
            Reader::Mirror(shared) => Ok(shared.read().list(scope, prefix, after, limit)),
            Reader::Postgres(reads) => reads.list(scope, prefix, after, limit).await,
        }
    }

    /// The scopes holding at least one key, sorted.
    pub async fn groups(&self) -> Result<Vec<String>, StateError> {
        match self {
            Reader::Mirror(shared) => Ok(shared.read().groups()),
            Reader::Postgres(reads) => reads.groups().await,
        }
    }

    /// The parked deliveries, by id.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StateError> {
        match self {
            Reader::Mirror(shared) => Ok(shared.dead_letters()),
            Reader::Postgres(reads) => reads.dead_letters().await,
        }
    }
}
