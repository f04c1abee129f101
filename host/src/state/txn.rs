//! [`Txn`]: the writes of one trigger handler, held back until it finishes. The handler reads
//! its own writes (an overlay on committed state) and the results it gets are computed as the
//! writes would apply now; at commit the writer applies them again, in order, against the state
//! current then (so `increment`s from concurrent handlers add up exactly), all or nothing, with
//! the mark that the handler's event was delivered. A conditional write is checked twice: when
//! the handler makes it (against what the handler sees) and at commit (against what is there
//! then); a conflict at commit fails the whole transaction, and the handler runs again. Actions
//! that must not run for a handler that fails (a `stream::send`) wait in the transaction too and
//! run after the commit.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::change::Change;
use super::checks::{check_key, check_ops, check_scope, check_size};
use super::error::StateError;
use super::expect::Expect;
use super::ops::{self, UpdateOutcome};
use super::reader::Reader;
use super::writer::{TxWrite, Write};
use crate::cause::Cause;

/// Something to do once the transaction is committed: the future it returns is awaited, the
/// actions of one transaction one after another, in the order they were added.
pub type AfterCommit =
    Box<dyn FnOnce() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

/// An open transaction. Dropping it without [`super::State::commit`] discards it.
pub struct Txn {
    /// Committed state, read where the service reads it.
    reader: Reader,
    cause: Cause,
    writes: Vec<TxWrite>,
    /// The value each written key has now, as this transaction sees it (`None`: deleted).
    overlay: HashMap<(String, String), Option<Value>>,
    after_commit: Vec<AfterCommit>,
}

impl Txn {
    pub(super) fn new(reader: Reader, cause: Cause) -> Txn {
        Txn { reader, cause, writes: Vec::new(), overlay: HashMap::new(), after_commit: Vec::new() }
    }

    pub(super) fn into_parts(self) -> (Vec<TxWrite>, Cause, Vec<AfterCommit>) {
        (self.writes, self.cause, self.after_commit)
    }

    /// Whether the transaction has nothing to commit or run.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.after_commit.is_empty()
    }

    /// Runs `action` after a successful commit (never if the handler fails).
    pub fn after_commit(&mut self, action: AfterCommit) {
        self.after_commit.push(action);
    }

    /// The value of `key` as this transaction sees it.
    pub async fn get(&self, scope: &str, key: &str) -> Result<Option<Value>, StateError> {
        check_key(scope, key)?;
        match self.overlay.get(&(scope.to_owned(), key.to_owned())) {
            Some(value) => Ok(value.clone()),
            None => self.reader.get(scope, key).await,
        }
    }

    pub async fn set(
        &mut self,
        scope: &str,
        key: &str,
        value: Value,
    ) -> Result<Change, StateError> {
        self.set_if(scope, key, None, value).await
    }

    /// [`Txn::set`] on a condition: fails with a conflict at once when the key, as this
    /// transaction sees it, does not hold what `expect` says; and again at commit, failing the
    /// whole transaction, when another write changed the key meanwhile.
    pub async fn set_if(
        &mut self,
        scope: &str,
        key: &str,
        expect: Option<Expect>,
        value: Value,
    ) -> Result<Change, StateError> {
        check_size(&value)?;
        let old = self.expected(scope, key, expect.as_ref()).await?;
        // Recorded even when it changes nothing now: another write may change the key before
        // this commits, and the commit must still leave `value` there. A write that is a no-op
        // at commit time writes and fires nothing.
        self.record(scope, key, Write::Set(value.clone()), expect, Some(value.clone()));
        Ok(Change { old_value: old, new_value: Some(value) })
    }

    pub async fn update(
        &mut self,
        scope: &str,
        key: &str,
        ops: &Value,
    ) -> Result<UpdateOutcome, StateError> {
        self.update_if(scope, key, None, ops).await
    }

    /// [`Txn::update`] on a condition, as [`Txn::set_if`].
    pub async fn update_if(
        &mut self,
        scope: &str,
        key: &str,
        expect: Option<Expect>,
        ops: &Value,
    ) -> Result<UpdateOutcome, StateError> {
        check_ops(ops)?;
        let old = self.expected(scope, key, expect.as_ref()).await?;
        let (new, errors) = ops::apply_to_key(old.as_ref(), ops)?;
        if let Some(new) = &new {
            check_size(new)?;
        }
        self.record(scope, key, Write::Update(ops.clone()), expect, new.clone());
        Ok(UpdateOutcome { old_value: old, new_value: new, errors })
    }

    pub async fn delete(&mut self, scope: &str, key: &str) -> Result<Option<Value>, StateError> {
        self.delete_if(scope, key, None).await
    }

    /// [`Txn::delete`] on a condition, as [`Txn::set_if`].
    pub async fn delete_if(
        &mut self,
        scope: &str,
        key: &str,
        expect: Option<Expect>,
    ) -> Result<Option<Value>, StateError> {
        let old = self.expected(scope, key, expect.as_ref()).await?;
        self.record(scope, key, Write::Delete, expect, None);
        Ok(old)
    }

    /// The value of `key` as this transaction sees it, if it meets `expect`.
    async fn expected(
        &self,
        scope: &str,
        key: &str,
        expect: Option<&Expect>,
    ) -> Result<Option<Value>, StateError> {
        let old = self.get(scope, key).await?;
        if let Some(expect) = expect {
            expect.check(scope, key, old.as_ref())?;
        }
        Ok(old)
    }

    /// Like [`super::State::list`], with this transaction's writes applied.
    pub async fn list(
        &self,
        scope: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Value>, StateError> {
        check_scope(scope)?;
        let mine: Vec<(&String, &Option<Value>)> = self
            .overlay
            .iter()
            .filter(|((s, _), _)| s == scope)
            .map(|((_, k), v)| (k, v))
            .collect();
        if mine.is_empty() {
            let committed = self.reader.list(scope, prefix, after, limit).await?;
            return Ok(committed.into_iter().map(|(_, v)| v).collect());
        }
        let in_range = |key: &str| {
            key.starts_with(prefix.unwrap_or("")) && after.is_none_or(|after| key > after)
        };
        let mut merged: BTreeMap<String, Value> =
            self.reader.list(scope, prefix, after, None).await?.into_iter().collect();
        for (key, value) in mine.into_iter().filter(|(key, _)| in_range(key)) {
            match value {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        Ok(merged.into_values().take(limit.unwrap_or(usize::MAX)).collect())
    }

    /// Like [`super::State::list_groups`], with this transaction's writes applied.
    pub async fn list_groups(&self) -> Result<Vec<String>, StateError> {
        let mut groups = self.reader.groups().await?;
        let written: std::collections::BTreeSet<&String> =
            self.overlay.keys().map(|(scope, _)| scope).collect();
        // A scope the transaction wrote may have emptied or filled.
        for scope in written {
            let holds = !self.list(scope, None, None, Some(1)).await?.is_empty();
            match (groups.binary_search(scope), holds) {
                (Err(at), true) => groups.insert(at, scope.clone()),
                (Ok(at), false) => drop(groups.remove(at)),
                _ => {}
            }
        }
        Ok(groups)
    }

    fn record(
        &mut self,
        scope: &str,
        key: &str,
        write: Write,
        expect: Option<Expect>,
        value: Option<Value>,
    ) {
        self.writes.push(TxWrite { scope: scope.to_owned(), key: key.to_owned(), write, expect });
        self.overlay.insert((scope.to_owned(), key.to_owned()), value);
    }
}
