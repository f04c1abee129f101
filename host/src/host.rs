//! The host: one cheap handle ([`Host`], an `Arc`) over everything a request, a trigger delivery
//! or a guest import needs: the wasm runtime, the registry of loaded plugins, state, streams and
//! the trigger dispatcher. It is also where a function id is resolved and called, so HTTP,
//! triggers and `invoke` all go through the same path.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::builtins;
use crate::cause::Cause;
use crate::error::{Error, ErrorCode};
use crate::registry::{FunctionRef, Registry};
use crate::runtime::{CallFailure, Runtime, wit};
use crate::state::{State, Storage};
use crate::streams::{Streams, StreamsConfig};
use crate::triggers::{self, Delivery, Triggers};

/// Settings of one host process.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where plugin folders live.
    pub plugins_dir: PathBuf,
    /// Where compiled components are cached (none: compile on every load).
    pub cache_dir: Option<PathBuf>,
    /// A trigger cascade deeper than this (a handler's write firing a handler whose write fires
    /// ...) is stopped and logged: it is almost always a plugin bug, and unbounded it never ends.
    pub max_cascade_depth: u32,
    /// `invoke` calls nested deeper than this fail, so a function calling itself cannot exhaust
    /// the host's memory.
    pub max_invoke_depth: u32,
    /// Largest HTTP request body accepted; larger gets 413.
    pub max_body_bytes: usize,
    pub streams: StreamsConfig,
}

impl HostConfig {
    pub fn new(plugins_dir: impl Into<PathBuf>) -> HostConfig {
        HostConfig {
            plugins_dir: plugins_dir.into(),
            cache_dir: None,
            max_cascade_depth: 8,
            max_invoke_depth: 16,
            max_body_bytes: 1024 * 1024,
            streams: StreamsConfig::default(),
        }
    }
}

/// A handle to the running host. Clone it freely.
#[derive(Clone)]
pub struct Host(Arc<Shared>);

struct Shared {
    config: HostConfig,
    runtime: Runtime,
    registry: Registry,
    state: State,
    streams: Streams,
}

impl Host {
    /// Starts a host over `storage` with no plugins loaded yet; spawns the trigger dispatcher on
    /// the current tokio runtime.
    pub fn start(config: HostConfig, storage: Arc<dyn Storage>) -> anyhow::Result<Host> {
        let (triggers, queues) = Triggers::new();
        let on_change = {
            let triggers = triggers.clone();
            Arc::new(move |change| triggers.push(Delivery::State(change)))
        };
        let on_stream = {
            let triggers = triggers.clone();
            Arc::new(move |event| triggers.push(Delivery::Stream(event)))
        };
        let host = Host(Arc::new(Shared {
            runtime: Runtime::new(config.cache_dir.clone())?,
            registry: Registry::new(),
            state: State::new(storage, on_change),
            streams: Streams::new(config.streams.clone(), on_stream),
            config,
        }));
        triggers::spawn(&host, queues);
        Ok(host)
    }

    pub fn config(&self) -> &HostConfig {
        &self.0.config
    }

    pub fn state(&self) -> &State {
        &self.0.state
    }

    pub fn streams(&self) -> &Streams {
        &self.0.streams
    }

    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.0.runtime
    }

    /// Calls a function by id with a JSON payload: a builtin (`state::set`) or a plugin
    /// function (`todos::list`, which receives `event::call(payload)`).
    pub async fn invoke(
        &self,
        id: &str,
        payload: Value,
        cause: Cause,
        nesting: u32,
    ) -> Result<Value, Error> {
        if builtins::exists(id) {
            return builtins::call(self, id, payload, cause);
        }
        if nesting > self.0.config.max_invoke_depth {
            return Err(Error::new(
                ErrorCode::Internal,
                format!(
                    "invoke nested deeper than {}: stopped at {id}",
                    self.0.config.max_invoke_depth
                ),
            ));
        }
        let snapshot = self.0.registry.snapshot();
        let function = snapshot
            .function(id)
            .ok_or_else(|| Error::not_found(format!("no function {id}")))?
            .clone();
        drop(snapshot);
        let output =
            self.call(&function, &wit::Event::Call(payload.to_string()), cause, nesting).await?;
        output_to_json(output)
    }

    /// Queues a call and returns at once; the result is only logged.
    pub fn invoke_void(
        &self,
        id: &str,
        payload: Value,
        cause: Cause,
        nesting: u32,
    ) -> Result<(), Error> {
        if !builtins::exists(id) && self.0.registry.snapshot().function(id).is_none() {
            return Err(Error::not_found(format!("no function {id}")));
        }
        let (host, id) = (self.clone(), id.to_string());
        tokio::spawn(async move {
            if let Err(e) = host.invoke(&id, payload, cause, nesting).await {
                tracing::warn!(function = %id, error = %e, "invoke_void call failed");
            }
        });
        Ok(())
    }

    /// Runs a plugin function for `event`. A trap becomes an internal error naming the
    /// function; the details go to the log.
    pub async fn call(
        &self,
        function: &FunctionRef,
        event: &wit::Event,
        cause: Cause,
        nesting: u32,
    ) -> Result<wit::Output, Error> {
        match self.0.runtime.call(self, function, event, cause, nesting).await {
            Ok(output) => Ok(output),
            Err(CallFailure::Guest(e)) => Err(guest_error(e)),
            Err(CallFailure::Trap(trap)) => {
                tracing::warn!(function = %function.id, error = %format!("{trap:#}"), "function trapped");
                Err(Error::internal(format!("function {} failed", function.id)))
            }
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
