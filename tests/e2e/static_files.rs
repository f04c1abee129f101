//! Static files from plugins (`docs/static.md`): a plugin's `[static]` folder served with its
//! types, strong `ETag`s and revalidation, `index.html` for folders, the error envelope for
//! misses and no way out of the folder; reloaded when a file changes; a file that answers the
//! same path as a route is a load error.

use std::path::Path;

use reqwest::StatusCode;
use reqwest::header;

use crate::harness::{TestHost, copy_plugin, eventually};
use crate::protocol::{envelope_code, exchange};

/// The todos plugin in `dir/todos` (its manifest serves `public` at `/`), serving `files`
/// (path, content) from its `public` folder instead of its page.
fn todos_with_files(dir: &Path, files: &[(&str, &str)]) {
    let plugin = dir.join("todos");
    copy_plugin("todos", &plugin);
    let manifest = std::fs::read_to_string(plugin.join("plugin.toml")).expect("the manifest");
    assert!(manifest.contains("[static]\ndir = \"public\"\npath = \"/\""), "{manifest}");
    std::fs::remove_dir_all(plugin.join("public")).expect("the page removed");
    std::fs::write(plugin.join("secret.txt"), "not served").expect("a write");
    for (path, content) in files {
        let path = plugin.join("public").join(path);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("a folder");
        std::fs::write(path, content).expect("a write");
    }
}

async fn text(host: &TestHost, path: &str) -> (StatusCode, String) {
    let response = host.http.get(host.url(path)).send().await.expect("an answer");
    (response.status(), response.text().await.expect("a body"))
}

#[tokio::test]
async fn static_files_are_served_with_types_and_tags_and_nothing_else_is() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let page = "<!doctype html><title>Todos</title><script src=\"app.js\"></script>";
    todos_with_files(
        dir.path(),
        &[
            ("index.html", page),
            ("app.js", "console.log('hi');"),
            ("docs/index.html", "<p>docs</p>"),
            ("img/logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            (".env", "SECRET=1"),
        ],
    );
    let host = TestHost::start_with(dir.path());

    let response = host.http.get(host.url("/")).send().await.expect("an answer");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(response.text().await.expect("a body"), page);
    let etag = headers[header::ETAG].to_str().expect("an ETag").to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "a strong ETag: {etag}");

    // Revalidation: the same tag is a 304 without a body; another tag gets the file.
    for (tags, status) in
        [(etag.clone(), 304), (format!("\"other\", W/{etag}"), 304), ("\"other\"".into(), 200)]
    {
        let response = host
            .http
            .get(host.url("/index.html"))
            .header(header::IF_NONE_MATCH, tags.as_str())
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), status, "If-None-Match: {tags}");
        assert_eq!(response.headers()[header::ETAG], etag.as_str());
    }

    let (status, _) = text(&host, "/app.js").await;
    assert_eq!(status, 200);
    let head = host.http.head(host.url("/img/logo.svg")).send().await.expect("an answer");
    assert_eq!(head.headers()[header::CONTENT_TYPE], "image/svg+xml; charset=utf-8");
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "41");
    assert_eq!(text(&host, "/docs/").await, (StatusCode::OK, "<p>docs</p>".into()));

    // A folder without its slash is sent to it, so the page's relative links resolve.
    let (status, raw) =
        exchange(&host, b"GET /docs?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 307, "{}", String::from_utf8_lossy(&raw));

    // Function routes are untouched.
    let (status, todos) = host.get("/todos").await;
    assert_eq!((status, todos.is_array()), (StatusCode::OK, true), "{todos}");

    // No way out of the folder, nor to hidden files: each is the error envelope's 404.
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/docs/..%2f..%2fsecret.txt",
        "/docs/%2e%2e/%2e%2e/plugin.toml",
        "/plugin.toml",
        "/todos.wasm",
        "/.env",
        "/public/index.html",
        "//etc/passwd",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        let (status, body) = exchange(&host, request.as_bytes()).await;
        assert!(status == 404 || status == 400, "{path}: {status}");
        assert!(!String::from_utf8_lossy(&body).contains("not served"), "{path}");
        assert!(!String::from_utf8_lossy(&body).contains("SECRET"), "{path}");
        if status == 404 {
            assert_eq!(envelope_code(&body), "not_found", "{path}");
        }
    }
    let post = host.http.post(host.url("/app.js")).send().await.expect("an answer");
    assert!(post.status().is_client_error(), "{}", post.status());
}

#[tokio::test]
async fn an_edited_added_or_removed_file_is_served_at_once() {
    let dir = tempfile::tempdir().expect("a temp dir");
    todos_with_files(dir.path(), &[("index.html", "first")]);
    let host = TestHost::start_with(dir.path());
    assert_eq!(text(&host, "/").await, (StatusCode::OK, "first".into()));
    let public = dir.path().join("todos/public");

    // Saved in place, as an editor does.
    std::fs::write(public.join("index.html"), "second").expect("a write");
    eventually("the edited page", || async {
        (text(&host, "/").await.1 == "second").then_some(())
    })
    .await;
    std::fs::create_dir_all(public.join("css")).expect("a folder");
    std::fs::write(public.join("css/app.css"), "body{}").expect("a write");
    eventually("the new file", || async {
        (text(&host, "/css/app.css").await == (StatusCode::OK, "body{}".into())).then_some(())
    })
    .await;
    std::fs::remove_file(public.join("css/app.css")).expect("a removal");
    eventually("the removed file gone", || async {
        (text(&host, "/css/app.css").await.0 == 404).then_some(())
    })
    .await;
    let (status, todos) = host.get("/todos").await;
    assert_eq!((status, todos.is_array()), (StatusCode::OK, true), "the plugin kept serving");
}

#[tokio::test]
async fn a_file_that_answers_a_routes_path_is_a_load_error() {
    let dir = tempfile::tempdir().expect("a temp dir");
    todos_with_files(dir.path(), &[("index.html", "page"), ("todos", "a file named like a route")]);
    let host = TestHost::start_with(dir.path());
    let (_, plugins) = host.get("/_eddy/plugins").await;
    let rejected = plugins["rejected"].as_array().expect("rejections").clone();
    let reason = rejected.first().and_then(|r| r["reason"].as_str()).unwrap_or_default().to_owned();
    assert!(
        reason.contains("static file /todos of todos clashes with route GET /todos"),
        "{plugins}"
    );
    assert_eq!(text(&host, "/").await.0, 404, "nothing of the rejected plugin serves");

    // Renaming the file fixes it: the plugin loads.
    let public = dir.path().join("todos/public");
    std::fs::rename(public.join("todos"), public.join("todos.txt")).expect("a rename");
    eventually("the fixed plugin", || async {
        (text(&host, "/").await == (StatusCode::OK, "page".into())).then_some(())
    })
    .await;
    assert_eq!(host.get("/todos").await.0, StatusCode::OK);
}
