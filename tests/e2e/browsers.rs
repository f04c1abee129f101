//! Browsers on other origins (`docs/http.md`): the host answers the CORS preflight of a bound
//! route itself and adds the CORS headers to the answers an allowed origin gets, none to others;
//! a WebSocket upgrade from a page of a foreign origin is refused before it can listen.

use eddy::edge::{AllowedOrigins, CorsPolicy};
use reqwest::Method;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::harness::{TestHost, rust_plugins};

const APP: &str = "https://app.example.com";
const OTHER: &str = "https://evil.example";

fn host_allowing_the_app() -> TestHost {
    TestHost::start_configured(rust_plugins(), tempfile::tempdir().expect("a data dir"), |o| {
        o.cors = CorsPolicy {
            allow_origins: AllowedOrigins::List(vec![APP.into()]),
            allow_credentials: true,
            ..CorsPolicy::default()
        };
    })
}

async fn preflight(host: &TestHost, origin: &str, method: &str) -> reqwest::Response {
    host.http
        .request(Method::OPTIONS, host.url("/todos"))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("the preflight to be answered")
}

#[tokio::test]
async fn an_allowed_origin_gets_a_preflight_answer_and_cors_headers_and_another_gets_none() {
    let host = host_allowing_the_app();

    let answer = preflight(&host, APP, "POST").await;
    assert_eq!(answer.status(), 204);
    let headers = answer.headers();
    assert_eq!(headers["access-control-allow-origin"], APP);
    assert_eq!(headers["access-control-allow-methods"], "GET, POST");
    assert_eq!(headers["access-control-allow-headers"], "authorization, content-type");
    assert_eq!(headers["access-control-allow-credentials"], "true");

    let refused = preflight(&host, OTHER, "POST").await;
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    let unbound_method = preflight(&host, APP, "DELETE").await;
    assert!(unbound_method.headers().get("access-control-allow-origin").is_none());

    let call =
        |origin: &'static str| host.http.get(host.url("/todos")).header("origin", origin).send();
    let allowed = call(APP).await.expect("an answer");
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["access-control-allow-origin"], APP);
    assert_eq!(allowed.headers()["vary"], "origin");
    let other = call(OTHER).await.expect("an answer");
    assert_eq!(other.status(), 200, "the host still answers; the browser keeps it from the page");
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // Errors carry the headers too, so the page can read what went wrong.
    let missing = host
        .http
        .post(host.url("/todos"))
        .header("origin", APP)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("an answer");
    assert_eq!(missing.status(), 400);
    assert_eq!(missing.headers()["access-control-allow-origin"], APP);
}

#[tokio::test]
async fn without_a_cors_policy_no_origin_gets_cors_headers() {
    let host = TestHost::start();
    let answer = preflight(&host, APP, "GET").await;
    assert!(answer.headers().get("access-control-allow-origin").is_none());
    let call = host.http.get(host.url("/todos")).header("origin", APP).send().await.unwrap();
    assert!(call.headers().get("access-control-allow-origin").is_none());
}

/// The status of a WebSocket upgrade sent with `origin` (none: no `Origin` header).
async fn upgrade_status(host: &TestHost, origin: Option<&str>) -> u16 {
    let url = format!("ws://{}/stream/todos-live/all", host.addr);
    let mut request = url.into_client_request().expect("a request");
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("the upgrade to be answered: {e}"),
    }
}

#[tokio::test]
async fn a_websocket_from_a_foreign_page_is_refused_and_from_its_own_or_an_allowed_page_is_not() {
    let host = host_allowing_the_app();
    assert_eq!(upgrade_status(&host, Some(OTHER)).await, 403);
    assert_eq!(upgrade_status(&host, Some(APP)).await, 101);
    assert_eq!(upgrade_status(&host, Some(&format!("http://{}", host.addr))).await, 101);
    assert_eq!(upgrade_status(&host, None).await, 101, "a client that is not a browser");
    let strict = TestHost::start();
    assert_eq!(upgrade_status(&strict, Some(APP)).await, 403);
}
