//! The loaded plugins and everything derived from them (function table, routes, trigger
//! bindings) as one immutable [`Snapshot`] behind an `ArcSwap`. A request or trigger delivery
//! takes the current snapshot once and runs on it to the end; a reload builds a whole new
//! snapshot and swaps it in one step, so nobody ever sees half of a change.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use super::assets::{Asset, Assets};
use super::manifest::{Manifest, RouteAuth, StateTrigger, StreamTrigger, Trigger};
use super::routes::{RouteClash, RouteMatch, Routes};
use crate::runtime::LoadedComponent;

/// A plugin that passed every check and can serve.
pub struct Plugin {
    pub name: Arc<str>,
    /// The folder holding `plugin.toml`.
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub component: LoadedComponent,
    /// Its static files (`[static]`), served under their URL paths.
    pub assets: Arc<Assets>,
    pub loaded_at: SystemTime,
    /// How long compiling (or loading from the cache) and linking took.
    pub compile_time: Duration,
    /// How long building and swapping in the snapshot that added this version took.
    pub swap_time: OnceLock<Duration>,
}

/// What a route binds: the function, and whether it needs a signed-in caller.
#[derive(Clone)]
pub struct Route {
    pub function: FunctionRef,
    pub auth: RouteAuth,
}

/// A callable plugin function. Holding one keeps its plugin version alive, so a call that
/// started on a version finishes on it even if a reload replaces it meanwhile.
#[derive(Clone)]
pub struct FunctionRef {
    pub plugin: Arc<Plugin>,
    /// Short name, as the component knows it: `create`.
    pub name: Arc<str>,
    /// Full id: `todos::create`.
    pub id: Arc<str>,
}

impl std::fmt::Debug for FunctionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

/// Why a plugin folder could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {reason}", file.display())]
pub struct Rejection {
    /// The file at fault (the manifest or the component).
    pub file: PathBuf,
    pub reason: String,
    pub at: SystemTime,
}

impl Rejection {
    pub fn new(file: impl Into<PathBuf>, reason: impl Into<String>) -> Rejection {
        Rejection { file: file.into(), reason: reason.into(), at: SystemTime::now() }
    }
}

/// Everything the host serves, frozen.
#[derive(Default)]
pub struct Snapshot {
    pub plugins: BTreeMap<String, Arc<Plugin>>,
    functions: HashMap<String, FunctionRef>,
    pub routes: Routes<Route>,
    /// Every static file by the URL path it answers (`assets.rs`), and its plugin's name.
    pub assets: HashMap<String, (Arc<Asset>, Arc<str>)>,
    state_bindings: Vec<(StateTrigger, FunctionRef)>,
    stream_bindings: Vec<(StreamTrigger, FunctionRef)>,
    /// Stream name → the function that authorises joins to it (and the plugin declaring it).
    stream_authorizers: HashMap<String, (String, Arc<str>)>,
}

/// Why a set of plugins cannot be served together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error(transparent)]
    Route(#[from] RouteClash),
    #[error("stream {stream} already has a join authoriser, declared by {other}")]
    StreamAuthorizer { stream: String, other: String },
    /// A static file answers a path that another plugin's file or a `GET` route answers too.
    #[error("static file {path} of {owner} clashes with {other}")]
    Static { path: String, owner: String, other: String },
}

impl Snapshot {
    /// Indexes `plugins`. Fails when two plugins bind clashing routes, or both govern joins to
    /// the same stream.
    pub fn build(plugins: impl IntoIterator<Item = Arc<Plugin>>) -> Result<Snapshot, Conflict> {
        let mut snapshot = Snapshot::default();
        let mut http = Vec::new();
        for plugin in plugins {
            for (stream, function) in &plugin.manifest.stream_authorizers {
                if let Some((_, other)) = snapshot.stream_authorizers.get(stream) {
                    return Err(Conflict::StreamAuthorizer {
                        stream: stream.clone(),
                        other: other.to_string(),
                    });
                }
                snapshot
                    .stream_authorizers
                    .insert(stream.clone(), (function.clone(), plugin.name.clone()));
            }
            for (name, spec) in &plugin.manifest.functions {
                let function = FunctionRef {
                    plugin: plugin.clone(),
                    name: name.as_str().into(),
                    id: format!("{}::{name}", plugin.name).into(),
                };
                for trigger in &spec.triggers {
                    match trigger {
                        Trigger::Http(t) => http.push((
                            t.method.clone(),
                            t.path.clone(),
                            plugin.name.to_string(),
                            Route { function: function.clone(), auth: t.auth },
                        )),
                        Trigger::State(t) => {
                            snapshot.state_bindings.push((t.clone(), function.clone()))
                        }
                        Trigger::Stream(t) => {
                            snapshot.stream_bindings.push((t.clone(), function.clone()))
                        }
                    }
                }
                snapshot.functions.insert(function.id.to_string(), function);
            }
            snapshot.plugins.insert(plugin.name.to_string(), plugin);
        }
        snapshot.routes = Routes::build(http)?;
        snapshot.index_assets()?;
        Ok(snapshot)
    }

