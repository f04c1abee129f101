//! `eddy new NAME --lang rust|js|python [--dir plugins]`: a new plugin folder that `eddy build`
//! builds and `eddy serve` serves as it is. Its one function answers `GET /NAME` with JSON
//! naming the plugin, greeting the signed-in caller by their token's subject (when the host has
//! identity providers and the request a token), and counting its calls in the state scope
//! `NAME` (an `increment` op, so concurrent calls all count), which its manifest grants it.
//!
//! A Rust plugin is its own cargo workspace (`[workspace]` in its Cargo.toml), so it builds
//! wherever it lives, and depends on the Eddy SDK (`eddy-sdk`, the repository's `guest-sdk/`)
//! by path. [`find_sdk`] says which path: the `guest-sdk/` of an Eddy checkout the new folder is
//! inside (as a relative path, so the checkout can move), else the checkout this `eddy` binary
//! was built from (as an absolute path). JavaScript and Python plugins import their SDK as
//! `eddy`, which `eddy build` and `eddy dev` supply from the binary (see [`super::sdk`]): the
//! folder holds no copy.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context as _, bail};

use super::build;
use crate::plugins::manifest::Manifest;

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    JavaScript,
    Python,
}

impl FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Lang, String> {
        match s {
            "rust" | "rs" => Ok(Lang::Rust),
            "js" | "javascript" => Ok(Lang::JavaScript),
            "python" | "py" => Ok(Lang::Python),
            other => Err(format!("unknown language {other:?}: use rust, js or python")),
        }
    }
}

/// Creates the plugin and says what was made and what to run next (`eddy new`).
pub fn run(dir: &Path, name: &str, lang: Lang) -> anyhow::Result<()> {
    let folder = create(dir, name, lang)?;
    println!("created {} ({lang:?} plugin; GET /{name} says hello)", folder.display());
    if let Err(missing) = build::check(&folder) {
        println!("  note: {missing}");
    }
    println!("next: eddy build {0} && eddy serve --plugins {0}", dir.display());
    println!("      curl 127.0.0.1:3111/{name}");
    Ok(())
}

/// Writes the plugin `name` into `dir/name/` (`dir` is created if missing; the folder must not
/// exist yet). Returns the folder.
pub fn create(dir: &Path, name: &str, lang: Lang) -> anyhow::Result<PathBuf> {
    let folder = dir.join(name);
    let manifest = fill(MANIFEST, name);
    // The manifest's own checks judge the name (lowercase kebab-case) before anything is written.
    Manifest::parse(&folder.join("plugin.toml"), &manifest)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    if folder.exists() {
        bail!("{} already exists", folder.display());
    }
    let mut files = vec![("plugin.toml", manifest)];
    match lang {
        Lang::Rust => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let sdk = find_sdk(&std::fs::canonicalize(dir)?.join(name))?;
            let cargo_toml = fill(RUST_CARGO_TOML, name).replace("@SDK@", &sdk);
            files.extend([
                ("Cargo.toml", cargo_toml),
                ("src/lib.rs", fill(RUST_SOURCE, name)),
                ("README.md", fill(RUST_README, name)),
            ]);
        }
        Lang::JavaScript => files.extend([
            ("package.json", fill(JS_PACKAGE, name)),
            ("index.js", fill(JS_SOURCE, name)),
            ("README.md", fill(JS_README, name)),
            // The host's interfaces as TypeScript declarations, so an editor checks the calls.
            (super::typescript::DECLARATIONS, super::typescript::declarations(build::WIT)?),
            ("jsconfig.json", JS_CONFIG.to_string()),
        ]),
        Lang::Python => files.extend([
            ("app.py", fill(PYTHON_SOURCE, name)),
            ("README.md", fill(PYTHON_README, name)),
        ]),
    }
    // Written in a hidden folder beside it (which a watching host ignores), then moved in whole.
    let staging = dir.join(format!(".{name}.new"));
    let _ = std::fs::remove_dir_all(&staging);
    for (file, text) in &files {
        let path = staging.join(file);
        std::fs::create_dir_all(path.parent().unwrap_or(&staging))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    std::fs::rename(&staging, &folder)
        .with_context(|| format!("moving {} to {}", staging.display(), folder.display()))?;
    Ok(folder)
}

/// The `eddy-sdk` path for a Rust plugin at `folder` (absolute): relative to the `guest-sdk/`
/// of an Eddy checkout that holds the folder, else the absolute path of the checkout this
/// binary was built from.
pub fn find_sdk(folder: &Path) -> anyhow::Result<String> {
    for ancestor in folder.ancestors().skip(1) {
        if is_sdk(&ancestor.join("guest-sdk")) {
            let depth = folder.strip_prefix(ancestor).map_or(0, |rest| rest.components().count());
            return Ok(format!("{}guest-sdk", "../".repeat(depth)));
        }
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("guest-sdk");
    if is_sdk(&built_from) {
        let path = std::fs::canonicalize(&built_from)?;
        return Ok(path.to_string_lossy().replace('\\', "/"));
    }
    bail!(
        "cannot find the Eddy Rust SDK (guest-sdk/): create the plugin inside a checkout of \
         Eddy, or set eddy-sdk's path in its Cargo.toml by hand"
    )
}

fn is_sdk(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|text| text.contains("name = \"eddy-sdk\""))
}

