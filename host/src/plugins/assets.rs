//! A plugin's static files (`[static]` in `plugin.toml`, `docs/static.md`): the folder it
//! names is read whole when the plugin loads, into memory, and served from there. So a request
//! never touches the file system (no path can climb out of the folder: only the files read here
//! exist), a reload swaps the files with the rest of the plugin in one step, and every file has
//! a strong `ETag` from its content.
//!
//! What is read: regular files below the folder, with UTF-8 names, not hidden (no part of the
//! path starts with `.`). Symbolic links are not followed. A folder over [`MAX_FILES`] files or
//! [`MAX_BYTES`] bytes is refused, with the plugin.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Most files one plugin's static folder may hold.
pub const MAX_FILES: usize = 4096;
/// Most bytes they may hold together.
pub const MAX_BYTES: u64 = 64 << 20;

/// `[static]`: the folder of static files and the URL path it is served under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMount {
    /// Absolute: resolved against the manifest's folder.
    pub dir: PathBuf,
    /// `/` or `/a/b`: literal segments, no trailing slash.
    pub path: String,
}

impl StaticMount {
    /// Checks `dir` (relative to the plugin folder `base`) and the mount `path`, which must
    /// already be a valid route path (`manifest.rs` checks that).
    pub fn new(base: &Path, dir: &str, path: &str) -> Result<StaticMount, String> {
        let relative = Path::new(dir);
        let inside = !dir.is_empty()
            && relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
            && relative.components().any(|c| matches!(c, Component::Normal(_)));
        if !inside {
            return Err(format!(
                "dir {dir:?} must be a folder inside the plugin's, e.g. \"public\" (the \
                 plugin's own folder holds its manifest and code, which are not served)"
            ));
        }
        if path.contains(':') || (path.len() > 1 && path.ends_with('/')) {
            return Err(format!(
                "path {path:?} must be literal segments without a trailing '/', e.g. \"/\" or \"/app\""
            ));
        }
        Ok(StaticMount { dir: base.join(relative), path: path.to_string() })
    }

    /// The URL path of the file `relative` (`/`-separated) under this mount.
    fn url_of(&self, relative: &str) -> String {
        if self.path == "/" { format!("/{relative}") } else { format!("{}/{relative}", self.path) }
    }
}

/// One file, ready to serve.
#[derive(Debug)]
pub struct Asset {
    pub body: Bytes,
    pub content_type: String,
    /// A strong validator: `"` + the first 32 hex digits of the content's SHA-256 + `"`.
    pub etag: String,
}

/// The static files of one plugin, by the URL paths they answer: a file's own path, and for an
/// `index.html` also its folder's path with a trailing slash (`/` for the mount's own).
#[derive(Debug, Default)]
pub struct Assets {
    pub by_url: BTreeMap<String, Arc<Asset>>,
    /// Identifies the whole set: a reload that finds the same digest, manifest and component
    /// has nothing to do.
    pub digest: String,
}

impl Assets {
    /// Reads the files of `mount`. The error says what is wrong, for the plugin's rejection.
    pub fn read(mount: &StaticMount) -> Result<Assets, String> {
        let mut files = Vec::new();
        collect(&mount.dir, &mount.dir, &mut files)?;
        files.sort();
        let mut assets = Assets::default();
        let (mut total, mut digest) = (0u64, Sha256::new());
        for (relative, path) in files {
            let body =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            total += body.len() as u64;
            if total > MAX_BYTES {
                return Err(format!(
                    "the static files in {} hold more than {} MiB",
                    mount.dir.display(),
                    MAX_BYTES >> 20
                ));
            }
            let hash = Sha256::digest(&body);
            // Lengths first, so no two different file lists hash alike.
            digest.update((relative.len() as u64).to_le_bytes());
            digest.update(relative.as_bytes());
            digest.update(hash);
            let content_type = content_type(&relative);
            let etag = format!("\"{}\"", &format!("{hash:x}")[..32]);
            let asset = Arc::new(Asset { body: Bytes::from(body), content_type, etag });
            if let Some(folder) = relative.strip_suffix("index.html")
                && (folder.is_empty() || folder.ends_with('/'))
            {
                let url = mount.url_of(folder);
                let url = if url.ends_with('/') { url } else { format!("{url}/") };
                assets.by_url.insert(url, asset.clone());
            }
            assets.by_url.insert(mount.url_of(&relative), asset);
        }
        assets.digest = format!("{:x}", digest.finalize());
        Ok(assets)
    }
}

