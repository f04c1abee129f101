//! `eddy build DIR`: builds every plugin source in DIR with its language's toolchain and leaves
//! the component where its `plugin.toml` says (`component = "todos.wasm"`). Rust plugins are
//! built with cargo for `wasm32-wasip2`; a folder with no sources but a component is prebuilt
//! and left alone. Output is one line per plugin; any failure makes the whole command fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::manifest::Manifest;
use crate::registry::plugin_dirs;

/// The target every Rust plugin is built for.
const RUST_TARGET: &str = "wasm32-wasip2";

/// The language of a plugin folder, told by its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    /// No sources: the component is used as it is.
    Prebuilt,
}

/// Whether a file at the top of a plugin folder is one of its sources (a change to it calls for
/// a rebuild in development mode; `src/` is watched as a whole).
pub fn is_source_file(name: &str) -> bool {
    name == "Cargo.toml"
}

pub fn detect(dir: &Path) -> Language {
    if dir.join("Cargo.toml").is_file() { Language::Rust } else { Language::Prebuilt }
}

/// Builds every plugin under `dir`. Returns an error naming the plugins that failed.
pub fn build_all(dir: &Path) -> anyhow::Result<()> {
    let dirs = plugin_dirs(dir).with_context(|| format!("reading {}", dir.display()))?;
    if dirs.is_empty() {
        bail!("no plugins in {} (a plugin is a folder with a plugin.toml)", dir.display());
    }
    let mut failed = Vec::new();
    for plugin_dir in &dirs {
        let name = plugin_dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let started = Instant::now();
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
            Err(e) => {
                println!("  FAILED {name:<15} {e:#}");
                failed.push(name);
            }
        }
    }
    if !failed.is_empty() {
        bail!("{} plugin(s) failed to build: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// Builds one plugin folder; returns where the component was written (none if prebuilt).
pub fn build_one(dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let manifest = Manifest::load(&dir.join("plugin.toml"))?;
    match detect(dir) {
        Language::Rust => build_rust(dir, &manifest.component).map(Some),
        Language::Prebuilt if manifest.component.is_file() => Ok(None),
        Language::Prebuilt => {
            bail!("no sources (Cargo.toml) and no component at {}", manifest.component.display())
        }
    }
}

fn build_rust(dir: &Path, component: &Path) -> anyhow::Result<PathBuf> {
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
    // Copy to a temporary name and rename, so a watching host never sees a half-written file.
    let partial = component.with_extension("wasm.partial");
    std::fs::copy(&built, &partial)
        .with_context(|| format!("copying {} to {}", built.display(), partial.display()))?;
    std::fs::rename(&partial, component)?;
    Ok(component.to_path_buf())
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
