//! The guest's imports: `state`, `streams`, `invoke` and `log` of the WIT world, implemented on
//! each call's [`CallCtx`]. `log` is handled here; everything else becomes a [`Request`] to the
//! call's [`super::HostView`]. Every failure is an error the guest sees (`result::err`), never a
//! trap: a plugin can always handle it.

use serde_json::Value;

use super::bindings::eddy::plugin::{invoke, log, state, streams, types};
use super::bindings::wit;
use super::store::CallCtx;
use super::view::{Reply, Request, mismatch};
use crate::error::{Error, ErrorCode};
use crate::state::Expect;

type GuestResult<T> = Result<T, wit::Error>;

impl From<Error> for wit::Error {
    fn from(e: Error) -> wit::Error {
        let code = match e.code {
            ErrorCode::BadRequest | ErrorCode::MethodNotAllowed | ErrorCode::PayloadTooLarge => {
                wit::ErrorCode::BadRequest
            }
            ErrorCode::Unauthorized => wit::ErrorCode::Unauthorized,
            ErrorCode::Forbidden => wit::ErrorCode::Forbidden,
            ErrorCode::NotFound => wit::ErrorCode::NotFound,
            ErrorCode::Conflict => wit::ErrorCode::Conflict,
            ErrorCode::Timeout => wit::ErrorCode::Timeout,
            ErrorCode::Unavailable => wit::ErrorCode::Unavailable,
            ErrorCode::Internal | ErrorCode::NotImplemented => wit::ErrorCode::Internal,
        };
        wit::Error { code, message: e.message }
    }
}

/// Parses JSON text the guest passed; `what` names the argument in the error.
fn parse(what: &str, text: &str) -> GuestResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::bad_request(format!("{what} is not valid JSON: {e}")).into())
}

/// The condition of a `*-if` import: the JSON text the key must hold, or none for "absent".
fn expected(text: Option<&str>) -> GuestResult<Expect> {
    Ok(match text {
        Some(text) => Expect::Value(parse("expect", text)?),
        None => Expect::Absent,
    })
}

fn text(value: &Value) -> String {
    value.to_string()
}

fn opt_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(text)
}

fn update_result(outcome: crate::state::UpdateOutcome) -> wit::UpdateResult {
    wit::UpdateResult {
        old_value: opt_text(&outcome.old_value),
        new_value: opt_text(&outcome.new_value),
        errors: outcome
            .errors
            .into_iter()
            .map(|e| wit::OpError { op_index: e.op_index, code: e.code, message: e.message })
            .collect(),
    }
}

impl types::Host for CallCtx {}

impl CallCtx {
    /// Hands `request` to the host through this call's view, giving back the call's lane while
    /// it waits (`share.rs`). The future holds the view, not the store's data, so it can be sent
    /// between threads while it waits.
    fn perform(&self, request: Request) -> impl Future<Output = GuestResult<Reply>> + Send + use<> {
        self.lane.release();
        let view = self.view().cloned();
        async move { Ok(view?.perform(request).await?) }
    }
}

async fn value(reply: impl Future<Output = GuestResult<Reply>>) -> GuestResult<Option<String>> {
    match reply.await? {
        Reply::Value(value) => Ok(opt_text(&value)),
        other => Err(mismatch(other).into()),
    }
}

async fn change(reply: impl Future<Output = GuestResult<Reply>>) -> GuestResult<wit::Change> {
    match reply.await? {
        Reply::Change(change) => Ok(wit::Change {
            old_value: opt_text(&change.old_value),
            new_value: opt_text(&change.new_value),
        }),
        other => Err(mismatch(other).into()),
    }
}

async fn updated(
    reply: impl Future<Output = GuestResult<Reply>>,
) -> GuestResult<wit::UpdateResult> {
    match reply.await? {
        Reply::Updated(outcome) => Ok(update_result(outcome)),
        other => Err(mismatch(other).into()),
    }
}

async fn values(reply: impl Future<Output = GuestResult<Reply>>) -> GuestResult<Vec<String>> {
    match reply.await? {
        Reply::Values(values) => Ok(values.iter().map(text).collect()),
        other => Err(mismatch(other).into()),
    }
}

async fn done(reply: impl Future<Output = GuestResult<Reply>>) -> GuestResult<()> {
    match reply.await? {
        Reply::Done => Ok(()),
        other => Err(mismatch(other).into()),
    }
}

impl state::Host for CallCtx {
    async fn get(&mut self, scope: String, key: String) -> GuestResult<Option<String>> {
        value(self.perform(Request::StateGet { scope, key })).await
    }

    async fn set(&mut self, scope: String, key: String, value: String) -> GuestResult<wit::Change> {
        let value = parse("value", &value)?;
        change(self.perform(Request::StateSet { scope, key, value, expect: None })).await
    }

