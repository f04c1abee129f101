// The Eddy SDK for JavaScript plugins: the module `eddy`. It mirrors the Rust SDK
// (guest-sdk/src) over the WIT imports, on JavaScript values instead of JSON text: `state`,
// `streams`, `invoke`, `log`, the update-op builders `op`, errors (`fail`, `EddyError`), and
// `plugin({...})`, which builds the `handler` export (dispatch, event-kind check, error
// conversion). Its types are `declare module 'eddy'` in the plugin's eddy.d.ts.
//
// `eddy build` stages it as `eddy.js` beside the plugin's entry (and a re-export of it in each
// folder of modules below), so `import ... from 'eddy'` resolves; `eddy dev`'s engine has it
// built in (host/src/tools/sdk.rs). The engine is interpreted (SpiderMonkey in wasm, no JIT):
// plain loops, no iterator chains, and one JSON crossing per value.

import * as hostState from 'eddy:plugin/state@0.1.0';
import * as hostStreams from 'eddy:plugin/streams@0.1.0';
import * as hostInvoke from 'eddy:plugin/invoke@0.1.0';
import { log as hostLog } from 'eddy:plugin/log@0.1.0';

/** An error a function ends with: a WIT error code and a message shown to the caller. */
export class EddyError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'EddyError';
    this.code = code;
  }
}

/**
 * Ends the call with the error `code` (`'not-found'`, ...) and `message`: it throws.
 * @returns {never}
 */
export function fail(code, message) {
  throw new EddyError(code, message);
}

/** A host call's error (a ComponentError carrying the error record) as an EddyError. */
function hostError(e) {
  const payload = e?.payload;
  return payload && typeof payload.code === 'string' ? new EddyError(payload.code, payload.message) : e;
}

/** JSON text (or none) as a value; none stays undefined. */
function parse(text) {
  return text === undefined ? undefined : JSON.parse(text);
}

/** Every JSON text of `texts`, parsed. */
function parseAll(texts) {
  const values = new Array(texts.length);
  for (let i = 0; i < texts.length; i++) {
    values[i] = JSON.parse(texts[i]);
  }
  return values;
}

/** `expect` of the `-if` writes: undefined (the key must be missing) or the value as JSON. */
function expected(value) {
  return value === undefined ? undefined : JSON.stringify(value);
}

function change(c) {
  return { oldValue: parse(c.oldValue), newValue: parse(c.newValue) };
}

function updated(r) {
  return { oldValue: parse(r.oldValue), newValue: parse(r.newValue), errors: r.errors };
}

/** The database: JSON values under keys in named scopes (docs/state.md). */
export const state = {
  get(scope, key) {
    try {
      return parse(hostState.get(scope, key));
    } catch (e) {
      throw hostError(e);
    }
  },
  set(scope, key, value) {
    try {
      return change(hostState.set(scope, key, JSON.stringify(value)));
    } catch (e) {
      throw hostError(e);
    }
  },
  update(scope, key, ops) {
    try {
      return updated(hostState.update(scope, key, JSON.stringify(ops)));
    } catch (e) {
      throw hostError(e);
    }
  },
  delete(scope, key) {
    try {
      return parse(hostState.delete(scope, key));
    } catch (e) {
      throw hostError(e);
    }
  },
  setIf(scope, key, expect, value) {
    try {
      return change(hostState.setIf(scope, key, expected(expect), JSON.stringify(value)));
    } catch (e) {
      throw hostError(e);
    }
  },
  updateIf(scope, key, expect, ops) {
    try {
      return updated(hostState.updateIf(scope, key, expected(expect), JSON.stringify(ops)));
    } catch (e) {
      throw hostError(e);
    }
  },
  deleteIf(scope, key, expect) {
    try {
      hostState.deleteIf(scope, key, JSON.stringify(expect));
    } catch (e) {
      throw hostError(e);
    }
  },
  list(scope, options) {
    try {
      const o = options ?? {};
      return parseAll(hostState.list(scope, o.prefix, o.after, o.limit));
    } catch (e) {
      throw hostError(e);
    }
  },
  listGroups() {
    try {
      return hostState.listGroups();
    } catch (e) {
      throw hostError(e);
    }
  },
};

/** Live updates to WebSocket clients (docs/streams.md). */
export const streams = {
  send(stream, group, type, data, id) {
    try {
      hostStreams.send(stream, group, id, type, JSON.stringify(data ?? null));
    } catch (e) {
      throw hostError(e);
    }
  },
  get(stream, group, item) {
    try {
      return parse(hostStreams.get(stream, group, item));
    } catch (e) {
      throw hostError(e);
    }
  },
  set(stream, group, item, value) {
    try {
      return change(hostStreams.set(stream, group, item, JSON.stringify(value)));
    } catch (e) {
      throw hostError(e);
    }
  },
  update(stream, group, item, ops) {
    try {
      return updated(hostStreams.update(stream, group, item, JSON.stringify(ops)));
    } catch (e) {
      throw hostError(e);
    }
  },
  delete(stream, group, item) {
    try {
      return parse(hostStreams.delete(stream, group, item));
    } catch (e) {
      throw hostError(e);
    }
  },
  list(stream, group) {
    try {
      return parseAll(hostStreams.list(stream, group));
    } catch (e) {
      throw hostError(e);
    }
  },
};

