//! [`Reads`]: committed state read from the shared database on pooled connections.

use deadpool_postgres::{Object, Pool};
use serde_json::Value;

use super::fail::fail;
use crate::state::engine::DeadLetter;
use crate::state::error::StateError;

/// Reads of the shared store. Cheap to clone.
#[derive(Clone)]
pub struct Reads {
    pool: Pool,
}

impl Reads {
    pub(super) fn new(pool: Pool) -> Reads {
        Reads { pool }
    }

    async fn client(&self) -> Result<Object, StateError> {
        self.pool.get().await.map_err(fail("taking a pooled connection"))
    }

    pub async fn get(&self, scope: &str, key: &str) -> Result<Option<Value>, StateError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT value FROM eddy_state WHERE scope = $1 AND key = $2")
            .await
            .map_err(fail("preparing a read"))?;
        let row =
            client.query_opt(&statement, &[&scope, &key]).await.map_err(fail("reading a value"))?;
        Ok(row.map(|row| row.get(0)))
    }

    pub async fn list(
        &self,
        scope: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<(String, Value)>, StateError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT key, value FROM eddy_state \
                 WHERE scope = $1 AND key >= $2 AND starts_with(key, $2) \
                   AND ($3::text IS NULL OR key > $3) \
                 ORDER BY key LIMIT $4",
            )
            .await
            .map_err(fail("preparing a list"))?;
        let limit = limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let rows = client
            .query(&statement, &[&scope, &prefix.unwrap_or(""), &after, &limit])
            .await
            .map_err(fail("listing values"))?;
        Ok(rows.into_iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The scopes holding at least one key, sorted: a skip scan over the primary key, one
    /// index probe per scope however many keys each holds.
    pub async fn groups(&self) -> Result<Vec<String>, StateError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "WITH RECURSIVE scopes(scope) AS ( \
                     SELECT min(scope) FROM eddy_state \
                     UNION ALL \
                     SELECT (SELECT min(scope) FROM eddy_state WHERE scope > scopes.scope) \
                     FROM scopes WHERE scope IS NOT NULL) \
                 SELECT scope FROM scopes WHERE scope IS NOT NULL",
                &[],
            )
            .await
            .map_err(fail("listing scopes"))?;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    }

    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StateError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT letter FROM eddy_dead_letters ORDER BY id", &[])
            .await
            .map_err(fail("listing dead letters"))?;
        rows.into_iter()
            .map(|row| {
                serde_json::from_value(row.get::<_, Value>(0)).map_err(|e| {
                    StateError::Storage(format!("a stored dead letter is unreadable: {e}"))
                })
            })
            .collect()
    }
}