fn fill(template: &str, name: &str) -> String {
    template.replace("@NAME@", name)
}

const MANIFEST: &str = r#"# @NAME@, made by `eddy new`. `eddy build` builds it; `eddy serve` serves it.
name = "@NAME@"
component = "@NAME@.wasm"
description = "Says hello and counts its calls"

[capabilities]
state = ["@NAME@"]   # the scope that counts the calls

# Keep warm instances between calls (a fresh JavaScript or Python instance costs a millisecond
# or more): fine while the plugin's globals hold nothing that belongs to one caller.
[instances]
reuse = true

[functions.hello]
description = "GET /@NAME@: a greeting (by name when signed in) and the number of calls so far"
triggers = [{ type = "http", method = "GET", path = "/@NAME@" }]
"#;

const RUST_CARGO_TOML: &str = r#"[package]
name = "@NAME@"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
# The Eddy SDK (the repository's guest-sdk/), by path.
eddy-sdk = { path = "@SDK@" }
serde_json = "1"

# Small components: size-optimised, one LTO pass over the plugin and the SDK.
[profile.release]
opt-level = "s"
lto = true

# Its own workspace: the plugin builds on its own, wherever it lives.
[workspace]
"#;

const RUST_SOURCE: &str = r#"//! @NAME@: an Eddy plugin. `GET /@NAME@` says hello and counts its calls in the state scope
//! `@NAME@`.

use eddy_sdk::{HttpRequest, Op, Result, plugin, state};
use serde_json::{Value, json};

plugin! {
    "hello" => hello,
}

const NAME: &str = "@NAME@";

/// `GET /@NAME@`: counts the call with an increment op (atomic, however many calls run at
/// once) and answers with the count, greeting the caller by name when a token says who it is.
fn hello(request: HttpRequest) -> Result<Value> {
    let counted = state::update(NAME, "calls", &[Op::increment("count", 1)])?;
    let calls = counted.new_value.as_ref().and_then(|v| v["count"].as_u64()).unwrap_or(0);
    let caller = request.identity.map(|who| who.subject);
    let message = match &caller {
        Some(who) => format!("Hello {who}, from {NAME}"),
        None => format!("Hello from {NAME}"),
    };
    Ok(json!({ "plugin": NAME, "message": message, "caller": caller, "calls": calls }))
}
"#;

const RUST_README: &str = r#"# @NAME@

An Eddy plugin in Rust, made by `eddy new`. `GET /@NAME@` answers
`{"plugin": "@NAME@", "message": "Hello from @NAME@", "caller": null, "calls": N}` and counts
the calls in the state scope `@NAME@`. With a token from one of the host's identity providers
(`Authorization: Bearer ...`), `caller` is the token's subject and the message greets them.

- `src/lib.rs`: the functions; `plugin.toml`: their triggers and what the plugin may touch.
- Build: `eddy build <plugins dir>` (or `cargo build --release --target wasm32-wasip2` here and
  copy `target/wasm32-wasip2/release/*.wasm` to `@NAME@.wasm`). Needs
  `rustup target add wasm32-wasip2`.
- The folder is its own cargo workspace; `eddy-sdk` is the Eddy SDK, by path.
"#;

const JS_PACKAGE: &str = r#"{
  "name": "@NAME@",
  "private": true,
  "description": "An Eddy plugin in JavaScript",
  "type": "module",
  "main": "index.js"
}
"#;

/// Editors that read it (VS Code, or `tsc -p .`) check the plugin against `eddy.d.ts`.
const JS_CONFIG: &str = r#"{
  "compilerOptions": {
    "checkJs": true,
    "strict": false,
    "noEmit": true,
    "module": "es2022",
    "target": "es2022",
    "moduleResolution": "bundler"
  },
  "include": ["*.js", "src/**/*.js", "eddy.d.ts"]
}
"#;

const JS_SOURCE: &str = r#"// @NAME@: an Eddy plugin. `GET /@NAME@` says hello and counts its calls in the state scope
// `@NAME@`. The SDK `eddy` gives the host's interfaces on JavaScript values (`state`,
// `streams`, `invoke`, `log`, `op`, `fail`); `plugin` builds the `handler` the host calls.

import { http, op, plugin, state } from 'eddy';

const NAME = '@NAME@';

/**
 * `GET /@NAME@`: counts the call with an increment op and answers with the count, greeting the
 * caller by name when a token says who it is (`request.identity`, undefined without one).
 * @param {import('eddy').HttpRequest} request
 */
function hello(request) {
  const counted = state.update(NAME, 'calls', [op.increment('count')]);
  const calls = counted.newValue.count;
  const caller = request.identity?.subject ?? null;
  const message = caller === null ? `Hello from ${NAME}` : `Hello ${caller}, from ${NAME}`;
  return { plugin: NAME, message, caller, calls };
}

