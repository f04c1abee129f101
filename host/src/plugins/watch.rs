//! Watches the plugins directory and reloads a plugin folder when its manifest, component or
//! static files (`[static]`) change, appear or disappear (see [`super::reload`]). In development mode it also watches
//! plugin sources (`src/`, `Cargo.toml`, `*.js`, `*.py`): a plugin served from source
//! (`engines.rs`) is reloaded at once, any other is rebuilt with its toolchain and the build's
//! new component is then picked up like any other. Changes are settled first: a folder is
//! handled only once it has been quiet for [`SETTLE`], so a file still being written is never
//! loaded. Work on one folder is serialised, so the last change always wins.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use super::folders::{is_source_file, may_hold_plugin};
use super::manifest::Manifest;
use super::reload::Loader;

/// Quiet time after a folder's last change before it is handled: tools write in bursts.
pub const SETTLE: Duration = Duration::from_millis(50);

/// What to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Manifests and components: `eddy serve`.
    Components,
    /// Sources too, rebuilt on change: `eddy dev`.
    Sources,
}

/// How development mode rebuilds a plugin folder from its sources (`eddy build`'s code, given
/// by whoever starts the watcher); the new component then arrives as an artifact change.
pub type Rebuild = Arc<dyn Fn(&Path) -> anyhow::Result<()> + Send + Sync>;

/// A running watcher; dropping it stops watching.
pub struct Watch {
    task: JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a changed path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// The manifest or component changed, or the folder came or went: reload.
    Artifact,
    /// A source file changed: rebuild (development mode only).
    Source,
}

/// Starts watching the loader's plugins directory; in [`Mode::Sources`], sources are rebuilt
/// with `rebuild`.
pub fn start(loader: Loader, mode: Mode, rebuild: Rebuild) -> anyhow::Result<Watch> {
    let root = loader.dir().to_path_buf();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })
    .context("starting the file watcher")?;
    watcher
        .watch(&root, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", root.display()))?;
    let mut statics = Statics::new();
    for dir in std::fs::read_dir(&root)?.filter_map(|e| e.ok().map(|e| e.path())) {
        watch_folder(&mut watcher, &root, &dir, mode, &mut statics);
    }
    let task = tokio::spawn(run(loader, rebuild, (root, mode), (watcher, statics), rx));
    Ok(Watch { task })
}

/// Plugin folder → the folder of its static files, as its manifest said when last read.
type Statics = HashMap<PathBuf, PathBuf>;

/// Watches one plugin folder (and its sources in development mode), and the folder of static
/// files its manifest names, whole.
fn watch_folder(
    watcher: &mut RecommendedWatcher,
    root: &Path,
    dir: &Path,
    mode: Mode,
    statics: &mut Statics,
) {
    if !dir.is_dir() || folder_of(root, dir).is_none() {
        return;
    }
    if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch plugin folder");
    }
    // A manifest that does not parse is the loader's to report.
    match Manifest::load(&dir.join("plugin.toml")).ok().and_then(|m| m.statics) {
        Some(mount) => {
            if mount.dir.is_dir()
                && let Err(e) = watcher.watch(&mount.dir, RecursiveMode::Recursive)
            {
                tracing::warn!(dir = %mount.dir.display(), error = %e, "cannot watch static files");
            }
            statics.insert(dir.to_path_buf(), mount.dir);
        }
        None => {
            statics.remove(dir);
        }
    }
    let src = dir.join("src");
    if mode == Mode::Sources && src.is_dir() {
        let _ = watcher.watch(&src, RecursiveMode::Recursive);
    }
}

