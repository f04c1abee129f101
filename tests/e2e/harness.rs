//! The test harness: a real Eddy host on 127.0.0.1:0 in its own thread and runtime, serving the
//! repository's example plugins and the tests' fixture plugins (each built once per test run
//! with `eddy build`'s own code), plus real HTTP and WebSocket clients. Waits are conditions
//! with deadlines, never bare sleeps.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once, OnceLock};
use std::time::Duration;

use eddy::plugins::watch::Mode;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// How long a plugin build, or the compile and reload of a JavaScript or Python plugin, may
/// take (on a busy 2-core machine, a rebuild and reload take up to a minute).
pub const SLOW_DEADLINE: Duration = Duration::from_secs(180);

/// The repository's `plugins/` folder (the examples a user runs), built once for the whole test
/// run.
pub fn plugins_dir() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    built(&BUILT, "../plugins")
}

/// The test fixtures' plugins (`tests/fixtures/plugins`: probe, hostile, bare), built once for
/// the whole test run. Only tests serve them.
pub fn fixtures_dir() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    built(&BUILT, "fixtures/plugins")
}

/// `dir` (relative to this crate) built with `eddy build`'s code, once.
fn built(cell: &'static OnceLock<Result<PathBuf, String>>, dir: &str) -> &'static Path {
    let built = cell.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        eddy::tools::build::build_all(&dir).map_err(|e| format!("{e:#}"))?;
        Ok(dir)
    });
    match built {
        Ok(dir) => dir,
        Err(e) => panic!(
            "building the plugins of {dir} failed (is `rustup target add wasm32-wasip2` done?): {e}"
        ),
    }
}

/// Everything the hosts of this test run logged (all tests share one process-wide logger, so
/// look for something unique to your test).
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init();
    });
}

/// A folder holding copies of the Rust example plugins and the test fixtures — what most tests
/// serve. The JavaScript and Python examples (big components, slower to load) are served only
/// by the tests about them.
pub fn rust_plugins() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir");
        for name in ["todos", "todo-summary", "probe", "hostile", "bare"] {
            copy_plugin(name, &dir.path().join(name));
        }
        dir
    })
    .path()
}