    async fn set_if(
        &mut self,
        scope: String,
        key: String,
        expect: Option<String>,
        value: String,
    ) -> GuestResult<wit::Change> {
        let expect = Some(expected(expect.as_deref())?);
        let value = parse("value", &value)?;
        change(self.perform(Request::StateSet { scope, key, value, expect })).await
    }

    async fn update(
        &mut self,
        scope: String,
        key: String,
        ops: String,
    ) -> GuestResult<wit::UpdateResult> {
        let ops = parse("ops", &ops)?;
        updated(self.perform(Request::StateUpdate { scope, key, ops, expect: None })).await
    }

    async fn update_if(
        &mut self,
        scope: String,
        key: String,
        expect: Option<String>,
        ops: String,
    ) -> GuestResult<wit::UpdateResult> {
        let expect = Some(expected(expect.as_deref())?);
        let ops = parse("ops", &ops)?;
        updated(self.perform(Request::StateUpdate { scope, key, ops, expect })).await
    }

    async fn delete(&mut self, scope: String, key: String) -> GuestResult<Option<String>> {
        value(self.perform(Request::StateDelete { scope, key, expect: None })).await
    }

    async fn delete_if(&mut self, scope: String, key: String, expect: String) -> GuestResult<()> {
        let expect = Some(expected(Some(&expect))?);
        value(self.perform(Request::StateDelete { scope, key, expect })).await.map(drop)
    }

    async fn list(
        &mut self,
        scope: String,
        prefix: Option<String>,
        after: Option<String>,
        limit: Option<u32>,
    ) -> GuestResult<Vec<String>> {
        let limit = limit.map(|l| l as usize);
        values(self.perform(Request::StateList { scope, prefix, after, limit })).await
    }

    async fn list_groups(&mut self) -> GuestResult<Vec<String>> {
        match self.perform(Request::StateListGroups).await? {
            Reply::Groups(groups) => Ok(groups),
            other => Err(mismatch(other).into()),
        }
    }
}

impl streams::Host for CallCtx {
    async fn send(
        &mut self,
        stream: String,
        group: String,
        id: Option<String>,
        event_type: String,
        data: String,
    ) -> GuestResult<()> {
        let data = parse("data", &data)?;
        done(self.perform(Request::StreamSend { stream, group, id, event_type, data })).await
    }

    async fn get(
        &mut self,
        stream: String,
        group: String,
        item: String,
    ) -> GuestResult<Option<String>> {
        value(self.perform(Request::ItemGet { stream, group, item })).await
    }

    async fn set(
        &mut self,
        stream: String,
        group: String,
        item: String,
        value: String,
    ) -> GuestResult<wit::Change> {
        let value = parse("value", &value)?;
        change(self.perform(Request::ItemSet { stream, group, item, value })).await
    }

    async fn update(
        &mut self,
        stream: String,
        group: String,
        item: String,
        ops: String,
    ) -> GuestResult<wit::UpdateResult> {
        let ops = parse("ops", &ops)?;
        updated(self.perform(Request::ItemUpdate { stream, group, item, ops })).await
    }

    async fn delete(
        &mut self,
        stream: String,
        group: String,
        item: String,
    ) -> GuestResult<Option<String>> {
        value(self.perform(Request::ItemDelete { stream, group, item })).await
    }

    async fn list(&mut self, stream: String, group: String) -> GuestResult<Vec<String>> {
        values(self.perform(Request::ItemList { stream, group })).await
    }
}

impl invoke::Host for CallCtx {
    async fn call(&mut self, function: String, payload: String) -> GuestResult<String> {
        let payload = parse("payload", &payload)?;
        match self.perform(Request::Invoke { function, payload }).await? {
            Reply::Value(value) => Ok(text(&value.unwrap_or(Value::Null))),
            other => Err(mismatch(other).into()),
        }
    }

    async fn call_void(&mut self, function: String, payload: String) -> GuestResult<()> {
        let payload = parse("payload", &payload)?;
        done(self.perform(Request::InvokeVoid { function, payload })).await
    }
}

impl log::Host for CallCtx {
    async fn log(&mut self, level: log::Level, message: String, fields: String) {
        let fields = serde_json::from_str::<Value>(&fields).unwrap_or(Value::String(fields));
        let fields = match &fields {
            Value::Object(map) if map.is_empty() => String::new(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let (plugin, function) = (&*self.plugin, &*self.function);
        match level {
            log::Level::Trace => tracing::trace!(plugin, function, %fields, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, function, %fields, "{message}"),
            log::Level::Info => tracing::info!(plugin, function, %fields, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, function, %fields, "{message}"),
            log::Level::Error => tracing::error!(plugin, function, %fields, "{message}"),
        }
    }
}
