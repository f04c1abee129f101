// The Eddy plugin world (eddy:plugin@0.1.0) as a JavaScript plugin sees it through
// componentize-js, and the SDK `eddy`. Written by `eddy new` and `eddy build` from
// the host's WIT and SDK: do not edit.

/**
 * Types shared by every interface of the world.
 */
declare module 'eddy:plugin/types@0.1.0' {
  /**
   * JSON text (RFC 8259): an object, array, string, number, `true`, `false` or `null`.
   */
  export type Json = string;
  /**
   * What went wrong, in terms a caller can act on. The host maps each code to one HTTP
   * status when the error ends an HTTP request.
   */
  export type ErrorCode = 'bad-request' | 'unauthorized' | 'forbidden' | 'not-found' | 'conflict' | 'timeout' | 'unavailable' | 'internal';
  /**
   * An error a function returns or an import reports. `message` is shown to the client as is,
   * so it should say what to fix, not how the plugin works inside.
   */
  export interface Error {
    code: ErrorCode;
    message: string;
  }
  /**
   * Who is calling, as a verified token says.
   */
  export interface Identity {
    /**
     * The identity provider's name in the host's `eddy.toml`.
     */
    provider: string;
    /**
     * The token's subject (`sub`): the caller.
     */
    subject: string;
    /**
     * The token's issuer (`iss`).
     */
    issuer: string;
    /**
     * When the token expires (`exp`), in seconds since the Unix epoch.
     */
    expiresAt: bigint;
    /**
     * Every claim of the token, as a JSON object.
     */
    claims: Json;
  }
  /**
   * An HTTP request that matched one of the function's `http` triggers.
   */
  export interface HttpRequest {
    /**
     * Upper-case method, e.g. `POST`.
     */
    method: string;
    /**
     * The request path, without the query string, e.g. `/todos/01J...`.
     */
    path: string;
    /**
     * The route pattern that matched, e.g. `/todos/:id`.
     */
    route: string;
    /**
     * The `:name` segments of the route and the values they matched.
     */
    pathParams: Array<[string, string]>;
    /**
     * Decoded query parameters in the order they appear; a repeated name appears repeatedly.
     */
    queryParams: Array<[string, string]>;
    /**
     * Headers with lower-case names, in the order received.
     */
    headers: Array<[string, string]>;
    /**
     * The body: parsed and re-encoded JSON when the request is JSON, otherwise the body text
     * as a JSON string; `null` when the request has no body.
     */
    body: Json;
    /**
     * The caller, when the request carries a token one of the host's identity providers
     * signed (an invalid token never reaches a function); none without a token.
     */
    identity?: Identity;
  }
  /**
   * A full HTTP response, for functions that choose their status and headers. A function
   * that returns plain JSON instead gets `200` with `content-type: application/json`.
   */
  export interface HttpResponse {
    statusCode: number;
    headers: Array<[string, string]>;
    /**
     * JSON body. When the function sets a `content-type` that is not JSON and the body is a
     * JSON string, the string itself is sent.
     */
    body?: Json;
  }
  /**
   * The kind of change to a state key.
   */
  export type ChangeKind = 'created' | 'updated' | 'deleted';
  /**
   * A committed change to one key of state, delivered to functions bound with a `state`
   * trigger. `new-value` is none on delete; `old-value` is none on create.
   */
  export interface StateEvent {
    eventType: ChangeKind;
    scope: string;
    key: string;
    oldValue?: Json;
    newValue?: Json;
  }
  /**
   * What happened on a stream group.
   */
  export type StreamChange = 'create' | 'update' | 'delete' | 'event';
  /**
   * Something sent to a stream group, delivered to functions bound with a `stream` trigger.
   */
  export interface StreamEvent {
    streamName: string;
    groupId: string;
    /**
     * The item id, or the id given to `streams.send`.
     */
    id?: string;
    change: StreamChange;
    /**
     * The custom event's type when `change` is `event`.
     */
    eventType?: string;
    data: Json;
  }
  /**
   * Why a function is being called.
   */
  export type Event =
    | { tag: 'http'; val: HttpRequest }
    | { tag: 'state'; val: StateEvent }
    | { tag: 'stream'; val: StreamEvent }
    | { tag: 'call'; val: Json };
  /**
   * What a function returns.
   */
  export type Output =
    | { tag: 'json'; val: Json }
    | { tag: 'http'; val: HttpResponse };
  /**
   * The result of writing a key: the value before and after.
   */
  export interface Change {
    oldValue?: Json;
    newValue?: Json;
  }
  /**
   * One update op that could not be applied. The other ops still were.
   */
  export interface OpError {
    /**
     * Position of the op in the list, from 0.
     */
    opIndex: number;
    /**
     * A stable machine-readable code, e.g. `not_a_number`.
     */
    code: string;
    message: string;
  }
  /**
   * The result of `update`: the value before and after, and the ops that were skipped.
   */
  export interface UpdateResult {
    oldValue?: Json;
    newValue?: Json;
    errors: Array<OpError>;
  }
}

