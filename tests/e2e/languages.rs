//! Plugins in JavaScript and Python, built against the same WIT world as the Rust ones, serving
//! beside the Rust todos: `todo-search` (JavaScript) keeps a word index of the todo titles and
//! answers `GET /todo-search?q=`; `todo-digest` (Python) counts each day's changes and pushes
//! them to a stream. Each test serves its plugin under a development-mode host, from source on
//! its language's engine (`dev.rs` tests the edit loop itself), and edits the source: the new
//! version swaps in while every request succeeds.
//!
//! The engines are 12–18 MB: building one takes 7–20 s, compiling it about as long (once per
//! run), so the waits for them here are longer than the harness's
//! [`DEADLINE`](crate::harness::DEADLINE).

use std::path::Path;
use std::time::Duration;

use eddy::plugins::watch::Mode;
use serde_json::{Value, json};

use crate::harness::{
    SLOW_DEADLINE, TestHost, copy_plugin, eventually, eventually_within, plugins_dir,
};

/// Fails the test, naming the install command, when the toolchain of the plugin in `dir` is
/// missing (a build skips such a plugin, so this is where it is said).
pub fn require_toolchain(dir: &Path) {
    if let Err(missing) = eddy::tools::build::check(dir) {
        panic!(
            "{missing}\n(the tests of the JavaScript and Python plugins need componentize-js and \
             componentize-py; .ci/run installs both)"
        );
    }
}

/// Makes the toolchains installed in the repository's `plugins/` (`node_modules`, `.venv`)
/// those of the plugins folder `dir`, where the toolchain looks for them.
pub fn share_toolchains(dir: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    for tools in ["node_modules", ".venv"] {
        let (from, to) = (repo.join(tools), dir.join(tools));
        if from.is_dir() && !to.exists() {
            #[cfg(unix)]
            std::os::unix::fs::symlink(&from, &to).expect("a symlink to the toolchain");
        }
    }
}

/// A development-mode host serving the built todos and probe (which rewrites a todo, to
/// retitle it), into which the repository's plugin `name` is then moved with its sources, so
/// the host can rebuild it. Moved in once the host is up, as a user adds a plugin: its large
/// component compiles within [`SLOW_DEADLINE`], not the harness's start deadline.
async fn host_with(name: &str) -> (tempfile::TempDir, TestHost) {
    let source = plugins_dir().join(name);
    require_toolchain(&source);
    let dir = tempfile::tempdir().expect("a temp dir");
    copy_plugin("todos", &dir.path().join("todos"));
    copy_plugin("probe", &dir.path().join("probe"));
    share_toolchains(dir.path());
    let outside = tempfile::tempdir().expect("a temp dir");
    let staging = outside.path().join(name);
    std::fs::create_dir_all(&staging).expect("a plugin folder");
    for entry in std::fs::read_dir(&source).expect("the plugin's folder").flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(entry.path(), staging.join(entry.file_name())).expect("a copy");
        }
    }
    // The run's shared cache: development mode serves the plugin from source on its
    // language's engine, built and compiled once for the run.
    let host = TestHost::start_configured(
        dir.path(),
        tempfile::tempdir().expect("a data dir"),
        |options| options.watch = Mode::Sources,
    );
    add_plugin(&host, &staging, &dir.path().join(name)).await;
    (dir, host)
}

/// Options for a host with `watch` and a compile cache of its own, removed with it: builds of
/// JavaScript and Python plugins are not byte-for-byte reproducible, so their compiled code
/// would only pile up in the run's shared cache, 37 MB a build.
pub fn own_cache(watch: Mode) -> impl FnOnce(&mut eddy::ServeOptions) {
    move |options| {
        options.watch = watch;
        options.cache = None;
    }
}

/// Moves the plugin folder `from` (outside the host's view) to `to` in its plugins directory,
/// and waits until it is loaded.
pub async fn add_plugin(host: &TestHost, from: &Path, to: &Path) {
    std::fs::rename(from, to).expect("move the plugin in");
    let name = to.file_name().and_then(|n| n.to_str()).expect("a folder name").to_string();
    let loaded = || async { host.plugin_info(&name).await.map(drop) };
    eventually_within(SLOW_DEADLINE, &format!("{name} to load"), loaded).await;
}

