//! The SDKs of JavaScript and Python plugins (`guest-sdk/js`, `guest-sdk/python`), embedded in
//! the host so that every plugin gets the SDK of the host it is built for or served by, and the
//! repository keeps one copy of each. A plugin imports it as `eddy` in either language:
//!
//! - `eddy build`, JavaScript: componentize-js resolves a bare specifier as a file beside the
//!   importing module (`'eddy'` from `src/a.js` is `src/eddy.js`), so the plugin is built from a
//!   staged copy of its modules ([`stage_js`]) with the SDK as `eddy.js` at the top and, in
//!   every folder below that holds a module, an `eddy.js` that re-exports it (one module
//!   instance, so `instanceof EddyError` holds across files).
//! - `eddy build`, Python: the package `eddy` ([`PYTHON`]) is written once per content to a
//!   folder that componentize-py gets as a second module path.
//! - `eddy dev`: each language's engine is built with the SDK in it (`engine.rs`).
//!
//! TypeScript editors get the SDK's declarations in `eddy.d.ts` (`typescript.rs`).

use std::path::Path;

use anyhow::{Context as _, bail};

/// The JavaScript SDK, the module `eddy`.
pub const JS: &str = include_str!("../../../guest-sdk/js/eddy.js");
/// Its declarations (`declare module 'eddy'`), appended to `eddy.d.ts`.
pub const JS_TYPES: &str = include_str!("../../../guest-sdk/js/eddy-sdk.d.ts");
/// The file the JavaScript SDK is staged as, beside the modules that import it.
pub const JS_FILE: &str = "eddy.js";

/// The Python SDK, the package `eddy`: each file's path under the module path, and its text.
pub const PYTHON: &[(&str, &str)] = &[
    ("eddy/__init__.py", include_str!("../../../guest-sdk/python/eddy/__init__.py")),
    ("eddy/errors.py", include_str!("../../../guest-sdk/python/eddy/errors.py")),
    ("eddy/invoke.py", include_str!("../../../guest-sdk/python/eddy/invoke.py")),
    ("eddy/log.py", include_str!("../../../guest-sdk/python/eddy/log.py")),
    ("eddy/op.py", include_str!("../../../guest-sdk/python/eddy/op.py")),
    ("eddy/state.py", include_str!("../../../guest-sdk/python/eddy/state.py")),
    ("eddy/streams.py", include_str!("../../../guest-sdk/python/eddy/streams.py")),
    // Marks the package as typed for mypy and editors (PEP 561).
    ("eddy/py.typed", ""),
];

/// The extensions of the files staged for componentize-js: modules, and JSON they may read.
const STAGED: &[&str] = &["js", "mjs", "cjs", "json"];

/// Copies the JavaScript plugin at `dir` into the empty folder `work` for componentize-js:
/// its modules (and JSON files) in every folder but hidden ones and `node_modules`, the SDK as
/// [`JS_FILE`] at the top, and a re-export of it in every folder below that holds a module.
pub fn stage_js(dir: &Path, work: &Path) -> anyhow::Result<()> {
    let mut pending = vec![(dir.to_path_buf(), work.to_path_buf(), 0)];
    while let Some((from, to, depth)) = pending.pop() {
        std::fs::create_dir_all(&to).with_context(|| format!("creating {}", to.display()))?;
        let mut modules = false;
        let entries =
            std::fs::read_dir(&from).with_context(|| format!("reading {}", from.display()))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "node_modules" {
                continue;
            }
            if entry.file_type()?.is_dir() {
                pending.push((entry.path(), to.join(&name), depth + 1));
                continue;
            }
            let extension = Path::new(&name).extension().and_then(|e| e.to_str());
            if !extension.is_some_and(|e| STAGED.contains(&e)) {
                continue;
            }
            if name == JS_FILE {
                bail!(
                    "{}: {JS_FILE} is the name of the Eddy SDK module (`import ... from 'eddy'`): \
                     rename this file",
                    entry.path().display()
                );
            }
            modules |= extension != Some("json");
            std::fs::copy(entry.path(), to.join(&name))
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
        let sdk = if depth == 0 {
            JS.to_string()
        } else if modules {
            format!("export * from '{}{JS_FILE}';\n", "../".repeat(depth))
        } else {
            continue;
        };
        std::fs::write(to.join(JS_FILE), sdk).with_context(|| format!("writing {JS_FILE}"))?;
    }
    Ok(())
}

/// Writes the Python SDK's files under `dir` (`dir/eddy/...`).
pub fn write_python(dir: &Path) -> anyhow::Result<()> {
    for (path, text) in PYTHON {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap_or(dir))?;
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn a_javascript_plugin_is_staged_with_the_sdk_beside_every_folder_of_modules() {
        let plugin = tempfile::tempdir().expect("a temp dir");
        let files = [
            "index.js",
            "package.json",
            "src/words.js",
            "src/deep/more.mjs",
            "data/only.json",
            "README.md",
            "plugin.wasm",
            ".hidden/x.js",
            "node_modules/left-pad/index.js",
        ];
        for file in files {
            let path = plugin.path().join(file);
            std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
            std::fs::write(&path, file).expect("write");
        }
        let work = tempfile::tempdir().expect("a temp dir");
        stage_js(plugin.path(), work.path()).expect("staged");
        let staged = work.path();
        assert_eq!(read(&staged.join("eddy.js")), JS);
        assert_eq!(read(&staged.join("src/eddy.js")), "export * from '../eddy.js';\n");
        assert_eq!(read(&staged.join("src/deep/eddy.js")), "export * from '../../eddy.js';\n");
        for copied in ["index.js", "package.json", "src/words.js", "src/deep/more.mjs"] {
            assert_eq!(read(&staged.join(copied)), copied);
        }
        assert!(staged.join("data/only.json").is_file() && !staged.join("data/eddy.js").exists());
        for left in ["README.md", "plugin.wasm", ".hidden", "node_modules"] {
            assert!(!staged.join(left).exists(), "{left} is not staged");
        }
    }

    #[test]
    fn a_plugin_file_named_as_the_sdk_is_refused() {
        let plugin = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir_all(plugin.path().join("src")).expect("mkdir");
        std::fs::write(plugin.path().join("src/eddy.js"), "").expect("write");
        let work = tempfile::tempdir().expect("a temp dir");
        let error = stage_js(plugin.path(), work.path()).expect_err("refused").to_string();
        assert!(error.contains("src/eddy.js") && error.contains("rename"), "{error}");
    }

    #[test]
    fn every_file_of_the_python_sdk_is_embedded() {
        let package = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/python/eddy");
        let mut on_disk: Vec<String> = std::fs::read_dir(&package)
            .expect("guest-sdk/python/eddy")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.') && name != "__pycache__")
            .map(|name| format!("eddy/{name}"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = PYTHON.iter().map(|(path, _)| path.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "list the new file in `PYTHON`");

        let dir = tempfile::tempdir().expect("a temp dir");
        write_python(dir.path()).expect("written");
        assert_eq!(read(&dir.path().join("eddy/state.py")), read(&package.join("state.py")));
    }
}
