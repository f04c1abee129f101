//! Write Eddy plugins in Rust.
//!
//! An Eddy plugin is one WebAssembly component plus a `plugin.toml` manifest. The component
//! exports many functions; the manifest names them (`counters::hit`) and binds them to
//! triggers: HTTP routes, state changes, stream events. This crate turns plain Rust functions
//! into such a component and gives them typed access to the host: [`state`], [`stream`],
//! [`invoke`], [`log`], plus [`id::ulid`] and [`time`].
//!
//! # A complete plugin
//!
//! `plugins/counters/plugin.toml`:
//!
//! ```toml
//! name = "counters"              # function ids are "counters::<function>"
//! component = "counters.wasm"    # the built component, relative to this file
//! description = "Hit counters with live updates"
//!
//! [functions.hit]
//! triggers = [{ type = "http", method = "POST", path = "/counters/:name" }]
//!
//! [functions.count]
//! triggers = [{ type = "http", method = "GET", path = "/counters/:name" }]
//!
//! [functions.on-hit]
//! description = "Pushes every change to live clients"
//! triggers = [{ type = "state", scope = "counters" }]
//! ```
//!
//! `plugins/counters/Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "counters"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! eddy-sdk = { path = "../../guest-sdk" }
//! serde = { version = "1", features = ["derive"] }
//! serde_json = "1"
//! ```
//!
//! `plugins/counters/src/lib.rs`:
//!
//! ```no_run
//! use eddy_sdk::{Error, HttpRequest, Op, Result, StateEvent, plugin, state, stream};
//! use serde::{Deserialize, Serialize};
//! use serde_json::json;
//!
//! plugin! {
//!     "hit" => hit,
//!     "count" => count,
//!     "on-hit" => on_hit,
//! }
//!
//! #[derive(Serialize, Deserialize, Default)]
//! struct Counter {
//!     hits: u64,
//! }
//!
//! /// `POST /counters/:name`: counts one hit, atomically.
//! fn hit(request: HttpRequest) -> Result<Counter> {
//!     let name = request.param("name").unwrap_or_default();
//!     let result = state::update("counters", name, &[Op::increment("hits", 1)])?;
//!     Ok(result.new_as()?.unwrap_or_default())
//! }
//!
//! /// `GET /counters/:name`: the counter, or 404.
//! fn count(request: HttpRequest) -> Result<Counter> {
//!     let name = request.param("name").unwrap_or_default();
//!     state::get("counters", name)?.ok_or_else(|| Error::not_found(format!("no counter {name}")))
//! }
//!
//! /// Every change to a counter, pushed to `ws://HOST/stream/counters-live/all`.
//! fn on_hit(change: StateEvent) -> Result<()> {
//!     let data = json!({ "name": change.key, "counter": change.new_value });
//!     stream::send("counters-live", "all", "hit", &data)
//! }
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` and copy
//! `target/wasm32-wasip2/release/counters.wasm` next to `plugin.toml` (`eddy build plugins`
//! does both).
//!
//! # Handlers
//!
//! [`plugin!`] maps each function name (lowercase kebab-case, checked at compile time) to a
//! handler. A handler takes nothing or one argument that implements [`FromEvent`]: the raw
//! [`Event`], an [`HttpRequest`], a [`StateEvent`], a [`StreamEvent`], a
//! [`serde_json::Value`] (the plain JSON of any event) or [`Json<T>`] (the call payload or
//! the HTTP body, decoded). It returns anything that implements [`IntoOutput`] — any
//! `Serialize` value (`()` is `null`) or a [`Response`] — or a [`Result`] of one.
//!
//! # Errors
//!
//! An [`Error`] is a code ([`ErrorCode`]) the host maps to an HTTP status, and a message the
//! client sees. The host's errors from [`state`], [`stream`] and [`invoke`] pass through `?`
//! unchanged. A panic traps the component: the host fails that call alone (HTTP 500).

#![warn(missing_docs)]

// Makes `eddy_sdk::...` paths in the generated bindings resolve inside this crate too.
extern crate self as eddy_sdk;

/// The raw bindings of the `plugin` world, generated from `wit/`. Plugins use them only
/// through [`plugin!`].
#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        default_bindings_module: "eddy_sdk::bindings",
        runtime_path: "eddy_sdk::__private::wit_bindgen::rt",
    });
}

mod error;
mod event;
mod extract;
mod handler;
mod op;
mod output;
mod request;

pub mod id;
pub mod invoke;
pub mod log;
pub mod state;
pub mod stream;
pub mod time;

pub use error::{Error, ErrorCode, Result};
pub use event::{ChangeKind, Event, StateEvent, StreamChange, StreamEvent};
pub use extract::{FromEvent, Json};
pub use handler::Handler;
pub use op::{Change, Op, OpError, UpdateResult};
pub use output::{IntoOutput, Output, Response};
pub use request::{HttpRequest, Identity};

/// What [`plugin!`] expands to. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::eddy::plugin::types::{
        Error as WitError, Event as WitEvent, Output as WitOutput,
    };
    pub use crate::bindings::exports::eddy::plugin::handler::Guest;
    pub use crate::handler::{call, handle, is_function_name};
    pub use wit_bindgen;
}

/// Exports a plugin's functions: the `handler` interface of the `plugin` world.
///
/// Each entry maps a function name, as the manifest's `[functions.<name>]` spells it, to a
/// [handler](Handler). Use it once per plugin crate, at the crate root.
///
/// ```no_run
/// use eddy_sdk::{HttpRequest, Json, Result, StateEvent};
///
/// eddy_sdk::plugin! {
///     "create" => create,
///     "on-change" => on_change,
/// }
///
/// fn create(Json(todo): Json<serde_json::Value>) -> Result<serde_json::Value> {
///     Ok(todo)
/// }
///
/// fn on_change(change: StateEvent) {}
/// ```
///
/// `functions()` returns the names in the order given; `handle(name, event)` runs the named
/// handler, or fails with `not-found` for a name the plugin does not have. A name that is not
/// lowercase kebab-case (`a-z`, `0-9`, single inner dashes) does not compile.
#[macro_export]
macro_rules! plugin {
    ($($name:literal => $handler:path),+ $(,)?) => {
        $(
            const _: () = ::core::assert!(
                $crate::__private::is_function_name($name),
                ::core::concat!("`", $name, "` is not a lowercase kebab-case function name"),
            );
        )+

        /// The plugin's exports, generated by `eddy_sdk::plugin!`.
        struct __EddyPlugin;

        impl $crate::__private::Guest for __EddyPlugin {
            fn functions() -> ::std::vec::Vec<::std::string::String> {
                ::std::vec![$(::std::string::String::from($name)),+]
            }

            fn handle(
                function: ::std::string::String,
                event: $crate::__private::WitEvent,
            ) -> ::core::result::Result<$crate::__private::WitOutput, $crate::__private::WitError> {
                $crate::__private::handle(&function, event, |function, event| match function {
                    $($name => ::core::option::Option::Some($crate::__private::call($handler, event)),)+
                    _ => ::core::option::Option::None,
                })
            }
        }

        $crate::bindings::export!(__EddyPlugin with_types_in $crate::bindings);
    };
}
