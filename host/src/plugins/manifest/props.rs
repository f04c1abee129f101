//! Property tests of manifest parsing: whatever text a user writes, `Manifest::parse` answers
//! without panicking, and a rejection names the file and a line inside the text; a valid manifest
//! generated at random parses back to exactly what was generated. The golden error tests beside
//! `manifest.rs` pin the messages; these pin the guarantees over inputs nobody thought to write.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

use super::{
    Capabilities, FunctionSpec, HttpTrigger, Limits, MAX_TIMEOUT_MS, Manifest, RouteAuth,
    StateTrigger, StreamTrigger, Trigger, route_shape,
};

/// Where every generated manifest claims to live.
const FILE: &str = "/plugins/gen/plugin.toml";

/// Parses `text` and checks what every outcome must satisfy: an error names [`FILE`] and a line
/// between 1 and one past the last line. `None` when the text was refused.
fn parse_checked(text: &str) -> Result<Option<Manifest>, TestCaseError> {
    match Manifest::parse(Path::new(FILE), text) {
        Ok(manifest) => Ok(Some(manifest)),
        Err(error) => {
            prop_assert_eq!(&error.file, Path::new(FILE));
            let lines = text.lines().count();
            prop_assert!(
                (1..=lines + 1).contains(&error.line),
                "line {} outside 1..={} for {:?}: {}",
                error.line,
                lines + 1,
                text,
                error
            );
            prop_assert!(!error.message.is_empty(), "an empty message for {:?}", text);
            let shown = error.to_string();
            prop_assert!(shown.starts_with(&format!("{FILE}:{}: ", error.line)), "{}", shown);
            Ok(None)
        }
    }
}

/// Proptest's defaults (256 cases, or `PROPTEST_CASES`), without writing regression files into
/// the source tree: a found failure is kept as a named `#[test]` below instead.
fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary text and TOML-ish documents.

/// Keys a manifest has, keys it does not, and keys nobody would write.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "name", "component", "description", "functions", "triggers", "type", "method", "path",
            "scope", "key", "condition", "stream_name", "group_id", "timeout_ms", "memory_mib",
            "limits", "capabilities", "state", "state_read", "streams", "join",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec!["colour", "verb", "files", "env", "TYPE", "Name", "_"])
            .prop_map(str::to_owned),
        1 => "[a-z_-]{1,12}",
        1 => any::<String>().prop_map(|s| quoted(&s)),
        1 => "[\u{e9}\u{4e2d}\u{1f600}\u{202e}\u{0}-\u{1f}]{1,4}".prop_map(|s| quoted(&s)),
    ]
}

/// A TOML basic string holding `s`, escaped so the document stays well-formed.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Scalar TOML values, plausible and not: huge numbers, odd floats, dates, broken strings.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9/:._ -]{0,12}".prop_map(|s| quoted(&s)),
        1 => any::<String>().prop_map(|s| quoted(&s)),
        1 => prop::sample::select(vec![
            "\"http\"", "\"state\"", "\"stream\"", "\"cron\"", "\"GET\"", "\"PSOT\"",
            "\"/todos/:id\"",
            "\"/_eddy/x\"", "\"todos::on-change\"", "\"Todos\"", "\"/etc/a.wasm\"", "\"\"",
            "99999999999999999999999", "-9223372036854775808", "9223372036854775807", "0", "-1",
            "600001", "1e400", "nan", "-inf", "+inf", "0x7fff_ffff", "0o777", "0b1", "1_000",
            "true", "false", "1979-05-27T07:32:00Z", "07:32:00", "'literal'", "'''multi\nline'''",
            "\"\"\"multi\nline\"\"\"", "\"unterminated", "\"\\uD800\"", "\"\\x41\"", "[", "}", "",
        ])
        .prop_map(str::to_owned),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| format!("{f:?}")),
    ]
}

/// A value: a scalar, or arrays and inline tables of values, a few levels deep.
fn value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
            vec((key(), inner), 0..4).prop_map(|fields| {
                let fields: Vec<String> =
                    fields.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", fields.join(", "))
            }),
        ]
    })
}

