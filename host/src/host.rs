//! The host: one cheap handle ([`Host`], an `Arc`) over everything a request, a trigger delivery
//! or a guest import needs: the wasm runtime, the registry of loaded plugins, state, streams and
//! the trigger dispatcher. It is also where a function id is resolved and called, so HTTP,
//! triggers and `invoke` all go through the same path.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::builtins;
use crate::context::Invocation;
use crate::error::{Error, ErrorCode};
use crate::registry::{FunctionRef, Registry};
use crate::runtime::{CallFailure, InstanceLimits, Runtime, wit};
use crate::state::Recovered;
use crate::state::State;
use crate::state::engine::Engine;
use crate::streams::{Streams, StreamsConfig};
use crate::triggers::{self, Delivery, DeliveryPolicy, Queues, Triggers};

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
    /// Limits of the HTTP edge against slow or abusive clients.
    pub http: HttpLimits,
    pub streams: StreamsConfig,
    /// Retries of failed trigger deliveries.
    pub delivery: DeliveryPolicy,
    /// Deadlines, memory caps and the instance pool.
    pub limits: InstanceLimits,
}

impl HostConfig {
    pub fn new(plugins_dir: impl Into<PathBuf>) -> HostConfig {
        HostConfig {
            plugins_dir: plugins_dir.into(),
            cache_dir: None,
            max_cascade_depth: 8,
            max_invoke_depth: 16,
            max_body_bytes: 1024 * 1024,
            http: HttpLimits::default(),
            streams: StreamsConfig::default(),
            delivery: DeliveryPolicy::default(),
            limits: InstanceLimits::default(),
        }
    }
}

/// Limits of the HTTP edge.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Headers per request; more gets 431.
    pub max_headers: usize,
    /// Bytes of a request's head (request line and headers); more gets 431.
    pub max_header_bytes: usize,
    /// Time a client gets to send a request's head, counted from when the connection starts
    /// waiting for it: closes both slow-header (slowloris) and idle keep-alive connections.
    pub header_read_timeout: Duration,
    /// Longest a request may take from its head to its response (504 after).
    pub request_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// A handle to the running host. Clone it freely.
#[derive(Clone)]
pub struct Host(Arc<Shared>);

struct Shared {
    config: HostConfig,
    runtime: Runtime,
    registry: Arc<Registry>,
    state: State,
    streams: Streams,
    triggers: Triggers,
    /// The dispatcher's queues and what the outbox held at start, until
    /// [`Host::start_triggers`] starts delivering (once plugins are loaded, or recovered events
    /// would find no subscribers and be retired undelivered).
    pending: std::sync::Mutex<Option<(Queues, Recovered)>>,
}

impl Host {
    /// Starts a host over a storage engine with no plugins loaded yet. Trigger delivery starts
    /// with [`Host::start_triggers`].
    pub fn start(config: HostConfig, engine: Box<dyn Engine>) -> anyhow::Result<Host> {
        let (triggers, queues) = Triggers::new();
        let registry = Arc::new(Registry::new());
        let on_event = {
            let triggers = triggers.clone();
            Arc::new(move |event| triggers.push(Delivery::state(event)))
        };
        let has_subscribers = {
            let registry = registry.clone();
            Arc::new(move |scope: &str, key: &str| {
                registry.snapshot().state_subscribers(scope, key).next().is_some()
            })
        };
        let on_stream = {
            let triggers = triggers.clone();
            Arc::new(move |event| triggers.push(Delivery::Stream(event)))
        };
        let (state, recovered) = State::open(engine, on_event, has_subscribers)?;
        let host = Host(Arc::new(Shared {
            runtime: Runtime::new(config.cache_dir.clone(), &config.limits)?,
            registry,
            state,
            streams: Streams::new(config.streams.clone(), on_stream),
            triggers,
            pending: std::sync::Mutex::new(Some((queues, recovered))),
            config,
        }));
        Ok(host)
    }

    /// Starts the trigger dispatcher on the current tokio runtime; it first delivers what the
    /// outbox held from before a restart. Call it once the plugins are loaded.
    pub fn start_triggers(&self) {
        let pending = self.0.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((queues, recovered)) = pending {
            triggers::spawn(self, queues, &self.0.triggers, recovered);
        }
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

    /// Finishes trigger deliveries under way (within a grace period; the outbox keeps the rest
    /// for the next start), commits everything queued and closes the state store.
    pub async fn shut_down(&self) {
        triggers::drain(self, Duration::from_secs(10)).await;
        match self.0.state.close().await {
            Ok(()) => tracing::info!("state committed and closed"),
            Err(e) => tracing::error!(error = %e, "the last commit before closing failed"),
        }
    }

    pub(crate) fn triggers(&self) -> &Triggers {
        &self.0.triggers
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
        invocation: &Invocation,
    ) -> Result<Value, Error> {
        if builtins::exists(id) {
            return builtins::call(self, id, payload, invocation).await;
        }
        if invocation.nesting > self.0.config.max_invoke_depth {
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
            self.call(&function, &wit::Event::Call(payload.to_string()), invocation).await?;
        output_to_json(output)
    }

    /// Queues a call and returns at once; the result is only logged.
    pub fn invoke_void(
        &self,
        id: &str,
        payload: Value,
        invocation: &Invocation,
    ) -> Result<(), Error> {
        if !builtins::exists(id) && self.0.registry.snapshot().function(id).is_none() {
            return Err(Error::not_found(format!("no function {id}")));
        }
        // Queued calls run on their own, outside the caller's transaction.
        let invocation = Invocation { txn: None, ..invocation.clone() };
        let (host, id) = (self.clone(), id.to_string());
        tokio::spawn(async move {
            if let Err(e) = host.invoke(&id, payload, &invocation).await {
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
        invocation: &Invocation,
    ) -> Result<wit::Output, Error> {
        match self.0.runtime.call(self, function, event, invocation).await {
            Ok(output) => Ok(output),
            Err(CallFailure::Guest(e)) => Err(guest_error(e)),
            Err(CallFailure::Timeout(limit)) => {
                tracing::warn!(function = %function.id, timeout_ms = limit.as_millis() as u64, "function timed out");
                Err(Error::new(
                    ErrorCode::Timeout,
                    format!(
                        "function {} did not finish within {} ms",
                        function.id,
                        limit.as_millis()
                    ),
                ))
            }
            Err(CallFailure::OutOfMemory(cap)) => {
                tracing::warn!(function = %function.id, cap_mib = cap >> 20, "function ran out of memory");
                Err(Error::internal(format!(
                    "function {} exceeded its memory limit of {} MiB",
                    function.id,
                    cap >> 20
                )))
            }
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
