//! What a function can see and do, through the `probe` fixture plugin: the HTTP request object,
//! full responses, builtins by id, `invoke_void`, logging, stream items and stream triggers,
//! trigger conditions, and the cascade limit.

use serde_json::{Value, json};

use crate::harness::{TestHost, eventually, logs};

async fn state_becomes(host: &TestHost, scope: &str, key: &str, expected: Value) {
    eventually(&format!("{scope}/{key} to become {expected}"), || async {
        let (_, value) = host.get(&format!("/probe/state/{scope}/{key}")).await;
        (value == expected).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_request_object_has_method_path_route_params_query_headers_and_body() {
    let host = TestHost::start();
    let response = host
        .http
        .post(host.url("/probe/echo/ann%20b?x=1&x=2&y=z%21"))
        .header("x-test", "yes")
        .json(&json!({ "a": [1, 2] }))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200);
    let request: Value = response.json().await.expect("JSON");
    assert_eq!(request["method"], "POST");
    assert_eq!(request["path"], "/probe/echo/ann%20b");
    assert_eq!(request["route"], "/probe/echo/:name");
    assert_eq!(request["path_params"], json!({ "name": "ann b" }));
    assert_eq!(request["query_params"], json!({ "x": ["1", "2"], "y": "z!" }));
    assert_eq!(request["headers"]["x-test"], "yes");
    assert_eq!(request["body"], json!({ "a": [1, 2] }));

    let (_, request) = host.post_raw("/probe/echo/t", "plain words", "text/plain").await;
    assert_eq!(request["body"], "plain words", "a non-JSON body arrives as text");
    let (_, request) = host.get("/probe/echo/t").await;
    assert_eq!(request["body"], Value::Null, "no body is null");
}

#[tokio::test]
async fn a_full_response_keeps_its_status_headers_and_body() {
    let host = TestHost::start();
    let response = host.http.post(host.url("/probe/created")).send().await.expect("an answer");
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-probe"], "yes");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({ "created": true }));
}

#[tokio::test]
async fn builtins_are_callable_by_id_through_invoke() {
    let host = TestHost::start();
    let (status, result) = host.post("/probe/builtins", json!({ "key": "k1" })).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["set"], json!({ "old_value": null, "new_value": { "n": 1 } }));
    assert_eq!(result["update"]["old_value"], json!({ "n": 1 }));
    assert_eq!(result["update"]["new_value"], json!({ "n": 3 }), "the good op applied");
    assert_eq!(result["update"]["errors"][0]["op_index"], 1, "the bad op is reported: {result}");
    assert_eq!(result["get"], json!({ "n": 3 }));
    assert!(
        result["groups"]["groups"].as_array().is_some_and(|g| g.contains(&json!("probe"))),
        "{result}"
    );
}

#[tokio::test]
async fn a_conditional_write_whose_key_changed_answers_409_and_changes_nothing() {
    let host = TestHost::start();
    let call = async |builtin: &str, payload: Value| {
        host.post(&format!("/probe/call/{builtin}"), payload).await
    };
    let conflict = |(status, body): (reqwest::StatusCode, Value)| {
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "conflict", "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("cas/k")), "{body}");
    };
    let k = |extra: Value| {
        let mut payload = json!({ "scope": "cas", "key": "k" });
        payload
            .as_object_mut()
            .expect("an object")
            .extend(extra.as_object().cloned().unwrap_or_default());
        payload
    };

    // Builtins: `expect: null` creates once; the value read replaces; a stale one is refused.
    let (status, created) =
        call("state::set", k(json!({ "value": { "v": 1 }, "expect": null }))).await;
    assert_eq!(
        (status.as_u16(), created),
        (200, json!({ "old_value": null, "new_value": { "v": 1 } }))
    );
    conflict(call("state::set", k(json!({ "value": { "v": 9 }, "expect": null }))).await);
    let (status, _) =
        call("state::set", k(json!({ "value": { "v": 2 }, "expect": { "v": 1 } }))).await;
    assert_eq!(status, 200);
    let stale = json!({ "v": 1 });
    let ops = json!([{ "type": "increment", "path": "v", "by": 1 }]);
    conflict(call("state::set", k(json!({ "value": { "v": 9 }, "expect": stale }))).await);
    conflict(call("state::update", k(json!({ "ops": ops, "expect": stale }))).await);
    conflict(call("state::delete", k(json!({ "expect": stale }))).await);
    let (_, value) = host.get("/probe/state/cas/k").await;
    assert_eq!(value, json!({ "v": 2 }), "no conflicting write changed it");

    // The `set-if` import, through the SDK: the guest gets a `conflict` error, which its `?`
    // turns into the function's 409.
    let (status, _) =
        host.post("/probe/state-if/cas/k", json!({ "expect": { "v": 2 }, "value": 3 })).await;
    assert_eq!(status, 200);
    conflict(host.post("/probe/state-if/cas/k", json!({ "expect": { "v": 2 }, "value": 4 })).await);
    let (status, old) = call("state::delete", k(json!({ "expect": 3 }))).await;
    assert_eq!((status.as_u16(), old), (200, json!(3)));
    let (status, _) =
        host.post("/probe/state-if/cas/k", json!({ "expect": null, "value": 5 })).await;
    assert_eq!(status, 200, "a deleted key is missing again");
    let (_, value) = host.get("/probe/state/cas/k").await;
    assert_eq!(value, json!(5));
}

#[tokio::test]
async fn invoke_void_runs_the_call_after_returning() {
    let host = TestHost::start();
    let (status, reply) = host.post("/probe/later", json!({ "v": 1 })).await;
    assert_eq!((status.as_u16(), reply), (200, json!({ "queued": true })));
    state_becomes(&host, "probe", "later", json!({ "v": 1 })).await;
}

#[tokio::test]
async fn guest_logs_land_in_the_host_log_naming_plugin_and_function() {
    let host = TestHost::start();
    assert_eq!(host.post("/probe/log", json!({ "message": "probe-log-7f3a" })).await.0, 200);
    let line = eventually("the log line", || async {
        logs().lines().find(|l| l.contains("probe-log-7f3a")).map(str::to_string)
    })
    .await;
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("plugin=\"probe\"") || line.contains("plugin=probe"), "{line}");
    assert!(line.contains("probe::log"), "{line}");
    assert!(line.contains("\"probe\":true"), "fields are kept: {line}");
}