async fn create(host: &TestHost, title: &str) -> Value {
    let (status, todo) = host.post("/todos", json!({ "title": title })).await;
    assert_eq!(status, 200, "{todo}");
    todo
}

/// The ids `GET /todo-search?q=` answers with.
async fn search(host: &TestHost, q: &str) -> Vec<String> {
    let (status, body) = host.get(&format!("/todo-search?q={q}")).await;
    assert_eq!(status, 200, "{body}");
    let todos = body["todos"].as_array().unwrap_or_else(|| panic!("a todo list: {body}"));
    todos.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect()
}

fn id(todo: &Value) -> String {
    todo["id"].as_str().expect("an id").to_string()
}

/// Appends `code` to the plugin source `file` (which the development-mode host rebuilds), then
/// polls `path` until `edited` says the new build serves. Every answer on the
/// way must be a 200: the old version serves until the new one is swapped in.
async fn edit_and_wait(
    host: &TestHost,
    file: &Path,
    code: &str,
    path: &str,
    edited: fn(&Value) -> bool,
) {
    let mut source = std::fs::read_to_string(file).expect("the source");
    source.push_str(code);
    std::fs::write(file, source).expect("the edit");
    let deadline = tokio::time::Instant::now() + SLOW_DEADLINE;
    let mut answers = 0;
    loop {
        let (status, body) = host.get(path).await;
        answers += 1;
        assert_eq!(status, 200, "answer {answers} during the rebuild: {body}");
        if edited(&body) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the edited build never served: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_todo_search_finds_todos_by_title_words_and_follows_edits_deletes_and_rebuilds()
{
    let (dir, host) = host_with("todo-search").await;
    let milk = id(&create(&host, "Buy milk and eggs").await);
    let bread = id(&create(&host, "Bake bread").await);

    eventually("both todos to be indexed", || async {
        (search(&host, "milk").await == [milk.clone()]
            && search(&host, "bread").await == [bread.clone()])
        .then_some(())
    })
    .await;
    assert_eq!(search(&host, "EGGS,%20milk!").await, [milk.as_str()], "case and punctuation");
    assert!(search(&host, "milk%20bread").await.is_empty(), "every word must match");
    let (status, body) = host.get("/todo-search").await;
    assert_eq!((status.as_u16(), &body["error"]["code"]), (400, &json!("bad_request")), "{body}");

    // A new title moves the todo from the words it lost to those it gained.
    let (_, mut todo) = host.get(&format!("/probe/state/todos/{milk}")).await;
    todo["title"] = json!("Buy oat milk");
    assert_eq!(host.post(&format!("/probe/state/todos/{milk}"), todo).await.0, 200);
    eventually("the new title to be indexed", || async {
        (search(&host, "eggs").await.is_empty() && search(&host, "oat").await == [milk.clone()])
            .then_some(())
    })
    .await;
    let (_, index) = host.get(&format!("/probe/state/todo-search-index/oat%2F{milk}")).await;
    assert_eq!(index, json!(milk.clone()), "the index keeps a key <word>/<id> in state");

    // Todos created at once that share a word are all indexed under it, none lost, in
    // creation order.
    let titles: Vec<String> = (0..16).map(|i| format!("shared word {i}")).collect();
    let creates = titles.iter().map(|title| create(&host, title));
    let shared: Vec<String> =
        futures_util::future::join_all(creates).await.iter().map(id).collect();
    let mut in_order = shared.clone();
    in_order.sort();
    eventually("every concurrent create to be indexed", || async {
        (search(&host, "shared%20word").await == in_order).then_some(())
    })
    .await;

    // A toggle keeps the words; search answers with the todo as it is now.
    assert_eq!(host.post("/todos/toggle", json!({ "id": milk })).await.0, 200);
    eventually("the toggled todo to be found completed", || async {
        let (_, body) = host.get("/todo-search?q=oat").await;
        (body["todos"][0]["completed"] == true).then_some(())
    })
    .await;

    assert_eq!(host.post("/todos/delete", json!({ "id": bread })).await.0, 200);
    eventually("the deleted todo to leave the index", || async {
        search(&host, "bread").await.is_empty().then_some(())
    })
    .await;

    // Development mode: an edit of the source serves at once, on the JavaScript engine; the
    // index, in state, is still there for the new version.
    let edit = "\n// Edited by a test.\nconst unedited = FUNCTIONS.search;\n\
                FUNCTIONS.search = (event) => ({ ...unedited(event), edited: true });\n";
    let file = dir.path().join("todo-search/todo-search.js");
    edit_and_wait(&host, &file, edit, "/todo-search?q=oat", |body| body["edited"] == true).await;
    assert_eq!(search(&host, "oat").await, [milk]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_todo_digest_counts_each_days_changes_pushes_them_and_follows_rebuilds() {
    let (dir, host) = host_with("todo-digest").await;
    let mut live = host.ws("/stream/todo-digest/daily").await;
    assert_eq!(live.next_json().await["event"]["type"], "sync");

    let a = create(&host, "a").await;
    let b = create(&host, "b").await;
    let c = create(&host, "c").await;
    let day = a["created_at"].as_str().expect("created_at")[..10].to_string();
    for toggled in [&a, &a, &c] {
        assert_eq!(host.post("/todos/toggle", json!({ "id": toggled["id"] })).await.0, 200);
    }
    assert_eq!(host.post("/todos/delete", json!({ "id": b["id"] })).await.0, 200);

    // Counted over every day, in case the test runs across midnight (UTC).
    let expected = json!({ "created": 3, "completed": 2, "reopened": 1, "deleted": 1 });
    let totals = |days: &Value| {
        let days = days.as_array().cloned().unwrap_or_default();
        let sum = |field: &str| days.iter().map(|d| d[field].as_i64().unwrap_or(0)).sum::<i64>();
        json!({ "created": sum("created"), "completed": sum("completed"),
                "reopened": sum("reopened"), "deleted": sum("deleted") })
    };
    let days = eventually("the digest to count every change", || async {
        let (_, days) = host.get("/todo-digest").await;
        (totals(&days) == expected).then_some(days)
    })
    .await;
    let summary = days
        .as_array()
        .and_then(|d| d.iter().find(|s| s["day"] == day.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("a summary for {day}: {days}"));

    // Every update was pushed to todo-digest/daily; the latest one for the day is the summary.
    loop {
        let frame = live.next_json().await;
        let event = &frame["event"];
        assert_eq!(
            (&event["type"], &event["event"]["type"]),
            (&json!("event"), &json!("digest_updated")),
            "{frame}"
        );
        assert_eq!(frame["id"], event["event"]["data"]["day"], "the event id is the day: {frame}");
        if event["event"]["data"] == summary {
            break;
        }
    }

    // Development mode: an edit of app.py serves at once, on the Python engine.
    let edit = "\n# Edited by a test.\n_unedited = FUNCTIONS[\"summaries\"]\n\
                FUNCTIONS[\"summaries\"] = lambda event: {\"edited\": True, \"days\": _unedited(event)}\n";
    let file = dir.path().join("todo-digest/app.py");
    edit_and_wait(&host, &file, edit, "/todo-digest", |body| body["edited"] == true).await;
    assert_eq!(totals(&host.get("/todo-digest").await.1["days"]), expected, "the counts stay");
}

#[test]
fn a_plugin_whose_toolchain_is_missing_is_skipped_with_the_command_that_installs_it() {
    if std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("componentize-js").is_file())
    }) {
        return; // installed globally: it cannot be missing here
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let plugin = dir.path().join("lonely");
    std::fs::create_dir_all(&plugin).expect("mkdir");
    std::fs::write(plugin.join("plugin.toml"), "name = \"lonely\"\ncomponent = \"lonely.wasm\"\n")
        .expect("write");
    std::fs::write(plugin.join("package.json"), "{\"main\": \"index.js\"}").expect("write");
    std::fs::write(plugin.join("index.js"), "export const handler = {};\n").expect("write");

    let missing = eddy::tools::build::check(&plugin).expect_err("no componentize-js here");
    let message = missing.to_string();
    assert!(message.starts_with("componentize-js is not installed"), "{message}");
    assert!(message.contains("npm install") && message.contains("componentize-js@"), "{message}");
    eddy::tools::build::build_all(dir.path()).expect("a skipped plugin does not fail the build");
    assert!(!plugin.join("lonely.wasm").exists());
    let built = eddy::tools::build::build_one(&plugin).expect_err("building it alone says why not");
    assert!(format!("{built:#}").contains("componentize-js is not installed"), "{built:#}");
}