export const handler = plugin({
  hello: http(hello),
});
"#;

const JS_README: &str = r#"# @NAME@

An Eddy plugin in JavaScript, made by `eddy new`. `GET /@NAME@` answers
`{"plugin": "@NAME@", "message": "Hello from @NAME@", "caller": null, "calls": N}` and counts
the calls in the state scope `@NAME@`. With a token from one of the host's identity providers
(`Authorization: Bearer ...`), `caller` is the token's subject and the message greets them.

- `index.js` (package.json `main`): the functions; `plugin.toml`: their triggers and what the
  plugin may touch.
- `import { ... } from 'eddy'` is the Eddy SDK: `state`, `streams`, `invoke`, `log`, update ops
  (`op.increment`, ...), `fail(code, message)` for an error the caller sees, and `plugin({...})`,
  which builds the `handler` export (Eddy's docs/plugins.md lists it all). `eddy build` and
  `eddy dev` supply it; do not name a file of your own `eddy.js`.
- Build: `eddy build <plugins dir>`, with componentize-js from `node_modules` here or in the
  plugins directory (`npm install --save-dev @bytecodealliance/componentize-js@0.23.0`).
- `eddy.d.ts`: the SDK and the host's interfaces as TypeScript declarations (`eddy build`
  keeps it current); with `jsconfig.json` an editor checks `index.js` against them.
"#;

const PYTHON_SOURCE: &str = r#""""@NAME@: an Eddy plugin. `GET /@NAME@` says hello and counts its calls in the state scope
`@NAME@`. The SDK `eddy` gives the host's interfaces on Python values (`state`, `streams`,
`invoke`, `log`, `op`, `fail`); `plugin` builds the `Handler` class the host calls."""

from typing import Any

from eddy import HttpRequest, http, op, plugin, state

NAME = "@NAME@"


def hello(request: HttpRequest) -> dict[str, Any]:
    """`GET /@NAME@`: counts the call with an increment op and answers with the count, greeting
    the caller by name when a token says who it is (`request.identity`, None without one)."""
    counted = state.update(NAME, "calls", [op.increment("count")])
    calls = counted.new_value["count"]
    caller = request.identity.subject if request.identity is not None else None
    message = f"Hello {caller}, from {NAME}" if caller else f"Hello from {NAME}"
    return {"plugin": NAME, "message": message, "caller": caller, "calls": calls}


Handler = plugin({"hello": http(hello)})
"#;

const PYTHON_README: &str = r#"# @NAME@

An Eddy plugin in Python, made by `eddy new`. `GET /@NAME@` answers
`{"plugin": "@NAME@", "message": "Hello from @NAME@", "caller": null, "calls": N}` and counts
the calls in the state scope `@NAME@`. With a token from one of the host's identity providers
(`Authorization: Bearer ...`), `caller` is the token's subject and the message greets them.

- `app.py`: the functions (`Handler = plugin({...})`); `plugin.toml`: their triggers and what
  the plugin may touch. Modules beside app.py can be imported.
- `from eddy import ...` is the Eddy SDK: `state`, `streams`, `invoke`, `log`, update ops
  (`op.increment`, ...), `fail(code, message)` for an error the caller sees, and `plugin({...})`,
  which builds the `Handler` class the host calls (Eddy's docs/plugins.md lists it all). It is
  typed: mypy and editors find it in `guest-sdk/python` of the Eddy checkout. `eddy build` and
  `eddy dev` supply it.
- Build: `eddy build <plugins dir>`, with componentize-py from a `.venv` here or in the plugins
  directory, or on PATH (`pip install componentize-py==0.25.1`).
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_named_as_on_the_command_line() {
        assert_eq!("rust".parse(), Ok(Lang::Rust));
        assert_eq!("js".parse(), Ok(Lang::JavaScript));
        assert_eq!("python".parse(), Ok(Lang::Python));
        assert!("go".parse::<Lang>().unwrap_err().contains("rust, js or python"));
    }

    #[test]
    fn every_manifest_the_scaffold_writes_is_valid() {
        let manifest = Manifest::parse(Path::new("x/plugin.toml"), &fill(MANIFEST, "hello-2"))
            .expect("a valid manifest");
        assert_eq!(manifest.name, "hello-2");
    }

    #[test]
    fn a_bad_name_is_refused_before_anything_is_written() {
        let dir = std::env::temp_dir().join(format!("eddy-scaffold-{}", std::process::id()));
        let error = create(&dir, "Bad_Name", Lang::Python).expect_err("refused");
        assert!(error.to_string().contains("kebab-case"), "{error}");
        assert!(!dir.join("Bad_Name").exists());
    }

    #[test]
    fn the_sdk_is_found_relative_to_a_checkout_that_holds_the_plugin() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let repo = std::fs::canonicalize(repo).expect("the checkout");
        assert_eq!(find_sdk(&repo.join("plugins").join("x")).expect("found"), "../../guest-sdk");
        let outside = find_sdk(Path::new("/nowhere/plugins/x")).expect("found");
        assert!(outside.ends_with("/guest-sdk") && outside.starts_with('/'), "{outside}");
    }
}
