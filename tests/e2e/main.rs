//! End-to-end tests: a real host on 127.0.0.1:0 serving the repository's plugins, driven with
//! real HTTP and WebSocket clients. One test binary; `harness` holds the plumbing.

mod engines;
mod harness;
mod idp;
mod process;

mod browsers;
mod build;
mod capabilities;
mod chaos;
mod cluster;
mod crash;
mod delivery;
mod dev;
mod disk;
mod errors;
mod fairness;
mod grants;
mod identity;
mod isolation;
mod languages;
mod operator;
mod page;
mod plugins;
mod protocol;
mod reload;
mod scaffold;
mod sdk;
mod static_files;
mod stream_caps;
mod streams;
mod todos;
mod unloaded;
mod websocket;
