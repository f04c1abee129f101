//! The on-disk cache of compiled components. Compiling a component takes from tens of
//! milliseconds (Rust) to seconds (JavaScript, Python); loading its precompiled form takes well
//! under one. Entries are keyed by the component's sha256 and by the engine's compatibility hash
//! (wasmtime version and settings), so a restart, or a re-add of the same bytes, skips
//! compilation, and an upgraded host never loads code compiled for another engine.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;

use wasmtime::Engine;
use wasmtime::component::Component;

/// A folder of `<sha256>-<engine>.cwasm` files.
pub struct CompileCache {
    dir: PathBuf,
    /// Identifies the engine's version and settings; part of every file name.
    engine_key: String,
}

impl CompileCache {
    pub fn new(dir: PathBuf, engine: &Engine) -> CompileCache {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache { dir, engine_key: format!("{:016x}", hasher.finish()) }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// The compiled component for `sha256`, if cached and loadable by `engine`.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        let bytes = std::fs::read(&path).ok()?;
        // SAFETY: `deserialize` trusts its input to be wasmtime's own output. Only this cache
        // writes these files: they are produced by `Component::serialize` in `store` below and
        // renamed into place whole, in the host's own data directory, and the name binds them to
        // this engine's version and settings (which wasmtime checks again while loading).
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize(engine, &bytes) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unusable compile cache entry: recompiling");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Saves `component`; a failure only costs a later recompile, so it is logged, not returned.
    pub fn store(&self, sha256: &str, component: &Component) {
        let path = self.path(sha256);
        let result = component.serialize().map_err(anyhow::Error::from).and_then(|bytes| {
            std::fs::create_dir_all(&self.dir)?;
            let partial = path.with_extension("partial");
            std::fs::write(&partial, bytes)?;
            std::fs::rename(&partial, &path)?;
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "could not write the compile cache");
        }
    }
}