/// The regular files below `dir`, as (`/`-separated path relative to `root`, file path).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("[static] dir {} does not exist", dir.display())
        } else {
            format!("cannot read {}: {e}", dir.display())
        }
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue; // not UTF-8: no URL names it
        };
        if name.starts_with('.') {
            continue;
        }
        // `file_type` does not follow symbolic links: a link is neither file nor folder here.
        let kind = entry.file_type().map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if kind.is_dir() {
            collect(root, &path, files)?;
        } else if kind.is_file() {
            if files.len() == MAX_FILES {
                return Err(format!(
                    "the static files in {} are more than {MAX_FILES}",
                    root.display()
                ));
            }
            let relative = path.strip_prefix(root).map_err(|e| e.to_string())?;
            let parts: Vec<&str> = relative.iter().filter_map(|p| p.to_str()).collect();
            files.push((parts.join("/"), path));
        }
    }
    Ok(())
}

/// The `Content-Type` of a file by its extension; text types say UTF-8.
fn content_type(relative: &str) -> String {
    let mime = mime_guess::from_path(relative).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || matches!(mime.subtype().as_str(), "javascript" | "json" | "xml" | "svg");
    if text && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(dir: &Path, path: &str) -> StaticMount {
        StaticMount { dir: dir.to_path_buf(), path: path.into() }
    }

    #[test]
    fn a_mount_is_a_folder_inside_the_plugin_at_a_literal_path() {
        let base = Path::new("/p/todos");
        let ok = StaticMount::new(base, "public", "/").unwrap();
        assert_eq!(ok.dir, PathBuf::from("/p/todos/public"));
        assert!(StaticMount::new(base, "web/public", "/app").is_ok());
        for dir in ["", ".", "..", "../other", "/etc", "public/../.."] {
            let e = StaticMount::new(base, dir, "/").unwrap_err();
            assert!(e.contains("inside the plugin"), "{dir}: {e}");
        }
        for path in ["/app/", "/:page", "/a/:b"] {
            assert!(StaticMount::new(base, "public", path).is_err(), "{path}");
        }
    }

    #[test]
    fn files_are_read_with_types_tags_and_folder_indexes_but_no_hidden_files_or_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("docs/.git")).unwrap();
        std::fs::write(root.join("index.html"), "<h1>hi</h1>").unwrap();
        std::fs::write(root.join("app.js"), "export {}").unwrap();
        std::fs::write(root.join("docs/index.html"), "docs").unwrap();
        std::fs::write(root.join("docs/.git/config"), "secret").unwrap();
        std::fs::write(root.join(".env"), "secret").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("host")).unwrap();

        let assets = Assets::read(&mount(root, "/")).unwrap();
        let urls: Vec<&str> = assets.by_url.keys().map(String::as_str).collect();
        assert_eq!(urls, ["/", "/app.js", "/docs/", "/docs/index.html", "/index.html"]);
        assert_eq!(assets.by_url["/"].content_type, "text/html; charset=utf-8");
        assert_eq!(assets.by_url["/app.js"].content_type, "text/javascript; charset=utf-8");
        assert!(Arc::ptr_eq(&assets.by_url["/docs/"], &assets.by_url["/docs/index.html"]));
        assert_eq!(assets.by_url["/"].etag.len(), 34);

        let under = Assets::read(&mount(root, "/app")).unwrap();
        assert!(under.by_url.contains_key("/app/") && under.by_url.contains_key("/app/docs/"));
        assert_eq!(under.digest, assets.digest, "the same files");
        std::fs::write(root.join("app.js"), "export { x }").unwrap();
        let changed = Assets::read(&mount(root, "/")).unwrap();
        assert_ne!(changed.digest, assets.digest);
        assert_ne!(changed.by_url["/app.js"].etag, assets.by_url["/app.js"].etag);
    }

    #[test]
    fn a_missing_or_oversized_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = Assets::read(&mount(&dir.path().join("public"), "/")).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        for i in 0..=MAX_FILES {
            std::fs::write(dir.path().join(format!("{i}.txt")), "").unwrap();
        }
        let e = Assets::read(&mount(dir.path(), "/")).unwrap_err();
        assert!(e.contains("more than 4096"), "{e}");
    }
}
