//! The edit loop of `eddy dev` (docs/development.md): JavaScript and Python plugins are served
//! from source by their language's development engine, so a save serves without a build. Every
//! save style ends with the newest source serving, or with its error shown and the previous
//! version serving: in place, by rename, several files at once, and during another plugin's
//! build. The first test to run builds each engine (tens of seconds, once per toolchain and
//! run: the engines are kept in the run's shared cache); after that an edit serves within a
//! second or two. The engines have the SDK (`eddy`) built in: a plugin served from source uses
//! it as a built one does (`sdk.rs`).

use std::path::Path;

use eddy::plugins::watch::Mode;
use eddy::tools::scaffold::{self, Lang};
use serde_json::json;

use crate::harness::{SLOW_DEADLINE, TestHost, eventually, eventually_within};
use crate::languages::{require_toolchain, share_toolchains};
use crate::reload::{built_hello, write_hello_source};
use crate::sdk::{add_probe, check_probe};

/// A development-mode host on an empty plugins folder (so it starts at once, before any engine
/// is built), with the toolchains of the repository's `plugins/`.
fn dev_host() -> (tempfile::TempDir, TestHost) {
    let dir = tempfile::tempdir().expect("a temp dir");
    share_toolchains(dir.path());
    let data = tempfile::tempdir().expect("a data dir");
    let host = TestHost::start_configured(dir.path(), data, |o| o.watch = Mode::Sources);
    (dir, host)
}

/// Makes the plugin `name` in `lang` as `eddy new` does, outside the host's view, then moves it
/// in and waits until it answers (the first time, its language's engine is built).
async fn add_new_plugin(host: &TestHost, dir: &Path, name: &str, lang: Lang) -> std::path::PathBuf {
    add_new_plugin_with(host, dir, name, lang, |_| {}).await
}

/// [`add_new_plugin`], with the plugin changed by `prepare` before it is moved in.
async fn add_new_plugin_with(
    host: &TestHost,
    dir: &Path,
    name: &str,
    lang: Lang,
    prepare: impl FnOnce(&Path),
) -> std::path::PathBuf {
    let outside = tempfile::tempdir().expect("a temp dir");
    scaffold::run(outside.path(), name, lang).expect("eddy new");
    prepare(&outside.path().join(name));
    let folder = dir.join(name);
    std::fs::rename(outside.path().join(name), &folder).expect("move the plugin in");
    require_toolchain(&folder);
    eventually_within(SLOW_DEADLINE, &format!("{name} to serve"), || async {
        (host.get(&format!("/{name}")).await.0 == 200).then_some(())
    })
    .await;
    folder
}

/// The greeting `GET /NAME` answers with.
async fn greeting(host: &TestHost, name: &str) -> String {
    let (status, body) = host.get(&format!("/{name}")).await;
    assert_eq!(status, 200, "{body}");
    body["message"].as_str().unwrap_or_default().to_string()
}

/// Writes `text` over `file` in place (truncate and write, as many editors save).
fn save_in_place(file: &Path, text: &str) {
    std::fs::write(file, text).expect("the save");
}

/// Writes `text` to a temporary file beside `file`, then renames it over `file` (as other
/// editors save).
fn save_by_rename(file: &Path, text: &str) {
    let name = file.file_name().and_then(|n| n.to_str()).expect("a file name");
    let temporary = file.with_file_name(format!(".{name}.swp"));
    std::fs::write(&temporary, text).expect("the save");
    std::fs::rename(&temporary, file).expect("the rename");
}

/// Replaces `from` with `to` in `file`, saved with `save`.
fn edit(file: &Path, from: &str, to: &str, save: fn(&Path, &str)) {
    let text = std::fs::read_to_string(file).expect("the source");
    assert!(text.contains(from), "{} holds {from:?}", file.display());
    save(file, &text.replacen(from, to, 1));
}

/// Waits until `GET /NAME` greets with `wanted`.
async fn greets(host: &TestHost, name: &str, wanted: &str) {
    eventually(&format!("{name} to answer {wanted:?}"), || async {
        (greeting(host, name).await == wanted).then_some(())
    })
    .await;
}

/// The reason the host gives for refusing the plugin in `folder`, if it refuses it.
async fn rejection(host: &TestHost, folder: &str) -> Option<String> {
    let (_, body) = host.get("/_eddy/plugins").await;
    let rejected = body["rejected"].as_array()?;
    let entry = rejected
        .iter()
        .find(|r| r["dir"].as_str().is_some_and(|d| Path::new(d).ends_with(folder)))?;
    entry["reason"].as_str().map(str::to_string)
}

