//! How a guest reaches the host: [`HostView`], the one trait the runtime asks of whoever runs a
//! call, in the shape of wasmtime-wasi's `WasiView`. The runtime owns stores and instances and
//! knows nothing of state, streams or other plugins; every import a guest calls (`state.*`,
//! `streams.*`, `invoke.*`) becomes a [`Request`] handed to the call's view, and its [`Reply`]
//! goes back to the guest. The host implements the view in `calls/` (where every request passes
//! the plugin's capability check), and the builtins (`state::set` called by id) are parsed into
//! the same requests, so a guest reaches the host through one door whichever way it knocks.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::error::Error;
use crate::state::{Change, Expect, UpdateOutcome};

/// Everything a guest can ask of the host. Values are parsed JSON; names are as the guest gave
/// them (checked by the host).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    StateGet {
        scope: String,
        key: String,
    },
    /// `set`, or `set-if` when `expect` is given (as for update and delete).
    StateSet {
        scope: String,
        key: String,
        value: Value,
        expect: Option<Expect>,
    },
    StateUpdate {
        scope: String,
        key: String,
        ops: Value,
        expect: Option<Expect>,
    },
    StateDelete {
        scope: String,
        key: String,
        expect: Option<Expect>,
    },
    StateList {
        scope: String,
        prefix: Option<String>,
        after: Option<String>,
        limit: Option<usize>,
    },
    /// The scopes holding keys, of those the caller may read.
    StateListGroups,
    /// `stream::send`: an event to every client of a group.
    StreamSend {
        stream: String,
        group: String,
        id: Option<String>,
        event_type: String,
        data: Value,
    },
    ItemGet {
        stream: String,
        group: String,
        item: String,
    },
    ItemSet {
        stream: String,
        group: String,
        item: String,
        value: Value,
    },
    ItemUpdate {
        stream: String,
        group: String,
        item: String,
        ops: Value,
    },
    ItemDelete {
        stream: String,
        group: String,
        item: String,
    },
    ItemList {
        stream: String,
        group: String,
    },
    /// Call a function (a plugin's or a builtin) and wait for its result.
    Invoke {
        function: String,
        payload: Value,
    },
    /// Queue a call and return at once.
    InvokeVoid {
        function: String,
        payload: Value,
    },
}

/// What the host answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A value or none: `get`, `delete` (the old value), `invoke` (its result).
    Value(Option<Value>),
    /// `set`: the values before and after.
    Change(Change),
    /// `update`: the values before and after, and the ops that failed.
    Updated(UpdateOutcome),
    /// `list`: values in key order.
    Values(Vec<Value>),
    /// `list_groups`: scope names, sorted.
    Groups(Vec<String>),
    /// Done, nothing to say: `send`, `invoke_void`.
    Done,
}

/// A future a view returns; boxed because a request may call a function that makes requests.
pub type Pending<'a> = Pin<Box<dyn Future<Output = Result<Reply, Error>> + Send + 'a>>;

/// The host side of one call: who runs, why, and what they may touch are the implementor's
/// business. Set on a store for the length of one call only (an idle warm instance holds none).
pub trait HostView: Send + Sync {
    /// Performs what the guest asked. Every failure is an error the guest sees.
    fn perform(&self, request: Request) -> Pending<'_>;
}

/// A reply of the wrong kind for its request: a host bug, reported to the guest as internal.
pub(super) fn mismatch(reply: Reply) -> Error {
    tracing::error!(?reply, "the host answered a guest request with the wrong kind of reply");
    Error::internal("the host answered with the wrong kind of reply")
}
