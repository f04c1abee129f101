//! Exercises every host capability once, for the end-to-end tests (see `plugin.toml`).

use eddy_sdk::{
    Error, HttpRequest, Json, Op, Response, Result, StateEvent, invoke, log, plugin, state, stream,
};
use serde::Deserialize;
use serde_json::{Value, json};

plugin! {
    "echo" => echo,
    "created" => created,
    "builtins" => builtins,
    "later" => later,
    "log" => log_message,
    "items" => items,
    "count-items" => count_items,
    "cascade" => cascade,
    "step" => step,
    "is-flagged" => is_flagged,
    "count-flagged" => count_flagged,
    "flag" => flag,
    "read" => read,
    "write" => write,
    "flaky" => flaky,
    "may-join" => may_join,
}

/// The request object exactly as the host delivers it, in its plain JSON form.
fn echo(request: Value) -> Value {
    request
}

fn created() -> Response {
    Response::json(201, &json!({ "created": true })).with_header("x-probe", "yes")
}

/// `state::set`, `state::update`, `state::get` and `state::list_groups` called by id.
fn builtins(Json(body): Json<Value>) -> Result<Value> {
    let key = body["key"].as_str().unwrap_or("k");
    let set: Value = invoke::call(
        "state::set",
        &json!({ "scope": "probe", "key": key, "value": { "n": 1 } }),
    )?;
    let update: Value = invoke::call(
        "state::update",
        &json!({ "scope": "probe", "key": key, "ops": [
            { "type": "increment", "path": "n", "by": 2 },
            { "type": "increment", "path": "missing-by" },
        ] }),
    )?;
    let get: Value = invoke::call("state::get", &json!({ "scope": "probe", "key": key }))?;
    let groups: Value = invoke::call("state::list_groups", &json!({}))?;
    Ok(json!({ "set": set, "update": update, "get": get, "groups": groups }))
}

fn later(Json(body): Json<Value>) -> Result<Value> {
    invoke::call_void(
        "state::set",
        &json!({ "scope": "probe", "key": "later", "value": body }),
    )?;
    Ok(json!({ "queued": true }))
}

fn log_message(Json(body): Json<Value>) -> Value {
    let message = body["message"].as_str().unwrap_or("no message");
    log::with(&json!({ "probe": true })).warn(message);
    Value::Null
}

#[derive(Deserialize)]
struct ItemRequest {
    op: String,
    item_id: String,
    #[serde(default)]
    value: Value,
}

fn items(Json(request): Json<ItemRequest>) -> Result<Value> {
    let (stream_name, group) = ("probe-items", "g");
    match request.op.as_str() {
        "set" => {
            stream::set(stream_name, group, &request.item_id, &request.value)?;
        }
        "increment" => {
            stream::update(
                stream_name,
                group,
                &request.item_id,
                &[Op::increment("n", 1)],
            )?;
        }
        "delete" => {
            stream::delete(stream_name, group, &request.item_id)?;
        }
        other => return Err(Error::bad_request(format!("unknown op {other}"))),
    }
    stream::list::<Value>(stream_name, group).map(Value::Array)
}

fn count_items(event: Value) -> Result<()> {
    let change = event["event"]["type"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    state::update("probe-seen", "items", &[Op::increment(change, 1)])?;
    Ok(())
}

fn cascade(Json(body): Json<Value>) -> Result<Value> {
    let n = body["n"].as_i64().unwrap_or(0);
    state::set("cascade", "counter", &json!({ "n": n }))?;
    Ok(json!({ "started": n }))
}

/// Every change of cascade/counter changes it again: without the host's limit this never ends.
fn step(change: StateEvent) -> Result<()> {
    if change.new_value.is_some() {
        state::update("cascade", "counter", &[Op::increment("n", 1)])?;
    }
    Ok(())
}

fn is_flagged(event: Value) -> bool {
    event["new_value"]["flagged"] == true
}

fn count_flagged(change: StateEvent) -> Result<()> {
    let ops = [
        Op::increment("count", 1),
        Op::set("last", change.key.clone()),
    ];
    state::update("flag-counts", "flagged", &ops)?;
    Ok(())
}

fn flag(request: HttpRequest) -> Result<Value> {
    let key = request.param("key").unwrap_or_default().to_string();
    let body: Value = request.json_body()?;
    state::set("flags", &key, &body)?;
    Ok(json!({ "key": key }))
}

fn read(request: HttpRequest) -> Result<Value> {
    let scope = request.param("scope").unwrap_or_default();
    let key = request.param("key").unwrap_or_default();
    Ok(state::get::<Value>(scope, key)?.unwrap_or(Value::Null))
}

fn write(request: HttpRequest) -> Result<Value> {
    let scope = request.param("scope").unwrap_or_default().to_string();
    let key = request.param("key").unwrap_or_default().to_string();
    let body: Value = request.json_body()?;
    state::set(&scope, &key, &body)?;
    Ok(json!({ "scope": scope, "key": key }))
}

/// A handler that writes, then fails while told to: its writes must vanish with each failed
/// attempt, so `flaky-attempts` counts only the attempt that succeeded.
fn flaky(change: StateEvent) -> Result<()> {
    state::update("flaky-attempts", &change.key, &[Op::increment("n", 1)])?;
    let mode: Option<String> = state::get("flaky-mode", "mode")?;
    if mode.as_deref() == Some("fail") {
        return Err(Error::internal("flaky is failing on purpose"));
    }
    state::set("flaky-seen", &change.key, &change.new_value)?;
    Ok(())
}

/// Join authoriser of stream `probe-guarded`.
fn may_join(request: Value) -> Result<bool> {
    if request["groupId"] == "boom" {
        return Err(Error::internal("the authoriser fails on purpose"));
    }
    Ok(request["query_params"]["token"] == "let-me-in")
}
