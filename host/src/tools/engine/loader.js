// The JavaScript development engine of `eddy dev` (docs/development.md). componentize-js builds
// this module once per toolchain into a component of the `dev-engine` world; every JavaScript
// plugin served from source runs on it. When an instance starts it asks the host for the
// plugin's files (`dev.sources`), evaluates the entry module and the modules it imports, and
// hands every call to the entry module's `handler`, as the component `eddy build` makes would.
//
// The plugin's ES modules are evaluated as functions: each import declaration becomes a
// constant bound to the imported module's export, hoisted to the top; each export becomes a
// getter on the module's namespace, so exports stay live. What differs from a built component:
// a plugin's modules may not import each other in a cycle (an error names the cycle), and only
// the SDK (`eddy`, built into the engine), the host's interfaces and the plugin's own files can
// be imported.

import * as state from 'eddy:plugin/state@0.1.0';
import * as streams from 'eddy:plugin/streams@0.1.0';
import * as invoke from 'eddy:plugin/invoke@0.1.0';
import * as log from 'eddy:plugin/log@0.1.0';
import { sources } from 'eddy:plugin/dev@0.1.0';
import { Parser } from './acorn.mjs';
import * as sdk from './eddy.js';

/** What a plugin may import besides its own files: the host's interfaces and the SDK. */
const HOST = {
  'eddy:plugin/state@0.1.0': state,
  'eddy:plugin/streams@0.1.0': streams,
  'eddy:plugin/invoke@0.1.0': invoke,
  'eddy:plugin/log@0.1.0': log,
  eddy: sdk,
};

/** A plugin that did not load: its message names the file and line. */
class LoadError extends Error {}

/** The plugin's `handler` once loaded, or the LoadError that stopped it. */
let loaded = null;
let failed = null;

function plugin() {
  if (loaded === null && failed === null) {
    try {
      loaded = load();
    } catch (e) {
      failed = e instanceof LoadError ? e : new LoadError(describe(e));
    }
  }
  if (failed !== null) {
    throw failed;
  }
  return loaded;
}

/** Evaluates the plugin's entry module (and what it imports); returns its `handler`. */
function load() {
  const { entry, files } = sources();
  const texts = new Map();
  for (let i = 0; i < files.length; i++) {
    texts.set(files[i].path, files[i].text);
  }
  /** path -> { exports, loading } */
  const modules = new Map();

  function evaluate(path, chain) {
    const known = modules.get(path);
    if (known !== undefined) {
      if (known.loading) {
        const cycle = chain.slice(chain.indexOf(path)).concat(path).join(' -> ');
        throw new LoadError(`${path}: imported in a cycle (${cycle}); eddy dev cannot run modules that import each other`);
      }
      return known.exports;
    }
    const text = texts.get(path);
    if (text === undefined) {
      const by = chain.length > 0 ? `${chain[chain.length - 1]} imports ${path}, which` : `the entry module ${path}`;
      throw new LoadError(`${by} is not among the plugin's files`);
    }
    const record = { exports: Object.create(null), loading: true };
    modules.set(path, record);
    const body = compile(path, text);
    let run;
    try {
      run = new Function('$eddy$import', '$eddy$exports', body);
    } catch (e) {
      throw new LoadError(`${path}: ${describe(e)}`);
    }
    const inner = chain.concat(path);
    const importer = (spec) => {
      if (Object.hasOwn(HOST, spec)) {
        return HOST[spec];
      }
      if (!spec.startsWith('./') && !spec.startsWith('../')) {
        throw new LoadError(`${path}: cannot import ${JSON.stringify(spec)}: a plugin imports the SDK ('eddy'), the host's interfaces (eddy:plugin/...) and its own files (./...)`);
      }
      return evaluate(resolve(path, spec), inner);
    };
    run(importer, record.exports);
    record.loading = false;
    return record.exports;
  }

  const entryExports = evaluate(entry, []);
  const handler = entryExports.handler;
  if (handler === undefined || typeof handler.handle !== 'function' || typeof handler.functions !== 'function') {
    throw new LoadError(`${entry} must export handler = { functions(), handle(name, event) }`);
  }
  return handler;
}

/** The path `spec` names from the module at `from`, both relative to the plugin folder. */
function resolve(from, spec) {
  const parts = from.split('/');
  parts.pop();
  const segments = spec.split('/');
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment === '..') {
      if (parts.length === 0) {
        throw new LoadError(`${from}: ${spec} is outside the plugin folder`);
      }
      parts.pop();
    } else if (segment !== '.' && segment !== '') {
      parts.push(segment);
    }
  }
  return parts.join('/');
}

/**
 * The body of the function that evaluates module `path`: imports hoisted and bound from
 * `$eddy$import`, exports defined as getters on `$eddy$exports`, every line where it was (so
 * errors point at the right line).
 */
