//! TypeScript declarations of the WIT world for JavaScript plugins (`eddy.d.ts`), generated
//! from the very WIT this host speaks, with the types componentize-js gives a plugin: records
//! as objects with camelCase fields, `option` as `T | undefined` (an optional field in a
//! record), `result` as the value with the error thrown, enums as string unions, variants as
//! `{ tag, val }`, `u64` as `bigint`. The SDK's own declarations (`declare module 'eddy'`,
//! written by hand beside it: [`sdk::JS_TYPES`]) follow them. `eddy new --lang js` writes the
//! file beside the plugin, so an editor checks the plugin's calls to the SDK and the host. See
//! docs/plugins.md.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::sdk;
use wit_parser::{
    Docs, Function, InterfaceId, Resolve, Type, TypeDefKind, TypeId, WorldItem, WorldKey,
};

/// The file the declarations are kept in, in a JavaScript plugin's folder.
pub const DECLARATIONS: &str = "eddy.d.ts";

/// The declarations of every interface of the `plugin` world of `wit` (the host's:
/// `build::WIT`), one `declare module` each, then those of the SDK.
pub fn declarations(wit: &str) -> anyhow::Result<String> {
    let mut resolve = Resolve::default();
    let package = resolve.push_source("eddy.wit", wit).context("parsing the WIT")?;
    let world = resolve.select_world(&[package], Some("plugin"))?;
    let name = &resolve.packages[package].name;
    let version = name.version.as_ref().map(|v| format!("@{v}")).unwrap_or_default();
    let mut out = format!(
        "// The Eddy plugin world ({}:{}{version}) as a JavaScript plugin sees it through\n\
         // componentize-js, and the SDK `eddy`. Written by `eddy new` and `eddy build` from\n\
         // the host's WIT and SDK: do not edit.\n",
        name.namespace, name.name
    );
    let world = &resolve.worlds[world];
    let interfaces =
        world.imports.iter().chain(&world.exports).filter_map(|(key, item)| match (key, item) {
            (WorldKey::Interface(id), _) | (_, WorldItem::Interface { id, .. }) => Some(*id),
            _ => None,
        });
    let mut seen = Vec::new();
    for id in interfaces {
        if !seen.contains(&id) {
            seen.push(id);
            module(&resolve, id, &version, &mut out)?;
        }
    }
    out.push_str(sdk::JS_TYPES);
    Ok(out)
}

/// Rewrites the plugin's `eddy.d.ts`, if it has one, when this host's WIT says otherwise
/// (`eddy build` and `eddy dev` call it, so the declarations follow the host a plugin runs on).
pub fn refresh(dir: &Path, wit: &str) -> anyhow::Result<()> {
    let file = dir.join(DECLARATIONS);
    let Ok(old) = std::fs::read_to_string(&file) else { return Ok(()) };
    let new = declarations(wit)?;
    if old != new {
        std::fs::write(&file, new).with_context(|| format!("writing {}", file.display()))?;
        println!("  wrote {} (the host's interfaces changed)", file.display());
    }
    Ok(())
}

