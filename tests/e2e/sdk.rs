//! The SDK of JavaScript and Python plugins (`guest-sdk/js`, `guest-sdk/python`, imported as
//! `eddy`). [`add_probe`] gives a plugin made by `eddy new` a function, in a module of its own,
//! that uses every helper; [`check_probe`] drives it through a host. The scaffold test runs it
//! on components `eddy build` made (`scaffold.rs`), the dev test on sources `eddy dev` serves
//! (`dev.rs`). The type checks run here: tsc on the JavaScript SDK against its declarations,
//! mypy on the Python SDK and the Python plugins.

use std::path::Path;
use std::process::Command;

use eddy::tools::scaffold::{self, Lang};
use serde_json::json;

use crate::harness::{TestHost, plugins_dir};

/// The probe, a module beside the plugin's entry that imports the SDK (in `src/` for
/// JavaScript, so a module below the top imports it too). `POST /NAME/probe {key}` creates the
/// key once (`setIf`), sees a second create refused with `conflict`, applies two update ops,
/// reads the value back through `invoke` of the builtin `state::get`, sends it to the stream
/// NAME, group `probe`, logs, and answers 201; `{fail: CODE}` ends with `fail(CODE, ...)`.
const JS_PROBE: &str = r#"import { EddyError, fail, invoke, jsonBody, log, op, response, state, streams } from 'eddy';

/** @param {import('eddy').HttpRequest} request */
export function probe(request) {
  const body = jsonBody(request);
  const scope = request.path.split('/')[1];
  if (body.fail !== undefined) {
    fail(body.fail, `asked to fail with ${body.fail}`);
  }
  state.setIf(scope, body.key, undefined, { n: 1 });
  let refused = null;
  try {
    state.setIf(scope, body.key, undefined, { n: 100 });
  } catch (e) {
    refused = e instanceof EddyError ? e.code : `not an EddyError: ${e}`;
  }
  const updated = state.update(scope, body.key, [op.increment('n', 2), op.append('seen', 7)]);
  const invoked = invoke.call('state::get', { scope, key: body.key });
  streams.send(scope, 'probe', 'probed', updated.newValue, body.key);
  log.info('probed', { key: body.key });
  const value = state.get(scope, body.key);
  return response(201, { value, invoked, refused, skipped: updated.errors.length });
}
"#;

const PY_PROBE: &str = r#"from typing import Any

from eddy import Error, HttpRequest, Response, fail, invoke, json_body, log, op, response, state, streams


def probe(request: HttpRequest) -> Response:
    body: dict[str, Any] = json_body(request)
    scope = request.path.split("/")[1]
    if "fail" in body:
        fail(body["fail"], f"asked to fail with {body['fail']}")
    state.set_if(scope, body["key"], None, {"n": 1})
    refused: str | None = None
    try:
        state.set_if(scope, body["key"], None, {"n": 100})
    except Error as e:
        refused = e.code
    updated = state.update(scope, body["key"], [op.increment("n", 2), op.append("seen", 7)])
    invoked = invoke.call("state::get", {"scope": scope, "key": body["key"]})
    streams.send(scope, "probe", "probed", updated.new_value, id=body["key"])
    log.info("probed", {"key": body["key"]})
    value = state.get(scope, body["key"])
    return response(201, {"value": value, "invoked": invoked, "refused": refused,
                          "skipped": len(updated.errors)})
"#;

/// Replaces `from` with `to` in `file`, which must hold it.
fn replace(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).expect("the file");
    assert!(text.contains(from), "{} holds {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).expect("the edit");
}

/// Adds the probe to the plugin `eddy new` made in `folder`: its module, its entry in the
/// function table, its route and the stream it sends to.
pub fn add_probe(folder: &Path, lang: Lang) {
    let name = folder.file_name().and_then(|n| n.to_str()).expect("a folder name");
    let manifest = folder.join("plugin.toml");
    replace(&manifest, "[capabilities]\n", &format!("[capabilities]\nstreams = [\"{name}\"]\n"));
    let route = format!(
        "\n[functions.probe]\ntriggers = [{{ type = \"http\", method = \"POST\", path = \
         \"/{name}/probe\" }}]\n"
    );
    let text = std::fs::read_to_string(&manifest).expect("the manifest") + &route;
    std::fs::write(&manifest, text).expect("the manifest");
    match lang {
        Lang::JavaScript => {
            std::fs::create_dir_all(folder.join("src")).expect("mkdir");
            std::fs::write(folder.join("src/probe.js"), JS_PROBE).expect("the probe");
            let entry = folder.join("index.js");
            replace(&entry, "import {", "import { probe } from './src/probe.js';\nimport {");
            replace(
                &entry,
                "  hello: http(hello),\n",
                "  hello: http(hello),\n  probe: http(probe),\n",
            );
        }
        Lang::Python => {
            std::fs::write(folder.join("probe.py"), PY_PROBE).expect("the probe");
            let app = folder.join("app.py");
            replace(&app, "from eddy import", "from probe import probe\nfrom eddy import");
            replace(
                &app,
                "{\"hello\": http(hello)}",
                "{\"hello\": http(hello), \"probe\": http(probe)}",
            );
        }
        Lang::Rust => panic!("the Rust SDK has its own tests"),
    }
}

