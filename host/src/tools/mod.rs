//! The command line's tools, beside the server: `eddy build` compiles plugin sources into
//! components ([`build`]), `eddy new` makes a plugin that builds and serves as it is
//! ([`scaffold`]), `eddy dev` serves JavaScript and Python plugins from source on prebuilt
//! language engines ([`engine`]), and `eddy dlq` lists and replays dead letters of a running host ([`dlq`])
//! over a small HTTP [`client`].

pub mod build;
pub mod client;
pub mod dlq;
pub mod engine;
pub mod scaffold;
pub mod typescript;