/** Calls to other functions (`todos::list`) and the host's builtins (`state::set`, ...). */
export const invoke = {
  call(functionId, payload) {
    try {
      return JSON.parse(hostInvoke.call(functionId, JSON.stringify(payload ?? null)));
    } catch (e) {
      throw hostError(e);
    }
  },
  callVoid(functionId, payload) {
    try {
      hostInvoke.callVoid(functionId, JSON.stringify(payload ?? null));
    } catch (e) {
      throw hostError(e);
    }
  },
};

function logAt(level) {
  return (message, fields) => hostLog(level, message, fields === undefined ? '{}' : JSON.stringify(fields));
}

/** Structured logging into the host's log, with the plugin and function named. */
export const log = {
  trace: logAt('trace'),
  debug: logAt('debug'),
  info: logAt('info'),
  warn: logAt('warn'),
  error: logAt('error'),
};

/**
 * Update ops for `state.update` and `streams.update`, as op.rs builds them.
 * @type {typeof import('eddy').op}
 */
export const op = {
  set: (path, value) => ({ type: 'set', path, value }),
  merge: (value, path) => (path === undefined ? { type: 'merge', value } : { type: 'merge', path, value }),
  increment: (path, by = 1) => ({ type: 'increment', path, by }),
  decrement: (path, by = 1) => ({ type: 'decrement', path, by }),
  append: (path, value) => (path === undefined ? { type: 'append', value } : { type: 'append', path, value }),
  remove: (path) => ({ type: 'remove', path }),
};

/** A full HTTP response, for a function that chooses its status and headers. */
class Reply {
  constructor(status, body, headers) {
    this.status = status;
    this.body = body;
    this.headers = headers ?? [];
  }
}

/** A response with `status`, a JSON `body` (none: no body) and `headers` ([name, value]). */
export function response(status, body, headers) {
  return new Reply(status, body, headers);
}

/** The value of the first pair named `name` in a list of [name, value], or undefined. */
function first(pairs, name) {
  for (let i = 0; i < pairs.length; i++) {
    if (pairs[i][0] === name) {
      return pairs[i][1];
    }
  }
  return undefined;
}

/** The first query parameter `name` of `request`, or undefined. */
export function queryParam(request, name) {
  const pairs = request.queryParams;
  for (let i = 0; i < pairs.length; i++) {
    if (pairs[i][0] === name) {
      return pairs[i][1];
    }
  }
  return undefined;
}

/** The route's `:name` segment of `request`, or undefined. */
export function pathParam(request, name) {
  return first(request.pathParams, name);
}

/** The header `name` (lower-case) of `request`, or undefined. */
export function header(request, name) {
  return first(request.headers, name);
}

/** The body of `request` as a value (`null` without one). */
export function jsonBody(request) {
  return JSON.parse(request.body);
}

/** Refuses an event of another kind than `tag`. */
function refuse(tag, event) {
  fail('bad-request', `this function takes ${tag} events, not ${event.tag}`);
}

/** A function that takes only events of kind `tag`, given to it as `convert` makes them. */
function only(tag, convert, run) {
  return (event) => (event.tag === tag ? run(convert(event.val)) : refuse(tag, event));
}

/** A function for HTTP requests: it gets the request record (the hot path: no conversion). */
export function http(run) {
  return (event) => (event.tag === 'http' ? run(event.val) : refuse('http', event));
}

/** A function for state triggers: it gets the change with its values parsed. */
export function onState(run) {
  const convert = (e) => ({
    eventType: e.eventType,
    scope: e.scope,
    key: e.key,
    oldValue: parse(e.oldValue),
    newValue: parse(e.newValue),
  });
  return only('state', convert, run);
}

/** A function for stream triggers: it gets the stream event with its data parsed. */
export function onStream(run) {
  const convert = (e) => ({
    streamName: e.streamName,
    groupId: e.groupId,
    id: e.id,
    change: e.change,
    eventType: e.eventType,
    data: JSON.parse(e.data),
  });
  return only('stream', convert, run);
}

/** A function for `invoke` calls: it gets the payload as a value. */
export function onCall(run) {
  return only('call', JSON.parse, run);
}

/**
 * What a function returned, as the WIT `output`.
 * @returns {import('eddy:plugin/types@0.1.0').Output}
 */
function output(value) {
  if (value instanceof Reply) {
    const body = value.body === undefined ? undefined : JSON.stringify(value.body);
    return { tag: 'http', val: { statusCode: value.status, headers: value.headers, body } };
  }
  return { tag: 'json', val: JSON.stringify(value ?? null) };
}

/** The WIT error codes. */
const CODES = new Set(['bad-request', 'unauthorized', 'forbidden', 'not-found', 'conflict', 'timeout', 'unavailable', 'internal']);

/**
 * What a function threw, as the WIT error record the caller sees: an EddyError, a host call's
 * error or a thrown `{code, message}` record as it is; anything else is `internal`.
 */
function errorRecord(e) {
  const record = e?.payload ?? e;
  if (CODES.has(record?.code)) {
    return { code: record.code, message: String(record.message) };
  }
  return { code: 'internal', message: String(e?.message ?? e) };
}

/**
 * The plugin's `handler` export from its function table: `{ name: http(fn), ... }`. A plain
 * function gets the WIT event as it is (`{ tag, val }`).
 */
export function plugin(functions) {
  const names = Object.keys(functions);
  return {
    functions() {
      return names;
    },
    handle(name, event) {
      const run = Object.hasOwn(functions, name) ? functions[name] : undefined;
      if (run === undefined) {
        throw { code: 'not-found', message: `no function ${name}` };
      }
      try {
        return output(run(event));
      } catch (e) {
        throw errorRecord(e);
      }
    },
  };
}
