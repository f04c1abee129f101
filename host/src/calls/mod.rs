//! Calls: resolving a function id and running it, whoever asks — an HTTP route, a trigger
//! delivery, a stream join authoriser, or a guest's `invoke`. [`Calls`] is the one path: it
//! runs a plugin function on the runtime with a view of the host ([`CallView`]), and it
//! performs what the guest then asks through that view. Every request a guest makes, through a
//! WIT import or a builtin called by id (`builtins.rs`), passes the capability check
//! (`grants.rs`) in [`Calls::perform`] before it is carried out (`execute.rs`). Each call runs
//! in an [`Invocation`] (`invocation.rs`): its cause, its nesting, its plugin and, for a trigger
//! handler, the transaction its writes join.

pub mod builtins;
mod execute;
pub mod grants;
mod invocation;

pub use invocation::{Invocation, Transaction};

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, ErrorCode};
use crate::plugins::registry::{FunctionRef, Registry};
use crate::runtime::{
    CallFailure, CallLimits, HostView, Pending, Reply, Request, Runtime, Target, wit,
};
use crate::state::State;
use crate::streams::Streams;

/// Runs functions and what they ask of the host. Cheap to clone.
#[derive(Clone)]
pub struct Calls(Arc<Shared>);

struct Shared {
    runtime: Runtime,
    /// Where function ids are resolved: the plugins serving now.
    registry: Arc<Registry>,
    state: State,
    streams: Streams,
    /// `invoke` calls nested deeper than this fail, so a function calling itself cannot
    /// exhaust the host's memory.
    max_invoke_depth: u32,
}

/// What a running function's imports reach: the host, in the context of that call.
struct CallView {
    calls: Calls,
    invocation: Invocation,
}

impl HostView for CallView {
    fn perform(&self, request: Request) -> Pending<'_> {
        Box::pin(self.calls.perform(&self.invocation, request))
    }
}

impl Calls {
    pub fn new(
        runtime: Runtime,
        registry: Arc<Registry>,
        state: State,
        streams: Streams,
        max_invoke_depth: u32,
    ) -> Calls {
        Calls(Arc::new(Shared { runtime, registry, state, streams, max_invoke_depth }))
    }

    /// Carries out `request` for the call `invocation` describes, if its plugin may: the one
    /// door from a guest into the host.
    pub async fn perform(&self, invocation: &Invocation, request: Request) -> Result<Reply, Error> {
        self.check(invocation, &request)?;
        match request {
            Request::Invoke { function, payload } => {
                let nested = invocation.nested();
                let result = Box::pin(self.invoke(&function, payload, &nested)).await?;
                Ok(Reply::Value(Some(result)))
            }
            Request::InvokeVoid { function, payload } => {
                self.invoke_void(&function, payload, &invocation.nested())?;
                Ok(Reply::Done)
            }
            request => self.execute(invocation, request).await,
        }
    }

    /// Carries out a state or stream request whose grants were checked.
    async fn execute(&self, invocation: &Invocation, request: Request) -> Result<Reply, Error> {
        execute::execute(&self.0.state, &self.0.streams, invocation, request).await
    }

    /// Whether the plugin running in `invocation` may make `request` (the host itself may do
    /// anything).
    fn check(&self, invocation: &Invocation, request: &Request) -> Result<(), Error> {
        match &invocation.plugin {
            Some(plugin) => grants::check(&plugin.name, &plugin.manifest.capabilities, request),
            None => Ok(()),
        }
    }

    /// Calls a function by id with a JSON payload: a builtin (`state::set`) or a plugin
    /// function (`todos::list`, which receives `event::call(payload)`).
    pub async fn invoke(
        &self,
        id: &str,
        payload: Value,
        invocation: &Invocation,
    ) -> Result<Value, Error> {
        if builtins::exists(id) {
            let request = builtins::request(id, payload)?;
            return Ok(builtins::reply_json(self.perform(invocation, request).await?));
        }
        let limit = self.0.max_invoke_depth;
        if invocation.nesting > limit {
            let message = format!("invoke nested deeper than {limit}: stopped at {id}");
            return Err(Error::new(ErrorCode::Internal, message));
        }
        let function = self.function(id)?;
        let event = wit::Event::Call(payload.to_string());
        output_to_json(Box::pin(self.call(&function, &event, invocation)).await?)
    }

    /// Queues a call and returns at once; the result is only logged.
    pub fn invoke_void(
        &self,
        id: &str,
        payload: Value,
        invocation: &Invocation,
    ) -> Result<(), Error> {
        // Queued calls run on their own, outside the caller's transaction.
        let invocation = Invocation { txn: None, ..invocation.clone() };
        let (calls, id) = (self.clone(), id.to_string());
        if builtins::exists(&id) {
            // The caller hears at once of a payload or a grant that cannot work.
            let request = builtins::request(&id, payload)?;
            self.check(&invocation, &request)?;
            tokio::spawn(async move {
                if let Err(e) = calls.execute(&invocation, request).await {
                    tracing::warn!(function = %id, error = %e, "invoke_void call failed");
                }
            });
            return Ok(());
        }
        self.function(&id)?;
        tokio::spawn(async move {
            if let Err(e) = calls.invoke(&id, payload, &invocation).await {
                tracing::warn!(function = %id, error = %e, "invoke_void call failed");
            }
        });
        Ok(())
    }

