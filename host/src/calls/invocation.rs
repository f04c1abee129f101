//! [`Invocation`]: the context a function call runs in — why it runs (its [`Cause`], for the
//! cascade limit), how deep in `invoke` calls it is, whose code runs (the plugin whose grants
//! bound it) and, for a trigger handler, the [`Transaction`] its writes join. A handler's state
//! writes, stream sends and stream item writes commit with its delivery whether it makes them
//! through its imports or through `invoke("state::set", ...)`.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

use serde_json::Value;

use crate::cause::Cause;
use crate::plugins::registry::Plugin;
use crate::state::Txn;

/// How a call came to be, and where its writes go.
#[derive(Clone, Default)]
pub struct Invocation {
    pub cause: Cause,
    /// How many `invoke` calls deep this call is (0 for HTTP requests and trigger deliveries).
    pub nesting: u32,
    /// The transaction of the trigger delivery this call belongs to; none: every write commits
    /// on its own.
    pub txn: Option<Arc<Mutex<Transaction>>>,
    /// The plugin whose code is running, whose capabilities bound what this call may touch;
    /// none: the host itself (HTTP routing, the dispatcher, the CLI), which may touch anything.
    pub plugin: Option<Arc<Plugin>>,
}

impl Invocation {
    /// A call made from outside: an HTTP request, a test, the CLI.
    pub fn root() -> Invocation {
        Invocation::default()
    }

    /// A call the host makes because of a write at `cause` (a trigger's condition): counted in
    /// the cascade, outside any transaction.
    pub fn caused_by(cause: Cause) -> Invocation {
        Invocation { cause, ..Invocation::default() }
    }

    /// A trigger handler's call: its writes join `txn`.
    pub fn in_transaction(cause: Cause, txn: Arc<Mutex<Transaction>>) -> Invocation {
        Invocation { cause, txn: Some(txn), ..Invocation::default() }
    }

    /// The context of a call this call makes through `invoke`.
    pub fn nested(&self) -> Invocation {
        Invocation { nesting: self.nesting + 1, ..self.clone() }
    }

    /// The context of a call of one of `plugin`'s functions, made in this context.
    pub fn running(&self, plugin: Arc<Plugin>) -> Invocation {
        Invocation { plugin: Some(plugin), ..self.clone() }
    }

    /// The delivery's transaction, locked, if this call is part of one. (A tokio lock: a
    /// handler's reads of committed state may wait on the database while holding it.)
    pub(super) async fn txn(&self) -> Option<MutexGuard<'_, Transaction>> {
        match &self.txn {
            Some(txn) => Some(txn.lock().await),
            None => None,
        }
    }
}

/// A stream item: stream, group, item id.
pub(super) type ItemKey = (String, String, String);

/// What a trigger handler did, held back until its delivery commits: its state writes (a
/// [`Txn`], whose after-commit actions carry its stream sends and item writes) and the values
/// it gave stream items, so it reads its own item writes before anyone else sees them.
pub struct Transaction {
    pub(super) state: Txn,
    /// Each item this handler wrote, as it sees it now (`None`: deleted).
    pub(super) items: BTreeMap<ItemKey, Option<Value>>,
}

impl Transaction {
    pub fn new(state: Txn) -> Transaction {
        Transaction { state, items: BTreeMap::new() }
    }

    /// The state transaction to commit; its after-commit actions send the stream frames.
    pub fn into_state(self) -> Txn {
        self.state
    }
}