/// A dotted table name, sometimes deep.
fn table_name() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "functions.f", "functions.on-change", "functions.Bad_Name", "limits", "capabilities",
            "streams.live", "streams.\"a b\"", "functions", "functions.f.triggers", "name",
        ])
        .prop_map(str::to_owned),
        1 => vec(key(), 1..12).prop_map(|keys| keys.join(".")),
    ]
}

/// One line of a TOML-ish document.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (key(), value()).prop_map(|(k, v)| format!("{k} = {v}")),
        2 => table_name().prop_map(|t| format!("[{t}]")),
        1 => table_name().prop_map(|t| format!("[[{t}]]")),
        1 => "# [^\n]{0,20}",
        1 => Just(String::new()),
        1 => "[^\n]{0,20}",
    ]
}

/// A document of lines, often opening with a valid name and component so parsing gets past the
/// first checks and into functions, triggers, limits and streams.
fn document() -> impl Strategy<Value = String> {
    (any::<bool>(), vec(line(), 0..16), prop::sample::select(vec!["\n", "\r\n"])).prop_map(
        |(valid_head, lines, newline)| {
            let mut all = Vec::new();
            if valid_head {
                all.push("name = \"gen\"".to_owned());
                all.push("component = \"gen.wasm\"".to_owned());
            }
            all.extend(lines);
            all.join(newline)
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parsing_arbitrary_text_never_panics_and_errors_name_a_line_inside_it(
        text in any::<String>()
    ) {
        parse_checked(&text)?;
    }

    #[test]
    fn parsing_arbitrary_bytes_read_as_text_never_panics(bytes in vec(any::<u8>(), 0..200)) {
        parse_checked(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn parsing_toml_ish_documents_never_panics_and_errors_name_a_line_inside_it(
        text in document()
    ) {
        parse_checked(&text)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Valid manifests, generated as data, rendered as TOML and parsed back.

/// Lowercase kebab-case: what plugin and function names must be.
fn kebab() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,5}){0,2}"
}

fn function_id() -> impl Strategy<Value = String> {
    (kebab(), prop_oneof![kebab(), "[a-z][a-z0-9_]{0,8}"]).prop_map(|(p, f)| format!("{p}::{f}"))
}

/// Any non-empty text, for names the manifest takes as they are (scopes, keys, streams).
fn free_name() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z0-9._:*-]{1,10}", 1 => "\\PC{1,6}", 1 => ".{1,6}"]
}

/// A valid route path: literal segments (unicode included) and uniquely named parameters.
fn route_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        3 => "[a-zA-Z0-9._~!$&'()+,;=@\u{e9}\u{4e2d}-]{1,8}".prop_map(|s| (false, s)),
        1 => "[a-zA-Z_][a-zA-Z0-9_]{0,5}".prop_map(|s| (true, s)),
    ];
    vec(segment, 0..5).prop_map(|segments| {
        if segments.is_empty() {
            return "/".to_owned();
        }
        let mut path = String::new();
        for (i, (param, name)) in segments.into_iter().enumerate() {
            path.push('/');
            match (param, i) {
                (true, _) => path.push_str(&format!(":{name}{i}")),
                // Keep clear of the reserved prefix and of a leading ':'.
                (false, 0) if name == "_eddy" => path.push_str("x_eddy"),
                (false, _) => path.push_str(&name),
            }
        }
        path
    })
}

fn trigger() -> impl Strategy<Value = Trigger> {
    prop_oneof![
        (
            prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
            route_path(),
            any::<bool>()
        )
            .prop_map(|(method, path, required)| {
                let auth = if required { RouteAuth::Required } else { RouteAuth::Optional };
                Trigger::Http(HttpTrigger { method: method.into(), path, auth })
            }),
        (option::of(free_name()), option::of(free_name()), option::of(function_id())).prop_map(
            |(scope, key, condition)| Trigger::State(StateTrigger { scope, key, condition })
        ),
        (free_name(), option::of(free_name())).prop_map(|(stream_name, group_id)| Trigger::Stream(
            StreamTrigger { stream_name, group_id }
        )),
    ]
}

