//! `plugin.toml`: the manifest that names a plugin's component and binds its functions to
//! triggers. Parsing is strict (unknown keys are errors) and every error names the file, the line
//! and what is wrong, because a manifest is hand-written and usually read back in a terminal.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::assets::StaticMount;
use crate::toml_file::{FileError, TomlFile};

/// Prefix of every URL path the host reserves for itself (`/_eddy/plugins`, ...).
pub const RESERVED_PATH_PREFIX: &str = "/_eddy";

/// HTTP methods a route may bind. Kept explicit so a typo (`PSOT`) is a manifest error, not a
/// route that can never match.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A validated plugin manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The plugin's name: the prefix of its function ids (`todos` in `todos::create`).
    pub name: String,
    /// Absolute path of the component, resolved against the manifest's folder.
    pub component: PathBuf,
    pub description: Option<String>,
    /// Functions by short name (`create`), in name order.
    pub functions: BTreeMap<String, FunctionSpec>,
    /// Resource limits of the plugin's instances (defaults come from the host).
    pub limits: Limits,
    /// What the plugin may touch; nothing by default.
    pub capabilities: Capabilities,
    /// Streams whose WebSocket joins a function of this plugin authorises: stream name →
    /// function id.
    pub stream_authorizers: BTreeMap<String, String>,
    /// How the host runs the plugin's instances.
    pub instances: Instances,
    /// `[static]`: the folder of static files the host serves for the plugin, if any.
    pub statics: Option<StaticMount>,
}

/// `[instances]`: how the host runs a plugin's instances.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instances {
    /// Reuse an instance for later calls after it returned normally (keeping a few warm), instead
    /// of a fresh instance per call. Much faster for runtimes that start slowly (JavaScript,
    /// Python), but calls then share the instance's globals: opt in only if the plugin keeps no
    /// per-caller data there.
    #[serde(default)]
    pub reuse: bool,
}

/// One function of a plugin and what fires it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub description: Option<String>,
    pub triggers: Vec<Trigger>,
    /// Deadline of one call, overriding the plugin's and the host's.
    pub timeout_ms: Option<u64>,
}

/// Per-plugin overrides of the host's limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest linear memory of one instance, in MiB.
    pub memory_mib: Option<u64>,
    /// Deadline of one call of any of the plugin's functions, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Calls of the plugin in flight at once (the host's `plugin_concurrency` by default, never
    /// more than its instance pool).
    pub concurrency: Option<u32>,
}

/// The state scopes and streams a plugin may use. A name may end in `*` to match a prefix;
/// `"*"` alone matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Scopes the plugin may read and write.
    #[serde(default)]
    pub state: Vec<String>,
    /// Scopes the plugin may only read.
    #[serde(default)]
    pub state_read: Vec<String>,
    /// Streams the plugin may send to and whose items it may read and write.
    #[serde(default)]
    pub streams: Vec<String>,
}

impl Capabilities {
    /// Whether the plugin may read `scope`.
    pub fn may_read(&self, scope: &str) -> bool {
        matches_any(&self.state, scope) || matches_any(&self.state_read, scope)
    }

    /// Whether the plugin may write `scope`.
    pub fn may_write(&self, scope: &str) -> bool {
        matches_any(&self.state, scope)
    }

    /// Whether the plugin may use stream `name`.
    pub fn may_stream(&self, name: &str) -> bool {
        matches_any(&self.streams, name)
    }
}

fn matches_any(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|pattern| match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    })
}

/// Longest deadline a manifest may set: longer calls belong in a background job.
pub const MAX_TIMEOUT_MS: u64 = 10 * 60 * 1000;

/// What fires a function. A function with no triggers is still callable through `invoke`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Trigger {
    /// An HTTP route: `method` and a `path` whose `:name` segments are parameters.
    Http(HttpTrigger),
    /// Changes to state keys: `scope` and `key` narrow it (missing = any); `condition` names a
    /// function that must return `true` for the event to be delivered.
    State(StateTrigger),
    /// Events on a stream, optionally one group of it.
    Stream(StreamTrigger),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    pub method: String,
    pub path: String,
    /// Whether the route needs a signed-in caller.
    #[serde(default)]
    pub auth: RouteAuth,
}