#[tokio::test]
async fn stream_items_broadcast_their_changes_and_fire_stream_triggers() {
    let host = TestHost::start();
    let mut ws = host.ws("/stream/probe-items/g").await;
    assert_eq!(ws.next_json().await["event"], json!({ "type": "sync", "data": [] }));

    let (_, items) = host
        .post("/probe/items", json!({ "op": "set", "item_id": "a", "value": { "n": 1 } }))
        .await;
    assert_eq!(items, json!([{ "n": 1 }]));
    let frame = ws.next_json().await;
    assert_eq!(
        (frame["id"].as_str(), &frame["event"]),
        (Some("a"), &json!({ "type": "create", "data": { "n": 1 } }))
    );

    host.post("/probe/items", json!({ "op": "increment", "item_id": "a" })).await;
    let frame = ws.next_json().await;
    assert_eq!(frame["event"], json!({ "type": "update", "data": { "n": 2 } }));
    assert_eq!(frame["seq"].as_u64(), Some(2));

    host.post("/probe/items", json!({ "op": "delete", "item_id": "a" })).await;
    let frame = ws.next_json().await;
    assert_eq!(frame["event"]["type"], "delete");

    // `count-items` is bound to the stream and counts each kind of change it saw.
    state_becomes(&host, "probe-seen", "items", json!({ "create": 1, "update": 1, "delete": 1 }))
        .await;
}

#[tokio::test]
async fn a_trigger_condition_filters_the_events_a_function_gets() {
    let host = TestHost::start();
    // One key, so the four changes are delivered in order.
    for (flagged, v) in [(false, 1), (true, 2), (false, 3), (true, 4)] {
        assert_eq!(host.post("/probe/flags/x", json!({ "flagged": flagged, "v": v })).await.0, 200);
    }
    state_becomes(&host, "flag-counts", "flagged", json!({ "count": 2, "last": "x" })).await;
}

#[tokio::test]
async fn a_trigger_cascade_is_stopped_at_the_depth_limit() {
    let host = TestHost::start();
    // `step` increments cascade/counter on every change of it: an endless cascade. The host
    // delivers events up to depth 8, so a start at n stops at n + 8.
    host.post("/probe/cascade", json!({ "n": 0 })).await;
    state_becomes(&host, "cascade", "counter", json!({ "n": 8 })).await;
    // Events of one key are delivered in order, so once a second cascade has run the first
    // is certainly over: it did not go past its limit.
    host.post("/probe/cascade", json!({ "n": 100 })).await;
    state_becomes(&host, "cascade", "counter", json!({ "n": 108 })).await;
    assert!(logs().contains("trigger cascade too deep"));
}
