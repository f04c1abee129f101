//! `eddy build DIR`: builds every plugin source in DIR with its language's toolchain and leaves
//! the component where its `plugin.toml` says (`component = "todos.wasm"`). The language is told
//! by the folder's files: `Cargo.toml` is Rust (cargo, `wasm32-wasip2`), `package.json` is
//! JavaScript (componentize-js), `app.py` or `pyproject.toml` is Python (componentize-py). A
//! folder with no sources but a component is prebuilt and left alone.
//!
//! JavaScript and Python are built against the WIT world this host was compiled with (embedded
//! below), so every language builds against the one contract in `wit/`, each with its SDK
//! (`eddy`, `sdk.rs`): a JavaScript plugin from a staged copy of its modules with the SDK
//! beside them, a Python one with the SDK's folder on its module path. Their toolchains are
//! found locally, never installed globally: componentize-js in `node_modules/.bin` of the plugin
//! or of the plugins directory (`npm install` there), componentize-py in a `.venv` of either,
//! the active virtualenv, or `PATH`.
//!
//! Output is one line per plugin. A build that fails makes the whole command fail; a plugin
//! whose toolchain is not installed is skipped with a line naming the command that installs it,
//! so a machine with only Rust still builds (and `eddy dev` still serves) the Rust plugins.
//! Every build writes to a temporary name and renames, so a watching host never loads a
//! half-written component.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::sdk;
use super::workspace::{Workspace, content_dir};
use crate::plugins::folders::plugin_dirs;
use crate::plugins::manifest::Manifest;

/// The target every Rust plugin is built for.
const RUST_TARGET: &str = "wasm32-wasip2";

/// The contract JavaScript and Python plugins are built against: the very WIT this host speaks.
pub(super) const WIT: &str = include_str!("../../../wit/eddy.wit");
/// The world of [`WIT`] that every plugin targets.
const WORLD: &str = "plugin";

/// The componentize-js release the repository's `plugins/package.json` pins.
const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js@0.23.0";
/// The componentize-py release `.ci/run` installs.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
/// The WASI features componentize-js can leave out. All are left out unless a plugin's
/// `package.json` asks for them (`"eddy": {"wasi": ["clocks"]}`): the host grants none of
/// them, and without `http` and `fetch-event` the component would import `wasi:http`.
pub(super) const JS_WASI_FEATURES: &[&str] = &["stdio", "random", "clocks", "http", "fetch-event"];

/// The language of a plugin folder, told by its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    JavaScript,
    Python,
    /// No sources: the component is used as it is.
    Prebuilt,
}

/// A plugin's toolchain is not installed. Builds skip such a plugin; the message says what to
/// run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{tool} is not installed: {install}")]
pub struct MissingToolchain {
    pub tool: &'static str,
    /// The command that installs it, and where to run it.
    pub install: String,
}

pub fn detect(dir: &Path) -> Language {
    if dir.join("Cargo.toml").is_file() {
        Language::Rust
    } else if dir.join("package.json").is_file() {
        Language::JavaScript
    } else if dir.join("app.py").is_file() || dir.join("pyproject.toml").is_file() {
        Language::Python
    } else {
        Language::Prebuilt
    }
}

/// Whether the toolchain the plugin in `dir` needs is installed (Rust's is assumed: it runs
/// this).
pub fn check(dir: &Path) -> Result<(), MissingToolchain> {
    match detect(dir) {
        Language::JavaScript => componentize_js(dir).map(drop),
        Language::Python => componentize_py(dir).map(drop),
        Language::Rust | Language::Prebuilt => Ok(()),
    }
}

/// Builds every plugin under `dir`. Returns an error naming the plugins that failed; plugins
/// whose toolchain is missing are skipped, not failed.
pub fn build_all(dir: &Path) -> anyhow::Result<()> {
    build_each(dir, false)
}

/// What `eddy dev` builds at start: as [`build_all`], except the JavaScript and Python plugins
/// whose toolchain is installed, which it serves from source (`engine.rs`).
pub fn build_for_dev(dir: &Path) -> anyhow::Result<()> {
    build_each(dir, true)
}

