//! The guest's imports: `state`, `streams`, `invoke` and `log` of the WIT world, implemented on
//! each call's [`CallCtx`] by delegating to the host's services. Every failure here is an error
//! the guest sees (`result::err`), never a trap: a plugin can always handle it.

use serde_json::Value;

use super::CallCtx;
use super::eddy::plugin::{invoke, log, state, streams, types};
use super::wit;
use crate::error::{Error, ErrorCode};

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
            ErrorCode::Internal => wit::ErrorCode::Internal,
        };
        wit::Error { code, message: e.message }
    }
}

/// Parses JSON text the guest passed; `what` names the argument in the error.
fn parse(what: &str, text: &str) -> GuestResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::bad_request(format!("{what} is not valid JSON: {e}")).into())
}

fn text(value: &Value) -> String {
    value.to_string()
}

fn opt_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(text)
}

fn change(change: crate::state::Change) -> wit::Change {
    wit::Change { old_value: opt_text(&change.old_value), new_value: opt_text(&change.new_value) }
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

impl state::Host for CallCtx {
    async fn get(&mut self, scope: String, key: String) -> GuestResult<Option<String>> {
        let value = self.invocation.get(self.host()?.state(), &scope, &key).map_err(Error::from)?;
        Ok(opt_text(&value))
    }

    async fn set(&mut self, scope: String, key: String, value: String) -> GuestResult<wit::Change> {
        let value = parse("value", &value)?;
        let result = self.invocation.set(self.host()?.state(), &scope, &key, value).await;
        Ok(change(result.map_err(Error::from)?))
    }

    async fn update(
        &mut self,
        scope: String,
        key: String,
        ops: String,
    ) -> GuestResult<wit::UpdateResult> {
        let ops = parse("ops", &ops)?;
        let outcome = self.invocation.update(self.host()?.state(), &scope, &key, &ops).await;
        Ok(update_result(outcome.map_err(Error::from)?))
    }

    async fn delete(&mut self, scope: String, key: String) -> GuestResult<Option<String>> {
        let old = self.invocation.delete(self.host()?.state(), &scope, &key).await;
        Ok(opt_text(&old.map_err(Error::from)?))
    }

    async fn list(
        &mut self,
        scope: String,
        prefix: Option<String>,
        after: Option<String>,
        limit: Option<u32>,
    ) -> GuestResult<Vec<String>> {
        let limit = limit.map(|l| l as usize);
        let values = self
            .invocation
            .list(self.host()?.state(), &scope, prefix.as_deref(), after.as_deref(), limit)
            .map_err(Error::from)?;
        Ok(values.iter().map(text).collect())
    }

    async fn list_groups(&mut self) -> GuestResult<Vec<String>> {
        Ok(self.invocation.list_groups(self.host()?.state()).map_err(Error::from)?)
    }
}

impl streams::Host for CallCtx {
    async fn send(
        &mut self,
        stream_name: String,
        group_id: String,
        id: Option<String>,
        event_type: String,
        data: String,
    ) -> GuestResult<()> {
        let data = parse("data", &data)?;
        let streams = self.host()?.streams();
        self.invocation
            .send(streams, &stream_name, &group_id, id.as_deref(), &event_type, data)
            .map_err(Error::from)?;
        Ok(())
    }

    async fn get(
        &mut self,
        stream_name: String,
        group_id: String,
        item_id: String,
    ) -> GuestResult<Option<String>> {
        let value =
            self.host()?.streams().get(&stream_name, &group_id, &item_id).map_err(Error::from)?;
        Ok(opt_text(&value))
    }

    async fn set(
        &mut self,
        stream_name: String,
        group_id: String,
        item_id: String,
        value: String,
    ) -> GuestResult<wit::Change> {
        let value = parse("value", &value)?;
        let result = self
            .host()?
            .streams()
            .set(&stream_name, &group_id, &item_id, value, self.invocation.cause)
            .map_err(Error::from)?;
        Ok(change(result))
    }

    async fn update(
        &mut self,
        stream_name: String,
        group_id: String,
        item_id: String,
        ops: String,
    ) -> GuestResult<wit::UpdateResult> {
        let ops = parse("ops", &ops)?;
        let outcome = self
            .host()?
            .streams()
            .update(&stream_name, &group_id, &item_id, &ops, self.invocation.cause)
            .map_err(Error::from)?;
        Ok(update_result(outcome))
    }

    async fn delete(
        &mut self,
        stream_name: String,
        group_id: String,
        item_id: String,
    ) -> GuestResult<Option<String>> {
        let old = self
            .host()?
            .streams()
            .delete(&stream_name, &group_id, &item_id, self.invocation.cause)
            .map_err(Error::from)?;
        Ok(opt_text(&old))
    }

    async fn list(&mut self, stream_name: String, group_id: String) -> GuestResult<Vec<String>> {
        let values = self.host()?.streams().list(&stream_name, &group_id).map_err(Error::from)?;
        Ok(values.iter().map(text).collect())
    }
}

impl invoke::Host for CallCtx {
    async fn call(&mut self, function_id: String, payload: String) -> GuestResult<String> {
        let payload = parse("payload", &payload)?;
        let result = self.host()?.invoke(&function_id, payload, &self.invocation.nested()).await?;
        Ok(text(&result))
    }

    async fn call_void(&mut self, function_id: String, payload: String) -> GuestResult<()> {
        let payload = parse("payload", &payload)?;
        self.host()?.invoke_void(&function_id, payload, &self.invocation.nested())?;
        Ok(())
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