fn timeout() -> impl Strategy<Value = u64> {
    prop_oneof![Just(1), Just(MAX_TIMEOUT_MS), 1..=MAX_TIMEOUT_MS]
}

fn function() -> impl Strategy<Value = FunctionSpec> {
    (option::of(any::<String>()), vec(trigger(), 0..4), option::of(timeout())).prop_map(
        |(description, triggers, timeout_ms)| FunctionSpec { description, triggers, timeout_ms },
    )
}

fn manifest() -> impl Strategy<Value = (Manifest, u32)> {
    let limits =
        (option::of(1..=1u64 << 40), option::of(timeout()), option::of(1..=u32::MAX)).prop_map(
            |(memory_mib, timeout_ms, concurrency)| Limits { memory_mib, timeout_ms, concurrency },
        );
    let capabilities = (vec(free_name(), 0..3), vec(free_name(), 0..3), vec(free_name(), 0..3))
        .prop_map(|(state, state_read, streams)| Capabilities { state, state_read, streams });
    (
        kebab(),
        "[a-z0-9_-]{1,8}(/[a-z0-9_-]{1,8}){0,2}\\.wasm",
        option::of(any::<String>()),
        btree_map(kebab(), function(), 0..5),
        limits,
        capabilities,
        btree_map(free_name(), function_id(), 0..3),
        any::<u32>(),
    )
        .prop_map(
            |(
                name,
                component,
                description,
                mut functions,
                limits,
                mut capabilities,
                streams,
                style,
            )| {
                // A route may be bound once per plugin: drop the repeats the generator made.
                let mut shapes = HashSet::new();
                for spec in functions.values_mut() {
                    spec.triggers.retain(|t| match t {
                        Trigger::Http(h) => shapes.insert((h.method.clone(), route_shape(&h.path))),
                        _ => true,
                    });
                }
                // A trigger on a scope needs read access to it.
                for spec in functions.values() {
                    for trigger in &spec.triggers {
                        if let Trigger::State(StateTrigger { scope: Some(scope), .. }) = trigger
                            && !capabilities.may_read(scope)
                        {
                            capabilities.state_read.push(scope.clone());
                        }
                    }
                }
                let manifest = Manifest {
                    name,
                    component: Path::new(FILE).parent().unwrap_or(Path::new("/")).join(component),
                    description,
                    functions,
                    limits,
                    capabilities,
                    stream_authorizers: streams,
                    instances: Default::default(),
                    statics: None,
                };
                (manifest, style)
            },
        )
}

/// Writes `manifest` as a `plugin.toml`; `style` picks among equivalent spellings (inline trigger
/// arrays or `[[...triggers]]` tables, empty sections written or left out).
fn render(manifest: &Manifest, style: u32) -> String {
    let flag = |bit: u32| style & (1 << bit) != 0;
    let strings = |items: &[String]| {
        format!("[{}]", items.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", "))
    };
    let component = manifest
        .component
        .strip_prefix(Path::new(FILE).parent().unwrap_or(Path::new("/")))
        .map(PathBuf::from)
        .unwrap_or_default();
    let mut out = format!(
        "name = {}\ncomponent = {}\n",
        quoted(&manifest.name),
        quoted(&component.to_string_lossy())
    );
    if let Some(d) = &manifest.description {
        out.push_str(&format!("description = {}\n", quoted(d)));
    }
    let Limits { memory_mib, timeout_ms, concurrency } = &manifest.limits;
    if memory_mib.is_some() || timeout_ms.is_some() || concurrency.is_some() || flag(0) {
        out.push_str("\n[limits]\n");
        if let Some(m) = memory_mib {
            out.push_str(&format!("memory_mib = {m}\n"));
        }
        if let Some(t) = timeout_ms {
            out.push_str(&format!("timeout_ms = {t}\n"));
        }
        if let Some(c) = concurrency {
            out.push_str(&format!("concurrency = {c}\n"));
        }
    }
    let caps = &manifest.capabilities;
    if *caps != Capabilities::default() || flag(1) {
        out.push_str("\n[capabilities]\n");
        for (field, items) in
            [("state", &caps.state), ("state_read", &caps.state_read), ("streams", &caps.streams)]
        {
            if !items.is_empty() || flag(2) {
                out.push_str(&format!("{field} = {}\n", strings(items)));
            }
        }
    }
    for (stream, join) in &manifest.stream_authorizers {
        out.push_str(&format!("\n[streams.{}]\njoin = {}\n", quoted(stream), quoted(join)));
    }
    for (i, (name, spec)) in manifest.functions.iter().enumerate() {
        out.push_str(&format!("\n[functions.{name}]\n"));
        if let Some(d) = &spec.description {
            out.push_str(&format!("description = {}\n", quoted(d)));
        }
        if let Some(t) = spec.timeout_ms {
            out.push_str(&format!("timeout_ms = {t}\n"));
        }
        let tables = flag(3 + (i as u32 % 20));
        let rendered: Vec<Vec<(&str, String)>> = spec.triggers.iter().map(trigger_fields).collect();
        if tables {
            for fields in rendered {
                out.push_str(&format!("\n[[functions.{name}.triggers]]\n"));
                for (k, v) in fields {
                    out.push_str(&format!("{k} = {v}\n"));
                }
            }
        } else if rendered.is_empty() {
            if flag(23) {
                out.push_str("triggers = []\n");
            }
        } else {
            let inline: Vec<String> = rendered
                .into_iter()
                .map(|fields| {
                    let fields: Vec<String> =
                        fields.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
                    format!("{{ {} }}", fields.join(", "))
                })
                .collect();
            out.push_str(&format!("triggers = [\n  {},\n]\n", inline.join(",\n  ")));
        }
    }
    out
}

