//! Who is calling (`docs/http.md`): a token from a test identity provider (its keys made here,
//! its JWKS served on loopback) reaches a function as its identity; a missing token on a route
//! that requires one, and every kind of bad token anywhere, gets 401 and the function never
//! runs; the stream join authoriser sees the identity; a socket is closed when its token
//! expires; the provider's rotated keys are fetched when a token names a new one.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{DEADLINE, TestHost, eventually_within, rust_plugins};
use crate::idp::{self, Key, Provider, claims};

const HOUR: Duration = Duration::from_secs(3600);

/// A provider with one key (`a`) and a host that trusts it. Keep the provider alive: the host
/// fetches its keys from it.
async fn signed_in_world() -> (Key, Provider, TestHost) {
    let key = Key::new("a");
    let provider = Provider::start(&[&key]).await;
    let host = host_trusting(&provider).await;
    (key, provider, host)
}

async fn host_trusting(provider: &Provider) -> TestHost {
    let config = provider.config();
    TestHost::start_configured(rust_plugins(), tempfile::tempdir().expect("a data dir"), |o| {
        o.auth = vec![config];
    })
}

/// `method path` with `token` as a bearer token (none: no header) → (status, body).
async fn call(
    host: &TestHost,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = host.http.request(method, host.url(path)).json(&json!({ "written": true }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_valid_token_reaches_the_function_as_its_identity() {
    let (key, _provider, host) = signed_in_world().await;
    let token = key.sign(&claims("ada", HOUR));

    let (status, me) = call(&host, "GET", "/probe/whoami", Some(&token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["subject"], "ada");
    assert_eq!(me["provider"], "test-idp");
    assert_eq!(me["issuer"], idp::ISSUER);
    assert_eq!(me["claims"]["role"], "tester");

    let (status, anonymous) = call(&host, "GET", "/probe/maybe-me", None).await;
    assert_eq!((status.as_u16(), anonymous), (200, Value::Null), "a caller is optional there");
    let (_, known) = call(&host, "GET", "/probe/maybe-me", Some(&token)).await;
    assert_eq!(known["subject"], "ada");
}

#[tokio::test]
async fn missing_expired_foreign_forged_and_unsigned_tokens_get_401_and_the_function_never_runs() {
    let (key, _provider, host) = signed_in_world().await;
    let stranger = Key::new("a"); // same key id, not the provider's key

    let mut expired_claims = claims("ada", HOUR);
    expired_claims["exp"] = json!(idp::now() - 600);
    let mut foreign_audience = claims("ada", HOUR);
    foreign_audience["aud"] = json!("another-app");
    let tokens = [
        ("expired", key.sign(&expired_claims)),
        ("another audience", key.sign(&foreign_audience)),
        ("a key the provider does not have", stranger.sign(&claims("ada", HOUR))),
        ("alg none", idp::unsigned(&claims("ada", HOUR))),
        ("HMAC with the public key", idp::hmac_with_public_key(&key, &claims("ada", HOUR))),
        ("not a token", "hello".to_string()),
    ];
    for (what, token) in &tokens {
        for (method, path) in [("GET", "/probe/whoami"), ("GET", "/probe/maybe-me")] {
            let (status, body) = call(&host, method, path, Some(token)).await;
            assert_eq!(status, 401, "{what} on {path}: {body}");
            assert_eq!(body["error"]["code"], "unauthorized", "{what}: {body}");
        }
        // A write route: a refused token must leave state untouched.
        let (status, _) = call(&host, "POST", "/probe/state/auth-e2e/k", Some(token)).await;
        assert_eq!(status, 401, "{what}");
    }
    let (status, body) = call(&host, "GET", "/probe/whoami", None).await;
    assert_eq!(status, 401, "no token on a route that requires one: {body}");
    let (_, stored) = call(&host, "GET", "/probe/state/auth-e2e/k", None).await;
    assert_eq!(stored, Value::Null, "no refused request wrote anything");
    let logs = crate::harness::logs();
    for (what, token) in &tokens {
        assert!(token.len() < 8 || !logs.contains(token.as_str()), "the {what} token was logged");
    }
}

/// Opens `path` on `host`'s WebSocket endpoint and returns the first frame, or the close code
/// when the host closes instead.
async fn first_frame_or_close(host: &TestHost, path: &str) -> Result<Value, Option<u16>> {
    host.ws(path).await.next_json_or_close().await
}

#[tokio::test]
async fn the_join_authoriser_admits_a_caller_to_their_own_group_only() {
    let (key, _provider, host) = signed_in_world().await;
    let ada = key.sign(&claims("ada", HOUR));

    let own =
        first_frame_or_close(&host, &format!("/stream/probe-own/ada?access_token={ada}")).await;
    assert_eq!(own.expect("admitted")["event"]["type"], "sync");
    let other =
        first_frame_or_close(&host, &format!("/stream/probe-own/bob?access_token={ada}")).await;
    assert_eq!(other.unwrap_err(), Some(1008), "ada may not join bob's group");
    let anonymous = first_frame_or_close(&host, "/stream/probe-own/ada").await;
    assert_eq!(anonymous.unwrap_err(), Some(1008), "no caller, no join");

    // On the multiplexed socket, an `auth` message makes the caller.
    let mut ws = host.ws("/streams").await;
    let join = |group: &str| {
        json!({ "type": "join", "data": {
        "subscriptionId": group, "streamName": "probe-own", "groupId": group } })
    };
    ws.send_json(join("ada")).await;
    assert_eq!(ws.next_json().await["error"]["code"], "forbidden");
    ws.send_json(json!({ "type": "auth", "data": { "token": ada } })).await;
    ws.send_json(join("ada")).await;
    assert_eq!(ws.next_json().await["event"]["type"], "sync");

    // A bad token is refused at the upgrade.
    let url = format!("ws://{}/stream/probe-own/ada?access_token=garbage", host.addr);
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected a 401 for a bad token, got {:?}", other.map(|(_, r)| r.status())),
    }
}

#[tokio::test]
async fn a_socket_is_closed_when_its_token_expires() {
    let (key, _provider, host) = signed_in_world().await;
    let short = key.sign(&claims("ada", Duration::from_secs(2)));
    let mut ws = host.ws(&format!("/stream/probe-own/ada?access_token={short}")).await;
    assert_eq!(ws.next_json().await["event"]["type"], "sync");
    let closed_at = tokio::time::Instant::now();
    assert_eq!(ws.next_close().await, Some(1008), "closed at expiry");
    assert!(closed_at.elapsed() < DEADLINE);
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_names_it() {
    let (old, new) = (Key::new("old"), Key::new("new"));
    let provider = Provider::start(&[&old]).await;
    let host = host_trusting(&provider).await;
    let (status, _) =
        call(&host, "GET", "/probe/whoami", Some(&old.sign(&claims("ada", HOUR)))).await;
    assert_eq!(status, 200);

    provider.publish(&[&old, &new]);
    let token = new.sign(&claims("ada", HOUR));
    let me = eventually_within(DEADLINE, "the new key to be fetched", || async {
        let (status, me) = call(&host, "GET", "/probe/whoami", Some(&token)).await;
        (status == 200).then_some(me)
    })
    .await;
    assert_eq!(me["subject"], "ada");
    let fetches = *provider.fetches.lock().unwrap();
    assert!(fetches <= 3, "unknown key ids do not make the host hammer its provider: {fetches}");
}
