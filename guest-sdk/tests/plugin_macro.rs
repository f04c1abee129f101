//! The `plugin!` macro end to end, natively: the generated `handler` export is called the way
//! the host calls it, with WIT records in and out.

use eddy_sdk::__private::{Guest, WitEvent, WitOutput};
use eddy_sdk::bindings::eddy::plugin::types::{
    ChangeKind, ErrorCode, HttpRequest, Identity as WitIdentity, StateEvent,
};
use eddy_sdk::{Error, Identity, Json, Response, Result};
use serde_json::{Value, json};

eddy_sdk::plugin! {
    "echo" => echo,
    "create" => create,
    "on-change" => on_change,
    "health" => health,
    "me" => me,
}

fn echo(event: Value) -> Value {
    event
}

fn create(Json(body): Json<Value>) -> Result<Response> {
    let title = body["title"].as_str().ok_or_else(|| Error::bad_request("title is required"))?;
    Ok(Response::json(201, &json!({ "title": title })))
}

fn on_change(change: eddy_sdk::StateEvent) -> String {
    change.event_type().to_string()
}

fn health() {}

fn me(caller: Identity) -> Value {
    json!({ "you": caller.subject, "role": caller.claim("role") })
}

fn http(body: &str) -> WitEvent {
    WitEvent::Http(HttpRequest {
        method: "POST".into(),
        path: "/todos".into(),
        route: "/todos".into(),
        path_params: vec![],
        query_params: vec![("q".into(), "x".into())],
        headers: vec![],
        body: body.into(),
        identity: None,
    })
}

fn json_output(output: WitOutput) -> Value {
    match output {
        WitOutput::Json(text) => serde_json::from_str(&text).unwrap(),
        WitOutput::Http(r) => panic!("expected plain JSON, got status {}", r.status_code),
    }
}

#[test]
fn functions_lists_the_names_in_order() {
    assert_eq!(__EddyPlugin::functions(), ["echo", "create", "on-change", "health", "me"]);
}

#[test]
fn handle_runs_the_named_function_with_the_extracted_argument() {
    let out = __EddyPlugin::handle("echo".into(), http(r#"{"a":1}"#)).unwrap();
    let json = json_output(out);
    assert_eq!(json["query_params"], json!({"q": "x"}));
    assert_eq!(json["body"], json!({"a": 1}));
}

#[test]
fn a_response_comes_back_as_an_http_output() {
    let WitOutput::Http(r) =
        __EddyPlugin::handle("create".into(), http(r#"{"title":"milk"}"#)).unwrap()
    else {
        panic!("expected an HTTP output")
    };
    assert_eq!(r.status_code, 201);
    assert_eq!(r.body.as_deref(), Some(r#"{"title":"milk"}"#));
}

#[test]
fn a_handler_error_comes_back_as_a_wit_error() {
    let error = __EddyPlugin::handle("create".into(), http("{}")).unwrap_err();
    assert!(matches!(error.code, ErrorCode::BadRequest));
    assert_eq!(error.message, "title is required");
}

#[test]
fn state_events_reach_state_handlers() {
    let event = WitEvent::State(StateEvent {
        event_type: ChangeKind::Updated,
        scope: "todos".into(),
        key: "k".into(),
        old_value: Some("{}".into()),
        new_value: Some("{}".into()),
    });
    let out = __EddyPlugin::handle("on-change".into(), event).unwrap();
    assert_eq!(json_output(out), json!("state:updated"));
}

#[test]
fn a_unit_handler_returns_null() {
    let out = __EddyPlugin::handle("health".into(), WitEvent::Call("null".into())).unwrap();
    assert_eq!(json_output(out), Value::Null);
}

#[test]
fn an_unknown_function_is_not_found() {
    let error = __EddyPlugin::handle("nope".into(), WitEvent::Call("{}".into())).unwrap_err();
    assert!(matches!(error.code, ErrorCode::NotFound));
}

#[test]
fn the_identity_extractor_gets_the_caller_or_refuses_an_anonymous_request() {
    let error = __EddyPlugin::handle("me".into(), http("null")).unwrap_err();
    assert!(matches!(error.code, ErrorCode::Unauthorized));
    let WitEvent::Http(mut request) = http("null") else { unreachable!() };
    request.identity = Some(WitIdentity {
        provider: "idp".into(),
        subject: "ada".into(),
        issuer: "https://id.example/".into(),
        expires_at: 2_000_000_000,
        claims: r#"{"sub":"ada","role":"admin"}"#.into(),
    });
    let out = __EddyPlugin::handle("me".into(), WitEvent::Http(request)).unwrap();
    assert_eq!(json_output(out), json!({"you": "ada", "role": "admin"}));
}
