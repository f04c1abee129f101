//! `eddy build`: building plugin sources into components, and failing clearly.

use std::fs;

use crate::harness::{fixtures_dir, plugins_dir};

#[test]
fn the_repository_plugins_build_into_components_next_to_their_manifests() {
    let examples = ["todos", "todo-summary", "hello"].map(|p| (plugins_dir(), p));
    let fixtures = ["probe", "hostile", "bare"].map(|p| (fixtures_dir(), p));
    for (dir, plugin) in examples.into_iter().chain(fixtures) {
        let component = dir.join(plugin).join(format!("{plugin}.wasm"));
        let bytes = fs::read(&component).unwrap_or_else(|e| panic!("{}: {e}", component.display()));
        // A component, not a core module: the layer field of the preamble is 1.
        assert_eq!(&bytes[0..4], b"\0asm", "{plugin} is wasm");
        assert_eq!(bytes[6..8], [1, 0], "{plugin} is a component");
    }
}

#[test]
fn a_plugin_that_fails_to_compile_fails_the_build_and_is_named() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let broken = dir.path().join("broken");
    fs::create_dir_all(broken.join("src")).expect("mkdir");
    fs::write(broken.join("plugin.toml"), "name = \"broken\"\ncomponent = \"broken.wasm\"\n")
        .expect("write");
    fs::write(
        broken.join("Cargo.toml"),
        "[package]\nname = \"broken\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[lib]\ncrate-type = [\"cdylib\"]\n[workspace]\n",
    )
    .expect("write");
    fs::write(broken.join("src/lib.rs"), "this is not rust\n").expect("write");

    let prebuilt = dir.path().join("prebuilt");
    fs::create_dir_all(&prebuilt).expect("mkdir");
    fs::write(prebuilt.join("plugin.toml"), "name = \"prebuilt\"\ncomponent = \"p.wasm\"\n")
        .expect("write");
    fs::write(prebuilt.join("p.wasm"), b"\0asm").expect("write");

    let error = eddy::tools::build::build_all(dir.path()).expect_err("the build fails");
    let message = format!("{error:#}");
    assert!(message.contains("broken") && !message.contains("prebuilt"), "{message}");
    assert!(!broken.join("broken.wasm").exists(), "no component is left behind");
}

#[test]
fn an_empty_plugins_directory_is_an_error() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let message = format!("{:#}", eddy::tools::build::build_all(dir.path()).expect_err("an error"));
    assert!(message.contains("no plugins"), "{message}");
}
