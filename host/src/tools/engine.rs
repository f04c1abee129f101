//! The development engines of `eddy dev` (docs/development.md): one prebuilt component per
//! language that serves any plugin of that language from source, so an edit serves without a
//! build. Each is built once per toolchain, contract and engine version with the language's
//! own tool (the same componentize-js or componentize-py `eddy build` uses) and kept under the
//! host's cache directory; the host then compiles it once and keeps the compiled code in its
//! compile cache. A plugin served this way keeps its manifest, capabilities and limits: only
//! where its code comes from changes. `eddy build` still makes each plugin's own component.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::build::{
    JS_WASI_FEATURES, Language, WIT, componentize_js, componentize_py, detect, finish,
    js_wasi_kept, partial, wit_dir,
};
use super::sdk;
use super::workspace::Workspace;
use crate::plugins::engines::{DevEngines, FromSource};
use crate::runtime::Sources;

/// The JavaScript engine's code (`engine/loader.js`).
const JS_LOADER: &str = include_str!("engine/loader.js");
/// The Python engine's code (`engine/loader.py`), built as the module [`PY_MODULE`].
const PY_LOADER: &str = include_str!("engine/loader.py");
const PY_MODULE: &str = "eddy_dev_engine";
/// The world the engines are built for: `plugin` and the `dev` interface.
const WORLD: &str = "dev-engine";
/// A plugin's sources may hold at most this much text.
const MAX_SOURCES: usize = 16 << 20;

/// The engines of one host, built on first use.
#[derive(Debug)]
pub struct Engines {
    /// Where built engines are kept: `<cache>/engines`.
    dir: PathBuf,
}

/// Engines built or found by this process, by file; the lock of each is held while it builds,
/// so the plugins of one language (and the hosts of one process) build it once.
type Slots = Mutex<HashMap<PathBuf, Arc<Mutex<Option<Built>>>>>;
static BUILT: std::sync::LazyLock<Slots> = std::sync::LazyLock::new(Default::default);

#[derive(Debug, Clone)]
struct Built {
    path: PathBuf,
    sha256: String,
}

impl Engines {
    /// Engines kept under `cache_dir/engines`.
    pub fn new(cache_dir: &Path) -> Engines {
        Engines { dir: cache_dir.join("engines") }
    }

    /// The engine `key` names, built by `build` into its file if no process built it before.
    fn engine(
        &self,
        key: String,
        build: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<Built> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        // Absolute: the tools run in another folder.
        let path = std::fs::canonicalize(&self.dir)?.join(format!("{key}.wasm"));
        let slot = {
            let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
            built.entry(path.clone()).or_default().clone()
        };
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(built) = &*slot {
            return Ok(built.clone());
        }
        if !path.is_file() {
            tracing::info!(engine = %key, "building a development engine (once per toolchain)");
            build(&path)?;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let built = Built { path, sha256: format!("{:x}", Sha256::digest(&bytes)) };
        *slot = Some(built.clone());
        Ok(built)
    }

    fn javascript(&self, dir: &Path) -> anyhow::Result<FromSource> {
        let tool = componentize_js(dir)?;
        let package: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("package.json"))?)
                .context("package.json is not valid JSON")?;
        let entry = package["main"].as_str().unwrap_or("index.js").trim_start_matches("./");
        // The engine keeps stdio: its stderr says why a plugin did not load (the host gives
        // every component a stdout and stderr that go to its log, and nothing else).
        let mut keep = js_wasi_kept(&package)?;
        keep.push("stdio");
        keep.sort_unstable();
        keep.dedup();
        // acorn (the parser the engine reads modules with) comes from the node_modules that
        // holds componentize-js.
        let modules = tool.parent().and_then(Path::parent).context("componentize-js's folder")?;
        let acorn_file = modules.join("acorn/dist/acorn.mjs");
        let read_acorn = || {
            std::fs::read(&acorn_file).with_context(|| {
                format!("acorn is not installed in {}: run `npm install` there", modules.display())
            })
        };
        let features = keep.join(",");
        let key = memo_key(&tool, &features, || {
            let version =
                std::fs::read(modules.join("@bytecodealliance/componentize-js/package.json"))
                    .unwrap_or_default();
            let files = js_engine_files(read_acorn()?);
            let parts = files.iter().flat_map(|(path, text)| [path.as_bytes(), text]);
            Ok(key("js", parts.chain([&version[..], features.as_bytes()])))
        })?;
        let engine = self.engine(key, |out| {
            let work = Workspace::new(out.with_extension(format!("build-{}", std::process::id())))?;
            for (path, text) in js_engine_files(read_acorn()?) {
                std::fs::write(work.path().join(path), text)?;
            }
            let disabled = JS_WASI_FEATURES.iter().filter(|f| !keep.contains(f));
            let mut command = Command::new(&tool);
            command.current_dir(work.path()).arg("loader.js").arg("--wit").arg(wit_dir()?);
            command.args(["--world-name", WORLD]).arg("--disable").args(disabled);
            command.arg("--out").arg(partial(out));
            finish(command, "componentize-js (the JavaScript development engine)", out)
        })?;
        let sources = read_sources(dir, entry, &["js", "mjs"])?;
        Ok(FromSource { engine: engine.path, engine_sha256: engine.sha256, sources })
    }

    fn python(&self, dir: &Path) -> anyhow::Result<FromSource> {
        let tool = componentize_py(dir)?;
        let key = memo_key(&tool, "", || {
            let version = Command::new(&tool)
                .arg("--version")
                .output()
                .map(|o| o.stdout)
                .context("running componentize-py --version")?;
            let files = py_engine_files();
            let parts = files.iter().flat_map(|(path, text)| [path.as_bytes(), text.as_bytes()]);
            Ok(key("py", parts.chain([&version[..]])))
        })?;
        let engine = self.engine(key, |out| {
            let work = Workspace::new(out.with_extension(format!("build-{}", std::process::id())))?;
            for (path, text) in py_engine_files() {
                let file = work.path().join(path);
                std::fs::create_dir_all(file.parent().unwrap_or(work.path()))?;
                std::fs::write(file, text)?;
            }
            let mut command = Command::new(&tool);
            command.current_dir(work.path()).arg("-d").arg(wit_dir()?).args(["-w", WORLD]);
            command.args(["componentize", "-p", ".", PY_MODULE, "-o"]).arg(partial(out));
            finish(command, "componentize-py (the Python development engine)", out)
        })?;
        let sources = read_sources(dir, "app.py", &["py"])?;
        Ok(FromSource { engine: engine.path, engine_sha256: engine.sha256, sources })
    }
}

