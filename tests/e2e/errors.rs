//! Bad input and failing functions get the error envelope and the right status, and the host
//! keeps serving.

use serde_json::json;

use crate::harness::TestHost;

fn assert_envelope(body: &serde_json::Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let host = TestHost::start();
    let (status, body) = host.post_raw("/todos", "{\"title\": ", "application/json").await;
    assert_eq!(status, 400);
    assert_envelope(&body, "bad_request");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("JSON"), "{body}");
}

#[tokio::test]
async fn a_missing_or_empty_title_is_a_400() {
    let host = TestHost::start();
    for body in [json!({}), json!({ "title": "   " }), json!({ "title": 7 })] {
        let (status, reply) = host.post("/todos", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {reply}");
        assert_envelope(&reply, "bad_request");
    }
    let (_, list) = host.get("/todos").await;
    assert_eq!(list, json!([]), "nothing was created");
}

#[tokio::test]
async fn toggling_or_deleting_an_unknown_id_is_a_404() {
    let host = TestHost::start();
    let (status, body) = host.post("/todos/toggle", json!({ "id": "nope" })).await;
    assert_eq!(status, 404);
    assert_envelope(&body, "not_found");
    let (status, body) = host.post("/todos/delete", json!({ "id": "nope" })).await;
    assert_eq!(status, 404);
    assert_envelope(&body, "not_found");
}

#[tokio::test]
async fn an_unknown_route_is_a_404() {
    let host = TestHost::start();
    let (status, body) = host.get("/no/such/route").await;
    assert_eq!(status, 404);
    assert_envelope(&body, "not_found");
}

#[tokio::test]
async fn a_wrong_method_is_a_405_with_allow() {
    let host = TestHost::start();
    let response = host.http.delete(host.url("/todos")).send().await.expect("an answer");
    assert_eq!(response.status(), 405);
    let allow = response.headers()["allow"].to_str().expect("ascii").to_string();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_envelope(&body, "method_not_allowed");
}

#[tokio::test]
async fn a_trapping_function_is_a_500_and_the_host_keeps_serving() {
    let host = TestHost::start();
    for _ in 0..3 {
        let (status, body) = host.get("/hostile/trap").await;
        assert_eq!(status, 500);
        assert_envelope(&body, "internal");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("hostile::trap"), "names the function: {message}");
        assert!(!message.contains("wasm backtrace"), "no host internals: {message}");
        let (status, _) = host.get("/todos/metrics").await;
        assert_eq!(status, 200, "other functions still serve");
    }
}

#[tokio::test]
async fn the_stream_endpoints_refuse_plain_http() {
    let host = TestHost::start();
    let (status, body) = host.get("/stream/todos-live/all").await;
    assert_eq!(status, 400);
    assert_envelope(&body, "bad_request");
}
