//! The plugins directory: which of its folders hold a plugin. The loader, the watcher and
//! `eddy build` agree on this, so what loads at start is what reloads on change and what builds.

use std::path::{Path, PathBuf};

/// Whether a file at the top of a plugin folder is one of its sources (a change to it calls for
/// a rebuild in development mode; `src/` is watched as a whole).
pub fn is_source_file(name: &str) -> bool {
    matches!(name, "Cargo.toml" | "package.json" | "pyproject.toml")
        || [".js", ".mjs", ".py"].iter().any(|ext| name.ends_with(ext))
}

/// Folders of the plugins directory that never hold a plugin and churn during builds.
const IGNORED_DIRS: &[&str] = &["target", "node_modules"];

/// Whether a folder of the plugins directory named `name` may hold a plugin: not a hidden one
/// (`.venv`, `.git`, an editor's) nor a build's. The loader and the watcher agree on this, so
/// what loads at start is what reloads on change.
pub fn may_hold_plugin(name: &str) -> bool {
    !name.starts_with('.') && !IGNORED_DIRS.contains(&name)
}

/// Every folder under `dir` that may hold a plugin and has a `plugin.toml`, sorted by name.
pub fn plugin_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.file_name().and_then(|n| n.to_str()).is_some_and(may_hold_plugin))
        .filter(|path| path.join("plugin.toml").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_of_every_language_are_recognised() {
        for name in ["Cargo.toml", "package.json", "todo-search.js", "lib.mjs", "app.py"] {
            assert!(is_source_file(name), "{name}");
        }
        for name in ["plugin.toml", "x.wasm", "x.wasm.partial", "README.md", "package-lock.json"] {
            assert!(!is_source_file(name), "{name}");
        }
    }

    #[test]
    fn plugin_folders_are_those_with_a_manifest_that_are_not_hidden_or_a_builds() {
        let root = std::env::temp_dir().join(format!("eddy-plugin-dirs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (folder, manifest) in [
            ("todos", true),
            ("notes", false),
            (".venv", true),
            ("node_modules", true),
            ("target", true),
        ] {
            std::fs::create_dir_all(root.join(folder)).expect("mkdir");
            if manifest {
                std::fs::write(root.join(folder).join("plugin.toml"), "").expect("write");
            }
        }
        let found = plugin_dirs(&root);
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(found.expect("read"), [root.join("todos")]);
    }
}