fn build_each(dir: &Path, dev: bool) -> anyhow::Result<()> {
    let dirs = plugin_dirs(dir).with_context(|| format!("reading {}", dir.display()))?;
    if dirs.is_empty() {
        bail!("no plugins in {} (a plugin is a folder with a plugin.toml)", dir.display());
    }
    let mut failed = Vec::new();
    for plugin_dir in &dirs {
        let name = plugin_dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let started = Instant::now();
        let language = detect(plugin_dir);
        if language == Language::JavaScript {
            super::typescript::refresh(plugin_dir, WIT)?;
        }
        if dev
            && matches!(language, Language::JavaScript | Language::Python)
            && check(plugin_dir).is_ok()
        {
            println!("  dev   {name:<16} served from source by the {language:?} engine: no build");
            continue;
        }
        match build_one(plugin_dir) {
            Ok(Some(component)) => {
                let size = std::fs::metadata(&component).map_or(0, |m| m.len());
                println!(
                    "  built {name:<16} {:>6.1}s  {} ({} KiB)",
                    started.elapsed().as_secs_f64(),
                    component.display(),
                    size / 1024
                );
            }
            Ok(None) => println!("  kept  {name:<16} prebuilt component, no sources"),
            Err(e) if e.downcast_ref::<MissingToolchain>().is_some() => {
                println!("  SKIPPED {name:<14} {e}");
            }
            Err(e) => {
                println!("  FAILED {name:<15} {e:#}");
                failed.push(format!("{name} ({e:#})"));
            }
        }
    }
    if !failed.is_empty() {
        bail!("{} plugin(s) failed to build: {}", failed.len(), failed.join("; "));
    }
    Ok(())
}

/// Builds one plugin folder; returns where the component was written (none if prebuilt). A
/// missing toolchain is a [`MissingToolchain`] error.
pub fn build_one(dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    // Checked first, so the install command names the folders as the caller did.
    check(dir)?;
    // Tools run in the plugin's folder: every path handed to them must be absolute.
    let dir =
        &std::fs::canonicalize(dir).with_context(|| format!("{} is missing", dir.display()))?;
    let manifest = Manifest::load(&dir.join("plugin.toml"))?;
    let component = &manifest.component;
    let built = match detect(dir) {
        Language::Rust => build_rust(dir, component),
        Language::JavaScript => build_js(dir, component),
        Language::Python => build_python(dir, component),
        Language::Prebuilt if component.is_file() => return Ok(None),
        Language::Prebuilt => {
            bail!(
                "no sources (Cargo.toml, package.json or app.py) and no component at {}",
                component.display()
            )
        }
    };
    if let Err(e) = built {
        // A failed build leaves nothing half-written behind.
        let _ = std::fs::remove_file(partial(component));
        return Err(e);
    }
    Ok(Some(component.clone()))
}

/// Where a build writes before the rename that makes its component visible.
pub(super) fn partial(component: &Path) -> PathBuf {
    component.with_extension("wasm.partial")
}

fn build_rust(dir: &Path, component: &Path) -> anyhow::Result<()> {
    let cargo_toml = dir.join("Cargo.toml");
    // Run in the plugin's folder so its own `.cargo/config.toml` applies, as it would by hand.
    let output = Command::new(cargo())
        .current_dir(dir)
        .args(["build", "--release", "--quiet", "--target", RUST_TARGET, "--manifest-path"])
        .arg(&cargo_toml)
        .output()
        .context("running cargo (is the Rust toolchain installed?)")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains(RUST_TARGET) && stderr.contains("target may not be installed") {
            bail!("the {RUST_TARGET} target is missing: run `rustup target add {RUST_TARGET}`");
        }
        bail!("cargo build failed:\n{}", stderr.trim_end());
    }
    let (target_dir, lib_name) = cargo_artifact(dir, &cargo_toml)?;
    let built = target_dir.join(RUST_TARGET).join("release").join(format!("{lib_name}.wasm"));
    let partial = partial(component);
    std::fs::copy(&built, &partial)
        .with_context(|| format!("copying {} to {}", built.display(), partial.display()))?;
    std::fs::rename(&partial, component)?;
    Ok(())
}