fn module(
    resolve: &Resolve,
    id: InterfaceId,
    version: &str,
    out: &mut String,
) -> anyhow::Result<()> {
    let interface = &resolve.interfaces[id];
    let name = interface.name.as_deref().context("an unnamed interface")?;
    let package =
        &resolve.packages[interface.package.context("an interface outside a package")?].name;
    writeln!(
        out,
        "\n{}declare module '{}:{}/{name}{version}' {{",
        doc(&interface.docs, ""),
        package.namespace,
        package.name
    )?;
    for (type_name, &type_id) in &interface.types {
        let def = &resolve.types[type_id];
        let docs = doc(&def.docs, "  ");
        let pascal = pascal(type_name);
        match &def.kind {
            // A `use`d type: imported from where it is defined.
            TypeDefKind::Type(Type::Id(other)) if resolve.types[*other].owner != def.owner => {
                let from = owner_module(resolve, *other, version)?;
                let original = pascal_of(resolve, *other);
                writeln!(out, "  import type {{ {original} as {pascal} }} from '{from}';")?;
            }
            TypeDefKind::Record(record) => {
                writeln!(out, "{docs}  export interface {pascal} {{")?;
                for field in &record.fields {
                    let field_docs = doc(&field.docs, "    ");
                    let (optional, ty) = match field.ty {
                        Type::Id(inner) => match &resolve.types[inner].kind {
                            TypeDefKind::Option(t) => ("?", ts(resolve, t)),
                            _ => ("", ts(resolve, &field.ty)),
                        },
                        _ => ("", ts(resolve, &field.ty)),
                    };
                    writeln!(out, "{field_docs}    {}{optional}: {ty};", camel(&field.name))?;
                }
                writeln!(out, "  }}")?;
            }
            TypeDefKind::Enum(e) => {
                let cases: Vec<String> = e.cases.iter().map(|c| format!("'{}'", c.name)).collect();
                writeln!(out, "{docs}  export type {pascal} = {};", cases.join(" | "))?;
            }
            TypeDefKind::Variant(v) => {
                let cases: Vec<String> = v
                    .cases
                    .iter()
                    .map(|c| match &c.ty {
                        Some(t) => format!("{{ tag: '{}'; val: {} }}", c.name, ts(resolve, t)),
                        None => format!("{{ tag: '{}' }}", c.name),
                    })
                    .collect();
                writeln!(out, "{docs}  export type {pascal} =\n    | {};", cases.join("\n    | "))?;
            }
            _ => writeln!(out, "{docs}  export type {pascal} = {};", ts_def(resolve, type_id))?,
        }
    }
    for function in interface.functions.values() {
        writeln!(out, "{}", signature(resolve, function, "  export function ")?)?;
        // A reserved word (`delete`) cannot name a function declaration: it is exported
        // under its own name from one that it can.
        let name = camel(&function.name);
        if reserved(&name) {
            writeln!(out, "  export {{ {name}_ as {name} }};")?;
        }
    }
    writeln!(out, "}}")?;
    Ok(())
}

/// `export function name(a: A): R;` with its docs; a `result`'s error is thrown (its payload
/// is the error record), its value returned.
fn signature(resolve: &Resolve, function: &Function, prefix: &str) -> anyhow::Result<String> {
    let params: Vec<String> = function
        .params
        .iter()
        .map(|p| format!("{}: {}", parameter(&p.name), ts(resolve, &p.ty)))
        .collect();
    let (returns, throws) = match &function.result {
        None => ("void".to_string(), None),
        Some(Type::Id(id)) => match &resolve.types[*id].kind {
            TypeDefKind::Result(r) => (
                r.ok.as_ref().map_or("void".to_string(), |t| ts(resolve, t)),
                r.err.as_ref().map(|t| ts(resolve, t)),
            ),
            _ => (ts(resolve, &Type::Id(*id)), None),
        },
        Some(t) => (ts(resolve, t), None),
    };
    let mut docs = function.docs.contents.clone().unwrap_or_default();
    if let Some(error) = throws {
        let line = format!("@throws a ComponentError whose `payload` is the {error}");
        docs = if docs.is_empty() { line } else { format!("{docs}\n{line}") };
    }
    let docs = doc(&Docs { contents: (!docs.is_empty()).then_some(docs) }, "  ");
    let name = camel(&function.name);
    let name = if reserved(&name) { format!("{name}_") } else { name };
    Ok(format!("{docs}{prefix}{name}({}): {returns};", params.join(", ")))
}

/// The TypeScript type of `ty`.
fn ts(resolve: &Resolve, ty: &Type) -> String {
    match ty {
        Type::Bool => "boolean".into(),
        Type::U8 | Type::U16 | Type::U32 | Type::S8 | Type::S16 | Type::S32 => "number".into(),
        Type::F32 | Type::F64 => "number".into(),
        Type::U64 | Type::S64 => "bigint".into(),
        Type::Char | Type::String => "string".into(),
        Type::ErrorContext => "unknown".into(),
        Type::Id(id) => match resolve.types[*id].name {
            Some(_) => pascal_of(resolve, *id),
            None => ts_def(resolve, *id),
        },
    }
}

/// The TypeScript type of an anonymous type (`option<T>`, `list<T>`, a tuple...).
fn ts_def(resolve: &Resolve, id: TypeId) -> String {
    match &resolve.types[id].kind {
        TypeDefKind::Option(t) => format!("{} | undefined", ts(resolve, t)),
        TypeDefKind::List(t) => format!("Array<{}>", ts(resolve, t)),
        TypeDefKind::Tuple(t) => {
            format!("[{}]", t.types.iter().map(|t| ts(resolve, t)).collect::<Vec<_>>().join(", "))
        }
        TypeDefKind::Type(t) => ts(resolve, t),
        TypeDefKind::Result(r) => {
            let ok = r.ok.as_ref().map_or("undefined".into(), |t| ts(resolve, t));
            let err = r.err.as_ref().map_or("undefined".into(), |t| ts(resolve, t));
            format!("{{ tag: 'ok'; val: {ok} }} | {{ tag: 'err'; val: {err} }}")
        }
        _ => "unknown".into(),
    }
}

