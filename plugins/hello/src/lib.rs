//! The smallest useful plugin: `GET /hello` answers `{"hello":"world"}`. It touches no state and
//! no stream, so a call to it costs what the host and the wasm boundary cost, nothing more: the
//! benchmarks use it for that, and compare it with `wasmtime serve` running the same answer.

use eddy_sdk::plugin;
use serde_json::{Value, json};

plugin! {
    "hello" => hello,
}

/// `GET /hello`.
fn hello() -> Value {
    json!({ "hello": "world" })
}
