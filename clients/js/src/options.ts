/**
 * The client's options and the seams it runs on: the WebSocket constructor, `fetch`, timers,
 * randomness and the `online` event come from here (the browser's or Node's globals by
 * default), so tests drive a fake socket and a fake clock deterministically.
 */

import type { FetchLike } from "./fetch.js";

/** The part of the browser's `WebSocket` the client uses. */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Timers; `setTimeout`'s handle is passed back to `clearTimeout` untouched. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Where the browser says it is back online (`window`). */
export interface OnlineSource {
  addEventListener(type: "online", listener: () => void): void;
  removeEventListener(type: "online", listener: () => void): void;
}

/** Gives the caller's current token, or nothing for an anonymous caller. `expired` is true when
 *  the host just closed the socket because the last token expired: get a fresh one. */
export type TokenProvider = (context: {
  expired: boolean;
}) => string | null | undefined | Promise<string | null | undefined>;

export interface ClientOptions {
  /** The host's base URL (`https://example.com`); the socket is its `/streams` over ws(s).
   *  Defaults to the page's origin. */
  url?: string;
  /** The caller's token, sent as `Authorization: Bearer` on routes and `?access_token=` on the
   *  socket. Called on every connect and request, so it may refresh as it sees fit. */
  token?: TokenProvider;
  /** How often to ping the socket, in ms (5,000). */
  heartbeatInterval?: number;
  /** How long a ping may go without any frame arriving before the socket counts as dead and is
   *  replaced, in ms (4,000). A dead socket is found within interval + timeout. */
  heartbeatTimeout?: number;
  /** How long a connect may take before it is given up and retried, in ms (10,000). */
  connectTimeout?: number;
  /** The first reconnect's delay cap, in ms (500); it doubles per failed attempt... */
  backoffBase?: number;
  /** ...up to this, in ms (30,000). Each delay is drawn between half the cap and the cap. */
  backoffMax?: number;
  WebSocket?: WebSocketConstructor;
  fetch?: FetchLike;
  timers?: Timers;
  /** A number in [0, 1), for the backoff's jitter (`Math.random`). */
  random?: () => number;
  /** The `online` events' source (`window` in a browser; none in Node); `null` for none. */
  online?: OnlineSource | null;
}

/** The options with every default filled in. */
export interface Settings {
  base: string;
  token: TokenProvider | undefined;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  connectTimeout: number;
  backoffBase: number;
  backoffMax: number;
  WebSocket: WebSocketConstructor;
  fetch: FetchLike;
  timers: Timers;
  random: () => number;
  online: OnlineSource | undefined;
}

export function settings(options: ClientOptions): Settings {
  const global = globalThis as Record<string, unknown>;
  const base = options.url ?? (global.location as { origin?: string } | undefined)?.origin;
  if (!base) throw new TypeError("Eddy client: no url given and no page origin to default to");
  const online = options.online === undefined ? defaultOnline(global) : (options.online ?? undefined);
  return {
    base,
    token: options.token,
    heartbeatInterval: options.heartbeatInterval ?? 5_000,
    heartbeatTimeout: options.heartbeatTimeout ?? 4_000,
    connectTimeout: options.connectTimeout ?? 10_000,
    backoffBase: options.backoffBase ?? 500,
    backoffMax: options.backoffMax ?? 30_000,
    WebSocket: options.WebSocket ?? (global.WebSocket as WebSocketConstructor),
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    timers: options.timers ?? {
      setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
      clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
    },
    random: options.random ?? Math.random,
    online,
  };
}

function defaultOnline(global: Record<string, unknown>): OnlineSource | undefined {
  return typeof global.addEventListener === "function" && typeof global.removeEventListener === "function"
    ? (global as unknown as OnlineSource)
    : undefined;
}

/** The `/streams` socket's URL for `base`, with the token as `access_token` (browsers cannot
 *  set a WebSocket's headers). */
export function socketUrl(base: string, token: string | null | undefined): string {
  const url = new URL("/streams", base);
  url.protocol = url.protocol === "https:" || url.protocol === "wss:" ? "wss:" : "ws:";
  if (token) url.searchParams.set("access_token", token);
  return url.toString();
}

/** The delay before reconnect attempt `attempt` (0 for the first): "equal jitter", between half
 *  the cap and the cap, so a host's clients do not all come back at once. */
export function backoff(settings: Settings, attempt: number): number {
  const cap = Math.min(settings.backoffMax, settings.backoffBase * 2 ** Math.min(attempt, 30));
  return cap / 2 + (cap / 2) * settings.random();
}