/// The target directory and the library name of the package at `cargo_toml`.
fn cargo_artifact(dir: &Path, cargo_toml: &Path) -> anyhow::Result<(PathBuf, String)> {
    let output = Command::new(cargo())
        .current_dir(dir)
        .args(["metadata", "--no-deps", "--format-version", "1", "--manifest-path"])
        .arg(cargo_toml)
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr).trim_end());
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("parsing cargo metadata")?;
    let target_dir =
        metadata["target_directory"].as_str().context("cargo metadata has no target_directory")?;
    let wanted = std::fs::canonicalize(cargo_toml)?;
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["manifest_path"].as_str().and_then(|m| std::fs::canonicalize(m).ok()).as_ref()
                == Some(&wanted)
        })
        .context("cargo metadata does not list this package")?;
    let lib = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib")))
        .context("the package has no cdylib target: add `[lib] crate-type = [\"cdylib\"]`")?;
    let name = lib["name"].as_str().context("the cdylib target has no name")?.replace('-', "_");
    Ok((PathBuf::from(target_dir), name))
}

/// The cargo that runs this build: `$CARGO` when eddy itself runs under cargo, else `cargo`.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// `componentize-js ENTRY --wit WIT -n plugin -d FEATURES... -o PARTIAL`, with the entry and the
/// WASI features to keep from the plugin's `package.json` (`main`, `eddy.wasi`).
fn build_js(dir: &Path, component: &Path) -> anyhow::Result<()> {
    let tool = componentize_js(dir)?;
    let package: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("package.json"))?)
        .context("package.json is not valid JSON")?;
    let entry = package["main"].as_str().unwrap_or("index.js");
    if !dir.join(entry).is_file() {
        bail!("the entry module {entry} is missing (package.json \"main\", default index.js)");
    }
    let keep = js_wasi_kept(&package)?;
    let disabled = JS_WASI_FEATURES.iter().filter(|f| !keep.contains(f));
    let wit = wit_dir()?;
    // Built from a copy of its modules with the SDK beside them, so `'eddy'` resolves.
    static UNIQUE: AtomicU64 = AtomicU64::new(0);
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    let work = Workspace::new(
        std::env::temp_dir().join(format!("eddy-build-js-{}-{n}", std::process::id())),
    )?;
    sdk::stage_js(dir, work.path())?;
    let mut command = Command::new(tool);
    command.current_dir(work.path()).arg(entry).arg("--wit").arg(&wit);
    command.args(["--world-name", WORLD]).arg("--disable").args(disabled);
    command.arg("--out").arg(partial(component));
    finish(command, "componentize-js", component)
}

/// The WASI features a JavaScript plugin keeps: `"eddy": {"wasi": [...]}` in its package.json.
pub(super) fn js_wasi_kept(package: &Value) -> anyhow::Result<Vec<&str>> {
    let Some(list) = package["eddy"].get("wasi") else { return Ok(Vec::new()) };
    let names: Option<Vec<&str>> =
        list.as_array().and_then(|l| l.iter().map(Value::as_str).collect());
    let names = names.context("package.json: eddy.wasi must be a list of names")?;
    if let Some(bad) = names.iter().find(|n| !JS_WASI_FEATURES.contains(n)) {
        bail!("package.json: eddy.wasi names {bad:?}; known: {}", JS_WASI_FEATURES.join(", "));
    }
    Ok(names)
}

/// `componentize-py -d WIT -w plugin componentize -p . -p SDK app -o PARTIAL`: the entry
/// module is `app.py`; the module path is the plugin's folder, then the SDK's (`eddy`).
fn build_python(dir: &Path, component: &Path) -> anyhow::Result<()> {
    let tool = componentize_py(dir)?;
    if !dir.join("app.py").is_file() {
        bail!("app.py is missing: a Python plugin's entry module is app.py");
    }
    let wit = wit_dir()?;
    let mut command = Command::new(tool);
    command.current_dir(dir).arg("-d").arg(&wit).args(["-w", WORLD]);
    let sdk = content_dir("eddy-sdk-py", sdk::PYTHON)?;
    command.args(["componentize", "-p", ".", "-p"]).arg(sdk);
    command.args(["app", "-o"]).arg(partial(component));
    finish(command, "componentize-py", component)
}

/// Runs a componentize command that writes the partial component, then renames it into place.
pub(super) fn finish(mut command: Command, tool: &str, component: &Path) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("running {tool}"))?;
    let partial = partial(component);
    if !output.status.success() || !partial.is_file() {
        bail!("{tool} failed:\n{}", tool_output(&output));
    }
    std::fs::rename(&partial, component)
        .with_context(|| format!("renaming {} into place", partial.display()))
}

/// What a failed tool printed, both streams, trimmed.
fn tool_output(output: &Output) -> String {
    let text = [&output.stderr, &output.stdout]
        .iter()
        .map(|s| String::from_utf8_lossy(s).trim().to_string())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    if text.is_empty() { format!("(no output; {})", output.status) } else { text }
}

