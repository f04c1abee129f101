//! [`Invocation`]: the context a function call runs in — why it runs (its [`Cause`], for the
//! cascade limit), how deep in `invoke` calls it is, and, for a trigger handler, the transaction
//! its state writes join. Guest imports and builtins reach state and streams through it, so a
//! handler's writes and stream sends commit with its delivery whether it makes them directly or
//! through `invoke("state::set", ...)`.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use crate::cause::Cause;
use crate::registry::Plugin;
use crate::state::{Change, State, StateError, Txn, UpdateOutcome};
use crate::streams::{StreamError, Streams};

/// How a call came to be, and where its writes go.
#[derive(Clone, Default)]
pub struct Invocation {
    pub cause: Cause,
    /// How many `invoke` calls deep this call is (0 for HTTP requests and trigger deliveries).
    pub nesting: u32,
    /// The transaction of the trigger delivery this call belongs to; none: every write commits
    /// on its own.
    pub txn: Option<Arc<Mutex<Txn>>>,
    /// The plugin whose code is running, whose capabilities bound what this call may touch;
    /// none: the host itself (HTTP routing, the dispatcher, the CLI), which may touch anything.
    pub plugin: Option<Arc<Plugin>>,
}

impl Invocation {
    /// A call made from outside: an HTTP request, a test, the CLI.
    pub fn root() -> Invocation {
        Invocation::default()
    }

    /// The context of a call this call makes through `invoke`.
    pub fn nested(&self) -> Invocation {
        Invocation { nesting: self.nesting + 1, ..self.clone() }
    }

    /// Fails unless the running plugin may read `scope`.
    fn check_read(&self, scope: &str) -> Result<(), StateError> {
        match &self.plugin {
            Some(p) if !p.manifest.capabilities.may_read(scope) => {
                Err(StateError::Forbidden(format!(
                    "plugin {} may not read state scope {scope:?}: add it to [capabilities] state or state_read in its plugin.toml",
                    p.name
                )))
            }
            _ => Ok(()),
        }
    }

    /// Fails unless the running plugin may write `scope`.
    fn check_write(&self, scope: &str) -> Result<(), StateError> {
        match &self.plugin {
            Some(p) if !p.manifest.capabilities.may_write(scope) => {
                Err(StateError::Forbidden(format!(
                    "plugin {} may not write state scope {scope:?}: add it to [capabilities] state in its plugin.toml",
                    p.name
                )))
            }
            _ => Ok(()),
        }
    }

    /// Fails unless the running plugin may use stream `name`.
    pub fn check_stream(&self, name: &str) -> Result<(), StreamError> {
        match &self.plugin {
            Some(p) if !p.manifest.capabilities.may_stream(name) => {
                Err(StreamError::Forbidden(format!(
                    "plugin {} may not use stream {name:?}: add it to [capabilities] streams in its plugin.toml",
                    p.name
                )))
            }
            _ => Ok(()),
        }
    }

    fn txn(&self) -> Option<MutexGuard<'_, Txn>> {
        self.txn.as_ref().map(|txn| txn.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn get(&self, state: &State, scope: &str, key: &str) -> Result<Option<Value>, StateError> {
        self.check_read(scope)?;
        match self.txn() {
            Some(txn) => txn.get(scope, key),
            None => state.get(scope, key),
        }
    }

    pub async fn set(
        &self,
        state: &State,
        scope: &str,
        key: &str,
        value: Value,
    ) -> Result<Change, StateError> {
        self.check_write(scope)?;
        if let Some(mut txn) = self.txn() {
            return txn.set(scope, key, value);
        }
        state.set(scope, key, value, self.cause).await
    }

    pub async fn update(
        &self,
        state: &State,
        scope: &str,
        key: &str,
        ops: &Value,
    ) -> Result<UpdateOutcome, StateError> {
        self.check_write(scope)?;
        if let Some(mut txn) = self.txn() {
            return txn.update(scope, key, ops);
        }
        state.update(scope, key, ops, self.cause).await
    }

    pub async fn delete(
        &self,
        state: &State,
        scope: &str,
        key: &str,
    ) -> Result<Option<Value>, StateError> {
        self.check_write(scope)?;
        if let Some(mut txn) = self.txn() {
            return txn.delete(scope, key);
        }
        state.delete(scope, key, self.cause).await
    }

    pub fn list(
        &self,
        state: &State,
        scope: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Value>, StateError> {
        self.check_read(scope)?;
        match self.txn() {
            Some(txn) => txn.list(scope, prefix, after, limit),
            None => state.list(scope, prefix, after, limit),
        }
    }

    /// The scopes holding keys, of those the running plugin may read.
    pub fn list_groups(&self, state: &State) -> Result<Vec<String>, StateError> {
        let mut groups = match self.txn() {
            Some(txn) => txn.list_groups()?,
            None => state.list_groups()?,
        };
        groups.retain(|scope| self.check_read(scope).is_ok());
        Ok(groups)
    }

    /// `stream::send`: at once, or, in a trigger delivery, once its transaction commits (so a
    /// handler that fails and is retried does not send twice).
    pub fn send(
        &self,
        streams: &Streams,
        stream: &str,
        group: &str,
        id: Option<&str>,
        event_type: &str,
        data: Value,
    ) -> Result<(), StreamError> {
        self.check_stream(stream)?;
        let Some(mut txn) = self.txn() else {
            return streams.send(stream, group, id, event_type, data, self.cause);
        };
        // Check the names now, so the guest hears about a bad one; send after the commit.
        streams.check_names(stream, group)?;
        let (streams, cause) = (streams.clone(), self.cause);
        let (stream, group, id, event_type) =
            (stream.to_owned(), group.to_owned(), id.map(str::to_owned), event_type.to_owned());
        txn.after_commit(Box::new(move || {
            if let Err(e) = streams.send(&stream, &group, id.as_deref(), &event_type, data, cause) {
                tracing::warn!(stream, group, error = %e, "deferred stream send failed");
            }
        }));
        Ok(())
    }
}
