//! Loading plugins: every folder at start ([`Loader::load_all`]), then one folder at a time whenever it
//! changes ([`Loader::reload`]), without a restart. A new version is read, compiled and checked off the
//! request path (the manifest parses, the component instantiates against the world, every
//! function the manifest names is exported, its routes clash with no other plugin's, its name is
//! its own), and only then swapped in with the rest of the registry in one step. Requests and
//! deliveries in flight keep the version they started on. A broken version is rejected with one
//! log line naming the file and the reason, and the old version keeps serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use sha2::{Digest, Sha256};

use super::assets::Assets;
use super::engines::{DevEngines, FromSource};
use super::folders::plugin_dirs;
use super::manifest::Manifest;
use super::registry::{Plugin, Registry, Rejection, Snapshot};
use crate::runtime::{Loadable, Runtime};

/// A plugin folder's files, read once: what gets compiled and hashed is exactly what was read.
pub struct Source {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// The component, with what identifies it (and the plugin's sources when the component is
    /// their development engine).
    pub component: Loadable,
    /// Its static files (`[static]`), if it has any.
    pub assets: Arc<Assets>,
}

/// What one reload did.
#[derive(Debug)]
pub enum Outcome {
    /// A new version serves.
    Loaded { name: String, sha256: String },
    /// Manifest and component are the same as the version serving: nothing to do.
    Unchanged,
    /// The folder (or its manifest) is gone; so are the plugin's routes and triggers.
    Unloaded { name: String },
    /// The folder held no plugin before and holds none now.
    Nothing,
    /// The new version was refused; the old one, if any, keeps serving.
    Rejected(Rejection),
}

/// What loading plugins takes: the runtime that compiles them, the registry they are swapped
/// into, and the plugins directory. Cheap to clone.
#[derive(Clone)]
pub struct Loader {
    runtime: Runtime,
    registry: Arc<Registry>,
    /// The plugins directory: one folder per plugin.
    dir: PathBuf,
    /// In development mode, the engines that serve plugins from source (`engines.rs`).
    engines: Option<Arc<dyn DevEngines>>,
}

/// Reads a plugin folder's manifest and component, or in development mode its sources and
/// its language's engine (`from_source`).
pub fn read_source(
    dir: &Path,
    from_source: Option<anyhow::Result<FromSource>>,
) -> Result<Source, Rejection> {
    let manifest_path = dir.join("plugin.toml");
    let manifest = Manifest::load(&manifest_path).map_err(|e| {
        let reason =
            if e.line == 0 { e.message } else { format!("line {}: {}", e.line, e.message) };
        Rejection::new(&manifest_path, reason)
    })?;
    let assets = match &manifest.statics {
        Some(mount) => Assets::read(mount).map_err(|m| Rejection::new(&mount.dir, m))?,
        None => Assets::default(),
    };
    let component = match from_source {
        Some(Ok(engine)) => served_from_source(engine)?,
        Some(Err(e)) => return Err(Rejection::new(dir, format!("{e:#}"))),
        None => read_component(&manifest.component)?,
    };
    Ok(Source { dir: dir.to_path_buf(), manifest, component, assets: Arc::new(assets) })
}

/// The component a plugin's manifest names, as built.
fn read_component(path: &Path) -> Result<Loadable, Rejection> {
    let bytes = std::fs::read(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "component not found: build it with `eddy build`".into()
            }
            _ => format!("cannot read the component: {e}"),
        };
        Rejection::new(path, reason)
    })?;
    let sha256 = format!("{:x}", Sha256::digest(&bytes));
    Ok(Loadable { bytes, cache_key: sha256.clone(), sha256, sources: None })
}

/// A development engine and the plugin's sources, identified together.
fn served_from_source(from: FromSource) -> Result<Loadable, Rejection> {
    let FromSource { engine, engine_sha256, sources } = from;
    let bytes = std::fs::read(&engine)
        .map_err(|e| Rejection::new(&engine, format!("cannot read the development engine: {e}")))?;
    let mut hash = Sha256::new();
    hash.update(engine_sha256.as_bytes());
    hash.update(sources.entry.as_bytes());
    for (path, text) in &sources.files {
        // Lengths first, so no two different file lists hash alike.
        for part in [path, text] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
    }
    let sha256 = format!("{:x}", hash.finalize());
    Ok(Loadable { bytes, cache_key: engine_sha256, sha256, sources: Some(Arc::new(sources)) })
}