    /// Indexes every plugin's static files by URL path: each path answers one file or one
    /// `GET` route, never both, and never two files.
    fn index_assets(&mut self) -> Result<(), Conflict> {
        for plugin in self.plugins.values() {
            for (url, asset) in &plugin.assets.by_url {
                let clash = |other: String| Conflict::Static {
                    path: url.clone(),
                    owner: plugin.name.to_string(),
                    other,
                };
                if let Some((_, other)) = self.assets.get(url) {
                    return Err(clash(format!("a static file of {other}")));
                }
                if let RouteMatch::Found { target, route, .. } = self.routes.find("GET", url) {
                    return Err(clash(format!("route GET {route} of {}", target.function.id)));
                }
                self.assets.insert(url.clone(), (asset.clone(), plugin.name.clone()));
            }
        }
        Ok(())
    }

    /// Whether a loaded plugin declares `stream`: grants itself it (`[capabilities] streams`,
    /// a pattern may match) or governs its joins (`[streams.NAME]`). Clients may join only
    /// such streams.
    pub fn declares_stream(&self, stream: &str) -> bool {
        self.stream_authorizers.contains_key(stream)
            || self.plugins.values().any(|plugin| plugin.manifest.capabilities.may_stream(stream))
    }

    /// The function that authorises joins to `stream`, if any plugin guards it.
    pub fn stream_authorizer(&self, stream: &str) -> Option<&str> {
        self.stream_authorizers.get(stream).map(|(function, _)| function.as_str())
    }

    /// A plugin function by id (`todos::create`).
    pub fn function(&self, id: &str) -> Option<&FunctionRef> {
        self.functions.get(id)
    }

    /// Functions bound to changes of `scope`/`key`, with their trigger.
    pub fn state_subscribers<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
    ) -> impl Iterator<Item = (&'a StateTrigger, &'a FunctionRef)> + 'a {
        self.state_bindings
            .iter()
            .filter(move |(t, f)| {
                t.scope.as_deref().is_none_or(|s| s == scope)
                    && t.key.as_deref().is_none_or(|k| k == key)
                    // A trigger on any scope hears of the scopes its plugin may read only.
                    && f.plugin.manifest.capabilities.may_read(scope)
            })
            .map(|(t, f)| (t, f))
    }

    /// The ids of the functions bound to changes of `scope`/`key`, each once, in binding order.
    pub fn bound_to(&self, scope: &str, key: &str) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for (_, function) in self.state_subscribers(scope, key) {
            if !ids.iter().any(|id| **id == *function.id) {
                ids.push(function.id.to_string());
            }
        }
        ids
    }

    /// Functions bound to events of `stream`/`group`.
    pub fn stream_subscribers<'a>(
        &'a self,
        stream: &'a str,
        group: &'a str,
    ) -> impl Iterator<Item = &'a FunctionRef> + 'a {
        self.stream_bindings
            .iter()
            .filter(move |(t, _)| {
                t.stream_name == stream && t.group_id.as_deref().is_none_or(|g| g == group)
            })
            .map(|(_, f)| f)
    }
}

/// The current snapshot, and the last rejected load of each plugin folder. Readers never
/// block; writers serialise on [`Registry::writer`] and replace the snapshot whole.
pub struct Registry {
    current: ArcSwap<Snapshot>,
    /// Held while a new snapshot is derived from the current one, so two reloads finishing at
    /// once cannot lose each other's change. Compilation happens before taking it.
    writer: tokio::sync::Mutex<()>,
    /// Folder → why its last load failed; cleared when the folder loads or disappears.
    rejections: Mutex<BTreeMap<PathBuf, Rejection>>,
    /// Woken whenever the snapshot is replaced.
    replaced: tokio::sync::Notify,
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            current: ArcSwap::from_pointee(Snapshot::default()),
            writer: tokio::sync::Mutex::new(()),
            rejections: Mutex::new(BTreeMap::new()),
            replaced: tokio::sync::Notify::new(),
        }
    }

    /// The snapshot to serve one request or delivery with.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Exclusive right to replace the snapshot; hold it from reading the current snapshot to
    /// [`Registry::replace`].
    pub async fn writer(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    pub fn replace(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
        self.replaced.notify_waiters();
    }

    /// Resolves when the snapshot is next replaced; it counts from this call, not from the
    /// first poll, so take it before looking at the snapshot it is to follow.
    pub fn next_replacement(&self) -> tokio::sync::futures::Notified<'_> {
        self.replaced.notified()
    }

    /// Records that loading the plugin in `dir` failed.
    pub fn reject(&self, dir: &Path, rejection: Rejection) {
        let mut rejections = self.rejections.lock().unwrap_or_else(|e| e.into_inner());
        rejections.insert(dir.to_path_buf(), rejection);
    }

    /// Forgets the rejection of `dir` (it loaded, or is gone).
    pub fn clear_rejection(&self, dir: &Path) {
        self.rejections.lock().unwrap_or_else(|e| e.into_inner()).remove(dir);
    }

    /// Every folder whose last load failed, with the reason.
    pub fn rejections(&self) -> Vec<(PathBuf, Rejection)> {
        let rejections = self.rejections.lock().unwrap_or_else(|e| e.into_inner());
        rejections.iter().map(|(dir, r)| (dir.clone(), r.clone())).collect()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}