    /// Runs a plugin function for `event`, under its plugin's grants and limits. A trap
    /// becomes an internal error naming the function; the details go to the log.
    pub async fn call(
        &self,
        function: &FunctionRef,
        event: &wit::Event,
        invocation: &Invocation,
    ) -> Result<wit::Output, Error> {
        let plugin = &function.plugin;
        let view = Arc::new(CallView {
            calls: self.clone(),
            invocation: invocation.running(plugin.clone()),
        });
        let target = Target {
            component: &plugin.component,
            plugin: &plugin.name,
            name: &function.name,
            id: &function.id,
        };
        let result = self.0.runtime.call(target, event, view, self.limits_of(function)).await;
        result.map_err(|failure| failure_error(&function.id, failure))
    }

    /// A plugin function by id, from the plugins serving now.
    fn function(&self, id: &str) -> Result<FunctionRef, Error> {
        let snapshot = self.0.registry.snapshot();
        let function = snapshot.function(id).cloned();
        function.ok_or_else(|| Error::not_found(format!("no function {id}")))
    }

    /// The deadline and memory cap of `function`: its own, its plugin's, or the host's.
    fn limits_of(&self, function: &FunctionRef) -> CallLimits {
        let defaults = self.0.runtime.limits().call_defaults();
        let manifest = &function.plugin.manifest;
        let timeout_ms = manifest.functions.get(&*function.name).and_then(|f| f.timeout_ms);
        let timeout = timeout_ms
            .or(manifest.limits.timeout_ms)
            .map_or(defaults.timeout, Duration::from_millis);
        let memory_bytes = manifest
            .limits
            .memory_mib
            .map_or(defaults.memory_bytes, |mib| (mib as usize).saturating_mul(1 << 20));
        CallLimits { timeout, memory_bytes }
    }
}

/// How a failed call is reported to its caller (the details of a trap go to the log only).
fn failure_error(id: &str, failure: CallFailure) -> Error {
    match failure {
        CallFailure::Guest(e) => guest_error(e),
        CallFailure::Timeout(limit) => {
            let ms = limit.as_millis() as u64;
            tracing::warn!(function = %id, timeout_ms = ms, "function timed out");
            Error::new(ErrorCode::Timeout, format!("function {id} did not finish within {ms} ms"))
        }
        CallFailure::OutOfMemory(cap) => {
            tracing::warn!(function = %id, cap_mib = cap >> 20, "function ran out of memory");
            Error::internal(format!("function {id} exceeded its memory limit of {} MiB", cap >> 20))
        }
        CallFailure::Busy(concurrency) => {
            tracing::debug!(function = %id, concurrency, "call refused: plugin at its cap");
            Error::new(
                ErrorCode::Unavailable,
                format!(
                    "function {id} is busy: its plugin has {concurrency} calls in flight, its \
                     limit; try again shortly"
                ),
            )
        }
        CallFailure::Trap(trap) => {
            tracing::warn!(function = %id, error = %format!("{trap:#}"), "function trapped");
            Error::internal(format!("function {id} failed"))
        }
    }
}

fn guest_error(e: wit::Error) -> Error {
    let code = match e.code {
        wit::ErrorCode::BadRequest => ErrorCode::BadRequest,
        wit::ErrorCode::Unauthorized => ErrorCode::Unauthorized,
        wit::ErrorCode::Forbidden => ErrorCode::Forbidden,
        wit::ErrorCode::NotFound => ErrorCode::NotFound,
        wit::ErrorCode::Conflict => ErrorCode::Conflict,
        wit::ErrorCode::Timeout => ErrorCode::Timeout,
        wit::ErrorCode::Unavailable => ErrorCode::Unavailable,
        wit::ErrorCode::Internal => ErrorCode::Internal,
    };
    Error::new(code, e.message)
}

/// A function's output as the JSON an `invoke` caller gets.
pub fn output_to_json(output: wit::Output) -> Result<Value, Error> {
    let parse = |text: &str| {
        serde_json::from_str::<Value>(text)
            .map_err(|e| Error::internal(format!("the function returned invalid JSON: {e}")))
    };
    match output {
        wit::Output::Json(text) => parse(&text),
        wit::Output::Http(response) => {
            let headers: serde_json::Map<String, Value> =
                response.headers.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            let body = match response.body {
                Some(text) => parse(&text)?,
                None => Value::Null,
            };
            Ok(json!({ "status_code": response.status_code, "headers": headers, "body": body }))
        }
    }
}