impl Loader {
    pub fn new(runtime: Runtime, registry: Arc<Registry>, dir: PathBuf) -> Loader {
        Loader { runtime, registry, dir, engines: None }
    }

    /// Serves the plugins `engines` take from source (development mode).
    pub fn with_engines(mut self, engines: Arc<dyn DevEngines>) -> Loader {
        self.engines = Some(engines);
        self
    }

    /// Whether the plugin in `dir` is served from source (an edit reloads it without a build).
    pub fn serves_from_source(&self, dir: &Path) -> bool {
        self.engines.as_ref().is_some_and(|e| e.serves(dir))
    }

    /// Reads a plugin folder (see [`read_source`]); building a development engine may take
    /// seconds, so this runs off the async workers.
    async fn read(&self, dir: &Path) -> Result<Source, Rejection> {
        let (engines, dir) = (self.engines.clone(), dir.to_path_buf());
        let read = tokio::task::spawn_blocking(move || {
            read_source(&dir, engines.as_ref().and_then(|e| e.source_of(&dir)))
        });
        read.await.unwrap_or_else(|e| Err(Rejection::new(&self.dir, format!("reading: {e}"))))
    }

    /// The plugins directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Compiles and checks a plugin's source.
    pub async fn compile(&self, source: Source) -> Result<Plugin, Rejection> {
        let Source { dir, manifest, component, assets } = source;
        let max_memory = self.runtime.limits().max_memory_bytes;
        if let Some(mib) = manifest.limits.memory_mib
            && mib.saturating_mul(1 << 20) > max_memory as u64
        {
            let reason = format!(
                "[limits] memory_mib = {mib} is above the host's limit of {} MiB",
                max_memory >> 20
            );
            return Err(Rejection::new(dir.join("plugin.toml"), reason));
        }
        let started = Instant::now();
        // What a rejection names: the component, or for a plugin served from source its entry.
        let file = match &component.sources {
            Some(sources) => dir.join(&sources.entry),
            None => manifest.component.clone(),
        };
        let component = self
            .runtime
            .load(&file, component, (manifest.instances.reuse, manifest.limits.concurrency))
            .await
            .map_err(|e| Rejection::new(&file, format!("{e:#}")))?;
        let missing: Vec<&str> = manifest
            .functions
            .keys()
            .filter(|name| !component.exports.contains(name))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let reason = format!(
                "the component does not implement {}; it exports [{}]",
                missing.join(", "),
                component.exports.join(", ")
            );
            return Err(Rejection::new(dir.join("plugin.toml"), reason));
        }
        Ok(Plugin {
            name: manifest.name.as_str().into(),
            dir,
            manifest,
            component,
            assets,
            loaded_at: SystemTime::now(),
            compile_time: started.elapsed(),
            swap_time: OnceLock::new(),
        })
    }

    /// Loads every plugin folder of the plugins directory and serves them. A folder that fails is
    /// skipped, recorded and logged; the others still load.
    pub async fn load_all(&self) -> anyhow::Result<()> {
        let dir = &self.dir;
        let dirs = plugin_dirs(dir).map_err(|e| {
            anyhow::anyhow!("cannot read the plugins directory {}: {e}", dir.display())
        })?;
        let registry = &self.registry;
        let _writer = registry.writer().await;
        let mut accepted: Vec<Arc<Plugin>> = Vec::new();
        for dir in dirs {
            let loaded = match self.read(&dir).await {
                Ok(source) => self.compile(source).await,
                Err(rejection) => Err(rejection),
            };
            // Add plugins one by one so a conflict rejects the later plugin, not all of them.
            let checked = loaded.and_then(|plugin| {
                let plugin = Arc::new(plugin);
                check_fits(&accepted, &plugin)?;
                Ok(plugin)
            });
            match checked {
                Ok(plugin) => accepted.push(plugin),
                Err(rejection) => {
                    self.reject(&dir, rejection);
                }
            }
        }
        let snapshot = Snapshot::build(accepted)?;
        for plugin in snapshot.plugins.values() {
            tracing::info!(
                plugin = %plugin.name,
                functions = plugin.manifest.functions.len(),
                sha256 = %&plugin.component.sha256[..12],
                compile_ms = plugin.compile_time.as_millis() as u64,
                "plugin loaded"
            );
        }
        registry.replace(snapshot);
        Ok(())
    }

    /// Brings the plugin in `dir` up to date with its files: loads, swaps, unloads or rejects.
    pub async fn reload(&self, dir: &Path) -> Outcome {
        let registry = &self.registry;
        if !dir.join("plugin.toml").is_file() {
            return self.unload(dir).await;
        }
        let source = match self.read(dir).await {
            Ok(source) => source,
            Err(rejection) => return self.reject(dir, rejection),
        };
        let serving = registry.snapshot().plugins.values().find(|p| p.dir == dir).cloned();
        if serving.is_some_and(|p| {
            p.component.sha256 == source.component.sha256
                && p.manifest == source.manifest
                && p.assets.digest == source.assets.digest
        }) {
            // e.g. a bad version was replaced by the one still serving.
            registry.clear_rejection(dir);
            return Outcome::Unchanged;
        }
        let plugin = match self.compile(source).await {
            Ok(plugin) => Arc::new(plugin),
            Err(rejection) => return self.reject(dir, rejection),
        };

        let _writer = registry.writer().await;
        let started = Instant::now();
        let current = registry.snapshot();
        let others: Vec<Arc<Plugin>> =
            current.plugins.values().filter(|p| p.dir != dir).cloned().collect();
        if let Err(rejection) = check_name(&others, &plugin) {
            return self.reject(dir, rejection);
        }
        let snapshot = match Snapshot::build(others.into_iter().chain([plugin.clone()])) {
            Ok(snapshot) => snapshot,
            Err(clash) => {
                return self
                    .reject(dir, Rejection::new(dir.join("plugin.toml"), clash.to_string()));
            }
        };
        registry.replace(snapshot);
        let swap_time = started.elapsed();
        let _ = plugin.swap_time.set(swap_time);
        registry.clear_rejection(dir);
        tracing::info!(
            plugin = %plugin.name,
            sha256 = %&plugin.component.sha256[..12],
            compile_ms = plugin.compile_time.as_millis() as u64,
            swap_us = swap_time.as_micros() as u64,
            "plugin reloaded"
        );
        Outcome::Loaded { name: plugin.name.to_string(), sha256: plugin.component.sha256.clone() }
    }

    /// Removes the plugin loaded from `dir`, if any, then retries the folders rejected for a
    /// conflict it may have caused.
    async fn unload(&self, dir: &Path) -> Outcome {
        let registry = &self.registry;
        registry.clear_rejection(dir);
        let name = {
            let _writer = registry.writer().await;
            let current = registry.snapshot();
            let Some(gone) = current.plugins.values().find(|p| p.dir == dir) else {
                return Outcome::Nothing;
            };
            let others = current.plugins.values().filter(|p| p.dir != dir).cloned();
            match Snapshot::build(others) {
                Ok(snapshot) => registry.replace(snapshot),
                Err(clash) => {
                    // A subset of a valid snapshot cannot clash; if it ever does, keep serving.
                    tracing::error!(error = %clash, "unloading would break the routing table");
                    return Outcome::Nothing;
                }
            }
            gone.name.to_string()
        };
        tracing::info!(plugin = %name, dir = %dir.display(), "plugin unloaded");
        for (rejected_dir, _) in registry.rejections() {
            Box::pin(self.reload(&rejected_dir)).await;
        }
        Outcome::Unloaded { name }
    }

    fn reject(&self, dir: &Path, rejection: Rejection) -> Outcome {
        tracing::warn!(file = %rejection.file.display(), reason = %rejection.reason, "plugin rejected");
        self.registry.reject(dir, rejection.clone());
        Outcome::Rejected(rejection)
    }
}

/// Checks that no other plugin has `plugin`'s name.
fn check_name(others: &[Arc<Plugin>], plugin: &Plugin) -> Result<(), Rejection> {
    match others.iter().find(|p| p.name == plugin.name) {
        Some(owner) => Err(Rejection::new(
            plugin.dir.join("plugin.toml"),
            format!("the name {} is taken by the plugin in {}", plugin.name, owner.dir.display()),
        )),
        None => Ok(()),
    }
}

/// Checks that `plugin` can join `others`: its name is free and its routes clash with none.
fn check_fits(others: &[Arc<Plugin>], plugin: &Arc<Plugin>) -> Result<(), Rejection> {
    check_name(others, plugin)?;
    Snapshot::build(others.iter().cloned().chain([plugin.clone()]))
        .map(|_| ())
        .map_err(|clash| Rejection::new(plugin.dir.join("plugin.toml"), clash.to_string()))
}
