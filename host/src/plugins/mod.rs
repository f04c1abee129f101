//! Plugins: what the host serves and how it changes. A plugin is a folder of the plugins
//! directory (`folders.rs`) with a `plugin.toml` ([`manifest`]) and a wasm component. The
//! [`reload`] loader compiles and checks each one, then swaps the set of loaded plugins into
//! the [`registry`] as one immutable snapshot — functions by id, HTTP [`routes`], trigger
//! bindings — that every request and delivery reads. The [`watch`]er reloads a folder when its
//! files change, and in development mode rebuilds its sources first.

pub mod assets;
pub mod engines;
pub mod folders;
pub mod manifest;
pub mod registry;
pub mod reload;
pub mod routes;
pub mod watch;
