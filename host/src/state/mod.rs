//! State: Eddy's database, scoped JSON key-value (what it promises: `docs/state.md`; on many
//! hosts: `docs/cluster.md`). [`State`] (`service.rs`) is the door every caller uses: reads go
//! to a [`reader`] — the embedded store's in-memory mirror (`mirror.rs`), or the shared
//! database; writes are checked (`checks.rs`), then applied in order by one writer thread per
//! host (`writer.rs`) that commits them in groups through a [`store`]: `mirrored.rs` (the
//! embedded store: the mirror over a storage [`engine`], `redb` on disk or memory for tests;
//! after a failed commit it refuses writes and reopens the engine with backoff, `outage.rs`;
//! the writer keeps it within its byte limits, `quota.rs`)
//! or [`postgres`] (the shared store, which any number of hosts use at once), together with the
//! change events they fire (the outbox the trigger dispatcher drains) and, for trigger
//! handlers, the mark that their event was delivered ([`Txn`]). The update [`ops`] are pure
//! functions (paths parsed and walked in `path.rs`), the same on both stores.
//!
//! This file is only the map: imports run one way, `service` → `txn` → `reader`, `writer` →
//! `store` ← `mirrored`, `postgres` → `engine`, `mirror`, `ops` → `path`, with the rules in
//! `checks`, a conditional write's condition in `expect`, and the shared types in `change` and
//! `error`.

mod change;
mod checks;
pub mod engine;
mod error;
mod expect;
mod mirror;
mod mirrored;
pub mod ops;
mod outage;
mod path;
pub mod postgres;
mod quota;
mod reader;
pub mod redb;
mod service;
mod store;
mod txn;
mod writer;

pub use change::{Change, ChangeKind, LANES, StateChange, lane};
pub use checks::{MAX_KEY_BYTES, MAX_SCOPE_BYTES, MAX_VALUE_BYTES};
pub use error::StateError;
pub use expect::Expect;
pub use ops::{OpError, UpdateOutcome};
pub use outage::OutageReport;
pub use quota::QuotaLimits;
pub use service::{Recovered, State};
pub use txn::Txn;
pub use writer::{BoundTo, Completion, OnEvent};
