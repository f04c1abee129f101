//! Streams: live updates pushed to WebSocket clients. A stream is split into groups; each group
//! has a seq counter, a bounded replay window of its recent frames, a set of JSON items and its
//! subscribers. `stream::send` and item changes (`set`/`update`/`delete`) become frames that are
//! numbered and queued to every subscriber of the group under one lock, so all clients see a
//! group's frames in the same order, and then reported to the trigger dispatcher through
//! `on_event`. Queuing never waits: each client has a bounded queue, and a client whose queue is
//! full is closed ("too slow") instead of stalling the others. A client that reconnects with
//! `since` gets the frames it missed from the window, or a `sync` when they are gone.
//!
//! What clients can rely on: `docs/streams.md`.
//!
//! # Layout
//! - `hub`: [`Streams`], the hub every caller shares; `locked`: what its lock guards (the
//!   groups, their count and creators, within the caps); `types`: its public types.
//! - `group`: one group's seq, window, items and members; `client`: the hub's handle on one
//!   socket (its bounded queue); `close`: why and how a socket is closed.
//! - `frame`: the JSON frames and client messages.
//! - `shared`: streams on the shared store (PostgreSQL): frames numbered and kept in the
//!   database, fanned out to every host; `commit`: a host's writes to a group committed
//!   together; `mirror`: the hub's side of it.
//! - `socket`: [`serve_socket`], the loop that runs one WebSocket client.

mod client;
mod close;
mod commit;
mod frame;
mod group;
mod hub;
mod locked;
mod mirror;
mod shared;
mod socket;
mod types;

pub use close::{SocketError, Violation};
pub use frame::Subscription;
#[cfg(fuzzing)]
pub(crate) use frame::parse_client_message;
pub use hub::Streams;
pub use socket::{Access, Authorize, Declared, Verify, serve_socket};
pub use types::{
    MAX_GROUP_NAME_BYTES, MAX_NAME_BYTES, StreamChange, StreamError, StreamEvent, StreamsConfig,
};