/// `auth` of an HTTP trigger. A request that carries a token always has it checked (an invalid
/// one is a 401 on every route); this says whether a request without one may run the function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteAuth {
    /// Callers with or without a token (the function sees the identity, or none).
    #[default]
    Optional,
    /// Only callers with a valid token; the others get 401 and the function never runs.
    Required,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateTrigger {
    pub scope: Option<String>,
    pub key: Option<String>,
    pub condition: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamTrigger {
    pub stream_name: String,
    pub group_id: Option<String>,
}

/// Why a manifest was rejected, and where.
/// A manifest that cannot be loaded: `file:line: what is wrong`.
pub type ManifestError = FileError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: Spanned<String>,
    component: Spanned<String>,
    description: Option<String>,
    #[serde(default)]
    functions: BTreeMap<Spanned<String>, RawFunction>,
    limits: Option<Spanned<Limits>>,
    #[serde(default)]
    capabilities: Capabilities,
    #[serde(default)]
    streams: BTreeMap<Spanned<String>, RawStream>,
    #[serde(default)]
    instances: Instances,
    #[serde(rename = "static")]
    statics: Option<Spanned<RawStatic>>,
}

/// `[static]`: a folder of the plugin served as files under a URL path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatic {
    dir: String,
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    description: Option<String>,
    #[serde(default)]
    triggers: Vec<Spanned<Trigger>>,
    timeout_ms: Option<Spanned<u64>>,
}

/// `[streams.NAME]`: settings of a stream this plugin governs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStream {
    /// Function that authorises WebSocket joins; it must return `true` to admit one.
    join: Spanned<String>,
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        Manifest::parse(path, &TomlFile::read(path)?)
    }

    /// Validates manifest `text`; `path` names it in errors and anchors `component`.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let file = TomlFile { path, text };
        let error =
            |span: Option<std::ops::Range<usize>>, message: String| file.error(span, message);
        let raw: RawManifest = file.parse()?;

        let name = raw.name.get_ref();
        if !is_kebab_name(name) {
            return Err(error(
                Some(raw.name.span()),
                format!("plugin name {name:?} must be lowercase kebab-case, e.g. \"todo-search\""),
            ));
        }
        let component = raw.component.get_ref();
        if component.is_empty() || Path::new(component).is_absolute() {
            return Err(error(
                Some(raw.component.span()),
                "component must be a path relative to plugin.toml, e.g. \"todos.wasm\"".into(),
            ));
        }
        let dir = path.parent().unwrap_or(Path::new("."));

        let mut functions = BTreeMap::new();
        let mut routes = HashSet::new();
        for (fname, raw_fn) in raw.functions {
            if !is_kebab_name(fname.get_ref()) {
                return Err(error(
                    Some(fname.span()),
                    format!(
                        "function name {:?} must be lowercase kebab-case, e.g. \"on-change\"",
                        fname.get_ref()
                    ),
                ));
            }
            let mut triggers = Vec::with_capacity(raw_fn.triggers.len());
            for trigger in raw_fn.triggers {
                let span = trigger.span();
                let trigger = trigger.into_inner();
                validate_trigger(&trigger).map_err(|m| error(Some(span.clone()), m))?;
                if let Trigger::State(StateTrigger { scope: Some(scope), .. }) = &trigger
                    && !raw.capabilities.may_read(scope)
                {
                    // Its events carry the scope's values: the function reads them.
                    return Err(error(
                        Some(span),
                        format!(
                            "a trigger on state scope {scope:?} reads its values: add {scope:?} \
                             to [capabilities] state or state_read"
                        ),
                    ));
                }
                if let Trigger::Http(http) = &trigger {
                    let shape = (http.method.clone(), route_shape(&http.path));
                    if !routes.insert(shape) {
                        return Err(error(
                            Some(span),
                            format!("route {} {} is bound twice", http.method, http.path),
                        ));
                    }
                }
                triggers.push(trigger);
            }
            let timeout_ms = match raw_fn.timeout_ms {
                Some(t) => Some(check_timeout(*t.get_ref()).map_err(|m| error(Some(t.span()), m))?),
                None => None,
            };
            functions.insert(
                fname.into_inner(),
                FunctionSpec { description: raw_fn.description, triggers, timeout_ms },
            );
        }

        let limits_span = raw.limits.as_ref().map_or(0..0, Spanned::span);
        let limits = raw.limits.map(Spanned::into_inner).unwrap_or_default();
        if let Some(t) = limits.timeout_ms {
            check_timeout(t).map_err(|m| error(Some(limits_span.clone()), m))?;
        }
        if limits.memory_mib == Some(0) {
            return Err(error(Some(limits_span), "memory_mib must be at least 1".into()));
        }
        if limits.concurrency == Some(0) {
            return Err(error(Some(limits_span), "concurrency must be at least 1".into()));
        }
        let mut stream_authorizers = BTreeMap::new();
        for (stream, settings) in raw.streams {
            let join = settings.join.get_ref();
            if !is_function_id(join) {
                return Err(error(
                    Some(settings.join.span()),
                    format!("join {join:?} must be a function id like \"todos::can-join\""),
                ));
            }
            stream_authorizers.insert(stream.into_inner(), settings.join.into_inner());
        }

        let statics = match raw.statics {
            Some(raw) => {
                let span = raw.span();
                let RawStatic { dir: folder, path } = raw.into_inner();
                validate_route_path(&path)
                    .and_then(|()| StaticMount::new(dir, &folder, &path))
                    .map(Some)
                    .map_err(|m| error(Some(span), format!("[static]: {m}")))?
            }
            None => None,
        };

        Ok(Manifest {
            name: raw.name.into_inner(),
            component: dir.join(raw.component.into_inner()),
            description: raw.description,
            functions,
            limits,
            capabilities: raw.capabilities,
            stream_authorizers,
            instances: raw.instances,
            statics,
        })
    }
}

