//! Eddy: a reactive backend whose functions are WebAssembly components.
//!
//! The native host owns the data ([`state`]), the live channels ([`streams`]) and the network
//! ([`edge`]). User functions live in [`plugins`]: a folder with a `plugin.toml` and a wasm
//! component built against the WIT world in `wit/`, compiled and run by the [`runtime`]. An
//! HTTP request enters at the edge, is routed through the registry's current snapshot to a
//! function, and runs through [`calls`], which gives the guest a view of the host: every
//! state, stream or `invoke` request it makes passes one capability check there. Every
//! committed state change and stream event is handed to the [`triggers`] dispatcher, which
//! delivers it, in order and exactly once in effect, to the functions bound to it; their writes
//! fire further triggers up to a cascade limit ([`cause`]). [`host`] builds and wires the
//! parts; [`serve`] runs a host on a port. The paths of a request and of a change through these
//! files, and who owns what: `ARCHITECTURE.md`; what users can rely on: `docs/`.
//!
//! # Modules
//! - `main.rs` — the `eddy` command line: `build`, `new`, `serve`, `dev`, `dlq`.
//! - [`serve`] — a host with its plugins loaded, watched and served on a port.
//! - [`config`] — `eddy.toml`, the host's settings file.
//! - [`host`] — the composition root: builds every part and hands each what it needs.
//! - [`edge`] — the network: accept, dispatch, HTTP functions, WebSocket, admin, bodies and
//!   responses.
//! - [`plugins`] — folders, manifests, the registry and its routing table, reload, watch.
//! - [`auth`] — who is calling: JSON Web Tokens verified into identities.
//! - [`calls`] — running functions: invocations, the capability check, builtins, execution.
//! - [`runtime`] — wasmtime: engine, compile cache, instances, limits, the guest's imports.
//! - [`triggers`] — delivery of state changes and stream events to bound functions.
//! - [`state`] — scoped JSON storage, update ops, conditional writes, transactions, the outbox,
//!   dead letters.
//! - [`streams`] — stream groups, items, frames and the WebSocket protocol.
//! - [`tools`] — `eddy build`, `eddy new`, `eddy dlq` and their HTTP client; the JavaScript and
//!   Python SDKs they embed.
//! - [`error`] — the one error type a caller sees, and its HTTP statuses.
//! - [`cause`] — why a write happened: its depth in a trigger cascade.
//! - [`clock`] — wall-clock milliseconds, as users see them.
//! - `fuzz` — entry points of the fuzz targets in `fuzz/` (only with `--cfg fuzzing`).
//! - [`toml_file`] — strict reading of hand-written TOML files, errors with file and line.

pub mod auth;
pub mod calls;
pub mod cause;
pub mod clock;
pub mod config;
pub mod edge;
pub mod error;
#[cfg(fuzzing)]
pub mod fuzz;
pub mod host;
pub mod plugins;
pub mod runtime;
pub mod serve;
pub mod state;
pub mod streams;
pub mod toml_file;
pub mod tools;
pub mod triggers;

pub use host::{Host, HostConfig};
pub use serve::{ServeOptions, Server, serve};
