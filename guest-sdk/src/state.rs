//! The database: JSON values under keys, grouped in named scopes.
//!
//! Writes are atomic per key and fire the `state` triggers bound to the key once they commit.
//! Values go in and come out through serde, so a plugin stores its own structs.
//!
//! ```no_run
//! use eddy_sdk::{state, Op, Result};
//! # #[derive(serde::Serialize, serde::Deserialize)] struct Todo { title: String }
//! # fn demo() -> Result<()> {
//! state::set("todos", "01J", &Todo { title: "milk".into() })?;
//! let todo: Option<Todo> = state::get("todos", "01J")?;
//! state::update("todo-metrics", "global", &[Op::increment("total", 1)])?;
//! let all: Vec<Todo> = state::list("todos")?;
//! # Ok(()) }
//! ```
//!
//! # Read-modify-write
//!
//! Two calls that each [`get`] a key, change the value and [`set`] it can both succeed, and the
//! first change is lost. Update ops ([`update`]) are atomic, so use them where an op says what
//! you mean (`increment`). Otherwise write with [`set_if`] (or [`update_if`], [`delete_if`]),
//! passing the value you read: the host applies the write only if the key still holds it, and
//! otherwise fails with [`ErrorCode::Conflict`](crate::ErrorCode::Conflict) and changes
//! nothing. Read again and retry:
//!
//! ```no_run
//! use eddy_sdk::{state, Error, ErrorCode, Result};
//! use serde_json::Value;
//!
//! /// Flips `done`; exactly one of two concurrent flips wins each round, the other retries.
//! fn flip(id: &str) -> Result<bool> {
//!     loop {
//!         let Some(old) = state::get::<Value>("tasks", id)? else {
//!             return Err(Error::not_found(format!("no task {id}")));
//!         };
//!         let mut new = old.clone();
//!         let done = new["done"] != true;
//!         new["done"] = done.into();
//!         match state::set_if("tasks", id, Some(&old), &new) {
//!             Ok(_) => return Ok(done),
//!             Err(e) if e.code() == ErrorCode::Conflict => continue,
//!             Err(e) => return Err(e),
//!         }
//!     }
//! }
//! ```
//!
//! Pass the value exactly as read (a [`serde_json::Value`]): a struct that drops or adds fields
//! on the way through would never match. Values compare as JSON, so member order and the
//! spelling of numbers do not matter.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::eddy::plugin::state as host;
use crate::event::{decode, parse, parse_opt};
use crate::op::ops_json;
use crate::{Change, Op, Result, UpdateResult};

/// The value at `key` in `scope` as `T`, or `None` when the key is missing.
pub fn get<T: DeserializeOwned>(scope: &str, key: &str) -> Result<Option<T>> {
    let value = parse_opt(host::get(scope, key)?.as_deref(), "a state value")?;
    decode(value.as_ref(), || format!("the value of {scope}/{key}"))
}

/// Replaces the value at `key`, returning the value before and after.
pub fn set<T: Serialize + ?Sized>(scope: &str, key: &str, value: &T) -> Result<Change> {
    let value = serde_json::to_string(value)?;
    host::set(scope, key, &value)?.try_into()
}

/// Applies `ops` in order, atomically for the key; a missing key starts as `{}`. Ops that fail
/// are skipped and listed in [`UpdateResult::errors`].
pub fn update(scope: &str, key: &str, ops: &[Op]) -> Result<UpdateResult> {
    host::update(scope, key, &ops_json(ops))?.try_into()
}

/// Removes `key`, returning its old value (`None` if it was missing; then nothing fires).
pub fn delete(scope: &str, key: &str) -> Result<Option<Value>> {
    parse_opt(host::delete(scope, key)?.as_deref(), "a state value")
}

/// [`set`] on a condition: replaces the value at `key` only if the key holds `expect` when the
/// write applies (`None`: only if the key is missing, to create it once). Otherwise fails with
/// [`ErrorCode::Conflict`](crate::ErrorCode::Conflict) and changes nothing. See
/// [Read-modify-write](self#read-modify-write).
pub fn set_if<T: Serialize + ?Sized>(
    scope: &str,
    key: &str,
    expect: Option<&Value>,
    value: &T,
) -> Result<Change> {
    let expect = expect.map(Value::to_string);
    let value = serde_json::to_string(value)?;
    host::set_if(scope, key, expect.as_deref(), &value)?.try_into()
}

/// [`update`] on a condition, as [`set_if`].
pub fn update_if(
    scope: &str,
    key: &str,
    expect: Option<&Value>,
    ops: &[Op],
) -> Result<UpdateResult> {
    let expect = expect.map(Value::to_string);
    host::update_if(scope, key, expect.as_deref(), &ops_json(ops))?.try_into()
}

/// [`delete`] on a condition, as [`set_if`]: removes `key` only if it holds `expect`.
pub fn delete_if(scope: &str, key: &str, expect: &Value) -> Result<()> {
    Ok(host::delete_if(scope, key, &expect.to_string())?)
}

/// Every value of `scope`, in key order.
pub fn list<T: DeserializeOwned>(scope: &str) -> Result<Vec<T>> {
    list_with(scope, &ListOptions::default())
}

/// Which keys [`list_with`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only keys that start with this.
    pub prefix: Option<String>,
    /// Only keys after this one, for paging.
    pub after: Option<String>,
    /// At most this many values.
    pub limit: Option<u32>,
}

/// The values of `scope` in key order, filtered and paged by `options`.
pub fn list_with<T: DeserializeOwned>(scope: &str, options: &ListOptions) -> Result<Vec<T>> {
    let values =
        host::list(scope, options.prefix.as_deref(), options.after.as_deref(), options.limit)?;
    values
        .iter()
        .map(|text| {
            let value = parse(text, "a state value")?;
            T::deserialize(value).map_err(|e| {
                crate::Error::internal(format!(
                    "a value of {scope} does not match the expected type: {e}"
                ))
            })
        })
        .collect()
}

/// Every scope that holds at least one key, sorted.
pub fn list_groups() -> Result<Vec<String>> {
    Ok(host::list_groups()?)
}