async fn run(
    loader: Loader,
    rebuild: Rebuild,
    (root, mode): (PathBuf, Mode),
    (mut watcher, mut statics): (RecommendedWatcher, Statics),
    mut events: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
) {
    let mut pending: HashMap<PathBuf, (Instant, Change)> = HashMap::new();
    let mut locks: HashMap<PathBuf, Arc<Mutex<()>>> = HashMap::new();
    loop {
        let next_due = pending.values().map(|(due, _)| *due).min();
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return };
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::warn!(error = %e, "file watcher error");
                        continue;
                    }
                };
                if !is_write(&event.kind) {
                    continue;
                }
                for path in &event.paths {
                    let Some((folder, change)) = classify(&root, path, mode, &statics) else {
                        continue;
                    };
                    // The folder came, its manifest changed (its static folder may have moved),
                    // or its static folder (or one above it) came: watch what it now holds.
                    let rewatch = path == &folder
                        || path.ends_with("plugin.toml")
                        || statics.get(&folder).is_some_and(|dir| dir.starts_with(path));
                    if rewatch && !matches!(event.kind, EventKind::Remove(_)) {
                        watch_folder(&mut watcher, &root, &folder, mode, &mut statics);
                    }
                    let entry = pending.entry(folder).or_insert((Instant::now(), change));
                    entry.0 = Instant::now() + SETTLE;
                    if change == Change::Source {
                        entry.1 = Change::Source;
                    }
                }
            }
            () = sleep_until(next_due), if next_due.is_some() => {
                let now = Instant::now();
                let due: Vec<PathBuf> =
                    pending.iter().filter(|(_, (at, _))| *at <= now).map(|(f, _)| f.clone()).collect();
                for folder in due {
                    let Some((_, change)) = pending.remove(&folder) else { continue };
                    let lock = locks.entry(folder.clone()).or_default().clone();
                    let (loader, rebuild) = (loader.clone(), rebuild.clone());
                    tokio::spawn(async move {
                        let _serial = lock.lock().await;
                        match change {
                            Change::Artifact => {
                                loader.reload(&folder).await;
                            }
                            // Served from source: the loader reads the new sources itself.
                            Change::Source if loader.serves_from_source(&folder) => {
                                loader.reload(&folder).await;
                            }
                            Change::Source => build(rebuild, &folder).await,
                        }
                    });
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

/// Events that may change what a folder holds (opening or reading a file does not).
fn is_write(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Remove(_)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// The plugin folder a path belongs to and what its change asks for; none for paths that
/// don't matter (build output, temporary files, docs).
fn classify(root: &Path, path: &Path, mode: Mode, statics: &Statics) -> Option<(PathBuf, Change)> {
    let folder = folder_of(root, path)?;
    if let Some(dir) = statics.get(&folder)
        && path != folder
        && (path.starts_with(dir) || dir.starts_with(path))
    {
        return Some((folder, Change::Artifact));
    }
    let rest: Vec<_> = path.strip_prefix(&folder).ok()?.components().collect();
    let artifact = Some((folder.clone(), Change::Artifact));
    let source = (mode == Mode::Sources).then_some((folder.clone(), Change::Source));
    match rest.as_slice() {
        [] => artifact,
        [Component::Normal(name)] => {
            let name = name.to_str()?;
            if name == "plugin.toml" || name.ends_with(".wasm") {
                artifact
            } else if is_source_file(name) {
                source
            } else {
                None
            }
        }
        [Component::Normal(dir), ..] if *dir == "src" => source,
        _ => None,
    }
}

/// `root/<folder>` for a path under a plugin folder of `root`.
fn folder_of(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut rest = path.strip_prefix(root).ok()?.components();
    let Some(Component::Normal(name)) = rest.next() else {
        return None;
    };
    let name = name.to_str()?;
    if !may_hold_plugin(name) {
        return None;
    }
    Some(root.join(name))
}

/// Rebuilds a plugin from its sources; the new component then arrives as an artifact change.
/// A failed build is printed whole and the serving version stays.
async fn build(rebuild: Rebuild, folder: &Path) {
    let name = folder.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let started = Instant::now();
    let dir = folder.to_path_buf();
    match tokio::task::spawn_blocking(move || rebuild(&dir)).await {
        Ok(Ok(())) => {
            tracing::info!(plugin = %name, build_ms = started.elapsed().as_millis() as u64, "plugin rebuilt");
        }
        Ok(Err(e)) => {
            eprintln!(
                "\n--- {name}: build failed; the previous version keeps serving ---\n{e:#}\n---"
            );
            tracing::warn!(plugin = %name, "plugin build failed; the previous version keeps serving");
        }
        Err(e) => tracing::error!(plugin = %name, error = %e, "plugin build task failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_in_dev(path: &str) -> Option<(PathBuf, Change)> {
        let statics = Statics::from([("/p/todos".into(), "/p/todos/public".into())]);
        classify(Path::new("/p"), Path::new(path), Mode::Sources, &statics)
    }

    #[test]
    fn manifests_components_and_folders_ask_for_a_reload() {
        for path in [
            "/p/todos/plugin.toml",
            "/p/todos/todos.wasm",
            "/p/todos",
            "/p/todos/public",
            "/p/todos/public/app.js",
            "/p/todos/public/css/a.css",
        ] {
            assert_eq!(
                classify_in_dev(path),
                Some((PathBuf::from("/p/todos"), Change::Artifact)),
                "{path}"
            );
        }
    }

    #[test]
    fn sources_ask_for_a_rebuild_only_in_development_mode() {
        for path in ["/p/todos/src/lib.rs", "/p/todos/src/a/b.rs", "/p/todos/Cargo.toml"] {
            assert_eq!(
                classify_in_dev(path),
                Some((PathBuf::from("/p/todos"), Change::Source)),
                "{path}"
            );
            assert_eq!(
                classify(Path::new("/p"), Path::new(path), Mode::Components, &Statics::new()),
                None,
                "{path}"
            );
        }
    }

    #[test]
    fn build_output_temporary_files_and_other_files_are_ignored() {
        for path in [
            "/p/target/release/x.wasm",
            "/p/.git/index",
            "/p/todos/todos.wasm.partial",
            "/p/todos/README.md",
            "/p/todos/publicity.txt",
            "/p/todo-search/public/app.js",
            "/p/todos/target/x",
            "/elsewhere/todos/plugin.toml",
            "/p",
        ] {
            assert_eq!(classify_in_dev(path), None, "{path}");
        }
    }
}
