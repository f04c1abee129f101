//! Plugins served from source: how `eddy dev` runs a JavaScript or Python plugin without
//! building it. Whoever starts the loader may give it [`DevEngines`] (the CLI's
//! `tools/engine.rs`); for each plugin folder they say whether it is served by its language's
//! development engine, a prebuilt component shared by every plugin of the language that reads
//! the plugin's code when an instance starts (`runtime/dev.rs`). An edit then serves as soon
//! as the loader has read the new sources: no build, no compile. See docs/development.md.

use std::path::{Path, PathBuf};

use crate::runtime::Sources;

/// The development engines of a host in development mode.
pub trait DevEngines: Send + Sync + std::fmt::Debug {
    /// Whether the plugin in `dir` is served from source: its language has an engine and the
    /// engine's toolchain is installed. Cheap: builds nothing.
    fn serves(&self, dir: &Path) -> bool;

    /// How to serve the plugin in `dir` from source: none when it is not (Rust or prebuilt
    /// plugins, or no toolchain to build the engine with: its component serves); an error when
    /// it should be but cannot (its engine failed to build, its sources cannot be read). May
    /// take seconds the first time a language's engine is built.
    fn source_of(&self, dir: &Path) -> Option<anyhow::Result<FromSource>>;
}

/// A plugin served by its language's development engine.
pub struct FromSource {
    /// The engine's component file.
    pub engine: PathBuf,
    /// Hex sha256 of that file.
    pub engine_sha256: String,
    /// The plugin's sources, read once: what serves is exactly what was read.
    pub sources: Sources,
}
