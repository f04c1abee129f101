
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
