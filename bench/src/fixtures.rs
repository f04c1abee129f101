//! The plugin folders the scenarios serve: copies of the repository's built plugins (manifest
//! and component only), renamed or rewired through their manifest text, in temporary
//! directories; and the JavaScript and Python plugins built here, with their toolchains.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Copies the plugin folder `plugins/name` (its `plugin.toml`, `.wasm` files and static files) to
/// `to/as_name`, passing the manifest through `edit`. Returns the new folder.
pub fn copy_plugin(
    plugins: &Path,
    name: &str,
    to: &Path,
    as_name: &str,
    edit: impl Fn(&str) -> String,
) -> anyhow::Result<PathBuf> {
    let from = plugins.join(name);
    let dest = to.join(as_name);
    std::fs::create_dir_all(&dest)?;
    let manifest = std::fs::read_to_string(from.join("plugin.toml"))
        .with_context(|| format!("reading {}", from.join("plugin.toml").display()))?;
    std::fs::write(dest.join("plugin.toml"), edit(&manifest))?;
    for entry in std::fs::read_dir(&from)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            std::fs::copy(&path, dest.join(path.file_name().context("a file name")?))?;
        }
    }
    copy_tree(&from.join("public"), &dest.join("public"))?;
    Ok(dest)
}

/// Copies the folder `from` (if there is one: a plugin's static files) and all it holds to `to`.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else { return Ok(()) };
    std::fs::create_dir_all(to)?;
    for entry in entries {
        let path = entry?.path();
        let dest = to.join(path.file_name().context("a file name")?);
        if path.is_dir() {
            copy_tree(&path, &dest)?;
        } else {
            std::fs::copy(&path, &dest)?;
        }
    }
    Ok(())
}

/// The plugin unchanged.
pub fn same(manifest: &str) -> String {
    manifest.to_string()
}

/// The manifest of plugin `old` as plugin `new`: its name, and every route under `/old` moved
/// under `/new`, so copies can be served side by side.
pub fn renamed(manifest: &str, old: &str, new: &str) -> String {
    manifest
        .replace(&format!("name = \"{old}\""), &format!("name = \"{new}\""))
        .replace(&format!("path = \"/{old}"), &format!("path = \"/{new}"))
}

/// The manifest with warm instances turned off: every call instantiates.
pub fn fresh_instances(manifest: &str) -> String {
    manifest.replace("reuse = true", "reuse = false")
}

/// Whether the built component of `plugins/name` is there.
pub fn is_built(plugins: &Path, name: &str) -> bool {
    plugins.join(name).join(format!("{name}.wasm")).is_file()
}

/// Where [`build_guest`] builds: one folder per plugin and content of its sources.
fn guest_builds() -> PathBuf {
    crate::repo().join("target/eddy-bench/plugins")
}