/**
 * The database: JSON values under keys, grouped in named scopes. Writes are atomic per key and
 * fire the `state` triggers bound to the key after they commit. The `-if` writes apply only if
 * the key still holds what the caller read, so concurrent read-modify-writes never lose one.
 */
declare module 'eddy:plugin/state@0.1.0' {
  import type { Json as Json } from 'eddy:plugin/types@0.1.0';
  import type { Error as Error } from 'eddy:plugin/types@0.1.0';
  import type { Change as Change } from 'eddy:plugin/types@0.1.0';
  import type { UpdateResult as UpdateResult } from 'eddy:plugin/types@0.1.0';
  /**
   * The value at `key`, or none.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function get(scope: string, key: string): Json | undefined;
  /**
   * Replaces the value at `key`.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function set(scope: string, key: string, value: Json): Change;
  /**
   * Applies update ops (a JSON array, e.g. `[{"type":"increment","path":"total","by":1}]`)
   * in order, atomically for the key. A missing key starts as `{}`. An op that fails is
   * skipped and reported in `errors`; a malformed op list fails the whole call.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function update(scope: string, key: string, ops: Json): UpdateResult;
  /**
   * Removes `key`, returning the old value (none if it was missing, and then nothing fires).
   * @throws a ComponentError whose `payload` is the Error
   */
  export function delete_(scope: string, key: string): Json | undefined;
  export { delete_ as delete };
  /**
   * `set` on a condition, for read-modify-write: replaces the value at `key` only if the key
   * holds `expect` at the moment the write applies (none: only if the key is missing, to
   * create it once). Otherwise it fails with `conflict` and changes nothing; read the key
   * again and retry. Values compare as JSON: member order and how a number is spelled do not
   * matter. Inside a trigger handler the condition is checked now and again at commit, where
   * a conflict fails the handler's whole transaction (and the handler is retried).
   * @throws a ComponentError whose `payload` is the Error
   */
  export function setIf(scope: string, key: string, expect: Json | undefined, value: Json): Change;
  /**
   * `update` on a condition, as `set-if`.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function updateIf(scope: string, key: string, expect: Json | undefined, ops: Json): UpdateResult;
  /**
   * `delete` on a condition, as `set-if`: removes `key` only if it holds `expect`.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function deleteIf(scope: string, key: string, expect: Json): void;
  /**
   * Values of the scope in key order: only keys starting with `prefix`, only keys after
   * `after` (for paging), at most `limit` of them.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function list(scope: string, prefix: string | undefined, after: string | undefined, limit: number | undefined): Array<Json>;
  /**
   * Every scope that holds at least one key, sorted.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function listGroups(): Array<string>;
}

/**
 * Live updates to WebSocket clients. A stream has groups; a client subscribes to a group and
 * receives every event sent to it and every change of its items, in order (`seq`).
 */
declare module 'eddy:plugin/streams@0.1.0' {
  import type { Json as Json } from 'eddy:plugin/types@0.1.0';
  import type { Error as Error } from 'eddy:plugin/types@0.1.0';
  import type { Change as Change } from 'eddy:plugin/types@0.1.0';
  import type { UpdateResult as UpdateResult } from 'eddy:plugin/types@0.1.0';
  /**
   * Pushes a custom event `{type: event-type, data}` to every client of the group.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function send(streamName: string, groupId: string, id: string | undefined, eventType: string, data: Json): void;
  /**
   * The item, or none.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function get(streamName: string, groupId: string, itemId: string): Json | undefined;
  /**
   * Creates or replaces an item and broadcasts `create` or `update` to the group.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function set(streamName: string, groupId: string, itemId: string, value: Json): Change;
  /**
   * Applies update ops to an item (as `state.update`) and broadcasts the change.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function update(streamName: string, groupId: string, itemId: string, ops: Json): UpdateResult;
  /**
   * Removes an item and broadcasts `delete` when it existed.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function delete_(streamName: string, groupId: string, itemId: string): Json | undefined;
  export { delete_ as delete };
  /**
   * The group's items in id order.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function list(streamName: string, groupId: string): Array<Json>;
}

/**
 * Calls to other functions: those of any plugin (`todos::list`) and the host's builtins
 * (`state::set`, `stream::send`, ...), with the same JSON payloads.
 */
declare module 'eddy:plugin/invoke@0.1.0' {
  import type { Json as Json } from 'eddy:plugin/types@0.1.0';
  import type { Error as Error } from 'eddy:plugin/types@0.1.0';
  /**
   * Calls `function-id` with `payload` and returns its result.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function call(functionId: string, payload: Json): Json;
  /**
   * Queues a call to `function-id` and returns at once; its result is only logged.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function callVoid(functionId: string, payload: Json): void;
}

/**
 * Structured logging into the host's log, with the plugin and function named.
 */
declare module 'eddy:plugin/log@0.1.0' {
  import type { Json as Json } from 'eddy:plugin/types@0.1.0';
  export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /**
   * Logs `message` with `fields`, a JSON object of extra key-values (or `{}`).
   */
  export function log(level: Level, message: string, fields: Json): void;
}

/**
 * What a plugin exports: its function table and the one entry point.
 */
declare module 'eddy:plugin/handler@0.1.0' {
  import type { Event as Event } from 'eddy:plugin/types@0.1.0';
  import type { Output as Output } from 'eddy:plugin/types@0.1.0';
  import type { Error as Error } from 'eddy:plugin/types@0.1.0';
  /**
   * The short names of the functions this component implements, e.g. `["create", "list"]`.
   * The host checks the manifest against it when loading the plugin.
   */
  export function functions(): Array<string>;
  /**
   * Runs the function `function` (a short name from `functions`) for `event`.
   * @throws a ComponentError whose `payload` is the Error
   */
  export function handle(function_: string, event: Event): Output;
}

// The Eddy SDK (`import { state, plugin, ... } from 'eddy'`): guest-sdk/js/eddy.js, on
// JavaScript values instead of JSON text. Written by hand beside it.

/**
 * The Eddy SDK: the host's interfaces on JavaScript values, update-op builders, errors, and
 * `plugin`, which builds the `handler` export.
 */
declare module 'eddy' {
  import type {
    ChangeKind,
    ErrorCode,
    Event,
    HttpRequest,
    OpError,
    StreamChange,
  } from 'eddy:plugin/types@0.1.0';
  export type { ErrorCode, HttpRequest };