fn trigger_fields(trigger: &Trigger) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    let optional = |fields: &mut Vec<_>, k, v: &Option<String>| {
        if let Some(v) = v {
            fields.push((k, quoted(v)));
        }
    };
    match trigger {
        Trigger::Http(h) => {
            fields.push(("type", quoted("http")));
            fields.push(("method", quoted(&h.method)));
            fields.push(("path", quoted(&h.path)));
            if h.auth == RouteAuth::Required {
                fields.push(("auth", quoted("required")));
            }
        }
        Trigger::State(s) => {
            fields.push(("type", quoted("state")));
            optional(&mut fields, "scope", &s.scope);
            optional(&mut fields, "key", &s.key);
            optional(&mut fields, "condition", &s.condition);
        }
        Trigger::Stream(s) => {
            fields.push(("type", quoted("stream")));
            fields.push(("stream_name", quoted(&s.stream_name)));
            optional(&mut fields, "group_id", &s.group_id);
        }
    }
    fields
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_generated_valid_manifest_parses_back_to_what_was_generated(
        (manifest, style) in manifest()
    ) {
        let text = render(&manifest, style);
        match Manifest::parse(Path::new(FILE), &text) {
            Ok(parsed) => prop_assert_eq!(parsed, manifest, "\n{}", text),
            Err(e) => prop_assert!(false, "a valid manifest was refused: {}\n{}", e, text),
        }
    }
}

#[test]
fn the_renderer_writes_what_the_golden_tests_expect() {
    // Guards the generator itself: a hand-written manifest renders to TOML the parser accepts.
    let manifest = Manifest {
        name: "gen".into(),
        component: PathBuf::from("/plugins/gen/gen.wasm"),
        description: Some("quote \" and \u{1} and \u{e9}".into()),
        functions: BTreeMap::from([(
            "on-change".into(),
            FunctionSpec {
                description: None,
                triggers: vec![Trigger::Http(HttpTrigger {
                    method: "GET".into(),
                    path: "/todos/:id0".into(),
                    auth: RouteAuth::Required,
                })],
                timeout_ms: Some(5),
            },
        )]),
        limits: Limits::default(),
        capabilities: Capabilities::default(),
        stream_authorizers: BTreeMap::new(),
        instances: Default::default(),
        statics: None,
    };
    for style in [0, u32::MAX] {
        let text = render(&manifest, style);
        assert_eq!(Manifest::parse(Path::new(FILE), &text), Ok(manifest.clone()), "{text}");
    }
}
