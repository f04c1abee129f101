//! The command line's tools, beside the server: `eddy build` compiles plugin sources into
//! components ([`build`]), `eddy new` makes a plugin that builds and serves as it is
//! ([`scaffold`]), `eddy dev` serves JavaScript and Python plugins from source on prebuilt
//! language engines ([`engine`]), both giving JavaScript and Python plugins their SDK
//! ([`sdk`]) and TypeScript declarations ([`typescript`]), and `eddy dlq` lists and replays dead
//! letters of a running host ([`dlq`]) over a small HTTP [`client`]. [`workspace`]: the folders
//! they work in.

pub mod build;
pub mod client;
pub mod dlq;
pub mod engine;
pub mod scaffold;
pub mod sdk;
pub mod typescript;
pub mod workspace;