/// The files the JavaScript engine is built from (path, contents): the loader, the parser it
/// reads modules with, and the SDK it serves as `eddy`. Its key hashes them all.
fn js_engine_files(acorn: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("loader.js", JS_LOADER.as_bytes().to_vec()),
        ("acorn.mjs", acorn),
        (sdk::JS_FILE, sdk::JS.as_bytes().to_vec()),
    ]
}

/// The files the Python engine is built from: the loader module and the SDK package, which
/// the loader imports at build time. Its key hashes them all.
fn py_engine_files() -> Vec<(String, &'static str)> {
    let loader = (format!("{PY_MODULE}.py"), PY_LOADER);
    std::iter::once(loader).chain(sdk::PYTHON.iter().map(|(p, t)| (p.to_string(), *t))).collect()
}

impl DevEngines for Engines {
    fn serves(&self, dir: &Path) -> bool {
        match detect(dir) {
            Language::JavaScript => componentize_js(dir).is_ok(),
            Language::Python => componentize_py(dir).is_ok(),
            Language::Rust | Language::Prebuilt => false,
        }
    }

    fn source_of(&self, dir: &Path) -> Option<anyhow::Result<FromSource>> {
        if !self.serves(dir) {
            return None;
        }
        Some(match detect(dir) {
            Language::JavaScript => self.javascript(dir),
            _ => self.python(dir),
        })
    }
}

/// The engine key of `tool` with `extra` (a JavaScript plugin's WASI features), computed once
/// per process: a save then reloads without running the tool or reading its files again. (A
/// toolchain upgraded while `eddy dev` runs is seen at its next start.)
fn memo_key(
    tool: &Path,
    extra: &str,
    compute: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    static KEYS: std::sync::LazyLock<Mutex<HashMap<(PathBuf, String), String>>> =
        std::sync::LazyLock::new(Default::default);
    let wanted = (tool.to_path_buf(), extra.to_string());
    if let Some(key) = KEYS.lock().unwrap_or_else(|e| e.into_inner()).get(&wanted) {
        return Ok(key.clone());
    }
    let key = compute()?;
    KEYS.lock().unwrap_or_else(|e| e.into_inner()).insert(wanted, key.clone());
    Ok(key)
}

/// An engine's name: its language and a hash of everything it is built from (the contract
/// included), so a new toolchain, WIT or engine version builds a new one.
fn key<'a>(language: &str, parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hash = Sha256::new();
    for part in std::iter::once(WIT.as_bytes()).chain(parts) {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    format!("{language}-{:.16x}", hash.finalize())
}

/// The plugin's source files with one of `extensions`: those in its folder and under `src/`
/// (what development mode watches), sorted by path.
fn read_sources(dir: &Path, entry: &str, extensions: &[&str]) -> anyhow::Result<Sources> {
    let mut files = Vec::new();
    let mut total = 0;
    let mut pending = vec![(dir.to_path_buf(), String::new(), false)];
    while let Some((folder, prefix, recursive)) = pending.pop() {
        let entries =
            std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "node_modules" || name == "__pycache__" {
                continue;
            }
            let path = entry.path();
            let relative = format!("{prefix}{name}");
            if entry.file_type()?.is_dir() {
                if recursive || (prefix.is_empty() && name == "src") {
                    pending.push((path, format!("{relative}/"), true));
                }
                continue;
            }
            let wanted =
                Path::new(&name).extension().is_some_and(|e| extensions.iter().any(|x| e == *x));
            if !wanted {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            total += text.len();
            if total > MAX_SOURCES {
                bail!("the plugin's sources exceed {} MiB", MAX_SOURCES >> 20);
            }
            files.push((relative, text));
        }
    }
    files.sort();
    if !files.iter().any(|(path, _)| path == entry) {
        bail!("the entry module {entry} is missing");
    }
    Ok(Sources { entry: entry.to_string(), files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_are_built_from_the_sdk_so_a_new_sdk_builds_new_engines() {
        let js = js_engine_files(Vec::new());
        assert!(js.iter().any(|(path, text)| *path == sdk::JS_FILE && text == sdk::JS.as_bytes()));
        let py = py_engine_files();
        for file in sdk::PYTHON {
            assert!(py.iter().any(|(path, text)| (path.as_str(), *text) == *file), "{}", file.0);
        }
        assert!(PY_LOADER.contains("\nimport eddy"), "the loader imports the SDK at build time");
        assert!(JS_LOADER.contains("import * as sdk from './eddy.js';"), "and serves it as eddy");
    }
}