  /** Any JSON value: what state holds, streams carry and functions take and return. */
  export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

  /** The result of writing a key: its value before and after (undefined: there was none). */
  export interface Change<T = any> {
    oldValue?: T;
    newValue?: T;
  }

  /** The result of an update: the value before and after, and the ops that were skipped. */
  export interface UpdateResult<T = any> {
    oldValue?: T;
    newValue?: T;
    errors: OpError[];
  }

  /** One update op; build it with `op`. */
  export type Op =
    | { type: 'set'; path: string; value: unknown }
    | { type: 'merge'; path?: string[]; value: object }
    | { type: 'increment' | 'decrement'; path: string; by: number }
    | { type: 'append'; path?: string; value: unknown }
    | { type: 'remove'; path: string };

  /** Update ops for `state.update` and `streams.update`. Paths are literal field names. */
  export const op: {
    /** Sets the field `path` to `value` (`''` replaces the whole value). */
    set(path: string, value: unknown): Op;
    /** Shallow-merges the object `value` into the value, or into the object at `path`. */
    merge(value: object, path?: string[]): Op;
    /** Adds `by` (default 1) to the number at `path`; a missing field starts at 0. */
    increment(path: string, by?: number): Op;
    /** Subtracts `by` (default 1) from the number at `path`. */
    decrement(path: string, by?: number): Op;
    /** Appends to the array or string at `path` (none: to the value itself). */
    append(path: string | undefined, value: unknown): Op;
    /** Deletes the field `path`. */
    remove(path: string): Op;
  };

  /** Which keys `state.list` returns. */
  export interface ListOptions {
    /** Only keys that start with this. */
    prefix?: string;
    /** Only keys after this one, for paging. */
    after?: string;
    /** At most this many values. */
    limit?: number;
  }

  /**
   * The database: JSON values under keys, grouped in named scopes. A host error is thrown as
   * an `EddyError` (e.g. `conflict` from the `-if` writes).
   */
  export const state: {
    /** The value at `key`, or undefined. */
    get<T = any>(scope: string, key: string): T | undefined;
    /** Replaces the value at `key`. */
    set<T = any>(scope: string, key: string, value: T): Change<T>;
    /** Applies `ops` in order, atomically for the key; a missing key starts as `{}`. */
    update<T = any>(scope: string, key: string, ops: Op[]): UpdateResult<T>;
    /** Removes `key`, returning its old value (undefined if it was missing). */
    delete<T = any>(scope: string, key: string): T | undefined;
    /**
     * `set` only if the key holds `expect` (undefined: only if it is missing); otherwise
     * throws `conflict` and changes nothing.
     */
    setIf<T = any>(scope: string, key: string, expect: unknown, value: T): Change<T>;
    /** `update` on a condition, as `setIf`. */
    updateIf<T = any>(scope: string, key: string, expect: unknown, ops: Op[]): UpdateResult<T>;
    /** Removes `key` only if it holds `expect`. */
    deleteIf(scope: string, key: string, expect: unknown): void;
    /** The values of `scope` in key order. */
    list<T = any>(scope: string, options?: ListOptions): T[];
    /** Every scope that holds at least one key, sorted. */
    listGroups(): string[];
  };