/// The module that defines the named type `id`.
fn owner_module(resolve: &Resolve, id: TypeId, version: &str) -> anyhow::Result<String> {
    let wit_parser::TypeOwner::Interface(owner) = resolve.types[id].owner else {
        anyhow::bail!("a type outside an interface");
    };
    let interface = &resolve.interfaces[owner];
    let package = &resolve.packages[interface.package.context("a package")?].name;
    let name = interface.name.as_deref().context("a named interface")?;
    Ok(format!("{}:{}/{name}{version}", package.namespace, package.name))
}

fn pascal_of(resolve: &Resolve, id: TypeId) -> String {
    pascal(resolve.types[id].name.as_deref().unwrap_or("anonymous"))
}

/// `http-request` → `HttpRequest`.
fn pascal(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// `old-value` → `oldValue`.
fn camel(kebab: &str) -> String {
    let pascal = pascal(kebab);
    let mut chars = pascal.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// A parameter's name, kept clear of JavaScript's reserved words.
fn parameter(kebab: &str) -> String {
    let name = camel(kebab);
    if reserved(&name) { format!("{name}_") } else { name }
}

/// Whether `name` is a reserved word of JavaScript that the WIT may use as a name.
fn reserved(name: &str) -> bool {
    matches!(
        name,
        "function" | "default" | "class" | "delete" | "new" | "in" | "var" | "typeof" | "void"
    )
}

/// `docs` as a JSDoc comment indented by `indent`, or nothing.
fn doc(docs: &Docs, indent: &str) -> String {
    let Some(text) = docs.contents.as_deref().filter(|t| !t.trim().is_empty()) else {
        return String::new();
    };
    let mut out = format!("{indent}/**\n");
    for line in text.trim_end().lines() {
        let line = line.replace("*/", "*\\/");
        if line.is_empty() {
            out.push_str(&format!("{indent} *\n"));
        } else {
            out.push_str(&format!("{indent} * {line}\n"));
        }
    }
    out.push_str(&format!("{indent} */\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::build::WIT;

    #[test]
    fn every_interface_and_its_types_are_declared_as_componentize_js_maps_them() {
        let d = declarations(WIT).expect("declarations");
        for wanted in [
            "declare module 'eddy:plugin/state@0.1.0' {",
            "declare module 'eddy:plugin/handler@0.1.0' {",
            "export function get(scope: string, key: string): Json | undefined;",
            "export function update(scope: string, key: string, ops: Json): UpdateResult;",
            "@throws a ComponentError whose `payload` is the Error",
            "export type ErrorCode = 'bad-request' | 'unauthorized'",
            "identity?: Identity;",
            "pathParams: Array<[string, string]>;",
            "expiresAt: bigint;",
            "| { tag: 'http'; val: HttpRequest }",
            "export function handle(function_: string, event: Event): Output;",
            "import type { Json as Json } from 'eddy:plugin/types@0.1.0';",
            "export { delete_ as delete };",
        ] {
            assert!(d.contains(wanted), "missing {wanted:?} in:\n{d}");
        }
        assert!(!d.contains("dev@0.1.0"), "the dev interface is no plugin's");
        assert!(d.ends_with(sdk::JS_TYPES) && d.contains("declare module 'eddy' {"), "the SDK");
    }

    #[test]
    fn the_example_plugins_declarations_are_this_hosts() {
        let checked_in =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/todo-search/eddy.d.ts");
        let text = std::fs::read_to_string(&checked_in).expect("plugins/todo-search/eddy.d.ts");
        assert!(
            text == declarations(WIT).expect("declarations"),
            "`eddy build plugins` rewrites it"
        );
    }

    #[test]
    fn names_are_cased_as_javascript_expects() {
        assert_eq!(pascal("http-request"), "HttpRequest");
        assert_eq!(camel("old-value"), "oldValue");
        assert_eq!(parameter("function"), "function_");
    }
}
