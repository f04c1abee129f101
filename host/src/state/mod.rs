//! State: Eddy's database, scoped JSON key-value (what it promises: `docs/state.md`).
//! [`State`] (`service.rs`) is the door every caller uses: reads come from an in-memory mirror
//! of committed state (`mirror.rs`); writes are checked (`checks.rs`), then applied in order by
//! one writer thread (`writer.rs`) that commits them in groups through a storage [`engine`] —
//! `redb` on disk by default, memory for tests — together with the change events they fire
//! (the outbox the trigger dispatcher drains) and, for trigger handlers, the mark that their
//! event was delivered ([`Txn`]). The update [`ops`] are pure functions (paths parsed and walked
//! in `path.rs`).
//!
//! This file is only the map: imports run one way, `service` → `txn` → `writer` → `mirror`,
//! `engine`, `ops` → `path`, with the rules in `checks` and the shared types in `change` and
//! `error`.

mod change;
mod checks;
pub mod engine;
mod error;
mod mirror;
pub mod ops;
mod path;
pub mod redb;
mod service;
mod txn;
mod writer;

pub use change::{Change, ChangeKind, StateChange};
pub use checks::{MAX_KEY_BYTES, MAX_SCOPE_BYTES, MAX_VALUE_BYTES};
pub use error::StateError;
pub use ops::{OpError, UpdateOutcome};
pub use service::{Recovered, State};
pub use txn::Txn;
pub use writer::{Completion, HasSubscribers, OnEvent};
