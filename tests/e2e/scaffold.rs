//! `eddy new`: a plugin made in each language builds with `eddy build`'s code and serves as it
//! is, answering `GET /NAME`, counting its calls in state and greeting a signed-in caller by the
//! subject of their token (so JavaScript and Python functions see the caller's identity too);
//! the JavaScript and Python ones also use every helper of their SDK (`sdk.rs`).

use std::path::Path;
use std::time::Duration;

use eddy::plugins::watch::Mode;
use eddy::tools::scaffold::Lang;
use serde_json::json;

use crate::harness::{TestHost, plugins_dir};
use crate::idp::{Key, Provider, claims};
use crate::languages::{add_plugin, own_cache, require_toolchain, share_toolchains};
use crate::sdk::{add_probe, check_probe, type_errors};

/// Points the Rust plugin at `dir` to the target directory and lock file of the repository's
/// plugins, only so the dependencies this run already compiled are reused; the files `eddy
/// new` wrote are untouched.
fn share_rust_build(dir: &Path) {
    let plugins = plugins_dir().canonicalize().expect("the plugins folder");
    let target = plugins.join("target");
    std::fs::create_dir_all(dir.join(".cargo")).expect("mkdir");
    let config = format!("[build]\ntarget-dir = {:?}\n", target.display().to_string());
    std::fs::write(dir.join(".cargo/config.toml"), config).expect("write");
    std::fs::copy(plugins.join("Cargo.lock"), dir.join("Cargo.lock")).expect("the lock file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_plugin_in_each_language_builds_serves_counts_and_greets_its_caller() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let plugins = [
        ("hello-rust", Lang::Rust),
        ("hello-js", Lang::JavaScript),
        ("hello-python", Lang::Python),
    ];
    for (name, lang) in plugins {
        let folder = eddy::tools::scaffold::create(dir.path(), name, lang).expect("the scaffold");
        assert!(folder.join("plugin.toml").is_file() && folder.join("README.md").is_file());
        if lang != Lang::Rust {
            add_probe(&folder, lang);
        }
    }
    share_toolchains(dir.path());
    for name in ["hello-js", "hello-python"] {
        require_toolchain(&dir.path().join(name));
    }
    share_rust_build(&dir.path().join("hello-rust"));
    let root = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || eddy::tools::build::build_all(&root))
        .await
        .expect("the build task")
        .expect("every scaffold builds");

    // Served from another folder: Rust from the start, JavaScript and Python moved in once the
    // host is up (their components take longer to compile than the host is given to start).
    let served = tempfile::tempdir().expect("a temp dir");
    std::fs::rename(dir.path().join("hello-rust"), served.path().join("hello-rust")).expect("mv");
    let data = tempfile::tempdir().expect("a data dir");
    let key = Key::new("scaffold");
    let provider = Provider::start(&[&key]).await;
    let trusted = provider.config();
    let host = TestHost::start_configured(served.path(), data, |options| {
        own_cache(Mode::Components)(options);
        options.auth = vec![trusted];
    });
    for name in ["hello-js", "hello-python"] {
        add_plugin(&host, &dir.path().join(name), &served.path().join(name)).await;
    }
    let token = key.sign(&claims("ada", Duration::from_secs(3600)));
    for (name, _) in plugins {
        let (status, body) = host.get(&format!("/{name}")).await;
        assert_eq!(status, 200, "{name}: {body}");
        let seen = (&body["plugin"], &body["calls"], &body["caller"]);
        assert_eq!(seen, (&json!(name), &json!(1), &json!(null)), "{body}");

        let signed_in = host.http.get(host.url(&format!("/{name}"))).bearer_auth(&token);
        let response = signed_in.send().await.expect("an answer");
        assert_eq!(response.status(), 200, "{name}");
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!((&body["calls"], &body["caller"]), (&json!(2), &json!("ada")), "{body}");
        assert_eq!(body["message"], format!("Hello ada, from {name}"), "{body}");
    }
    // The SDK, built into each component by `eddy build`.
    for name in ["hello-js", "hello-python"] {
        check_probe(&host, name).await;
    }
}

#[test]
fn a_plugin_that_exists_is_not_overwritten() {
    let dir = tempfile::tempdir().expect("a temp dir");
    eddy::tools::scaffold::create(dir.path(), "twice", Lang::Python).expect("the first");
    let error =
        eddy::tools::scaffold::create(dir.path(), "twice", Lang::JavaScript).expect_err("taken");
    assert!(error.to_string().contains("already exists"), "{error}");
    assert!(!dir.path().join("twice/package.json").exists());
}

#[test]
fn a_new_javascript_plugin_type_checks_against_the_host_interfaces_and_a_wrong_call_does_not() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let folder =
        eddy::tools::scaffold::create(dir.path(), "typed", Lang::JavaScript).expect("the scaffold");
    assert_eq!(type_errors(&folder), None, "the plugin as made checks clean");
    add_probe(&folder, Lang::JavaScript);
    assert_eq!(type_errors(&folder), None, "so does every helper of the SDK, in src/probe.js");
    assert_eq!(type_errors(&plugins_dir().join("todo-search")), None, "so does the example");

    // One op where the SDK takes a list of them.
    let index = folder.join("index.js");
    let source = std::fs::read_to_string(&index).expect("the source");
    let wrong = source.replace("[op.increment('count')]", "op.increment('count')");
    assert_ne!(wrong, source, "the template counts with an op");
    std::fs::write(&index, wrong).expect("the edit");
    let said = type_errors(&folder).expect("a type error");
    assert!(
        said.contains("index.js") && said.contains("not assignable to parameter of type 'Op[]'"),
        "{said}"
    );
}