  /** Live updates to WebSocket clients of a stream's groups. */
  export const streams: {
    /** Pushes the custom event `{type, data}` to every client of the group; `id` is optional. */
    send(stream: string, group: string, type: string, data: unknown, id?: string): void;
    /** The item, or undefined. */
    get<T = any>(stream: string, group: string, item: string): T | undefined;
    /** Creates or replaces an item and broadcasts `create` or `update`. */
    set<T = any>(stream: string, group: string, item: string, value: T): Change<T>;
    /** Applies update ops to an item and broadcasts the change. */
    update<T = any>(stream: string, group: string, item: string, ops: Op[]): UpdateResult<T>;
    /** Removes an item and broadcasts `delete` when it existed. */
    delete<T = any>(stream: string, group: string, item: string): T | undefined;
    /** The group's items in id order. */
    list<T = any>(stream: string, group: string): T[];
  };

  /** Calls to other functions (`todos::list`) and the host's builtins (`state::set`, ...). */
  export const invoke: {
    /** Calls `functionId` with `payload` and returns its result. */
    call<T = any>(functionId: string, payload?: unknown): T;
    /** Queues a call and returns at once; its result is only logged. */
    callVoid(functionId: string, payload?: unknown): void;
  };

  /** Logs `message` with `fields` (an object of extra key-values) into the host's log. */
  export type LogFunction = (message: string, fields?: object) => void;

  /** Structured logging, with the plugin and function named. */
  export const log: {
    trace: LogFunction;
    debug: LogFunction;
    info: LogFunction;
    warn: LogFunction;
    error: LogFunction;
  };

  /** An error a function ends with: the caller sees `code` (one HTTP status) and `message`. */
  export class EddyError extends Error {
    constructor(code: ErrorCode, message: string);
    code: ErrorCode;
  }

  /** Ends the call with the error `code` and `message` (throws an `EddyError`). */
  export function fail(code: ErrorCode, message: string): never;

  /** A full HTTP response, from `response`. */
  export interface Response {
    status: number;
    body?: unknown;
    headers: Array<[string, string]>;
  }

  /** A response with `status`, a JSON `body` (undefined: none) and `headers`. */
  export function response(status: number, body?: unknown, headers?: Array<[string, string]>): Response;

  /** The first query parameter `name` of the request, or undefined. */
  export function queryParam(request: HttpRequest, name: string): string | undefined;
  /** The route's `:name` segment, or undefined. */
  export function pathParam(request: HttpRequest, name: string): string | undefined;
  /** The header `name` (lower-case), or undefined. */
  export function header(request: HttpRequest, name: string): string | undefined;
  /** The body as a value (`null` without one). */
  export function jsonBody<T = any>(request: HttpRequest): T;

  /** A change to a state key, with its values parsed (undefined: none on that side). */
  export interface StateChange<T = any> {
    eventType: ChangeKind;
    scope: string;
    key: string;
    oldValue?: T;
    newValue?: T;
  }

  /** Something sent to a stream group, with its data parsed. */
  export interface StreamMessage<T = any> {
    streamName: string;
    groupId: string;
    id?: string;
    change: StreamChange;
    eventType?: string;
    data: T;
  }

  /**
   * A function of the table `plugin` takes: it gets the WIT event and returns any JSON value,
   * a `response`, or nothing (`null`).
   */
  export type EddyFunction = (event: Event) => unknown;

  /** A function for HTTP requests; other events are refused with `bad-request`. */
  export function http(run: (request: HttpRequest) => unknown): EddyFunction;
  /** A function for state triggers. */
  export function onState<T = any>(run: (change: StateChange<T>) => unknown): EddyFunction;
  /** A function for stream triggers. */
  export function onStream<T = any>(run: (message: StreamMessage<T>) => unknown): EddyFunction;
  /** A function for `invoke` calls: it gets the payload. */
  export function onCall<T = any>(run: (payload: T) => unknown): EddyFunction;

  /**
   * The `handler` export from a table of functions: `export const handler = plugin({ search:
   * http(search) })`. A thrown `EddyError` (or a host call's error) reaches the caller as it
   * is; anything else thrown is `internal`.
   */
  export function plugin(
    functions: Record<string, EddyFunction>,
  ): typeof import('eddy:plugin/handler@0.1.0');
}
