//! The shape of `host/src` that `ARCHITECTURE.md` promises, checked so it cannot drift: module
//! files import each other one way (no cycles, at the level of files and of folders), no file
//! is longer than a person can hold in their head, `lib.rs`'s module map names every module it
//! declares, and every document a comment cites is in the repository.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path below the crate root: `["state", "writer"]`; `[]` for `lib.rs`.
type Module = Vec<String>;

/// The longest a source file may be, tests included.
const MAX_LINES: usize = 500;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, as paths relative to it.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("a readable folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path.strip_prefix(dir).expect("below the folder").to_path_buf());
            }
        }
    }
    files.sort();
    files
}

/// Test-only files: `#[cfg(test)]` children, which import the module they test by design.
fn is_test_file(file: &Path) -> bool {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name == "tests.rs" || name == "props.rs" || file.components().any(|c| c.as_os_str() == "tests")
}

fn module_of(file: &Path) -> Module {
    let mut parts: Module =
        file.with_extension("").iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code of a file without its comments and its inline `#[cfg(test)] mod tests` (which
/// comes last).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => text,
    };
    let lines = text.lines().map(|line| match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    });
    lines.collect::<Vec<_>>().join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The paths that follow `prefix::` in `code`: `crate::state::Txn` gives `["state", "Txn"]`,
/// and a group `crate::{a::b, c}` gives `["a", "b"]` and `["c"]`.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let needle = format!("{prefix}::");
    let mut rest = code;
    while let Some(at) = rest.find(&needle) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + needle.len()..];
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find("};").unwrap_or(group.len());
            for item in group[..end].split(',') {
                paths.push(segments(item.trim()));
            }
        } else {
            paths.push(segments(rest));
        }
    }
    paths
}

fn segments(text: &str) -> Vec<String> {
    let end = text.find(|c: char| !(is_ident(c) || c == ':')).unwrap_or(text.len());
    text[..end].split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The import graph of the module files of `host/src`, tests left out.
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let root = src();
    let files: Vec<PathBuf> = rust_files(&root)
        .into_iter()
        .filter(|f| !is_test_file(f) && f != Path::new("main.rs"))
        .collect();
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(f)).collect();
    let resolve = |path: Vec<String>| {
        (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|m| modules.contains(m))
    };
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for file in &files {
        let module = module_of(file);
        let text = code(&std::fs::read_to_string(root.join(file)).expect("a source file"));
        let mut targets = BTreeSet::new();
        for path in paths_after(&text, "crate") {
            targets.extend(resolve(path));
        }
        for path in paths_after(&text, "super") {
            let mut full = module[..module.len().saturating_sub(1)].to_vec();
            full.extend(path);
            targets.extend(resolve(full));
        }
        let is_folder = file.ends_with("mod.rs") || file == Path::new("lib.rs");
        if is_folder {
            // A folder's own file names its children by their bare names.
            let children = modules.iter().filter(|m| m.len() == module.len() + 1);
            for child in children.filter(|m| m.starts_with(&module)) {
                if !paths_after(&text, &child[module.len()]).is_empty() {
                    targets.insert(child.clone());
                }
            }
        }
        targets.remove(&module);
        edges.insert(module, targets);
    }
    edges
}

/// The import cycles of `edges`: every set of nodes that reach each other (Tarjan).
fn cycles<N: Ord + Clone>(edges: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    struct Walk<'a, N> {
        edges: &'a BTreeMap<N, BTreeSet<N>>,
        index: BTreeMap<N, usize>,
        low: BTreeMap<N, usize>,
        stack: Vec<N>,
        found: Vec<Vec<N>>,
    }
    impl<N: Ord + Clone> Walk<'_, N> {
        fn visit(&mut self, node: &N) {
            let n = self.index.len();
            self.index.insert(node.clone(), n);
            self.low.insert(node.clone(), n);
            self.stack.push(node.clone());
            for next in self.edges.get(node).into_iter().flatten() {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node.clone(), low);
                } else if self.stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node.clone(), low);
                }
            }
            if self.low[node] == self.index[node] {
                let at = self.stack.iter().position(|n| n == node).expect("on the stack");
                let component = self.stack.split_off(at);
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.found
}

#[test]
fn module_files_import_each_other_one_way() {
    let found = cycles(&graph());
    let named: Vec<String> = found.iter().map(|c| format!("{c:?}")).collect();
    assert!(found.is_empty(), "import cycles between module files: {named:?}");
}

#[test]
fn folders_import_each_other_one_way() {
    let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in graph() {
        let Some(from) = from.first() else { continue };
        let entry = folders.entry(from.clone()).or_default();
        entry.extend(targets.iter().filter_map(|t| t.first()).filter(|t| *t != from).cloned());
    }
    let found = cycles(&folders);
    assert!(found.is_empty(), "import cycles between the parts of host/src: {found:?}");
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    let edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::from([
        ("a", BTreeSet::from(["b"])),
        ("b", BTreeSet::from(["c"])),
        ("c", BTreeSet::from(["a"])),
        ("d", BTreeSet::from(["a"])),
    ]);
    let found = cycles(&edges);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].iter().collect::<BTreeSet<_>>(), BTreeSet::from([&"a", &"b", &"c"]));
    assert_eq!(paths_after("use crate::{a::B, c};", "crate"), [vec!["a", "B"], vec!["c"]]);
}

#[test]
fn no_source_file_is_longer_than_a_person_can_hold_in_their_head() {
    let too_long: Vec<String> = rust_files(&src())
        .into_iter()
        .map(|f| {
            let lines = std::fs::read_to_string(src().join(&f)).expect("a file").lines().count();
            (f, lines)
        })
        .filter(|(_, lines)| *lines > MAX_LINES)
        .map(|(f, lines)| format!("{} ({lines} lines)", f.display()))
        .collect();
    assert!(too_long.is_empty(), "files over {MAX_LINES} lines: {too_long:?}");
}

#[test]
fn the_module_map_of_lib_rs_names_every_module_it_declares() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ").or_else(|| l.strip_prefix("mod ")))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(!declared.is_empty());
    let map: String = lib.lines().filter(|l| l.starts_with("//!")).collect::<Vec<_>>().join("\n");
    // A module compiled only under a `cfg` is listed without a link (`- `fuzz``).
    for module in &declared {
        let listed =
            map.contains(&format!("- [`{module}`]")) || map.contains(&format!("- `{module}`"));
        assert!(listed, "the module map leaves out {module}");
    }
    let entries = map
        .lines()
        .filter_map(|l| l.strip_prefix("//! - [`").or_else(|| l.strip_prefix("//! - `")));
    for listed in entries.filter(|l| !l.starts_with("main.rs")) {
        let name = listed.split('`').next().unwrap_or_default();
        assert!(declared.contains(&name), "the module map lists {name}, which lib.rs lacks");
    }
}

#[test]
fn every_document_a_comment_cites_is_in_the_repository() {
    let mut missing = Vec::new();
    for file in rust_files(&src()) {
        let text = std::fs::read_to_string(src().join(&file)).expect("a file");
        for cited in text.split('`').skip(1).step_by(2) {
            let is_document = cited.ends_with(".md") && !cited.contains(' ');
            if is_document && !repository().join(cited).is_file() {
                missing.push(format!("{}: {cited}", file.display()));
            }
        }
        if text.contains("SPEC §") {
            missing.push(format!("{}: SPEC §", file.display()));
        }
    }
    assert!(missing.is_empty(), "cited documents the repository lacks: {missing:?}");
}
