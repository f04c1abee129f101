//! The plugin folders the scenarios serve: copies of the repository's built plugins (manifest
//! and component only), renamed or rewired through their manifest text, in temporary
//! directories.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Copies the plugin folder `plugins/name` (its `plugin.toml` and `.wasm` files) to
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
    Ok(dest)
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