/// A running host. Dropping it shuts the host down.
pub struct TestHost {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    /// The host's `--data` directory, removed when the host is dropped.
    data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestHost {
    /// A host serving the Rust examples and the fixtures (todos, todo-summary, probe, hostile,
    /// bare).
    pub fn start() -> TestHost {
        TestHost::start_with(rust_plugins())
    }

    /// A host serving the plugins of `dir`, with a fresh data directory.
    pub fn start_with(dir: &Path) -> TestHost {
        TestHost::start_in(dir, tempfile::tempdir().expect("a data dir"), Mode::Components)
    }

    /// A host serving the plugins of `dir` with `data` as its data directory, watching `mode`.
    pub fn start_in(dir: &Path, data: tempfile::TempDir, mode: Mode) -> TestHost {
        TestHost::start_configured(dir, data, |options| options.watch = mode)
    }

    /// A host serving the plugins of `dir` with `data` as its data directory, with the
    /// defaults changed by `configure`.
    pub fn start_configured(
        dir: &Path,
        data: tempfile::TempDir,
        configure: impl FnOnce(&mut eddy::ServeOptions),
    ) -> TestHost {
        capture_logs();
        let mut options = eddy::ServeOptions::new(dir, data.path());
        // One compile cache for the whole run: a component is compiled once, not per host.
        options.cache =
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-compile-cache"));
        configure(&mut options);
        if !options.memory && options.state.is_none() {
            options.state = crate::engines::shared_store(data.path());
        }
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
            runtime.block_on(async move {
                let server = match eddy::Server::start(options).await {
                    Ok(server) => server,
                    Err(e) => {
                        let _ = addr_tx.send(Err(format!("{e:#}")));
                        return;
                    }
                };
                let _ = addr_tx.send(server.local_addr().map_err(|e| e.to_string()));
                server.run(async move { drop(stopped.await) }).await;
            });
        });
        let addr = addr_rx
            .recv_timeout(DEADLINE * 3)
            .expect("the host to start in time")
            .expect("the host to start");
        TestHost {
            addr,
            http: reqwest::Client::new(),
            data,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path` → (status, JSON body).
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("GET to be answered");
        read(response).await
    }

    /// `POST path` with a JSON body → (status, JSON body).
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response =
            self.http.post(self.url(path)).json(&body).send().await.expect("POST to be answered");
        read(response).await
    }

    /// `POST path` with a raw body and content type.
    pub async fn post_raw(
        &self,
        path: &str,
        body: &str,
        content_type: &str,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("POST to be answered");
        read(response).await
    }

    /// Opens a WebSocket on `path` (`/stream/x/y` or `/streams`).
    pub async fn ws(&self, path: &str) -> WsClient {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{}{path}", self.addr))
            .await
            .expect("the WebSocket to connect");
        WsClient { socket }
    }
}

impl TestHost {
    /// Stops the host and hands back its data directory, e.g. to start another host on it.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.shut_down();
        let placeholder = tempfile::tempdir().expect("a temp dir");
        std::mem::replace(&mut self.data, placeholder)
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// The entry of `/_eddy/plugins` for plugin `name`, if loaded.
    pub async fn plugin_info(&self, name: &str) -> Option<Value> {
        let (_, body) = self.get("/_eddy/plugins").await;
        body["plugins"].as_array()?.iter().find(|p| p["name"] == name).cloned()
    }
}

/// Copies a built plugin (manifest, component and static files, no sources) into `to`: an
/// example from `plugins/NAME`, or a fixture from `tests/fixtures/plugins/NAME`.
pub fn copy_plugin(name: &str, to: &Path) {
    let fixture = fixtures_dir().join(name);
    let from = if fixture.is_dir() { fixture } else { plugins_dir().join(name) };
    std::fs::create_dir_all(to).expect("a plugin folder");
    for file in ["plugin.toml".to_string(), format!("{name}.wasm")] {
        std::fs::copy(from.join(&file), to.join(&file))
            .unwrap_or_else(|e| panic!("copying {name}/{file}: {e}"));
    }
    copy_tree(&from.join("public"), &to.join("public"));
}

/// Copies the folder `from` (if there is one) and everything in it to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else { return };
    std::fs::create_dir_all(to).expect("a folder");
    for entry in entries {
        let path = entry.expect("an entry").path();
        let dest = to.join(path.file_name().expect("a name"));
        if path.is_dir() {
            copy_tree(&path, &dest);
        } else {
            std::fs::copy(&path, &dest)
                .unwrap_or_else(|e| panic!("copying {}: {e}", path.display()));
        }
    }
}

/// Writes `bytes` to `path` the way a build does: to a temporary name, then one rename.
pub fn install(path: &Path, bytes: &[u8]) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).expect("a write");
    std::fs::rename(&partial, path).expect("a rename");
}

impl Drop for TestHost {
    fn drop(&mut self) {
        self.shut_down();
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("a body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
    };
    (status, body)
}

/// A WebSocket client speaking JSON text frames.
pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// The next JSON frame, failing after [`DEADLINE`].
    pub async fn next_json(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(DEADLINE, self.socket.next())
                .await
                .expect("a frame before the deadline")
                .expect("the socket to stay open")
                .expect("a valid frame");
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(&text).expect("frames to be JSON");
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected message {other:?}"),
            }
        }
    }

    /// The next JSON frame, or the close code when the host closes the socket first.
    pub async fn next_json_or_close(&mut self) -> Result<Value, Option<u16>> {
        loop {
            let message = tokio::time::timeout(DEADLINE, self.socket.next())
                .await
                .expect("a frame or a close before the deadline");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Ok(serde_json::from_str(&text).expect("frames to be JSON"));
                }
                Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(None),
            }
        }
    }

    /// The close code the host ends the socket with (skipping any frames before it), or `None`
    /// if it just drops.
    pub async fn next_close(&mut self) -> Option<u16> {
        loop {
            let message = tokio::time::timeout(DEADLINE, self.socket.next())
                .await
                .expect("the socket to end before the deadline");
            match message {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn send_json(&mut self, value: Value) {
        self.socket.send(Message::text(value.to_string())).await.expect("the message to be sent");
    }
}

/// Sends a `marker` event with `{"n": n}` to `stream`/`group` (through the probe fixture) and
/// reads `ws`, subscribed to that group, until it arrives: the frames the client got before it.
/// Frames of one group arrive in order, so this is everything sent to the group before the
/// marker that the client had not read yet.
pub async fn frames_before_marker(
    host: &TestHost,
    ws: &mut WsClient,
    (stream, group): (&str, &str),
    n: u64,
) -> Vec<Value> {
    let (status, _) = host.post(&format!("/probe/send/{stream}/{group}"), json!({ "n": n })).await;
    assert_eq!(status, 200, "the marker was sent");
    let mut frames = Vec::new();
    loop {
        let frame = ws.next_json().await;
        if frame["event"]["event"] == json!({ "type": "marker", "data": { "n": n } }) {
            return frames;
        }
        frames.push(frame);
    }
}

/// Polls `check` until it returns `Some`, failing after [`DEADLINE`] with `what`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(DEADLINE, what, check).await
}

/// Polls `check` until it returns `Some`, failing after `within` with `what`.
pub async fn eventually_within<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
