//! Hot reload (`docs/plugins.md`): plugins added, replaced, broken and removed while the host serves a
//! steady stream of requests, none of which may fail.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use eddy::plugins::watch::Mode;

use crate::harness::{
    SLOW_DEADLINE, TestHost, copy_plugin, eventually, eventually_within, install, logs, plugins_dir,
};

/// `wasm` with a custom section appended: the same component with other bytes, as a rebuild
/// after an edit produces.
fn variant(wasm: &[u8], n: u8) -> Vec<u8> {
    let name = b"eddy-test-variant";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.push(n);
    let mut bytes = wasm.to_vec();
    bytes.push(0); // custom section id
    bytes.push(section.len() as u8); // size (LEB128, < 128)
    bytes.extend(section);
    bytes
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Requests the host without pause until stopped (or 60 s pass): creates and lists todos.
/// Counts the requests and records every failure.
struct Load {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(usize, usize, Vec<String>)>,
}

impl Load {
    fn start(host: &TestHost) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (http, base, flag) = (host.http.clone(), host.url(""), stop.clone());
        let task = tokio::spawn(async move {
            let (mut requests, mut created, mut failures) = (0, 0, Vec::new());
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
            while !flag.load(Ordering::Relaxed) && tokio::time::Instant::now() < deadline {
                let create = requests % 2 == 0;
                let response = if create {
                    http.post(format!("{base}/todos"))
                        .json(&json!({ "title": format!("load {requests}") }))
                        .send()
                        .await
                } else {
                    http.get(format!("{base}/todos")).send().await
                };
                requests += 1;
                match response {
                    Ok(r) if r.status().is_success() => created += usize::from(create),
                    Ok(r) => failures.push(format!(
                        "{} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (requests, created, failures)
        });
        Load { stop, task }
    }

    async fn finish(self) -> (usize, usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the load task")
    }
}

async fn serving_sha(host: &TestHost, name: &str) -> Option<String> {
    host.plugin_info(name).await?["sha256"].as_str().map(str::to_string)
}

async fn status_of(host: &TestHost, path: &str) -> u16 {
    host.get(path).await.0.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_are_replaced_broken_moved_added_and_removed_with_zero_failed_requests() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let todos = dir.path().join("todos");
    copy_plugin("todos", &todos);
    let host = TestHost::start_with(dir.path());
    let original = std::fs::read(todos.join("todos.wasm")).expect("the component");
    assert_eq!(serving_sha(&host, "todos").await, Some(sha256(&original)));
    let load = Load::start(&host);

    // A new build of the component swaps in.
    let rebuilt = variant(&original, 1);
    install(&todos.join("todos.wasm"), &rebuilt);
    eventually("the new build to serve", || async {
        (serving_sha(&host, "todos").await == Some(sha256(&rebuilt))).then_some(())
    })
    .await;

    // Garbage is rejected with its reason; the previous build keeps serving.
    install(&todos.join("todos.wasm"), b"this is not wasm");
    let rejection = eventually("the rejection to be listed", || async {
        let info = host.plugin_info("todos").await?;
        info["last_rejection"]["reason"].as_str().map(str::to_string)
    })
    .await;
    assert!(rejection.contains("not a valid wasm component"), "{rejection}");
    assert_eq!(serving_sha(&host, "todos").await, Some(sha256(&rebuilt)));
    assert_eq!(status_of(&host, "/todos/metrics").await, 200);

    // Putting the serving build back clears the rejection.
    install(&todos.join("todos.wasm"), &rebuilt);
    eventually("the rejection to clear", || async {
        host.plugin_info("todos").await?["last_rejection"].is_null().then_some(())
    })
    .await;

    // A manifest edit moves a route: the new path serves, the old one is gone.
    let manifest = std::fs::read_to_string(todos.join("plugin.toml")).expect("the manifest");
    assert!(manifest.contains("\"/todos/metrics\""));
    install(
        &todos.join("plugin.toml"),
        manifest.replace("\"/todos/metrics\"", "\"/todos/stats\"").as_bytes(),
    );
    eventually("the moved route to serve", || async {
        (status_of(&host, "/todos/stats").await == 200).then_some(())
    })
    .await;
    assert_eq!(status_of(&host, "/todos/metrics").await, 404);

    // A second plugin appears (staged in a hidden folder, then moved in whole) and serves...
    let staging = dir.path().join(".staging");
    copy_plugin("todo-summary", &staging);
    std::fs::rename(&staging, dir.path().join("todo-summary")).expect("move the plugin in");
    eventually("the added plugin to serve", || async {
        (status_of(&host, "/todo-summary").await == 200).then_some(())
    })
    .await;
    // ...and goes away with its folder.
    std::fs::remove_dir_all(dir.path().join("todo-summary")).expect("remove the plugin");
    eventually("the removed plugin's route to 404", || async {
        (status_of(&host, "/todo-summary").await == 404).then_some(())
    })
    .await;
    assert!(host.plugin_info("todo-summary").await.is_none());

    let (requests, created, failures) = load.finish().await;
    assert!(failures.is_empty(), "{} of {requests} requests failed: {failures:?}", failures.len());
    assert!(requests >= 20, "the load kept running through the swaps ({requests} requests)");

    // State is untouched by the swaps: every create is there and the metrics agree.
    let (_, list) = host.get("/todos").await;
    assert_eq!(list.as_array().map(Vec::len), Some(created));
    eventually("the metrics to count every todo", || async {
        let (_, metrics) = host.get("/todos/stats").await;
        (metrics == json!({ "total": created, "completed": 0 })).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_broken_new_plugin_is_rejected_then_loads_once_fixed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    copy_plugin("todos", &dir.path().join("todos"));
    let host = TestHost::start_with(dir.path());

    let summary = dir.path().join("todo-summary");
    copy_plugin("todo-summary", &summary);
    let manifest = std::fs::read_to_string(summary.join("plugin.toml")).expect("the manifest");
    install(&summary.join("plugin.toml"), format!("{manifest}\nflavour = 1\n").as_bytes());
    let rejected = eventually("the bad manifest to be rejected", || async {
        let (_, body) = host.get("/_eddy/plugins").await;
        body["rejected"]
            .as_array()?
            .iter()
            .find(|r| r["dir"].as_str().is_some_and(|d| d.ends_with("todo-summary")))
            .cloned()
    })
    .await;
    let reason = rejected["reason"].as_str().unwrap_or("");
    assert!(rejected["file"].as_str().is_some_and(|f| f.ends_with("plugin.toml")), "{rejected}");
    assert!(reason.starts_with("line ") && reason.contains("flavour"), "{reason}");
    assert_eq!(status_of(&host, "/todo-summary").await, 404);

    install(&summary.join("plugin.toml"), manifest.as_bytes());
    eventually("the fixed plugin to serve", || async {
        (status_of(&host, "/todo-summary").await == 200).then_some(())
    })
    .await;
    let (_, body) = host.get("/_eddy/plugins").await;
    assert_eq!(body["rejected"], json!([]));
}

#[tokio::test]
async fn a_plugin_that_takes_another_plugins_name_or_route_is_rejected() {
    let dir = tempfile::tempdir().expect("a temp dir");
    copy_plugin("todos", &dir.path().join("todos"));
    let host = TestHost::start_with(dir.path());

    let copy = dir.path().join("todos-copy");
    copy_plugin("todos", &copy);
    let reason = eventually("the copy to be rejected", || async {
        rejection_reason(&host, "todos-copy").await
    })
    .await;
    assert!(reason.contains("name todos is taken"), "{reason}");

    let manifest = std::fs::read_to_string(copy.join("plugin.toml")).expect("the manifest");
    install(
        &copy.join("plugin.toml"),
        manifest.replacen("name = \"todos\"", "name = \"todos-two\"", 1).as_bytes(),
    );
    let reason = eventually("the route clash", || async {
        rejection_reason(&host, "todos-copy").await.filter(|r| r.contains("clashes"))
    })
    .await;
    assert!(reason.contains("todos"), "{reason}");
    assert_eq!(host.post("/todos", json!({ "title": "still mine" })).await.0, 200);
}

async fn rejection_reason(host: &TestHost, folder: &str) -> Option<String> {
    let (_, body) = host.get("/_eddy/plugins").await;
    let rejected = body["rejected"].as_array()?;
    let entry = rejected
        .iter()
        .find(|r| r["dir"].as_str().is_some_and(|d| Path::new(d).ends_with(folder)))?;
    entry["reason"].as_str().map(str::to_string)
}

#[tokio::test]
async fn a_restart_loads_compiled_components_from_the_cache() {
    let dir = tempfile::tempdir().expect("a temp dir");
    copy_plugin("todos", &dir.path().join("todos"));
    // Their own cache in the data directory, not the run's shared one.
    let own_cache = |options: &mut eddy::ServeOptions| options.cache = None;
    let first =
        TestHost::start_configured(dir.path(), tempfile::tempdir().expect("a data dir"), own_cache);
    let info: Value = first.plugin_info("todos").await.expect("todos loaded");
    assert_eq!(info["from_cache"], false, "compiled on first sight");
    let data = first.stop();

    let second = TestHost::start_configured(dir.path(), data, own_cache);
    let info = second.plugin_info("todos").await.expect("todos loaded");
    assert_eq!(info["from_cache"], true, "loaded from the compile cache");
    assert_eq!(second.post("/todos", json!({ "title": "cached" })).await.0, 200);
}

/// A standalone Rust plugin `hello` answering `GET /hello` with `{"version": VERSION}`, built
/// into the repository's plugin target directory so its dependencies are already compiled. Its
/// crate has a name of its own (`hello-N`): tests running at once share that directory, and
/// with one crate name one test's build could overwrite the artifact another is copying.
fn write_hello(dir: &Path, version: &str) {
    static CRATES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = CRATES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let package = format!("hello-{n}");
    let sdk = plugins_dir().join("../guest-sdk").canonicalize().expect("the SDK");
    // Where the repository's plugins were built (so the SDK's dependencies are compiled already).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| plugins_dir().join("target"));
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::create_dir_all(dir.join(".cargo")).expect("mkdir");
    let files = [
        ("plugin.toml", "name = \"hello\"\ncomponent = \"hello.wasm\"\n[functions.hello]\ntriggers = [{ type = \"http\", method = \"GET\", path = \"/hello\" }]\n".to_string()),
        (".cargo/config.toml", format!("[build]\ntarget-dir = {:?}\n", target.display().to_string())),
        ("Cargo.toml", format!(
            "[package]\nname = {package:?}\nversion = \"0.1.0\"\nedition = \"2024\"\n[lib]\ncrate-type = [\"cdylib\"]\n\
             [dependencies]\neddy-sdk = {{ path = {:?} }}\nserde_json = \"1\"\n\
             [profile.release]\nopt-level = \"s\"\nlto = true\n[workspace]\n",
            sdk.display().to_string(),
        )),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write");
    }
    write_hello_source(dir, version);
}

/// A plugins folder holding [`write_hello`]'s plugin at version 1, built.
pub async fn built_hello() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    write_hello(&dir.path().join("hello"), "1");
    let root = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || eddy::tools::build::build_all(&root))
        .await
        .expect("the build task")
        .expect("the first build");
    dir
}

pub fn write_hello_source(dir: &Path, version: &str) {
    let source = format!(
        "use eddy_sdk::plugin;\nplugin! {{ \"hello\" => hello }}\n\
         fn hello() -> serde_json::Value {{ serde_json::json!({{ \"version\": {version} }}) }}\n"
    );
    std::fs::write(dir.join("src/lib.rs"), source).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_mode_rebuilds_a_changed_source_and_keeps_serving_through_a_broken_build() {
    let dir = built_hello().await;
    let hello = dir.path().join("hello");
    let host =
        TestHost::start_in(dir.path(), tempfile::tempdir().expect("a data dir"), Mode::Sources);
    assert_eq!(host.get("/hello").await.1, json!({ "version": 1 }));

    write_hello_source(&hello, "2");
    // A rebuild is a cargo build: seconds alone, more on a machine busy with other tests.
    eventually_within(SLOW_DEADLINE, "the edited source to serve", || async {
        (host.get("/hello").await.1 == json!({ "version": 2 })).then_some(())
    })
    .await;

    write_hello_source(&hello, "this is not rust");
    eventually_within(SLOW_DEADLINE, "the failed build to be reported", || async {
        logs()
            .lines()
            .any(|l| l.contains("plugin build failed") && l.contains("hello"))
            .then_some(())
    })
    .await;
    assert_eq!(host.get("/hello").await.1, json!({ "version": 2 }), "the last good build serves");
}
