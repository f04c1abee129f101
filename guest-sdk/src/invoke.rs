//! Calls to other functions: any plugin's (`todos::list`) and the host's builtins
//! (`state::set`, `stream::send`, ...), with the same JSON payloads.
//!
//! ```no_run
//! use eddy_sdk::{invoke, Result};
//! # fn demo() -> Result<()> {
//! let todos: Vec<serde_json::Value> = invoke::call("todos::list", &())?;
//! invoke::call_void("mailer::send-digest", &serde_json::json!({"to": "me"}))?;
//! # Ok(()) }
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::eddy::plugin::invoke as host;
use crate::event::parse;
use crate::{Error, Result};

/// Calls `function_id` with `payload` and decodes its result as `T`. The callee's error is
/// returned as is. A callee that returns a [`Response`](crate::Response) gives
/// `{status_code, headers, body}`.
pub fn call<T: DeserializeOwned>(
    function_id: &str,
    payload: &(impl Serialize + ?Sized),
) -> Result<T> {
    let payload = serde_json::to_string(payload)?;
    let result = parse(&host::call(function_id, &payload)?, "a call result")?;
    T::deserialize(result).map_err(|e| {
        Error::internal(format!(
            "the result of {function_id} does not match the expected type: {e}"
        ))
    })
}

/// Queues a call to `function_id` and returns at once; its result is only logged.
pub fn call_void(function_id: &str, payload: &(impl Serialize + ?Sized)) -> Result<()> {
    let payload = serde_json::to_string(payload)?;
    Ok(host::call_void(function_id, &payload)?)
}