/// Builds the JavaScript or Python plugin folder `source` (e.g. `bench/hello-js`, or
/// `plugins/todo-search`) with the release `eddy build`, the toolchains of the repository's
/// `plugins/` (componentize-js in `plugins/node_modules`, componentize-py in `plugins/.venv`:
/// `.ci/run` installs both) and the WIT in `wit/`. The build happens on a copy of the folder's
/// files, in `target/eddy-bench/plugins/<name>-<hash of the sources, the WIT and the SDK>/`, and
/// is kept: a build takes 10 s or more, so only a changed source builds again.
///
/// Returns the plugins directory holding the built `<name>/`, or why it could not be built
/// (a missing binary or toolchain) for the scenario to print. A build that fails is an error.
pub fn build_guest(source: &Path) -> anyhow::Result<Result<PathBuf, String>> {
    let name = source.file_name().context("a plugin folder")?.to_string_lossy().into_owned();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(source).with_context(|| format!("{}", source.display()))? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_none_or(|e| e != "wasm") {
            files.push(path);
        }
    }
    files.sort();
    let mut hash = Sha256::new();
    for file in &files {
        hash.update(file.file_name().unwrap_or_default().as_encoded_bytes());
        hash.update(std::fs::read(file)?);
    }
    hash.update(std::fs::read(crate::repo().join("wit/eddy.wit"))?);
    // The SDK the build gives a JavaScript or Python plugin (`eddy`) is part of its component.
    hash.update(eddy::tools::sdk::JS);
    for (path, text) in eddy::tools::sdk::PYTHON {
        hash.update(path);
        hash.update(text);
    }
    let hash = format!("{:x}", hash.finalize());
    let built = guest_builds().join(format!("{name}-{}", &hash[..16]));
    if is_built(&built, &name) {
        return Ok(Ok(built));
    }
    let Some(eddy) = crate::process::binary() else {
        return Ok(Err("target/release/eddy is missing: `cargo build --release -p eddy`".into()));
    };
    // Earlier builds of this plugin are of older sources.
    if let Ok(entries) = std::fs::read_dir(guest_builds()) {
        for entry in entries.flatten() {
            let old = entry.file_name().to_string_lossy().into_owned();
            let hash = old.strip_prefix(&name).and_then(|rest| rest.strip_prefix('-'));
            if hash.is_some_and(|h| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit())) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let folder = built.join(&name);
    std::fs::create_dir_all(&folder)?;
    for file in &files {
        std::fs::copy(file, folder.join(file.file_name().context("a file name")?))?;
    }
    let toolchains = crate::repo().join("plugins");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(toolchains.join("node_modules/.bin")).chain(std::env::split_paths(&path)),
    )?;
    let mut command = Command::new(&eddy);
    command.arg("build").arg(&built).env("PATH", path);
    if toolchains.join(".venv").is_dir() {
        command.env("VIRTUAL_ENV", toolchains.join(".venv"));
    }
    println!("building {} ...", source.strip_prefix(crate::repo()).unwrap_or(source).display());
    let output = command.output().with_context(|| format!("running {}", eddy.display()))?;
    let said = String::from_utf8_lossy(&output.stdout);
    if is_built(&built, &name) {
        return Ok(Ok(built));
    }
    let _ = std::fs::remove_dir_all(&built);
    // `eddy build` skips a plugin whose toolchain is missing with a line that says so
    // (`toolchain::MissingToolchain`); its own advice names the copy's folder, not `plugins/`.
    if said.contains("Node.js is not installed") {
        return Ok(Err("Node.js, which componentize-js runs on, is not on PATH".into()));
    }
    if said.contains("componentize-js is not installed") {
        return Ok(Err("componentize-js is not installed: `npm install --prefix plugins`".into()));
    }
    if said.contains("componentize-py is not installed") {
        return Ok(Err("componentize-py is not installed: `python3 -m venv plugins/.venv && \
                       plugins/.venv/bin/pip install componentize-py==0.25.1`"
            .into()));
    }
    anyhow::bail!(
        "building {} failed:\n{}\n{}",
        source.display(),
        said.trim_end(),
        String::from_utf8_lossy(&output.stderr).trim_end()
    )
}

/// `wasm` with a custom section appended: the same component as other bytes (what a rebuild
/// produces), so nothing keyed by its hash is reused.
pub fn with_custom_section(wasm: &[u8], n: u8) -> Vec<u8> {
    let name = b"eddy-bench-copy";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.push(n);
    let mut bytes = wasm.to_vec();
    bytes.push(0); // custom section id
    bytes.push(section.len() as u8); // its size, one LEB128 byte
    bytes.extend(section);
    bytes
}

/// A WebSocket client on stream `todos-live`, group `all` (where `todos::on-change` sends),
/// connected and past its sync frame: the key of each `todo_changed` frame and when it arrived,
/// read by a task of its own so arrival times are not delayed by the scenario.
pub struct TodoFrames {
    frames: mpsc::UnboundedReceiver<(String, Instant)>,
    reader: tokio::task::JoinHandle<()>,
}

impl TodoFrames {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<TodoFrames> {
        let (socket, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/stream/todos-live/all")).await?;
        let (_sink, mut read) = socket.split();
        read.next().await.context("no sync frame")??;
        let (tx, frames) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = read.next().await {
                let arrived = Instant::now();
                if let Message::Text(text) = message {
                    let frame: Value = serde_json::from_str(&text).unwrap_or_default();
                    if let Some(key) = frame["event"]["event"]["data"]["key"].as_str()
                        && tx.send((key.to_owned(), arrived)).is_err()
                    {
                        break;
                    }
                }
            }
        });
        Ok(TodoFrames { frames, reader })
    }

    /// The next frame's todo key and arrival time; fails after 10 s without one.
    pub async fn next(&mut self) -> anyhow::Result<(String, Instant)> {
        tokio::time::timeout(Duration::from_secs(10), self.frames.recv())
            .await
            .context("no frame within 10 s")?
            .context("the WebSocket closed")
    }
}

impl Drop for TodoFrames {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_moves_the_name_and_the_routes_but_not_the_scopes() {
        let manifest = "name = \"todos\"\n[capabilities]\nstate = [\"todos\"]\n\
                        triggers = [{ type = \"http\", method = \"GET\", path = \"/todos/metrics\" }]\n";
        let copy = renamed(manifest, "todos", "todos-3");
        assert!(copy.contains("name = \"todos-3\""));
        assert!(copy.contains("path = \"/todos-3/metrics\""));
        assert!(copy.contains("state = [\"todos\"]"));
    }
}
