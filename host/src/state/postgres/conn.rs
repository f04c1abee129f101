//! [`Conn`]: the writer's connection, with each statement prepared once.

use std::collections::HashMap;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use super::fail::fail;
use crate::state::error::StateError;

/// The writer's connection, with each statement prepared once (parsing and planning them on
/// every round cost the database more than running them).
pub(super) struct Conn {
    client: Client,
    prepared: std::sync::Mutex<HashMap<&'static str, Statement>>,
}

pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Conn {
    pub(super) fn new(client: Client) -> Conn {
        Conn { client, prepared: Default::default() }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Prepares `statements` now, so the queries that use them are sent the moment they are
    /// polled: queries joined together then go out in order, in one round trip.
    pub(super) async fn prepare(&self, statements: &[&'static str]) -> Result<(), StateError> {
        for sql in statements {
            self.statement(sql).await.map_err(fail("preparing a statement"))?;
        }
        Ok(())
    }

    /// `query`, or nothing when not `wanted`.
    pub(super) async fn query_if(
        &self,
        wanted: bool,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        if !wanted {
            return Ok(Vec::new());
        }
        self.query(sql, params).await
    }

    async fn statement(&self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        let cached = self.prepared.lock().unwrap_or_else(|e| e.into_inner()).get(sql).cloned();
        if let Some(statement) = cached {
            return Ok(statement);
        }
        let statement = self.client.prepare(sql).await?;
        self.prepared.lock().unwrap_or_else(|e| e.into_inner()).insert(sql, statement.clone());
        Ok(statement)
    }

    pub(super) async fn query(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.statement(sql).await?;
        self.client.query(&statement, params).await
    }

    pub(super) async fn query_one(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Row, tokio_postgres::Error> {
        let statement = self.statement(sql).await?;
        self.client.query_one(&statement, params).await
    }

    pub(super) async fn execute(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = self.statement(sql).await?;
        self.client.execute(&statement, params).await
    }

    pub(super) async fn batch_execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.client.batch_execute(sql).await
    }
}
