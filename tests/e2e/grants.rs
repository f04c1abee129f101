//! The capability seam, through the `bare` fixture, a plugin granted nothing: every state and
//! stream operation it tries on the todo app — through its imports, as a builtin through
//! `invoke` and `invoke_void`, in an HTTP call and in a trigger handler — is refused with
//! `forbidden`, changes nothing, and sends no frame to any client.

use serde_json::{Value, json};

use crate::harness::{TestHost, eventually, frames_before_marker, logs};

const TODOS_LIVE: (&str, &str) = ("todos-live", "all");

/// The operations `bare` tries: 11 through its imports, 11 builtins each through `invoke` and
/// `invoke_void`.
const OPERATIONS: usize = 11 + 2 * 11;

fn assert_all_forbidden(report: &Value) {
    let answers = report.as_object().expect("a report");
    let tried: Vec<(&String, &Value)> =
        answers.iter().filter(|(name, _)| *name != "visible groups").collect();
    assert_eq!(tried.len(), OPERATIONS, "{report}");
    for (operation, answer) in tried {
        assert_eq!(answer["code"], "forbidden", "{operation} was not refused: {answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| m.contains("plugin bare may not")),
            "{operation}: {answer}"
        );
    }
    assert_eq!(report["visible groups"], json!([]), "list_groups shows no scope it may not read");
}

#[tokio::test]
async fn a_plugin_granted_nothing_is_refused_everything_and_changes_nothing() {
    let host = TestHost::start();
    let mut ws = host.ws("/stream/todos-live/all").await;
    assert_eq!(ws.next_json().await["event"]["type"], "sync");
    let (status, todo) = host.post("/todos", json!({ "title": "keep me" })).await;
    assert_eq!(status, 200, "{todo}");
    let created = ws.next_json().await;
    assert_eq!(created["event"]["event"]["type"], "todo_changed", "{created}");

    let (status, report) = host.get("/bare/try").await;
    assert_eq!(status, 200, "{report}");
    assert_all_forbidden(&report);

    assert_eq!(frames_before_marker(&host, &mut ws, TODOS_LIVE, 2).await, Vec::<Value>::new());
    let (_, todos) = host.get("/todos").await;
    assert_eq!(todos, json!([todo]), "the todos are as they were");
    let (_, evil) = host.get("/probe/state/todos/evil").await;
    assert_eq!(evil, Value::Null);
}

#[tokio::test]
async fn a_plugin_granted_nothing_is_refused_everything_inside_a_trigger_handler_too() {
    let host = TestHost::start();
    let mut ws = host.ws("/stream/todos-live/all").await;
    assert_eq!(ws.next_json().await["event"]["type"], "sync");
    // A change to stream probe-items fires `bare::on-probe-item`, which logs what it got.
    let item = json!({ "op": "set", "item_id": "grants", "value": { "n": 1 } });
    assert_eq!(host.post("/probe/items", item).await.0, 200);
    let line = eventually("bare's trigger handler to report", || async {
        logs().lines().find(|l| l.contains("bare tried everything in a trigger")).map(str::to_owned)
    })
    .await;
    assert_eq!(line.matches("forbidden").count(), OPERATIONS, "{line}");
    assert!(!line.contains("\\\"ok\\\"") && !line.contains("\"ok\""), "{line}");

    assert_eq!(frames_before_marker(&host, &mut ws, TODOS_LIVE, 1).await, Vec::<Value>::new());
    let (_, todos) = host.get("/todos").await;
    assert_eq!(todos, json!([]));
}