fn check_timeout(ms: u64) -> Result<u64, String> {
    if (1..=MAX_TIMEOUT_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!("timeout_ms must be between 1 and {MAX_TIMEOUT_MS}, not {ms}"))
    }
}

fn validate_trigger(trigger: &Trigger) -> Result<(), String> {
    match trigger {
        Trigger::Http(HttpTrigger { method, path, .. }) => {
            if !METHODS.contains(&method.as_str()) {
                return Err(format!("method {method:?} is not one of {}", METHODS.join(", ")));
            }
            validate_route_path(path)
        }
        Trigger::State(StateTrigger { scope, key, condition }) => {
            for (what, value) in [("scope", scope), ("key", key)] {
                if value.as_deref() == Some("") {
                    return Err(format!("{what} must not be empty (leave it out to match any)"));
                }
            }
            match condition {
                Some(id) if !is_function_id(id) => {
                    Err(format!("condition {id:?} must be a function id like \"todos::is-open\""))
                }
                _ => Ok(()),
            }
        }
        Trigger::Stream(StreamTrigger { stream_name, group_id }) => {
            if stream_name.is_empty() || group_id.as_deref() == Some("") {
                Err("stream_name and group_id must not be empty".into())
            } else {
                Ok(())
            }
        }
    }
}

/// A route path: `/`-separated, literal segments or `:name` parameters, outside `/_eddy`.
pub fn validate_route_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("path {path:?} must start with '/'"));
    }
    if path == RESERVED_PATH_PREFIX || path.starts_with(&format!("{RESERVED_PATH_PREFIX}/")) {
        return Err(format!(
            "path {path:?} is under {RESERVED_PATH_PREFIX}/, which the host reserves"
        ));
    }
    if path == "/" {
        return Ok(());
    }
    let mut params = HashSet::new();
    for segment in path[1..].split('/') {
        if segment.is_empty() {
            return Err(format!("path {path:?} has an empty segment"));
        }
        if segment.contains(['{', '}', '*', '?', '#', '%']) {
            return Err(format!("path {path:?}: segment {segment:?} has a reserved character"));
        }
        if let Some(param) = segment.strip_prefix(':') {
            let valid = param.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && param.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("path {path:?}: parameter {segment:?} needs a name like :id"));
            }
            if !params.insert(param) {
                return Err(format!("path {path:?} names parameter :{param} twice"));
            }
        } else if segment.contains(':') {
            return Err(format!("path {path:?}: ':' may only start a segment"));
        }
    }
    Ok(())
}

/// The path with parameter names erased: two routes with the same shape always clash.
pub fn route_shape(path: &str) -> String {
    path.split('/').map(|s| if s.starts_with(':') { ":" } else { s }).collect::<Vec<_>>().join("/")
}

/// Lowercase kebab-case: `todos`, `on-change`, `todo2`.
fn is_kebab_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `plugin::function`, each part kebab-case (builtins like `state::set` use snake_case).
pub fn is_function_id(id: &str) -> bool {
    match id.split_once("::") {
        Some((plugin, function)) => {
            is_kebab_name(plugin) && (is_kebab_name(function) || is_snake_name(function))
        }
        None => false,
    }
}

fn is_snake_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
