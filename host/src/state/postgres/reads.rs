//! [`Reads`]: committed state read from the shared database on pooled connections. Reads of
//! single keys asked for at once share a query (`coalesce.rs`): under load, every handler of
//! a busy trigger reads the same few keys.

use std::collections::HashMap;

use deadpool_postgres::{Object, Pool};
use serde_json::Value;

use super::coalesce::Coalesce;
use super::fail::fail;
use crate::state::engine::DeadLetter;
use crate::state::error::StateError;

/// The values of keys, each found by its own index probe (as the writer reads them), and
/// numbered by their place in the arrays.
const READ_KEYS: &str = "SELECT w.i, s.value \
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(scope, key, i) \
     CROSS JOIN LATERAL (SELECT value FROM eddy_state \
         WHERE scope = w.scope AND key = w.key LIMIT 1) AS s";

/// Reads of the shared store. Cheap to clone.
#[derive(Clone)]
pub struct Reads {
    pool: Pool,
    keys: Coalesce<(String, String), Option<Value>>,
}

impl Reads {
    pub(super) fn new(pool: Pool) -> Reads {
        let keys = Coalesce::new({
            let pool = pool.clone();
            move |asks| Box::pin(read_keys(pool.clone(), asks))
        });
        Reads { pool, keys }
    }

    async fn client(&self) -> Result<Object, StateError> {
        self.pool.get().await.map_err(fail("taking a pooled connection"))
    }

    pub async fn get(&self, scope: &str, key: &str) -> Result<Option<Value>, StateError> {
        self.keys.ask((scope.to_owned(), key.to_owned())).await
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

/// The values of `asks`, in order: each distinct key read once.
async fn read_keys(
    pool: Pool,
    asks: Vec<(String, String)>,
) -> Result<Vec<Option<Value>>, StateError> {
    let mut distinct: HashMap<&(String, String), usize> = HashMap::new();
    let (mut scopes, mut keys) = (Vec::new(), Vec::new());
    for ask in &asks {
        distinct.entry(ask).or_insert_with(|| {
            scopes.push(ask.0.as_str());
            keys.push(ask.1.as_str());
            scopes.len() - 1
        });
    }
    let client = pool.get().await.map_err(fail("taking a pooled connection"))?;
    let statement = client.prepare_cached(READ_KEYS).await.map_err(fail("preparing a read"))?;
    let rows = client.query(&statement, &[&scopes, &keys]).await.map_err(fail("reading values"))?;
    let mut values = vec![None; scopes.len()];
    for row in rows {
        let place = usize::try_from(row.get::<_, i64>(0) - 1).ok();
        if let Some(slot) = place.and_then(|place| values.get_mut(place)) {
            *slot = Some(row.get::<_, Value>(1));
        }
    }
    Ok(asks.iter().map(|ask| values[distinct[ask]].clone()).collect())
}