/// Drives the probe of the plugin `name` on `host`: state, ops, `invoke`, a stream event, and
/// `fail` reaching the caller as the error envelope with its code's status.
pub async fn check_probe(host: &TestHost, name: &str) {
    let mut live = host.ws(&format!("/stream/{name}/probe")).await;
    assert_eq!(live.next_json().await["event"]["type"], "sync", "{name}");

    let (status, body) = host.post(&format!("/{name}/probe"), json!({ "key": "k" })).await;
    assert_eq!(status, 201, "{name}: {body}");
    let value = json!({ "n": 3, "seen": [7] });
    assert_eq!(
        body,
        json!({ "value": value, "invoked": value, "refused": "conflict", "skipped": 0 }),
        "{name}"
    );
    let frame = live.next_json().await;
    let event = &frame["event"];
    assert_eq!((&event["type"], &event["event"]["type"]), (&json!("event"), &json!("probed")));
    assert_eq!((&frame["id"], &event["event"]["data"]), (&json!("k"), &value), "{frame}");

    for (code, status, wire) in [("conflict", 409, "conflict"), ("not-found", 404, "not_found")] {
        let (got, body) = host.post(&format!("/{name}/probe"), json!({ "fail": code })).await;
        assert_eq!(got, status, "{name}: {body}");
        let message = format!("asked to fail with {code}");
        assert_eq!(body["error"], json!({ "code": wire, "message": message }), "{name}");
    }
}

/// Runs TypeScript's checker as an editor would (`jsconfig.json` in `dir`); returns what it
/// said, or none when the folder checks clean.
pub fn type_errors(dir: &Path) -> Option<String> {
    let tsc = plugins_dir().join("node_modules/.bin/tsc");
    assert!(tsc.is_file(), "TypeScript is not installed: `npm install --prefix plugins`");
    let output =
        Command::new(tsc).current_dir(dir).args(["-p", "jsconfig.json"]).output().expect("tsc");
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    (!output.status.success()).then_some(said)
}

#[test]
fn the_javascript_sdk_implements_its_declarations_and_calls_the_host_as_declared() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let folder = scaffold::create(dir.path(), "typed-sdk", Lang::JavaScript).expect("scaffold");
    // The SDK as a plugin file (not named eddy.js, which would find eddy.d.ts), and a module
    // that declares it to be the module `eddy`: tsc checks every export against the
    // declarations, and the SDK's own calls against the host's interfaces.
    std::fs::write(folder.join("sdk.js"), eddy::tools::sdk::JS).expect("write");
    let check = "import * as implemented from './sdk.js';\n\n\
                 /** @type {typeof import('eddy')} */\nexport const declared = implemented;\n";
    std::fs::write(folder.join("check.js"), check).expect("write");
    assert_eq!(type_errors(&folder), None, "the SDK matches its declarations");

    let missing = eddy::tools::sdk::JS.replace("export function jsonBody", "function jsonBody");
    std::fs::write(folder.join("sdk.js"), missing).expect("write");
    let said = type_errors(&folder).expect("a missing export");
    assert!(said.contains("'jsonBody' is missing"), "{said}");
}

/// Runs mypy (`--strict`) on the Python SDK and the Python files of the plugin at `dir`, with
/// the bindings componentize-py makes of the host's WIT; returns what it said, or none when
/// they check clean.
pub fn python_type_errors(dir: &Path) -> Option<String> {
    let bin = plugins_dir().join(".venv/bin");
    let mypy = Command::new(bin.join("python")).args(["-m", "mypy", "--version"]).output();
    assert!(
        mypy.is_ok_and(|o| o.status.success()),
        "mypy is not installed in plugins/.venv: run `plugins/.venv/bin/pip install mypy` \
         (.ci/run installs the version it pins)"
    );
    let work = tempfile::tempdir().expect("a temp dir");
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let bindings = Command::new(bin.join("componentize-py"))
        .arg("-d")
        .arg(&wit)
        .args(["-w", "plugin", "bindings"])
        .arg(work.path())
        .output()
        .expect("componentize-py bindings");
    assert!(bindings.status.success(), "{}", String::from_utf8_lossy(&bindings.stderr));
    eddy::tools::sdk::write_python(work.path()).expect("the SDK");
    let mut checked = vec!["eddy".to_string()];
    for entry in std::fs::read_dir(dir).expect("the plugin").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".py") {
            std::fs::copy(entry.path(), work.path().join(&name)).expect("a copy");
            checked.push(name);
        }
    }
    let output = Command::new(bin.join("python"))
        .current_dir(work.path())
        .args(["-m", "mypy", "--strict", "--no-incremental"])
        .args(&checked)
        .output()
        .expect("mypy");
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    (!output.status.success()).then_some(said)
}

#[test]
fn the_python_sdk_and_plugins_type_check_and_a_wrong_call_does_not() {
    assert_eq!(python_type_errors(&plugins_dir().join("todo-digest")), None, "the example");
    let dir = tempfile::tempdir().expect("a temp dir");
    let folder = scaffold::create(dir.path(), "typed-py", Lang::Python).expect("scaffold");
    add_probe(&folder, Lang::Python);
    assert_eq!(python_type_errors(&folder), None, "the plugin as made, with the probe");

    replace(&folder.join("app.py"), "op.increment(\"count\")", "op.increment(1)");
    let said = python_type_errors(&folder).expect("a type error");
    assert!(
        said.contains("app.py") && said.contains("\"increment\" has incompatible type"),
        "{said}"
    );
}