/// In place, by rename, broken (reported with its file and line; the last good version serves),
/// then fixed: the newest source serves each time.
async fn follow_saves(lang: Lang, name: &str, entry: &str, broken: &str, error: &str) {
    let (dir, host) = dev_host();
    let folder = add_new_plugin(&host, dir.path(), name, lang).await;
    let file = folder.join(entry);
    assert_eq!(greeting(&host, name).await, format!("Hello from {name}"));

    edit(&file, "Hello from", "Saved in place from", save_in_place);
    greets(&host, name, &format!("Saved in place from {name}")).await;

    edit(&file, "Saved in place from", "Saved by rename from", save_by_rename);
    greets(&host, name, &format!("Saved by rename from {name}")).await;

    let good = std::fs::read_to_string(&file).expect("the source");
    save_in_place(&file, &format!("{good}\n{broken}\n"));
    let reason = eventually("the broken save to be reported", || rejection(&host, name)).await;
    assert!(reason.contains(entry) && reason.contains(error), "{reason}");
    assert_eq!(greeting(&host, name).await, format!("Saved by rename from {name}"));

    save_in_place(&file, &good.replacen("Saved by rename from", "Fixed from", 1));
    greets(&host, name, &format!("Fixed from {name}")).await;
    assert_eq!(rejection(&host, name).await, None, "the fixed version is no longer refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_plugin_serves_every_save_and_keeps_serving_through_a_broken_one() {
    follow_saves(Lang::JavaScript, "greet-js", "index.js", "const = 1;", "Unexpected token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_plugin_serves_every_save_and_keeps_serving_through_a_broken_one() {
    follow_saves(Lang::Python, "greet-py", "app.py", "def broken(:", "SyntaxError").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_modules_saved_together_serve_together() {
    let (dir, host) = dev_host();
    let folder = add_new_plugin(&host, dir.path(), "parts-js", Lang::JavaScript).await;
    let (entry, part) = (folder.join("index.js"), folder.join("src/words.js"));
    std::fs::create_dir_all(folder.join("src")).expect("mkdir");
    save_in_place(
        &part,
        "export const WORD = 'one';\nexport default function shout(s) { return s.toUpperCase(); }\n",
    );
    edit(
        &entry,
        "const NAME",
        "import shout, { WORD } from './src/words.js';\nconst NAME",
        save_in_place,
    );
    edit(&entry, "`Hello from ${NAME}`", "`${shout(WORD)} from ${NAME}`", save_in_place);
    greets(&host, "parts-js", "ONE from parts-js").await;

    // Both files at once: what serves is both edits, never one of them alone for good.
    save_by_rename(
        &part,
        "export const WORD = 'two';\nexport default function shout(s) { return `${s}!`; }\n",
    );
    edit(&entry, "`${shout(WORD)} from", "`${shout(WORD)} also from", save_by_rename);
    greets(&host, "parts-js", "two! also from parts-js").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_during_another_plugins_build_serves_and_so_does_that_build() {
    let dir = built_hello().await;
    let hello = dir.path().join("hello");
    share_toolchains(dir.path());
    let data = tempfile::tempdir().expect("a data dir");
    let host = TestHost::start_configured(dir.path(), data, |o| o.watch = Mode::Sources);
    let folder = add_new_plugin(&host, dir.path(), "beside", Lang::JavaScript).await;

    // A cargo build of hello starts; the JavaScript edit lands while it runs.
    write_hello_source(&hello, "2");
    edit(&folder.join("index.js"), "Hello from", "Edited during a build, from", save_in_place);
    greets(&host, "beside", "Edited during a build, from beside").await;
    eventually_within(SLOW_DEADLINE, "the Rust build to serve", || async {
        (host.get("/hello").await.1 == json!({ "version": 2 })).then_some(())
    })
    .await;
    assert_eq!(greeting(&host, "beside").await, "Edited during a build, from beside");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_sources_the_engine_cannot_run_are_refused_with_the_reason() {
    let (dir, host) = dev_host();
    let folder = add_new_plugin(&host, dir.path(), "refused-js", Lang::JavaScript).await;
    let entry = folder.join("index.js");
    let good = std::fs::read_to_string(&entry).expect("the source");
    std::fs::create_dir_all(folder.join("src")).expect("mkdir");
    // What is refused, the files saved for it (path, text), and what the reason must say.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 3] = [
        ("a package", &[("index.js", "import 'left-pad';\n")], "cannot import \"left-pad\""),
        (
            "a cycle",
            &[
                ("index.js", "import './src/a.js';\n"),
                ("src/a.js", "import './b.js';\nexport const A = 1;\n"),
                ("src/b.js", "import './a.js';\nexport const B = 1;\n"),
            ],
            "src/a.js -> src/b.js -> src/a.js",
        ),
        ("no handler", &[("index.js", "export const nothing = 1;\n")], "must export handler"),
    ];
    for (what, files, reason) in cases {
        for (path, text) in files {
            let text = if *path == "index.js" { format!("{text}{good}") } else { text.to_string() };
            let text = if what == "no handler" { files[0].1.to_string() } else { text };
            save_in_place(&folder.join(path), &text);
        }
        let said = eventually(&format!("{what} to be refused"), || async {
            rejection(&host, "refused-js").await.filter(|r| r.contains(reason))
        })
        .await;
        assert!(said.contains(reason), "{what}: {said}");
        assert_eq!(greeting(&host, "refused-js").await, "Hello from refused-js", "{what}");
        save_in_place(&entry, &good);
        eventually("the good source to be taken back", || async {
            rejection(&host, "refused-js").await.is_none().then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_plugin_imports_the_standard_library_as_a_built_one_would() {
    let (dir, host) = dev_host();
    let folder = add_new_plugin(&host, dir.path(), "stdlib-py", Lang::Python).await;
    let app = folder.join("app.py");
    edit(
        &app,
        "from typing import Any\n",
        "from typing import Any\nimport hashlib, statistics, base64, textwrap\n",
        save_in_place,
    );
    let digest = "hashlib.sha256(b'eddy').hexdigest()[:8]";
    let rest = "str(statistics.mean([1, 2, 3])) + base64.b64encode(b'hi').decode()";
    edit(&app, "f\"Hello from {NAME}\"", &format!("{digest} + {rest}"), save_in_place);
    greets(&host, "stdlib-py", "10344fbb2aGk=").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_served_from_source_use_the_sdk_built_into_the_engines() {
    let (dir, host) = dev_host();
    for (name, lang) in [("sdk-js", Lang::JavaScript), ("sdk-py", Lang::Python)] {
        add_new_plugin_with(&host, dir.path(), name, lang, |folder| add_probe(folder, lang)).await;
        check_probe(&host, name).await;
    }
}
