//! Loading plugins: cross-plugin `invoke`, the listing under `/_eddy/`, and broken plugin
//! folders rejected without taking the others down.

use serde_json::json;

use crate::harness::{TestHost, copy_plugin};

#[tokio::test]
async fn a_second_plugin_calls_todos_list_through_invoke() {
    let host = TestHost::start();
    for title in ["a", "b", "c"] {
        assert_eq!(host.post("/todos", json!({ "title": title })).await.0, 200);
    }
    let (_, list) = host.get("/todos").await;
    let first = list[0]["id"].clone();
    assert_eq!(host.post("/todos/toggle", json!({ "id": first })).await.0, 200);

    let (status, summary) = host.get("/todo-summary").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["total"], 3);
    assert_eq!(summary["completed"], 1);
    assert_eq!(summary["open"], 2);
    assert_eq!(summary["titles"], json!(["b", "c"]));
}

#[tokio::test]
async fn the_host_lists_what_it_loaded() {
    let host = TestHost::start();
    let (status, body) = host.get("/_eddy/plugins").await;
    assert_eq!(status, 200);
    let plugins = body["plugins"].as_array().expect("a list");
    let todos = plugins.iter().find(|p| p["name"] == "todos").expect("todos is loaded");
    assert_eq!(todos["sha256"].as_str().map(str::len), Some(64));
    let ids: Vec<&str> = todos["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    for id in [
        "todos::create",
        "todos::list",
        "todos::toggle",
        "todos::delete",
        "todos::get-metrics",
        "todos::on-change",
        "todos::update-metrics",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
}

#[tokio::test]
async fn broken_plugins_are_rejected_and_the_others_still_serve() {
    let dir = tempfile::tempdir().expect("a temp dir");
    copy_plugin("todos", &dir.path().join("todos"));

    // A manifest with an unknown key, a component that is not wasm, a function the component
    // does not export, and a route that clashes with todos.
    let bad_manifest = dir.path().join("bad-manifest");
    copy_plugin("todos", &bad_manifest);
    std::fs::write(
        bad_manifest.join("plugin.toml"),
        "name = \"x\"\ncomponent = \"todos.wasm\"\ncolour = 1\n",
    )
    .expect("write");

    let not_wasm = dir.path().join("not-wasm");
    std::fs::create_dir_all(&not_wasm).expect("mkdir");
    std::fs::write(not_wasm.join("plugin.toml"), "name = \"not-wasm\"\ncomponent = \"x.wasm\"\n")
        .expect("write");
    std::fs::write(not_wasm.join("x.wasm"), "garbage").expect("write");

    let missing_export = dir.path().join("missing-export");
    copy_plugin("todos", &missing_export);
    std::fs::write(
        missing_export.join("plugin.toml"),
        "name = \"other\"\ncomponent = \"todos.wasm\"\n[functions.nope]\n",
    )
    .expect("write");

    let clash = dir.path().join("zz-clash");
    copy_plugin("todos", &clash);
    std::fs::write(
        clash.join("plugin.toml"),
        "name = \"clash\"\ncomponent = \"todos.wasm\"\n[functions.list]\ntriggers = [{ type = \"http\", method = \"GET\", path = \"/todos\" }]\n",
    )
    .expect("write");

    let host = TestHost::start_with(dir.path());
    let (status, body) = host.get("/_eddy/plugins").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["plugins"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["todos"], "only the good plugin loaded");
    assert_eq!(host.post("/todos", json!({ "title": "still works" })).await.0, 200);
}
