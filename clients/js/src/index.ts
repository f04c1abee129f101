/**
 * The Eddy client: `createClient(options)` gives one multiplexed `/streams` socket
 * (`subscribe`, `state`, `onState`, `onProblem`, `refreshToken`, `close`) and `fetch` for
 * routes. See README.md for the guarantees.
 */

export { createClient, EddyClient } from "./client.js";
export type { ConnectionState, Status, SubscribeOptions } from "./client.js";
export { EddyError } from "./errors.js";
export type { ProblemKind, SocketProblem } from "./errors.js";
export type { RequestOptions, FetchLike } from "./fetch.js";
export type { StreamFrame, StreamEvent } from "./frames.js";
export type { ClientOptions, OnlineSource, TokenProvider, Timers, WebSocketConstructor, WebSocketLike } from "./options.js";
export type { Change, Handlers, ResyncReason } from "./subscription.js";