/// componentize-js from `node_modules/.bin` of the plugin or of the plugins directory, or from
/// `PATH`; it runs on Node.js, which must be on `PATH`.
pub(super) fn componentize_js(dir: &Path) -> Result<PathBuf, MissingToolchain> {
    if find_on_path("node").is_none() {
        return Err(MissingToolchain {
            tool: "Node.js",
            install: "componentize-js runs on Node.js 18 or later: install it (e.g. \
                      `apt-get install nodejs npm`) and put `node` on PATH"
                .into(),
        });
    }
    let local = [Some(dir), dir.parent()]
        .into_iter()
        .flatten()
        .map(|base| base.join("node_modules").join(".bin").join("componentize-js"))
        .find(|bin| bin.is_file());
    if let Some(bin) = local.or_else(|| find_on_path("componentize-js")) {
        return Ok(bin);
    }
    let shared = plugins_folder(dir);
    let install = if shared.join("package.json").is_file() {
        format!(
            "run `npm install` in {}/ (it installs @bytecodealliance/componentize-js)",
            shared.display()
        )
    } else {
        format!("run `npm install --save-dev {COMPONENTIZE_JS}` in {}/", shared.display())
    };
    Err(MissingToolchain { tool: "componentize-js", install })
}

/// componentize-py from a `.venv` of the plugin or of the plugins directory, the active
/// virtualenv, or `PATH`.
pub(super) fn componentize_py(dir: &Path) -> Result<PathBuf, MissingToolchain> {
    let exe = format!("componentize-py{}", std::env::consts::EXE_SUFFIX);
    let scripts = if cfg!(windows) { "Scripts" } else { "bin" };
    let venvs = [Some(dir.join(".venv")), dir.parent().map(|p| p.join(".venv"))]
        .into_iter()
        .chain([std::env::var_os("VIRTUAL_ENV").map(PathBuf::from)])
        .flatten();
    let found = venvs.map(|venv| venv.join(scripts).join(&exe)).find(|bin| bin.is_file());
    if let Some(bin) = found.or_else(|| find_on_path(&exe)) {
        return Ok(bin);
    }
    let venv = plugins_folder(dir).join(".venv");
    let install = format!(
        "run `python3 -m venv {venv} && {venv}/{scripts}/pip install {COMPONENTIZE_PY}` \
         (or `pip install --user {COMPONENTIZE_PY}` to put it on PATH)",
        venv = venv.display()
    );
    Err(MissingToolchain { tool: "componentize-py", install })
}

/// The plugins directory holding the plugin folder `dir`, where shared toolchains go.
fn plugins_folder(dir: &Path) -> &Path {
    dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The file `name` in the first directory of `PATH` that has it.
fn find_on_path(name: impl AsRef<OsStr>) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name.as_ref())).find(|p| p.is_file())
}

/// A directory holding [`WIT`], for the componentize tools.
pub(super) fn wit_dir() -> anyhow::Result<PathBuf> {
    content_dir("eddy-wit", &[("eddy.wit", WIT)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_is_told_by_the_folders_files() {
        let dir = std::env::temp_dir().join(format!("eddy-detect-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp dir");
        assert_eq!(detect(&dir), Language::Prebuilt);
        std::fs::write(dir.join("app.py"), "").expect("write");
        assert_eq!(detect(&dir), Language::Python);
        std::fs::write(dir.join("package.json"), "{}").expect("write");
        assert_eq!(detect(&dir), Language::JavaScript);
        std::fs::write(dir.join("Cargo.toml"), "").expect("write");
        assert_eq!(detect(&dir), Language::Rust);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_javascript_plugin_keeps_only_the_wasi_features_it_names() {
        let none = serde_json::json!({ "main": "a.js" });
        assert_eq!(js_wasi_kept(&none).expect("valid"), Vec::<&str>::new());
        let clocks = serde_json::json!({ "eddy": { "wasi": ["clocks"] } });
        assert_eq!(js_wasi_kept(&clocks).expect("valid"), ["clocks"]);
        let bad = serde_json::json!({ "eddy": { "wasi": ["sockets"] } });
        let message = js_wasi_kept(&bad).expect_err("unknown feature").to_string();
        assert!(message.contains("sockets") && message.contains("clocks"), "{message}");
    }
}