function compile(path, text) {
  let ast;
  try {
    ast = Parser.parse(text, { ecmaVersion: 'latest', sourceType: 'module', locations: true, allowHashBang: true });
  } catch (e) {
    const where = e.loc ? `${path}:${e.loc.line}:${e.loc.column + 1}` : path;
    throw new LoadError(`${where}: ${String(e.message).replace(/ \(\d+:\d+\)$/, '')}`);
  }
  const hoisted = [];
  const edits = [];
  let unique = 0;
  const imported = (source) => `$eddy$import(${JSON.stringify(source.value)})`;
  const getter = (name, expression) =>
    `Object.defineProperty($eddy$exports, ${JSON.stringify(name)}, { enumerable: true, get: () => ${expression} });`;
  const nameOf = (node) => (node.type === 'Literal' ? node.value : node.name);
  for (const node of ast.body) {
    switch (node.type) {
      case 'ImportDeclaration': {
        const from = `$eddy$m${unique++}`;
        hoisted.push(`const ${from} = ${imported(node.source)};`);
        for (const s of node.specifiers) {
          if (s.type === 'ImportNamespaceSpecifier') {
            hoisted.push(`const ${s.local.name} = ${from};`);
          } else if (s.type === 'ImportDefaultSpecifier') {
            hoisted.push(`const ${s.local.name} = ${from}.default;`);
          } else {
            hoisted.push(`const ${s.local.name} = ${from}[${JSON.stringify(nameOf(s.imported))}];`);
          }
        }
        edits.push([node.start, node.end, '']);
        break;
      }
      case 'ExportNamedDeclaration': {
        if (node.declaration) {
          for (const name of declared(node.declaration)) {
            hoisted.push(getter(name, name));
          }
          edits.push([node.start, node.declaration.start, '']);
        } else if (node.source) {
          const from = `$eddy$m${unique++}`;
          hoisted.push(`const ${from} = ${imported(node.source)};`);
          for (const s of node.specifiers) {
            hoisted.push(getter(nameOf(s.exported), `${from}[${JSON.stringify(nameOf(s.local))}]`));
          }
          edits.push([node.start, node.end, '']);
        } else {
          for (const s of node.specifiers) {
            hoisted.push(getter(nameOf(s.exported), s.local.name));
          }
          edits.push([node.start, node.end, '']);
        }
        break;
      }
      case 'ExportDefaultDeclaration': {
        const declaration = node.declaration;
        const named = (declaration.type === 'FunctionDeclaration' || declaration.type === 'ClassDeclaration') && declaration.id;
        if (named) {
          hoisted.push(getter('default', declaration.id.name));
          edits.push([node.start, declaration.start, '']);
        } else {
          hoisted.push(getter('default', '$eddy$default'));
          edits.push([node.start, declaration.start, 'const $eddy$default = (']);
          edits.push([declaration.end, node.end, ');']);
        }
        break;
      }
      case 'ExportAllDeclaration': {
        const from = `$eddy$m${unique++}`;
        hoisted.push(`const ${from} = ${imported(node.source)};`);
        if (node.exported) {
          hoisted.push(getter(nameOf(node.exported), from));
        } else {
          hoisted.push(`for (const k of Object.keys(${from})) if (k !== 'default') Object.defineProperty($eddy$exports, k, { enumerable: true, get: () => ${from}[k] });`);
        }
        edits.push([node.start, node.end, '']);
        break;
      }
      default:
        break;
    }
  }
  let out = '';
  let at = 0;
  for (const [start, end, replacement] of edits) {
    const removed = text.slice(start, end);
    // Keep the removed text's line breaks, so every line stays where it was.
    out += text.slice(at, start) + replacement + removed.replace(/[^\n]/g, '');
    at = end;
  }
  out += text.slice(at);
  // Everything hoisted goes on the first line; `sourceURL` names the file in stack traces.
  return `'use strict'; ${hoisted.join(' ')} ${out}\n//# sourceURL=${path}`;
}

/** The names a declaration binds. */
function declared(declaration) {
  if (declaration.type === 'VariableDeclaration') {
    const names = [];
    for (const d of declaration.declarations) {
      bound(d.id, names);
    }
    return names;
  }
  return [declaration.id.name];
}

/** The identifiers a binding pattern binds, into `names`. */
function bound(pattern, names) {
  switch (pattern.type) {
    case 'Identifier':
      names.push(pattern.name);
      break;
    case 'ObjectPattern':
      for (const p of pattern.properties) {
        bound(p.type === 'RestElement' ? p.argument : p.value, names);
      }
      break;
    case 'ArrayPattern':
      for (const p of pattern.elements) {
        if (p !== null) bound(p, names);
      }
      break;
    case 'RestElement':
      bound(pattern.argument, names);
      break;
    case 'AssignmentPattern':
      bound(pattern.left, names);
      break;
    default:
      break;
  }
}

/** An error as one line of text, with where it was thrown when the engine knows. */
function describe(e) {
  if (e instanceof Error) {
    const where = e.fileName && e.lineNumber ? ` (${e.fileName}:${e.lineNumber})` : '';
    return `${e.name}: ${e.message}${where}`;
  }
  return String(e?.message ?? e);
}

/** What the host calls: `eddy:plugin/handler`, handed to the plugin's. */
export const handler = {
  functions() {
    try {
      return plugin().functions();
    } catch (e) {
      // Loading fails the host's load of this version: stderr carries why, ended by a blank
      // line.
      console.error(`${e instanceof LoadError ? e.message : describe(e)}\n`);
      throw e;
    }
  },

  handle(name, event) {
    let run;
    try {
      run = plugin();
    } catch (e) {
      throw { code: 'internal', message: e.message };
    }
    return run.handle(name, event);
  },
};
