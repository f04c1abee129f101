//! Folders the tools work in: folders named by their content, for files a tool reads and that
//! many builds share (the WIT, the Python SDK), and throwaway workspaces, removed when the work
//! ends (a JavaScript plugin staged with its SDK, an engine being built).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use sha2::{Digest, Sha256};

/// A directory holding `files` (path, text): one per content, `<prefix>-<hash>` under the
/// system's temporary directory, each file written once (to a unique name, then renamed).
pub fn content_dir(prefix: &str, files: &[(&str, &str)]) -> anyhow::Result<PathBuf> {
    static UNIQUE: AtomicU64 = AtomicU64::new(0);
    let mut hash = Sha256::new();
    for (path, text) in files {
        for part in [path.as_bytes(), text.as_bytes()] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
    }
    let hash = format!("{:x}", hash.finalize());
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", &hash[..16]));
    for (path, text) in files {
        let file = dir.join(path);
        if std::fs::read_to_string(&file).is_ok_and(|old| old == *text) {
            continue;
        }
        let folder = file.parent().unwrap_or(&dir);
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
        let temporary = file.with_extension(format!("{}.{n}.partial", std::process::id()));
        std::fs::write(&temporary, text)
            .with_context(|| format!("writing {}", temporary.display()))?;
        std::fs::rename(&temporary, &file)
            .with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(dir)
}

/// A folder a tool works in, removed when the work ends.
pub struct Workspace(PathBuf);

impl Workspace {
    /// The empty folder `dir` (emptied if it exists).
    pub fn new(dir: PathBuf) -> anyhow::Result<Workspace> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Workspace(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_once_per_content_to_a_folder_named_by_it() {
        let files = [("a/b.txt", "one"), ("c.txt", "two")];
        let dir = content_dir("eddy-test-content", &files).expect("written");
        assert_eq!(std::fs::read_to_string(dir.join("a/b.txt")).expect("a/b.txt"), "one");
        assert_eq!(content_dir("eddy-test-content", &files).expect("again"), dir);
        let other = content_dir("eddy-test-content", &[("c.txt", "three")]).expect("written");
        assert_ne!(other, dir, "another content, another folder");
    }
}
